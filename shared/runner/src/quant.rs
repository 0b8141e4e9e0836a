//! MLX quantization: which parameters a module was packed with.
//!
//! A quantized module `p` has `p.weight` (uint32, `bits` values per 32-bit word),
//! `p.scales` and, in affine mode, `p.biases` (one per `group_size` inputs):
//! `w = scale · q + bias`; in mxfp4 mode `w = 2^(scale − 127) · e2m1(q)`.
//! The parameters come from `config.json`'s per-module override when there is one,
//! else from the tensor shapes (as mlx-lm infers them), which also checks the global
//! `bits`/`group_size`.

use crate::config::{QuantMode, QuantParams, Quantization};
use crate::error::{Result, RunnerError};
use crate::weights::Weights;

/// Bit widths MLX's affine kernels support.
pub const SUPPORTED_BITS: [i32; 6] = [2, 3, 4, 5, 6, 8];
/// Group sizes MLX's affine kernels support.
pub const SUPPORTED_GROUP_SIZES: [i32; 3] = [32, 64, 128];

/// The quantization of module `path` (e.g. `model.layers.0.self_attn.q_proj`) whose
/// unquantized weight is `[out, in_dims]`, or `None` when it is stored unquantized.
pub fn resolve(
    quantization: Option<&Quantization>,
    weights: &Weights,
    path: &str,
    in_dims: usize,
) -> Result<Option<QuantParams>> {
    let scales_name = format!("{path}.scales");
    let Some(scales) = weights.shape(&scales_name) else {
        return Ok(None);
    };
    let weight_name = format!("{path}.weight");
    let weight = weights
        .shape(&weight_name)
        .ok_or_else(|| RunnerError::MissingTensor {
            name: weight_name.clone(),
        })?;
    let bad = |message: String| RunnerError::BadTensor {
        name: weight_name.clone(),
        message,
    };
    let (Some(&packed), Some(&groups)) = (weight.last(), scales.last()) else {
        return Err(bad(
            "quantized weight must have at least one dimension".into()
        ));
    };
    if packed <= 0 || groups <= 0 {
        return Err(bad("empty quantized weight".into()));
    }
    let in_dims = in_dims as i32;
    let inferred = QuantParams {
        bits: packed * 32 / in_dims,
        group_size: in_dims / groups,
        mode: quantization.map(|q| q.mode).unwrap_or_default(),
    };
    let params = match quantization.and_then(|q| q.overrides.get(path)) {
        Some(Some(p)) => *p,
        Some(None) => {
            return Err(bad(
                "config.json marks this module unquantized, but it has scales".into(),
            ))
        }
        None => inferred,
    };
    let consistent = packed * 32 == in_dims * params.bits && groups * params.group_size == in_dims;
    if !consistent {
        return Err(bad(format!(
            "shape {weight:?} with scales {scales:?} does not match {} bits, group size {} for {in_dims} inputs",
            params.bits, params.group_size
        )));
    }
    let supported = match params.mode {
        QuantMode::Affine => {
            SUPPORTED_BITS.contains(&params.bits)
                && SUPPORTED_GROUP_SIZES.contains(&params.group_size)
        }
        QuantMode::Mxfp4 => params.bits == 4 && params.group_size == 32,
    };
    if !supported {
        return Err(bad(format!(
            "{} bits with group size {} is not supported in {} mode",
            params.bits,
            params.group_size,
            params.mode.name()
        )));
    }
    Ok(Some(params))
}
