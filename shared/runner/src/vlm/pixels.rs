//! The last steps every image processor here shares (transformers' `rescale` and
//! `normalize`, PIL backend): `× rescale_factor` in float64 then float32, and
//! `(x − mean) / std` in float32, channels last; with the `preprocessor_config.json`
//! keys that switch them and the resize filter.

use std::path::Path;

use image::RgbImage;
use serde_json::Value;

use crate::error::{Result, RunnerError};
use crate::vlm::resample::Filter;

/// Resize filter, rescale and normalisation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelConfig {
    pub resample: Filter,
    pub do_rescale: bool,
    pub rescale_factor: f64,
    /// Rescale in float32 (numpy's `float32 array *= factor`, as mlx-vlm's own image
    /// processors do) rather than in float64 then rounded (transformers' `rescale`).
    pub rescale_in_f32: bool,
    pub do_normalize: bool,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
}

impl PixelConfig {
    /// transformers' usual defaults with this filter and mean/std.
    pub fn new(resample: Filter, mean: [f32; 3], std: [f32; 3]) -> Self {
        PixelConfig {
            resample,
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            rescale_in_f32: false,
            do_normalize: true,
            image_mean: mean,
            image_std: std,
        }
    }

    /// Applies the keys of a `preprocessor_config.json` (or of `processor_config.json`'s
    /// `image_processor`) over `self`.
    pub fn apply(&mut self, v: &Value, path: &Path) -> Result<()> {
        let bad = |message: String| RunnerError::InvalidConfig {
            path: path.into(),
            message,
        };
        for (key, into) in [
            ("do_rescale", &mut self.do_rescale),
            ("do_normalize", &mut self.do_normalize),
        ] {
            if let Some(b) = v.get(key).and_then(Value::as_bool) {
                *into = b;
            }
        }
        if let Some(code) = v.get("resample").and_then(Value::as_i64) {
            self.resample = Filter::from_pil(code)
                .ok_or_else(|| bad(format!("resample filter {code} is not supported (1–5)")))?;
        }
        if let Some(f) = v.get("rescale_factor").and_then(Value::as_f64) {
            self.rescale_factor = f;
        }
        let triple = |key: &str, into: &mut [f32; 3]| -> Result<()> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(()),
                Some(Value::Number(n)) => {
                    *into = [n.as_f64().unwrap_or(0.0) as f32; 3];
                    Ok(())
                }
                Some(Value::Array(a)) if a.len() == 3 => {
                    for (slot, x) in into.iter_mut().zip(a) {
                        *slot = x
                            .as_f64()
                            .ok_or_else(|| bad(format!("`{key}` must hold numbers")))?
                            as f32;
                    }
                    Ok(())
                }
                Some(_) => Err(bad(format!("`{key}` must be a number or 3 numbers"))),
            }
        };
        triple("image_mean", &mut self.image_mean)?;
        triple("image_std", &mut self.image_std)?;
        Ok(())
    }

    /// Frames → float32 pixels `[frames, H, W, 3]` (channels last), rescaled and
    /// normalised as configured.
    pub fn pixels(&self, frames: &[RgbImage]) -> Vec<f32> {
        let mut out = Vec::with_capacity(frames.iter().map(|f| f.as_raw().len()).sum());
        for frame in frames {
            for (i, &v) in frame.as_raw().iter().enumerate() {
                let ch = i % 3;
                let mut x = if self.do_rescale && self.rescale_in_f32 {
                    v as f32 * self.rescale_factor as f32
                } else if self.do_rescale {
                    (v as f64 * self.rescale_factor) as f32
                } else {
                    v as f32
                };
                if self.do_normalize {
                    x = (x - self.image_mean[ch]) / self.image_std[ch];
                }
                out.push(x);
            }
        }
        out
    }
}
