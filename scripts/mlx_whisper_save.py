"""mlx-whisper's converter's save path, for the scripts that write Whisper fixtures.

`save_like_convert(model, out_dir, quantize)` does what mlx-examples'
`whisper/convert.py` does with its `mlx_whisper.whisper.Whisper` once the weights are in:
`tree_flatten(model.parameters())` (the `alignment_heads` parameter included); for `-q`,
its `quantize()`: a fresh `Whisper`, updated with those weights, `nn.quantize` (group 64)
and flattened again, with `quantization` in the config; then `mx.save_safetensors` as
`weights.safetensors`, and `asdict(model.dims)` with `model_type` as config.json.
"""
import json
from dataclasses import asdict

GROUP_SIZE = 64


def save_like_convert(model, out_dir, quantize=None):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten, tree_unflatten
    from mlx_whisper.whisper import ModelDimensions, Whisper

    config = asdict(model.dims)
    weights = dict(tree_flatten(model.parameters()))
    if quantize:
        qmodel = Whisper(ModelDimensions(**config))
        qmodel.update(tree_unflatten(list(weights.items())))
        nn.quantize(qmodel, GROUP_SIZE, quantize)
        config["quantization"] = {"group_size": GROUP_SIZE, "bits": quantize}
        weights = dict(tree_flatten(qmodel.parameters()))
    out_dir.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out_dir / "weights.safetensors"), weights)
    with open(out_dir / "config.json", "w") as f:
        config["model_type"] = "whisper"
        json.dump(config, f, indent=4)
