#!/usr/bin/env python3
"""Reference dumper: what Python mlx-vlm does with a vision-language model, as JSON lines.

    python scripts/reference_mlx_vlm.py --model DIR --cases FILE --pixels-dir DIR

Cases (a JSON array):
    {"id": "photo", "images": ["/path/sample1.rgb.safetensors"], "prompt": "Describe this image.",
     "system": null, "max_tokens": 32}
Images are RGB pixels already decoded (uint8 tensor "rgb" [H, W, 3] in a safetensors
file, as scripts/fixtures-vlm.sh writes them with Pillow after ImageOps.exif_transpose),
so both sides start from the same pixels.

For each case one line is printed:
    {"id", "prompt_text", "input_ids", "pixel_shape" ([frames, H, W, 3]), "pixel_file" (its name),
     "tokens", "finish_reason" ("stop" | "length"), "last_logits", "stop_ids"}
* the prompt goes through mlx_vlm.prompt_utils.apply_chat_template(processor, config,
  [system?, user], num_images=len(images)), as `mlx_vlm generate --system` builds it;
* inputs come from mlx_vlm.utils.prepare_inputs exactly as stream_generate prepares them;
  the pixel values are written, channels last ([frames, H, W, 3], float32), to
  PIXELS_DIR/<id>.safetensors ("pixel_values");
* generation is mlx_vlm's generate_step with temperature 0 (greedy); "tokens" end with
  the stop token when finish_reason is "stop" (the processor tokenizer's stopping
  criteria, whose ids are "stop_ids");
* "last_logits" are the raw float32 logits at the last prompt position, captured through
  generate_step's logits_processors hook.
The model is computed in float32: half-precision parameters (bfloat16 weights, scales and
biases) are upcast after loading, exactly as the Rust runner upcasts them on the CPU.

Qwen2-VL-style models (the processor returns flattened patches [N, C*T*P*P] and
"image_grid_thw"): PIXELS_DIR/<id>.safetensors holds, as they are, "pixel_values" (float32
[N, 1176]) and "image_grid_thw" (int32 [images, 3]), plus the model's intermediate values
for stage-by-stage checks: "patch_embeds" (float32 [N, vision hidden], the Conv3d patch
embedding), "window_index" (int32 [N / 4]) and "cu_window_seqlens" (int32, deduplicated as
the vision tower uses them), "image_features" (float32 [N / 4, text hidden], vision tower +
merger, in the order they replace the <|image_pad|> tokens), "position_ids" (int32 [3, 1, L],
mrope t/h/w positions of the prompt from the language model's get_rope_index, as
get_input_embeddings passes them to the prefill), "rope_deltas" (int32 [1, 1]; a decode
step at sequence index i >= L uses position i + rope_deltas on all three axes) and
"step_logits" (float32 [min(len(tokens), 8), vocab]: the raw logits before each of the first
generated tokens; row 0 = last_logits, the others check the decode positions, as a random
tied-embedding model tends to repeat one token). The JSON line then also has
"image_grid_thw", "rope_deltas" and "pixel_shape" = [N, 1176].

Qwen3-VL (qwen3_vl, qwen3_vl_moe: the same processor outputs, patch 16, so rows of
3 * 2 * 16 * 16 = 1536): PIXELS_DIR/<id>.safetensors holds "pixel_values" (float32 [N, 1536]),
"image_grid_thw", "patch_embeds" (float32 [N, vision hidden], the Conv3d patch embedding with its
bias), "pos_embeds" (float32 [N, vision hidden], the learned position embeddings bilinearly
interpolated to each image's grid, in the patches' 2x2-block order, as the vision tower adds them
to patch_embeds), "image_features" (float32 [N / 4, text hidden], vision tower + merger, in the
order they replace the <|image_pad|> tokens), "deepstack_features" (float32 [deepstack layers,
N / 4, text hidden]: the deepstack mergers' outputs as get_input_embeddings passes them to the
language model; row k is added to the hidden states of the <|image_pad|> positions after decoder
layer k, on the prompt only), "position_ids", "rope_deltas" and "step_logits" (as for Qwen2-VL);
no window attention, so no window_index. The JSON line has the same keys as for Qwen2-VL
("pixel_shape" = [N, 1536]).

Pixtral-style models (pixtral, mistral3: the processor pads the images of a prompt to one batch
[B, 3, H, W] and returns each image's resized size as "image_sizes"): PIXELS_DIR/<id>.safetensors
also holds "image_sizes" (int32 [B, 2], height and width), "image_features" (float32 [image tokens
of all images, text hidden]: vision tower + projector, for mistral3 with its RMSNorm and 2x2 patch
merger, so a quarter of the patches; in the order they replace the [IMG] tokens) and "step_logits"
(as for Qwen2-VL); the JSON line also has "image_sizes".

Mllama (Llama 3.2 Vision: the processor returns tiles [1, images, max tiles, 3, H, W] with
"aspect_ratio_ids" [1, images], "aspect_ratio_mask" [1, images, max tiles] and
"cross_attention_mask" [1, L, images, max tiles]): "pixel_values" is [images * max tiles, H, W, 3]
(channels last, image by image, tile by tile; a tile slot an image does not fill is all zeros,
the padding inside its tiles -mean/std); PIXELS_DIR/<id>.safetensors also holds "aspect_ratio_ids" (int32 [images]),
"aspect_ratio_mask" (int32 [images, max tiles]), "cross_attention_mask" (int32 [L, images, max
tiles], the processor's), "image_features" (float32 [images * max tiles * (patches + 1), text
hidden]: vision tower + multi_modal_projector, the cross_attention_states the cross-attention
layers read, padding tiles included) and "step_logits" (as for Qwen2-VL); the JSON line also has
"aspect_ratio_ids". mlx-vlm's decode steps pass the language model only the
cross_attention_states, without a cross-attention mask (generate/ar.py), so from the first
generated token on every tile is attended, the padding tiles of an image too; transformers
(MllamaForConditionalGeneration._update_model_kwargs_for_generation) and Meta's reference
instead give every generated token the last prompt row of the mask (its images' real tiles).
So the same mlx-vlm model is also decoded greedily that way, its own prefill then its own
language model with that mask row: "masked_tokens" and "masked_finish_reason" in the JSON
line, "masked_step_logits" (as "step_logits") in the file. Where every image fills its tiles
the two decodes agree.
"""

import argparse
import json
import sys
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--pixels-dir", required=True)
    args = ap.parse_args()

    import mlx.core as mx
    import numpy as np
    from mlx.utils import tree_map
    from PIL import Image

    from mlx_vlm import load
    from mlx_vlm.generate.ar import generate_step
    from mlx_vlm.generate.dispatch import should_add_special_tokens
    from mlx_vlm.prompt_utils import apply_chat_template
    from mlx_vlm.utils import prepare_inputs

    cases = json.loads(Path(args.cases).read_text())
    model, processor = load(args.model)
    half = (mx.float16, mx.bfloat16)
    model.update(tree_map(lambda p: p.astype(mx.float32) if p.dtype in half else p, model.parameters()))
    mx.eval(model.parameters())
    tokenizer = processor.tokenizer if hasattr(processor, "tokenizer") else processor
    out_dir = Path(args.pixels_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    for case in cases:
        images = []
        for path in case["images"]:
            rgb = np.array(mx.load(path)["rgb"])
            images.append(Image.fromarray(rgb.astype(np.uint8), "RGB"))
        prompt = case["prompt"]
        if case.get("system"):
            prompt = [{"role": "system", "content": case["system"]}, prompt]
        prompt_text = apply_chat_template(processor, model.config, prompt, num_images=len(images))
        inputs = prepare_inputs(
            processor,
            images=images,
            prompts=prompt_text,
            image_token_index=getattr(model.config, "image_token_index", None),
            add_special_tokens=should_add_special_tokens(model.config.model_type, processor),
        )
        input_ids = inputs["input_ids"]
        pixel_values = inputs["pixel_values"]
        mask = inputs.get("attention_mask")
        extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "pixel_values", "attention_mask")}

        pixel_file = out_dir / f"{case['id']}.safetensors"
        qwen = pixtral = mllama = None
        if pixel_values.ndim == 2 and "image_grid_thw" in extra:
            if model.config.model_type in ("qwen3_vl", "qwen3_vl_moe"):
                qwen = qwen3_vl_intermediates(model, input_ids, pixel_values, mask, extra["image_grid_thw"])
            else:
                qwen = qwen_intermediates(model, input_ids, pixel_values, mask, extra["image_grid_thw"])
            pv = qwen["pixel_values"]
        else:
            pv = pixel_values
            if pv.ndim > 4:  # [frames, ...] or mllama's [1, images, tiles, ...]
                pv = pv.reshape(-1, *pv.shape[-3:])
            pv = pv.transpose(0, 2, 3, 1).astype(mx.float32)
            if "image_sizes" in extra:
                pixtral = pixtral_intermediates(model, pixel_values, extra["image_sizes"])
                pixtral["pixel_values"] = pv
            elif "aspect_ratio_ids" in extra:
                mllama = mllama_intermediates(model, input_ids, pixel_values, extra)
                mllama["pixel_values"] = pv
            else:
                mx.save_safetensors(str(pixel_file), {"pixel_values": pv})
        stages = next((x for x in (qwen, pixtral, mllama) if x is not None), None)

        captured = []

        def capture(tokens, logits):
            if len(captured) < (8 if stages is not None else 1):
                captured.append(logits.astype(mx.float32))
            return logits

        tokens, finish = [], "length"
        gen = generate_step(input_ids, model, pixel_values, mask, max_tokens=int(case.get("max_tokens", 32)),
                            temperature=0.0, logits_processors=[capture], **extra)
        for token, _ in gen:
            token = int(token)
            tokens.append(token)
            if tokenizer.stopping_criteria(token):
                finish = "stop"
                break
        masked = None
        if mllama is not None:
            masked = mllama_masked_decode(model, tokenizer, input_ids, pixel_values, extra,
                                          int(case.get("max_tokens", 32)))
            mllama["masked_step_logits"] = masked["step_logits"]
        if stages is not None:
            rows = captured[: max(1, len(tokens))]  # not the look-ahead step after a stop token
            stages["step_logits"] = mx.concatenate([c.reshape(1, -1) for c in rows], axis=0)
            mx.save_safetensors(str(pixel_file), stages)
        stop_ids = sorted(int(t) for t in getattr(tokenizer.stopping_criteria, "eos_token_ids", []))
        line = {
            "id": case["id"],
            "prompt_text": prompt_text,
            "input_ids": [int(t) for t in np.array(input_ids).reshape(-1)],
            "pixel_shape": list(pv.shape),
            "pixel_file": pixel_file.name,
            "tokens": tokens,
            "finish_reason": finish,
            "last_logits": captured[0].reshape(-1).tolist(),
            "stop_ids": stop_ids,
        }
        if qwen is not None:
            line["image_grid_thw"] = np.array(qwen["image_grid_thw"]).tolist()
            line["rope_deltas"] = int(np.array(qwen["rope_deltas"]).reshape(-1)[0])
        if pixtral is not None:
            line["image_sizes"] = np.array(pixtral["image_sizes"]).tolist()
        if mllama is not None:
            line["aspect_ratio_ids"] = np.array(mllama["aspect_ratio_ids"]).tolist()
            line["masked_tokens"] = masked["tokens"]
            line["masked_finish_reason"] = masked["finish_reason"]
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def qwen_intermediates(model, input_ids, pixel_values, mask, grid_thw):
    """What a Qwen2-VL-style model computes before the language model (see the docstring)."""
    import mlx.core as mx

    vt = model.vision_tower
    pv = pixel_values.astype(vt.patch_embed.proj.weight.dtype)  # as get_input_embeddings casts
    window_index, cu_window_seqlens = vt.get_window_index(grid_thw)
    seen, keep = set(), []
    for i, x in enumerate(cu_window_seqlens.tolist()):
        if x not in seen:
            seen.add(x)
            keep.append(x)
    position_ids, rope_deltas = model.language_model.get_rope_index(input_ids, grid_thw, None, mask)
    out = {
        "pixel_values": pixel_values.astype(mx.float32),
        "image_grid_thw": grid_thw.astype(mx.int32),
        "patch_embeds": vt.patch_embed(pv).astype(mx.float32),
        "window_index": window_index.astype(mx.int32),
        "cu_window_seqlens": mx.array(keep, dtype=mx.int32),
        "image_features": vt(pv, grid_thw, output_hidden_states=False).astype(mx.float32),
        "position_ids": position_ids.astype(mx.int32),
        "rope_deltas": mx.array(rope_deltas).reshape(1, 1).astype(mx.int32),
    }
    mx.eval(out)
    return out


def qwen3_vl_intermediates(model, input_ids, pixel_values, mask, grid_thw):
    """What a Qwen3-VL model computes before the language model (see the docstring)."""
    import mlx.core as mx
    import numpy as np

    vt = model.vision_tower
    pv = pixel_values.astype(vt.patch_embed.proj.weight.dtype)  # as get_input_embeddings casts
    features, deepstack = vt(pv, grid_thw)
    emb = model.get_input_embeddings(input_ids, pixel_values, mask=mask, image_grid_thw=grid_thw)
    stacked = mx.stack(emb.deepstack_visual_embeds)
    image_rows = np.where(np.array(input_ids).reshape(-1) == model.config.image_token_index)[0]
    # What the language model gets: the features over the <|image_pad|> rows, the same deepstack.
    assert mx.array_equal(emb.inputs_embeds[0][mx.array(image_rows)], features)
    assert mx.array_equal(stacked, mx.stack(deepstack))
    out = {
        "pixel_values": pixel_values.astype(mx.float32),
        "image_grid_thw": grid_thw.astype(mx.int32),
        "patch_embeds": vt.patch_embed(pv).astype(mx.float32),
        "pos_embeds": vt.fast_pos_embed_interpolate(grid_thw).astype(mx.float32),
        "image_features": features.astype(mx.float32),
        "deepstack_features": stacked.astype(mx.float32),
        "position_ids": emb.position_ids.astype(mx.int32),
        "rope_deltas": mx.array(emb.rope_deltas).reshape(1, 1).astype(mx.int32),
    }
    mx.eval(out)
    return out


def pixtral_intermediates(model, pixel_values, image_sizes):
    """Pixtral's or Mistral3's image features as get_input_embeddings computes them (see the docstring)."""
    import mlx.core as mx

    sizes = mx.array(image_sizes).reshape(-1, 2).astype(mx.int32)
    *_, hidden = model.vision_tower(pixel_values.transpose(0, 2, 3, 1), output_hidden_states=True,
                                    image_sizes=image_sizes)
    selected = hidden[model.vision_feature_layer]
    if model.config.model_type == "mistral3":  # [1, patches, D] -> [patches, D]; the merger needs the sizes
        features = model.multi_modal_projector(selected.squeeze(0), image_sizes)
    else:
        features = model.multi_modal_projector(selected)
    out = {"image_sizes": sizes, "image_features": features.reshape(-1, features.shape[-1]).astype(mx.float32)}
    mx.eval(out)
    return out


def mllama_intermediates(model, input_ids, pixel_values, extra):
    """Mllama's cross_attention_states as get_input_embeddings computes them (see the docstring)."""
    import mlx.core as mx

    features = model.get_input_embeddings(input_ids, pixel_values, **extra).cross_attention_states
    tiles = extra["aspect_ratio_mask"].shape[-1]
    out = {
        "aspect_ratio_ids": extra["aspect_ratio_ids"].reshape(-1).astype(mx.int32),
        "aspect_ratio_mask": extra["aspect_ratio_mask"].reshape(-1, tiles).astype(mx.int32),
        "cross_attention_mask": extra["cross_attention_mask"].squeeze(0).astype(mx.int32),
        "image_features": features.reshape(-1, features.shape[-1]).astype(mx.float32),
    }
    mx.eval(out)
    return out


def mllama_masked_decode(model, tokenizer, input_ids, pixel_values, extra, max_tokens):
    """Greedy decode of the mlx-vlm model with transformers' mask on generated tokens (see the
    docstring): the prompt as generate_step prefills it (all but the last token, then the last),
    then each token with the last prompt row of the cross-attention mask and row mask."""
    import mlx.core as mx

    from mlx_vlm.models.cache import make_prompt_cache

    lm = model.language_model
    emb = model.get_input_embeddings(input_ids, pixel_values, **extra)
    states = emb.cross_attention_states
    mask, rows = emb.cross_attention_mask, emb.full_text_row_masked_out_mask
    cache = make_prompt_cache(lm)
    n = input_ids.shape[1]
    prompt = dict(cross_attention_states=states, cross_attention_mask=mask, full_text_row_masked_out_mask=rows)
    lm(input_ids[:, : n - 1], inputs_embeds=emb.inputs_embeds[:, : n - 1], cache=cache, **prompt)
    logits = lm(input_ids[:, n - 1 :], inputs_embeds=emb.inputs_embeds[:, n - 1 :], cache=cache, **prompt).logits
    step = dict(cross_attention_states=states, cross_attention_mask=mask[:, :, -1:],
                full_text_row_masked_out_mask=rows[:, :, -1:])
    tokens, kept, finish = [], [], "length"
    for _ in range(max_tokens):
        last = logits[0, -1].astype(mx.float32)
        if len(kept) < 8:
            kept.append(last.reshape(1, -1))
        token = int(mx.argmax(last))
        tokens.append(token)
        if tokenizer.stopping_criteria(token):
            finish = "stop"
            break
        logits = lm(mx.array([[token]]), cache=cache, **step).logits
    step_logits = mx.concatenate(kept, axis=0)
    mx.eval(step_logits)
    return {"tokens": tokens, "finish_reason": finish, "step_logits": step_logits}


if __name__ == "__main__":
    main()
