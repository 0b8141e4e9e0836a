#!/usr/bin/env python3
"""Make a tiny, randomly initialised Whisper with large-v3's or large-v3-turbo's shape.

    python scripts/make_tiny_whisper.py OUT_DIR [--decoder-layers 4] [--dtype float32|float16]
                                        [--quantize BITS] [--seed 0]

No large-v3 weights can be had here, so the v3 layout is proven on a checkpoint of its
configuration shape with random weights: 128 mel bins, 1500 audio positions, 32 encoder
layers, 4 decoder layers (turbo; 32 for large-v3), the v3 vocabulary of 51,866 tokens
(with `<|yue|>`), 448 text positions, and small widths (64, 2 heads) so it is a few
megabytes. Made and written entirely by mlx-whisper's own code, as its converter
(mlx-examples `whisper/convert.py`) writes mlx-community's repos: an
`mlx_whisper.whisper.Whisper` (initialised by MLX from `--seed`), its default alignment
heads, the float parameters cast to `--dtype` as convert.py's `torch_to_mlx` casts
them, `nn.quantize` on a fresh `Whisper` for `--quantize` (group 64, as `-q` does),
`tree_flatten(model.parameters())` saved with `mx.save_safetensors`, and `asdict(dims)`
with `model_type` (and `quantization`) as config.json.
"""
import argparse
import pathlib

from mlx_whisper_save import save_like_convert


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=pathlib.Path)
    ap.add_argument("--decoder-layers", type=int, default=4)
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--quantize", type=int, metavar="BITS")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import mlx.core as mx
    from mlx.utils import tree_map
    from mlx_whisper.whisper import ModelDimensions, Whisper

    mx.random.seed(args.seed)
    dims = ModelDimensions(
        n_mels=128,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=32,
        n_vocab=51866,
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=args.decoder_layers,
    )
    model = Whisper(dims, mx.float32)
    # MLX initialises the positional embedding of the decoder to zeros; a real model has
    # learned positions, so give it random ones too (still mlx-whisper's parameter).
    model.decoder.positional_embedding = mx.random.normal((448, 64)) * 0.02
    dtype = getattr(mx, args.dtype)
    floats = lambda p: p.astype(dtype) if mx.issubdtype(p.dtype, mx.floating) else p
    model.update(tree_map(floats, model.parameters()))
    mx.eval(model.parameters())
    save_like_convert(model, args.out_dir, args.quantize)


if __name__ == "__main__":
    main()
