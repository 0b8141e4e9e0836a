#!/usr/bin/env python3
"""Writes Whisper's two BPE vocabularies in the compact form mlxk-audio embeds.

mlx-community Whisper repos carry no tokenizer: mlx-whisper ships `gpt2.tiktoken` and
`multilingual.tiktoken` (base64 token, rank per line) in its package. This turns each
into the tokens' bytes in rank order, each preceded by one length byte, which is what
`shared/runner/src/whisper/tokenizer.rs` reads (docs/decisions.md).

    python scripts/whisper_vocab.py MLX_WHISPER_ASSETS_DIR OUT_DIR
"""
import base64
import pathlib
import sys

assets, out = map(pathlib.Path, sys.argv[1:3])
for name in ("gpt2", "multilingual"):
    ranked = []
    for line in (assets / f"{name}.tiktoken").read_text().splitlines():
        if line.strip():
            token, rank = line.split()
            ranked.append((int(rank), base64.b64decode(token)))
    ranked.sort()
    assert [r for r, _ in ranked] == list(range(len(ranked))), f"{name}: ranks are not 0..n"
    assert all(len(t) < 256 for _, t in ranked)
    (out / f"{name}.bpe").write_bytes(b"".join(bytes([len(t)]) + t for _, t in ranked))
    print(f"{name}: {len(ranked)} tokens", file=sys.stderr)
