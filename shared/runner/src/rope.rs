//! Rotary position embedding through `mlx.fast.rope`: default, linear and llama3 scaling.

use mlx_rs::fast;
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
        };
        let Some(scaling) = &spec.scaling else {
            return Ok(plain(1.0));
        };
        match scaling.kind() {
            "default" => Ok(plain(1.0)),
            "linear" => Ok(plain(1.0 / scaling.factor.unwrap_or(1.0))),
            "llama3" => {
                let freqs = llama3_freqs(spec.dims, spec.theta, scaling)?;
                Ok(Rope {
                    dims,
                    traditional: spec.traditional,
                    base: None,
                    scale: 1.0,
                    freqs: Some(freqs),
                })
            }
            other => Err(RunnerError::Mlx(format!(
                "rope scaling `{other}` is not supported (default, linear, llama3)"
            ))),
        }
    }

    /// Rotates `x` (`[B, heads, L, head_dim]`) for positions `offset..offset+L`.
    pub fn forward(&self, x: &Array, offset: usize) -> Result<Array> {
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
