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

        pv = pixel_values
        if pv.ndim == 5:
            pv = pv.reshape(-1, *pv.shape[2:])
        pv = pv.transpose(0, 2, 3, 1).astype(mx.float32)
        pixel_file = out_dir / f"{case['id']}.safetensors"
        mx.save_safetensors(str(pixel_file), {"pixel_values": pv})

        captured = []

        def capture(tokens, logits):
            if not captured:
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
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
