#!/usr/bin/env python3
"""Make small, random-initialised Qwen2 / Qwen3 checkpoints in mlx-community layout.

    python3 scripts/make_tiny_checkpoints.py OUT_ROOT [--seed 0] [--only NAME ...]

No real Qwen weights can be had here, so the model code paths are checked by numerical
agreement with Python mlx-lm on checkpoints of the same architectures (same config keys,
same tensor names) that mlx-lm itself quantizes and saves.

Everything is deterministic for a given seed: weights come from numpy's PCG64 generator,
the tokenizer is a byte-level BPE trained by this script (pure Python) on the fixed corpus
below, quantization is mlx-lm's own (`mlx_lm.utils.quantize_model`).

Checkpoints (directory name -> what it is):
  tiny-qwen2-4bit       qwen2, tied embeddings, q/k/v biases; 4-bit group 64, float32 scales
  tiny-qwen2-f32        the same weights, unquantized float32
  tiny-qwen3-4bit       qwen3, untied lm_head, q/k norms; 4-bit group 32, float32 scales
  tiny-qwen3-4bit-bf16  the same weights, 4-bit group 64, bfloat16 scales/biases/norms
                        (what real mlx-community 4-bit checkpoints look like)
  tiny-qwen3-f32        the qwen3 weights, unquantized float32
Shape: 2 layers, hidden 64, 4 attention heads / 2 KV heads (head_dim 16), MLP 128,
config vocab_size 512 of which the tokenizer uses 496 (470 BPE tokens + 26 added tokens,
ids laid out like Qwen's: regular tokens first, then <|endoftext|>, <|im_start|>, ...);
the 16 padding rows are zero, as in real Qwen checkpoints whose config vocab_size exceeds
the tokenizer's size.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections import Counter

import numpy as np

HIDDEN, LAYERS, HEADS, KV_HEADS, INTER = 64, 2, 4, 2, 128
HEAD_DIM = HIDDEN // HEADS
VOCAB = 512
N_BPE = 470

QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Added tokens in Qwen3's order (id offset, content, special).
ADDED = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False),
    ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False),
    ("<|file_sep|>", False), ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False),
]

CORPUS = """\
The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is Rome.
What is the capital of Spain? The capital of Spain is Madrid. Hello, how are you today?
I am fine, thank you. What can I help you with? Please tell me a short story about a cat.
Once upon a time there was a little cat who lived in a house by the river with an old man.
Every morning the cat sat in the sun and watched the boats go by, and every evening it came
home for dinner. The man and the cat were the best of friends, and they were happy together.
You are a helpful assistant. Answer the question as well as you can, and keep it short.
The quick brown fox jumps over the lazy dog. It's 2024 and there are 365 days in the year.
We're going to the market; they'll be there at 10:30, and I've got 3 apples and 12 pears.
def add(a, b):
    return a + b

for i in range(10):
    print(i * i)

{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
Machine learning models turn text into tokens, and tokens into numbers, then back again.
Large language models generate one token at a time; the next token depends on the ones before.
"""

QWEN3_CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is defined and message.reasoning_content is not none %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in message.content %}
                {%- set content = message.content.split('</think>')[-1].lstrip('\n') %}
                {%- set reasoning_content = message.content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"""

# A Qwen2.5-style ChatML template without tool support (default system prompt as Qwen2.5).
QWEN2_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (message.role == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


# --------------------------------------------------------------------------- tokenizer

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def train_bpe(corpus, n_tokens):
    """Deterministic byte-level BPE: most frequent pair first, ties broken by the pair's
    strings. Returns (vocab list, merges list)."""
    import regex
    import unicodedata

    enc = bytes_to_unicode()
    vocab = [enc[b] for b in sorted(enc, key=lambda b: ord(enc[b]))]  # Qwen/GPT-2 id order
    seen = set(vocab)
    words = Counter(
        tuple(enc[b] for b in w.encode("utf-8"))
        for w in regex.findall(QWEN_PATTERN, unicodedata.normalize("NFC", corpus))
    )
    merges = []
    while len(vocab) < n_tokens:
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            raise SystemExit("corpus too small for the requested vocabulary")
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        new = best[0] + best[1]
        if new not in seen:
            seen.add(new)
            vocab.append(new)
        nw = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] += c
        words = nw
    return vocab, merges


def write_tokenizer(out, vocab_list, merges, chat_template, model_max_length):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(vocab_list)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=list(merges), dropout=None, unk_token=None,
                               fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.add_tokens([AddedToken(c, special=s, normalized=False, lstrip=False, rstrip=False, single_word=False)
                    for c, s in ADDED])
    path = os.path.join(out, "tokenizer.json")
    tok.save(path)
    # tokenizers' Python decoders.ByteLevel ignores its arguments when serialising; write
    # the decoder as Qwen's tokenizer.json has it (decoding does not depend on these flags).
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    tj["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tj, f, indent=2, ensure_ascii=False)

    base = len(vocab_list)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    tcfg = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(base + i): {"content": c, "lstrip": False, "normalized": False, "rstrip": False,
                            "single_word": False, "special": s}
            for i, (c, s) in enumerate(ADDED)
        },
        "additional_special_tokens": [c for c, s in ADDED if s and c != "<|endoftext|>"],
        "bos_token": None,
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": model_max_length,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tcfg, f, indent=2, ensure_ascii=False)
        f.write("\n")
    stm = lambda c: {"content": c, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
    with open(os.path.join(out, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"additional_special_tokens": tcfg["additional_special_tokens"],
                   "eos_token": stm("<|im_end|>"), "pad_token": stm("<|endoftext|>")}, f, indent=2)
        f.write("\n")
    return {c: base + i for i, (c, _) in enumerate(ADDED)}


# --------------------------------------------------------------------------- model

def model_config(arch, ids):
    common = {
        "attention_dropout": 0.0,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTER,
        "max_window_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "torch_dtype": "float32",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": VOCAB,
    }
    if arch == "qwen2":
        return {**common, "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
                "max_position_embeddings": 32768, "tie_word_embeddings": True}
    return {**common, "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
            "attention_bias": False, "head_dim": HEAD_DIM, "max_position_embeddings": 40960,
            "tie_word_embeddings": False}


def random_weights(model, arch, seed, n_used):
    """Fill every parameter from numpy's PCG64 (deterministic across platforms)."""
    from mlx.utils import tree_flatten

    import mlx.core as mx

    rng = np.random.default_rng([seed, 0 if arch == "qwen2" else 1])
    new = []
    for name, p in sorted(tree_flatten(model.parameters())):
        shape = p.shape
        if name.endswith("norm.weight"):
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith(".bias"):
            a = 0.1 * rng.standard_normal(shape)
        elif name in ("model.embed_tokens.weight", "lm_head.weight"):
            a = 0.5 * rng.standard_normal(shape)
            a[n_used:] = 0.0  # padding rows beyond the tokenizer, as in real Qwen checkpoints
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            # larger residual updates: less "echo the input token" in greedy output
            a = 2.0 * rng.standard_normal(shape) / np.sqrt(shape[-1])
        else:
            a = rng.standard_normal(shape) / np.sqrt(shape[-1])
        new.append((name, mx.array(a.astype(np.float32))))
    model.load_weights(new, strict=True)
    mx.eval(model.parameters())


def save_checkpoint(out, model, config, tok_dir, readme_extra):
    from mlx_lm.utils import save_config, save_model

    os.makedirs(out, exist_ok=True)
    save_model(out, model)
    save_config(dict(config), os.path.join(out, "config.json"))
    for f in sorted(os.listdir(tok_dir)):
        shutil.copy(os.path.join(tok_dir, f), os.path.join(out, f))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("---\nlicense: apache-2.0\nlibrary_name: mlx\npipeline_tag: text-generation\n"
                "tags:\n- mlx\n- test-fixture\n---\n\n"
                f"# {os.path.basename(out)}\n\nRandom-initialised test checkpoint made by mlxk's "
                f"`scripts/make_tiny_checkpoints.py` with Python mlx-lm. {readme_extra} "
                "It generates nonsense; it exists to compare implementations numerically.\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_root")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="names of checkpoints to make (default: all)")
    args = ap.parse_args()

    import mlx.core as mx
    from mlx.utils import tree_map
    from mlx_lm.utils import _get_classes, quantize_model

    mx.random.seed(args.seed)
    vocab_list, merges = train_bpe(CORPUS, N_BPE)
    n_used = len(vocab_list) + len(ADDED)
    assert n_used <= VOCAB

    plan = {
        "qwen2": [("tiny-qwen2-f32", None, None), ("tiny-qwen2-4bit", 64, None)],
        "qwen3": [("tiny-qwen3-f32", None, None), ("tiny-qwen3-4bit", 32, None),
                  ("tiny-qwen3-4bit-bf16", 64, mx.bfloat16)],
    }
    os.makedirs(args.out_root, exist_ok=True)
    for arch, variants in plan.items():
        variants = [v for v in variants if not args.only or v[0] in args.only]
        if not variants:
            continue
        tok_dir = os.path.join(args.out_root, f".tok-{arch}")
        shutil.rmtree(tok_dir, ignore_errors=True)
        os.makedirs(tok_dir)
        ids = write_tokenizer(tok_dir, vocab_list, merges,
                              QWEN2_CHAT_TEMPLATE if arch == "qwen2" else QWEN3_CHAT_TEMPLATE,
                              32768 if arch == "qwen2" else 40960)
        config = model_config(arch, ids)
        with open(os.path.join(tok_dir, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": ids["<|endoftext|>"],
                       "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]],
                       "pad_token_id": ids["<|endoftext|>"]}, f, indent=2)
            f.write("\n")
        for name, group, dtype in variants:
            model_class, args_class = _get_classes(config)
            model = model_class(args_class.from_dict(config))
            random_weights(model, arch, args.seed, n_used)
            cfg = dict(config)
            what = "Unquantized float32."
            if group is not None:
                model, cfg = quantize_model(model, cfg, group_size=group, bits=4)
                what = f"4-bit affine, group size {group}, quantized by mlx_lm.utils.quantize_model;"
                if dtype is not None:
                    model.update(tree_map(lambda p: p.astype(dtype) if p.dtype == mx.float32 else p,
                                          model.parameters()))
                    cfg["torch_dtype"] = "bfloat16"
                    what += " scales, biases and norms cast to bfloat16."
                else:
                    what += " scales, biases and norms float32."
            out = os.path.join(args.out_root, name)
            shutil.rmtree(out, ignore_errors=True)
            save_checkpoint(out, model, cfg, tok_dir,
                            f"Architecture {arch}: {LAYERS} layers, hidden {HIDDEN}, {HEADS} heads / "
                            f"{KV_HEADS} KV heads, vocab {VOCAB}, seed {args.seed}. {what}")
            h = hashlib.sha256(open(os.path.join(out, "model.safetensors"), "rb").read()).hexdigest()[:16]
            print(f"{out}  model.safetensors sha256 {h}", file=sys.stderr)
        shutil.rmtree(tok_dir)


if __name__ == "__main__":
    main()
