//! The Idefics3 connector: pixel shuffle (space-to-depth by `scale_factor`, trading
//! patches for channels) then a bias-free linear projection into the language model's
//! hidden size (`connector.modality_projection.proj`).

use mlx_rs::Array;

use crate::config::Quantization;
use crate::error::Result;
use crate::linear::{Linear, Parallelism};
use crate::weights::Weights;

#[derive(Debug)]
pub struct Connector {
    scale: i32,
    proj: Linear,
}

impl Connector {
    pub fn load(
        w: &mut Weights,
        q: Option<&Quantization>,
        vision_hidden: usize,
        text_hidden: usize,
        scale: usize,
        par: &Parallelism,
    ) -> Result<Self> {
        let proj = Linear::load(
            w,
            q,
            "connector.modality_projection.proj",
            vision_hidden * scale * scale,
            text_hidden,
            false,
            par,
        )?;
        Ok(Connector {
            scale: scale as i32,
            proj,
        })
    }

    /// `[B, seq, d]` → `[B, seq / s², d · s²]`, the same reshapes and transposes as
    /// mlx-vlm's `Idefics3Connector.pixel_shuffle`.
    fn pixel_shuffle(&self, x: &Array) -> Result<Array> {
        let (b, seq, d) = (x.dim(0), x.dim(1), x.dim(2));
        let s = self.scale;
        let side = (seq as f64).sqrt() as i32;
        let x = x.reshape(&[b, side, side, d])?;
        let x = x.reshape(&[b, side, side / s, d * s])?;
        let x = x.transpose_axes(&[0, 2, 1, 3])?;
        let x = x.reshape(&[b, side / s, side / s, d * s * s])?;
        let x = x.transpose_axes(&[0, 2, 1, 3])?;
        Ok(x.reshape(&[b, seq / (s * s), d * s * s])?)
    }

    /// Vision features `[B, patches, vision_hidden]` → `[B, tokens, text_hidden]`.
    pub fn forward(&self, features: &Array) -> Result<Array> {
        self.proj.forward(&self.pixel_shuffle(features)?)
    }
}
