"""The publishing step of the tiny vision-language checkpoints (scripts/make_tiny_vlm.py,
make_tiny_pixtral.py, make_tiny_mllama.py, make_tiny_qwen3_vl.py), run in the vlm venv
(scripts/venv.sh vlm: mlx-vlm 0.7).

publish(hf, params, out, name): the random model's parameters, already under the Hugging Face
names and layout the family's real checkpoint has, are written to HF/model.safetensors beside the
config, tokenizer and processor files already in HF; then HF is published the way mlx-community
publishes: mlx-vlm's own converter, `mlx_vlm.convert(hf, out, quantize=True, q_group_size=64,
q_bits=4)`, which loads the directory with mlx-vlm's loader (the family's sanitize), casts to the
config's torch_dtype (bfloat16), quantizes what mlx-vlm's predicate picks (the language model;
not the vision tower or the projector) and saves weights, config and processor files.
"""

import json
import shutil
import sys
from pathlib import Path


def publish(hf: Path, params: dict, out: Path, name: str) -> dict:
    """Writes PARAMS as HF/model.safetensors and converts HF into OUT; returns OUT's config.json."""
    import mlx.core as mx
    from mlx_vlm.convert import convert

    mx.save_safetensors(str(hf / "model.safetensors"), params, metadata={"format": "pt"})
    print(f"random {name} model: {len(params)} tensors, "
          f"{sum(v.size for v in params.values())} parameters", file=sys.stderr)
    if out.exists():
        shutil.rmtree(out)
    convert(str(hf), mlx_path=str(out), quantize=True, q_group_size=64, q_bits=4)
    saved = json.loads((out / "config.json").read_text())
    print("quantization:", saved.get("quantization"), file=sys.stderr)
    return saved
