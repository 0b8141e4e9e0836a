//! Gemma 3's multimodal projector (mlx-vlm `Gemma3MultiModalProjector`): the vision
//! tower's patches, as a square grid, average-pooled to `mm_tokens_per_image` tokens
//! (row by row), normed with a Gemma RMS norm (`1 + w`, the vision config's eps) and
//! projected by `mm_input_projection_weight` (`[vision_hidden, text_hidden]`).

use mlx_rs::Array;

use super::config::Gemma3Config;
use crate::error::{Result, RunnerError};
use crate::layers::RmsNorm;
use crate::weights::Weights;

const PREFIX: &str = "multi_modal_projector";

#[derive(Debug)]
pub struct Projector {
    norm: RmsNorm,
    weight: Array,
    /// Tokens per side, and patches pooled into one along each side.
    tokens_side: i32,
    pool: i32,
}

impl Projector {
    pub fn load(w: &mut Weights, c: &Gemma3Config) -> Result<Self> {
        let (vd, td) = (c.vision.hidden_size, c.text.hidden_size);
        let name = format!("{PREFIX}.mm_input_projection_weight");
        let weight = w.take(&name)?;
        if weight.shape() != [vd as i32, td as i32] {
            return Err(RunnerError::BadTensor {
                name,
                message: format!("shape {:?}, expected [{vd}, {td}]", weight.shape()),
            });
        }
        let norm = RmsNorm::load_with(
            w,
            &format!("{PREFIX}.mm_soft_emb_norm"),
            vd,
            c.vision.layer_norm_eps,
            true,
        )?;
        let pool = c.pool() as i32;
        Ok(Projector {
            norm,
            weight,
            tokens_side: c.vision.patches_per_side() as i32 / pool,
            pool,
        })
    }

    /// `[B, patches, vision_hidden]` → `[B, mm_tokens_per_image, text_hidden]`.
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let (b, d) = (x.dim(0), x.dim(-1));
        let (t, k) = (self.tokens_side, self.pool);
        let pooled = x
            .reshape(&[b, t, k, t, k, d])?
            .mean_axes(&[2, 4], None)?
            .reshape(&[b, t * t, d])?;
        let normed = self.norm.forward(&pooled)?;
        Ok(normed.matmul(&self.weight)?)
    }
}
