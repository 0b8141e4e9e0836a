//! Rotary position embedding through `mlx.fast.rope`: default, linear, llama3 and long-rope
//! (Phi-3's `longrope`/`su`) scaling.

use mlx_rs::fast;
use mlx_rs::ops::indexing::{Ellipsis, IndexOp};
use mlx_rs::{ops, Array};

use crate::config::RopeScaling;
use crate::error::{Result, RunnerError};

/// Rotary position embedding settings (`rope_theta`, `rope_scaling`).
#[derive(Debug, Clone)]
pub struct RopeSpec {
    pub dims: usize,
    pub traditional: bool,
    pub theta: f32,
    pub scaling: Option<RopeScaling>,
}

/// Rotary position embedding through `mlx.fast.rope`: default, linear and llama3
/// scaling (the latter with precomputed frequencies, as mlx-lm's `Llama3RoPE`).
#[derive(Debug)]
pub struct Rope {
    pub(crate) dims: i32,
    pub(crate) traditional: bool,
    pub(crate) base: Option<f32>,
    pub(crate) scale: f32,
    pub(crate) freqs: Option<Array>,
    /// The rotated part of each head is multiplied by this first (long-rope's `mscale`).
    pub(crate) mscale: f32,
}

impl Rope {
    pub fn new(spec: &RopeSpec) -> Result<Self> {
        let dims = spec.dims as i32;
        let plain = |scale: f32| Rope {
            dims,
            traditional: spec.traditional,
            base: Some(spec.theta),
            scale,
            freqs: None,
            mscale: 1.0,
        };
        // Precomputed frequencies (and an input scale) instead of a base.
        let with_freqs = |freqs, mscale, traditional| Rope {
            dims,
            traditional,
            base: None,
            scale: 1.0,
            freqs: Some(freqs),
            mscale,
        };
        let Some(scaling) = &spec.scaling else {
            return Ok(plain(1.0));
        };
        match scaling.kind() {
            "default" => Ok(plain(1.0)),
            "linear" => Ok(plain(1.0 / scaling.factor.unwrap_or(1.0))),
            "llama3" => Ok(with_freqs(
                llama3_freqs(spec.dims, spec.theta, scaling)?,
                1.0,
                spec.traditional,
            )),
            // mlx-lm's SuScaledRoPE is never traditional.
            "longrope" | "su" => {
                let (freqs, mscale) = long_rope(spec.dims, spec.theta, scaling)?;
                Ok(with_freqs(freqs, mscale, false))
            }
            "yarn" => {
                let (freqs, mscale) = yarn(spec.dims, spec.theta, scaling)?;
                Ok(with_freqs(freqs, mscale, spec.traditional))
            }
            other => Err(RunnerError::UnsupportedConfig(format!(
                "rope scaling `{other}` is not supported (default, linear, llama3, longrope, yarn)"
            ))),
        }
    }

    /// Rotates `x` (`[B, heads, L, head_dim]`) for positions `offset..offset+L`.
    pub fn forward(&self, x: &Array, offset: usize) -> Result<Array> {
        let scaled;
        let x = if self.mscale == 1.0 {
            x
        } else {
            scaled = self.scale_rotated(x)?;
            &scaled
        };
        Ok(fast::rope(
            x,
            self.dims,
            self.traditional,
            self.base,
            self.scale,
            offset as i32,
            self.freqs.as_ref(),
        )?)
    }
}

impl Rope {
    /// `x` with its first `dims` features multiplied by `mscale` (mlx-lm's
    /// `x.at[..., :dims].multiply(scale)`).
    fn scale_rotated(&self, x: &Array) -> Result<Array> {
        let m = Array::from_f32(self.mscale);
        let head = *x.shape().last().unwrap_or(&0);
        if self.dims >= head {
            return Ok(x.multiply(&m)?);
        }
        let rotated = x.index((Ellipsis, ..self.dims)).multiply(&m)?;
        let rest = x.index((Ellipsis, self.dims..));
        Ok(ops::concatenate(&[rotated, rest], -1)?)
    }
}

/// Long-rope (mlx-lm's `SuScaledRoPE`): frequencies `long_factor · base^(2i/dims)` and the
/// input scale `√(1 + ln(max/original) / ln(original))` when the context was extended.
fn long_rope(dims: usize, base: f32, s: &RopeScaling) -> Result<(Array, f32)> {
    let factors = s.long_factor.clone().unwrap_or_else(|| vec![1.0; dims / 2]);
    if factors.len() != dims / 2 {
        return Err(RunnerError::UnsupportedConfig(format!(
            "rope_scaling.long_factor has {} values, expected {} (half the rotated dims)",
            factors.len(),
            dims / 2
        )));
    }
    let exponents =
        ops::arange::<_, f32>(0.0, dims as f32, 2.0)?.divide(Array::from_f32(dims as f32))?;
    let freqs = ops::power(Array::from_f32(base), &exponents)?;
    let freqs = Array::from_slice(&factors, &[factors.len() as i32]).multiply(&freqs)?;
    freqs.eval()?;
    let original = s.original_max_position_embeddings.unwrap_or(4096.0) as f64;
    let factor = s.max_position_embeddings.unwrap_or(131_072.0) as f64 / original;
    let mscale = match s.long_mscale {
        Some(m) => m,
        None if factor <= 1.0 => 1.0,
        None => (1.0 + factor.ln() / original.ln()).sqrt() as f32,
    };
    Ok((freqs, mscale))
}

/// YaRN (mlx-lm's `YarnRoPE`): frequencies blended between interpolated and original
/// over the correction range of `beta_fast`..`beta_slow` rotations, and the input scale
/// `mscale(factor, mscale) / mscale(factor, mscale_all_dim)`, with the same float32 MLX
/// operations (the range and the scale in float64, as Python computes them).
fn yarn(dims: usize, base: f32, s: &RopeScaling) -> Result<(Array, f32)> {
    let factor = s.factor.unwrap_or(1.0) as f64;
    let original = s.original_max_position_embeddings.unwrap_or(4096.0) as f64;
    let correction = |rotations: f64| {
        dims as f64 * (original / (rotations * 2.0 * std::f64::consts::PI)).ln()
            / (2.0 * (base as f64).ln())
    };
    let low = correction(s.beta_fast.unwrap_or(32.0) as f64)
        .floor()
        .max(0.0);
    let high = correction(s.beta_slow.unwrap_or(1.0) as f64)
        .ceil()
        .min(dims as f64 - 1.0);
    let high = if low == high { high + 0.001 } else { high };
    let ramp = ops::arange::<_, f32>(0.0, (dims / 2) as f32, 1.0)?
        .subtract(Array::from_f32(low as f32))?
        .divide(Array::from_f32((high - low) as f32))?;
    let ramp = ops::clip(&ramp, (Array::from_f32(0.0), Array::from_f32(1.0)))?;
    let one = Array::from_f32(1.0);
    let mask = one.subtract(&ramp)?;
    let exponents =
        ops::arange::<_, f32>(0.0, dims as f32, 2.0)?.divide(Array::from_f32(dims as f32))?;
    let extra = ops::power(Array::from_f32(base), &exponents)?;
    let inter = Array::from_f32(factor as f32).multiply(&extra)?;
    let freqs = inter.multiply(&extra)?.divide(
        inter
            .multiply(&mask)?
            .add(extra.multiply(one.subtract(&mask)?)?)?,
    )?;
    freqs.eval()?;
    let get = |m: f64| {
        if factor <= 1.0 {
            1.0
        } else {
            0.1 * m * factor.ln() + 1.0
        }
    };
    let mscale = get(s.mscale.unwrap_or(1.0) as f64) / get(s.mscale_all_dim.unwrap_or(0.0) as f64);
    Ok((freqs, mscale as f32))
}

/// Llama 3.x frequency smoothing, computed with the same float32 MLX ops as mlx-lm.
fn llama3_freqs(dims: usize, base: f32, s: &RopeScaling) -> Result<Array> {
    let factor = s.factor.unwrap_or(1.0);
    let low = s.low_freq_factor.unwrap_or(1.0);
    let high = s.high_freq_factor.unwrap_or(4.0);
    let old_len = s.original_max_position_embeddings.unwrap_or(8192.0);
    let low_wavelen = old_len / low;
    let high_wavelen = old_len / high;

    let exponents =
        ops::arange::<_, f32>(0.0, dims as f32, 2.0)?.divide(Array::from_f32(dims as f32))?;
    let freqs = ops::power(Array::from_f32(base), &exponents)?;
    let wavelens = freqs.multiply(Array::from_f32((2.0 * std::f64::consts::PI) as f32))?;
    let freqs = ops::select(
        &wavelens.gt(Array::from_f32(low_wavelen))?,
        &freqs.multiply(Array::from_f32(factor))?,
        &freqs,
    )?;
    let medium = wavelens
        .gt(Array::from_f32(high_wavelen))?
        .logical_and(&wavelens.lt(Array::from_f32(low_wavelen))?)?;
    let smooth = Array::from_f32(old_len)
        .divide(&wavelens)?
        .subtract(Array::from_f32(low))?
        .divide(Array::from_f32(high - low))?;
    let one = Array::from_f32(1.0);
    let smooth_freqs = freqs.divide(
        one.subtract(&smooth)?
            .divide(Array::from_f32(factor))?
            .add(&smooth)?,
    )?;
    let out = ops::select(&medium, &smooth_freqs, &freqs)?;
    out.eval()?;
    Ok(out)
}

/// Multimodal rotary embedding (Qwen2-VL's "mrope", mlx-vlm's `chunked` style): every
/// position has three coordinates (time, height, width); frequency `j` turns with the
/// time coordinate for `j < s0`, the height for `j < s0 + s1`, the width for
/// `j < s0 + s1 + s2` (and time again after, as mlx-vlm's selector leaves it). Queries
/// and keys are rotated by `x · cos + rotate_half(x) · sin` with the cosines and sines
/// of `concat(f, f)`, the same MLX operations as mlx-vlm. Text positions have three
/// equal coordinates, which makes it ordinary (non-traditional) rope.
#[derive(Debug)]
pub struct MRope {
    /// `1 / θ^(arange(0, dims, 2) / dims)`, float32 (`[dims / 2]`).
    pub(crate) inv_freq: Array,
    /// The coordinate (0, 1, 2) each frequency takes (`[dims / 2]`, int32).
    selector: Array,
}

/// Explicit multimodal rope positions of a prompt: `ids` `[3, L]` (int32) for its `L`
/// tokens, and `delta` (mlx-vlm's `rope_deltas`): the token at sequence index `i ≥ L`
/// sits at `i + delta` on all three axes.
#[derive(Debug, Clone)]
pub struct MropePositions {
    pub ids: Array,
    pub delta: i64,
}

impl MropePositions {
    /// Positions `[3, 1]` of the token fed at cache offset `offset` (decoding).
    pub fn decode_at(&self, offset: usize) -> Array {
        let p = (offset as i64 + self.delta) as i32;
        Array::from_slice(&[p, p, p], &[3, 1])
    }
}

impl MRope {
    /// `dims`: the rotated head dimension; `section`: frequencies per coordinate, in
    /// consecutive runs (Qwen2-VL: time, then height, then width), or `interleaved`
    /// (Qwen3-VL: frequency `j` takes the height when `j % 3 == 1` and `j < 3 ·
    /// section[1]`, the width when `j % 3 == 2` and `j < 3 · section[2]`, else the
    /// time; mlx-vlm's `_interleaved_position_selector`).
    pub fn new(dims: usize, theta: f32, section: &[usize], interleaved: bool) -> Result<Self> {
        let half = dims / 2;
        if dims % 2 != 0 || section.len() != 3 || section.iter().sum::<usize>() > half {
            return Err(RunnerError::UnsupportedConfig(format!(
                "mrope_section {section:?} does not fit head_dim {dims} (three parts, at most {half} in all)"
            )));
        }
        let inv_freq = inverse_frequencies(dims, theta)?;
        let mut selector = vec![0i32; half];
        if interleaved {
            for (axis, &len) in section.iter().enumerate().skip(1) {
                for j in (axis..(3 * len).min(half)).step_by(3) {
                    selector[j] = axis as i32;
                }
            }
        } else {
            let mut offset = section[0];
            for (axis, &len) in section.iter().enumerate().skip(1) {
                for s in selector.iter_mut().skip(offset).take(len) {
                    *s = axis as i32;
                }
                offset += len;
            }
        }
        Ok(MRope {
            inv_freq,
            selector: Array::from_slice(&selector, &[half as i32]),
        })
    }

    /// Cosines and sines `[1, 1, L, dims]` (in `dtype`) for positions `[3, L]`.
    pub fn cos_sin(&self, positions: &Array, dtype: mlx_rs::Dtype) -> Result<(Array, Array)> {
        let picked = positions.take_axis(&self.selector, 0)?; // [half, L]
        let freqs = picked
            .transpose_axes(&[1, 0])?
            .as_dtype(mlx_rs::Dtype::Float32)?
            .multiply(&self.inv_freq)?;
        let emb = ops::concatenate(&[freqs.clone(), freqs], -1)?;
        let l = emb.dim(0);
        let shape = [1, 1, l, emb.dim(1)];
        let cos = ops::cos(&emb)?.as_dtype(dtype)?.reshape(&shape)?;
        let sin = ops::sin(&emb)?.as_dtype(dtype)?.reshape(&shape)?;
        Ok((cos, sin))
    }

    /// Rotates `x` (`[B, heads, L, dims]`) by the `cos`, `sin` of [`MRope::cos_sin`].
    pub fn apply(x: &Array, cos: &Array, sin: &Array) -> Result<Array> {
        Ok(x.multiply(cos)?.add(rotate_half(x)?.multiply(sin)?)?)
    }
}

/// `1 / θ^(arange(0, dims, 2) / dims)` (`[dims / 2]`), evaluated, in float32 as
/// mlx-lm's and mlx-vlm's rotary embeddings compute them.
pub fn inverse_frequencies(dims: usize, theta: f32) -> Result<Array> {
    let d = dims as f32;
    let exponents = ops::arange::<_, f32>(0.0, d, 2.0)?.divide(Array::from_f32(d))?;
    let inv_freq = Array::from_f32(1.0).divide(ops::power(Array::from_f32(theta), &exponents)?)?;
    inv_freq.eval()?;
    Ok(inv_freq)
}

/// `concat(−x₂, x₁)` of the two halves of the last axis.
pub fn rotate_half(x: &Array) -> Result<Array> {
    let half = x.dim(-1) / 2;
    let (x1, x2) = (x.index((Ellipsis, ..half)), x.index((Ellipsis, half..)));
    Ok(ops::concatenate(&[x2.negative()?, x1], -1)?)
}
