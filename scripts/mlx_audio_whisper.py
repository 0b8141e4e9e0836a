#!/usr/bin/env python3
"""A Whisper model in mlx-audio's layout, written by mlx-audio's own converter.

    python scripts/mlx_audio_whisper.py MLX_WHISPER_DIR OUT_DIR [--quantize BITS]

mlx-audio (0.6.x) converts Whisper from a Hugging Face checkpoint (`mlx_audio.convert`):
it keeps the Hugging Face config.json (`d_model`, `encoder_layers`, `num_mel_bins`, …)
with `model_type` and `quantization` added, copies generation_config.json (where the
alignment heads are), and saves `tree_flatten(model.parameters())` of its own
`mlx_audio.stt.models.whisper.Model` as `model.safetensors`.

No Hugging Face Whisper checkpoint can be had here, so this script writes one from the
float32 mlx-whisper fixture (the same real weights): the tensor names and the
convolutions' [out, in, k] order of transformers' `WhisperForConditionalGeneration`,
its config keys, and generation_config.json with the alignment heads. That is only the
converter's input; the output is mlx-audio's `convert()` itself (run in the venv that
has mlx-audio, `scripts/venv.sh mlx-audio`).
"""
import argparse
import json
import pathlib
import tempfile

# mlx-whisper name piece -> transformers name piece (the inverse of mlx-audio's sanitize).
BLOCK = [
    (".attn.query.", ".self_attn.q_proj."),
    (".attn.key.", ".self_attn.k_proj."),
    (".attn.value.", ".self_attn.v_proj."),
    (".attn.out.", ".self_attn.out_proj."),
    (".cross_attn.query.", ".encoder_attn.q_proj."),
    (".cross_attn.key.", ".encoder_attn.k_proj."),
    (".cross_attn.value.", ".encoder_attn.v_proj."),
    (".cross_attn.out.", ".encoder_attn.out_proj."),
    (".cross_attn_ln.", ".encoder_attn_layer_norm."),
    (".attn_ln.", ".self_attn_layer_norm."),
    (".mlp_ln.", ".final_layer_norm."),
    (".mlp1.", ".fc1."),
    (".mlp2.", ".fc2."),
]


def hf_name(name):
    if name == "decoder.positional_embedding":
        return "model.decoder.embed_positions.weight"
    if name.startswith("decoder.token_embedding."):
        return "model.decoder.embed_tokens." + name.split(".")[-1]
    name = name.replace("encoder.ln_post.", "encoder.layer_norm.")
    name = name.replace("decoder.ln.", "decoder.layer_norm.")
    name = name.replace("encoder.blocks.", "encoder.layers.").replace("decoder.blocks.", "decoder.layers.")
    for mlx, hf in BLOCK:
        name = name.replace(mlx, hf)
    return "model." + name


def write_hf(src, dst):
    import mlx.core as mx
    import numpy as np

    from mlx_audio.stt.models.whisper.whisper import sinusoids

    dims = json.loads((src / "config.json").read_text())
    if "quantization" in dims:
        raise SystemExit(f"{src}: needs a float checkpoint")
    weights = mx.load(str(src / "weights.safetensors"))
    heads = np.array(weights.pop("alignment_heads")).tolist()
    out = {}
    for k, v in weights.items():
        if k.endswith("conv1.weight") or k.endswith("conv2.weight"):
            v = v.transpose(0, 2, 1)
        out[hf_name(k)] = v.astype(mx.float32)
    out["model.encoder.embed_positions.weight"] = sinusoids(dims["n_audio_ctx"], dims["n_audio_state"])
    mx.save_safetensors(str(dst / "model.safetensors"), out, metadata={"format": "pt"})
    config = {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "d_model": dims["n_audio_state"],
        "encoder_layers": dims["n_audio_layer"],
        "encoder_attention_heads": dims["n_audio_head"],
        "decoder_layers": dims["n_text_layer"],
        "decoder_attention_heads": dims["n_text_head"],
        "num_mel_bins": dims["n_mels"],
        "vocab_size": dims["n_vocab"],
        "max_source_positions": dims["n_audio_ctx"],
        "max_target_positions": dims["n_text_ctx"],
        "encoder_ffn_dim": 4 * dims["n_audio_state"],
        "decoder_ffn_dim": 4 * dims["n_text_state"],
        "torch_dtype": "float32",
    }
    (dst / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (dst / "generation_config.json").write_text(json.dumps({"alignment_heads": heads}, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=pathlib.Path)
    ap.add_argument("out_dir", type=pathlib.Path)
    ap.add_argument("--quantize", type=int, metavar="BITS")
    args = ap.parse_args()
    from mlx_audio.convert import convert

    with tempfile.TemporaryDirectory() as hf:
        write_hf(args.src, pathlib.Path(hf))
        convert(
            hf,
            mlx_path=str(args.out_dir),
            quantize=bool(args.quantize),
            q_group_size=64 if args.quantize else None,
            q_bits=args.quantize,
            # Named, because detecting the domain imports every model module, and one of
            # the text-to-speech ones fetches a codec from the Hub on import.
            model_domain="stt",
        )


if __name__ == "__main__":
    main()
