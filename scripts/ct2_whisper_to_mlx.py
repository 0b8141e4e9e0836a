#!/usr/bin/env python3
"""Converts a CTranslate2 Whisper model (faster-whisper's layout) into mlx-community's.

    python scripts/ct2_whisper_to_mlx.py CT2_DIR OUT_DIR [--dtype float32|float16] [--quantize BITS]

CT2_DIR holds `model.bin` (CTranslate2 binary, version 6) and `config.json`. OUT_DIR gets
what mlx-community's Whisper repos publish and mlx-whisper loads: `config.json`
(`n_mels`, `n_audio_ctx`, `n_audio_state`, ..., `model_type: whisper`, and
`quantization` when quantized) and `weights.safetensors` with mlx-whisper's names.

CTranslate2 fuses the self-attention Q/K/V (`self_attention/linear_0`, 3·d rows) and the
cross-attention K/V (`attention/linear_1`, 2·d rows); its K biases are exactly zero
(Whisper's key projection has none; checked); Q is not pre-scaled; `decoder/projection`
aliases `decoder/embeddings`; the stored encoder position encodings equal Whisper's
sinusoids (checked), which mlx-whisper computes instead of loading. Convolutions are
transposed from [out, in, k] to MLX's [out, k, in].

Only the reading of CTranslate2's tensors is ours. The model is then written by
mlx-whisper's own code, as its converter (mlx-examples `whisper/convert.py`) writes
mlx-community's repos: the tensors go into an `mlx_whisper.whisper.Whisper` in the
target dtype, the alignment heads from CTranslate2's config.json are set with
`set_alignment_heads`, `--quantize` runs `nn.quantize` (group 64) on a fresh
`Whisper` as convert.py's `-q` does, and the file is `tree_flatten(model.parameters())`
saved with `mx.save_safetensors` (scripts/mlx_whisper_save.py). So the output carries everything that converter writes, `alignment_heads`
included.
"""
import argparse
import json
import math
import pathlib
import re
import struct

import numpy as np

from mlx_whisper_save import save_like_convert

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path):
    data = path.read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value[0]

    def string():
        nonlocal pos
        n = take("H")
        value = data[pos : pos + n - 1].decode()
        pos += n
        return value

    version = take("I")
    if version < 4:
        raise SystemExit(f"{path}: CTranslate2 binary version {version} is not supported (need >= 4)")
    spec, revision = string(), take("I")
    if spec != "WhisperSpec":
        raise SystemExit(f"{path}: a {spec}, not a WhisperSpec")
    variables = {}
    for _ in range(take("I")):
        name = string()
        dims = [take("I") for _ in range(take("B"))]
        dtype = CT2_DTYPES.get(take("B"))
        nbytes = take("I")
        if dtype is None:
            raise SystemExit(f"{path}: {name}: unsupported dtype")
        variables[name] = np.frombuffer(data, dtype, nbytes // np.dtype(dtype).itemsize, pos).reshape(dims)
        pos += nbytes
    for _ in range(take("I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables, revision


def sinusoids(length, channels, max_timescale=10000):
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv = np.exp(-increment * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def convert(ct2):
    v = {k: np.asarray(a, dtype=np.float32) if a.dtype == np.float16 else a for k, a in ct2.items()}
    out = {}

    def linear(dst, src, rows=None, bias=True):
        w, b = v[f"{src}/weight"], v.get(f"{src}/bias")
        if rows is not None:
            w = w[rows]
            b = None if b is None else b[rows]
        out[f"{dst}.weight"] = w
        if bias:
            out[f"{dst}.bias"] = b
        elif b is not None and np.any(b != 0):
            raise SystemExit(f"{src}: key bias is not zero")

    def norm(dst, src):
        out[f"{dst}.weight"] = v[f"{src}/gamma"]
        out[f"{dst}.bias"] = v[f"{src}/beta"]

    def fused(dst, src, d, parts):
        for i, (name, bias) in enumerate(parts):
            linear(f"{dst}.{name}", src, slice(i * d, (i + 1) * d), bias)

    d_audio = v["encoder/conv1/weight"].shape[0]
    d_text = v["decoder/embeddings/weight"].shape[1]
    n_audio = len({k.split("/")[1] for k in v if re.match(r"encoder/layer_\d+/", k)})
    n_text = len({k.split("/")[1] for k in v if re.match(r"decoder/layer_\d+/", k)})
    for i in (1, 2):
        out[f"encoder.conv{i}.weight"] = v[f"encoder/conv{i}/weight"].transpose(0, 2, 1)
        out[f"encoder.conv{i}.bias"] = v[f"encoder/conv{i}/bias"]
    pos = v["encoder/position_encodings/encodings"]
    if np.abs(pos - sinusoids(*pos.shape)).max() > 1e-3:
        raise SystemExit("encoder position encodings are not Whisper's sinusoids")
    qkv = [("query", True), ("key", False), ("value", True)]
    for i in range(n_audio):
        s, t = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        fused(f"{t}.attn", f"{s}/self_attention/linear_0", d_audio, qkv)
        linear(f"{t}.attn.out", f"{s}/self_attention/linear_1")
        norm(f"{t}.attn_ln", f"{s}/self_attention/layer_norm")
        linear(f"{t}.mlp1", f"{s}/ffn/linear_0")
        linear(f"{t}.mlp2", f"{s}/ffn/linear_1")
        norm(f"{t}.mlp_ln", f"{s}/ffn/layer_norm")
    norm("encoder.ln_post", "encoder/layer_norm")
    out["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    out["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    for i in range(n_text):
        s, t = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        fused(f"{t}.attn", f"{s}/self_attention/linear_0", d_text, qkv)
        linear(f"{t}.attn.out", f"{s}/self_attention/linear_1")
        norm(f"{t}.attn_ln", f"{s}/self_attention/layer_norm")
        linear(f"{t}.cross_attn.query", f"{s}/attention/linear_0")
        fused(f"{t}.cross_attn", f"{s}/attention/linear_1", d_text, qkv[1:])
        linear(f"{t}.cross_attn.out", f"{s}/attention/linear_2")
        norm(f"{t}.cross_attn_ln", f"{s}/attention/layer_norm")
        linear(f"{t}.mlp1", f"{s}/ffn/linear_0")
        linear(f"{t}.mlp2", f"{s}/ffn/linear_1")
        norm(f"{t}.mlp_ln", f"{s}/ffn/layer_norm")
    norm("decoder.ln", "decoder/layer_norm")
    config = {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(pos.shape[0]),
        "n_audio_state": int(d_audio),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": n_audio,
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(d_text),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": n_text,
    }
    return out, config


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ct2_dir", type=pathlib.Path)
    ap.add_argument("out_dir", type=pathlib.Path)
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--quantize", type=int, metavar="BITS")
    args = ap.parse_args()
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_map, tree_unflatten
    from mlx_whisper.whisper import ModelDimensions, Whisper

    ct2, _ = read_ct2(args.ct2_dir / "model.bin")
    weights, config = convert(ct2)
    dtype = getattr(mx, args.dtype)

    # From here on, mlx-whisper's converter (mlx-examples whisper/convert.py) step by
    # step, with the CTranslate2 tensors where it has the PyTorch ones:
    # torch_to_mlx: a `Whisper` in the target dtype, every parameter replaced.
    model = Whisper(ModelDimensions(**config), dtype)
    expected = {k for k, _ in tree_flatten(model.parameters())} - {"alignment_heads"}
    if expected != set(weights):
        raise SystemExit(f"tensor names differ from mlx-whisper's: {sorted(expected ^ set(weights))}")
    params = tree_unflatten([(k, mx.array(np.ascontiguousarray(a))) for k, a in weights.items()])
    model.update(tree_map(lambda p: p.astype(dtype), params))
    # The alignment heads OpenAI published for this model, which CTranslate2 keeps in
    # its config.json, as convert.py sets them (`set_alignment_heads`).
    ct2_config = json.loads((args.ct2_dir / "config.json").read_text())
    if ct2_config.get("alignment_heads"):
        model.set_alignment_heads(np.array(ct2_config["alignment_heads"], dtype=np.int64))
    save_like_convert(model, args.out_dir, args.quantize)


if __name__ == "__main__":
    main()
