//! The Qwen2.5-VL model: vision tower (with its merger) → image features, written into
//! the text embeddings at the `<|image_pad|>` positions, then the qwen2 decoder at the
//! prompt's multimodal rope positions (mlx-vlm `models/qwen2_5_vl/qwen2_5_vl.py`).

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use super::config::Qwen25VlConfig;
use super::language::{self, ImageTokens};
use super::vision::VisionModel;
use crate::error::{Result, RunnerError};
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::rope::MropePositions;
use crate::vlm::merge::merge_features;
use crate::weights::Weights;

/// `encode` on each image's rows of `patches` (`[N, patch_values]`, the images one after
/// the other, of grids `grids`), in turn.
pub(crate) fn each_image<T>(
    patches: &Array,
    grids: &[[usize; 3]],
    mut encode: impl FnMut(&Array, [usize; 3]) -> Result<T>,
) -> Result<Vec<T>> {
    let bad =
        || RunnerError::InvalidImage(format!("{} patch rows for grids {grids:?}", patches.dim(0)));
    let mut out = Vec::with_capacity(grids.len());
    let mut start = 0i32;
    for &grid in grids {
        let n = grid.iter().product::<usize>() as i32;
        if start + n > patches.dim(0) {
            return Err(bad());
        }
        out.push(encode(&patches.index(start..start + n), grid)?);
        start += n;
    }
    if out.is_empty() || start != patches.dim(0) {
        return Err(bad());
    }
    Ok(out)
}

#[derive(Debug)]
pub struct Qwen25Vl {
    config: Qwen25VlConfig,
    vision: VisionModel,
    language: DecoderModel,
}

impl Qwen25Vl {
    /// Builds the model, taking every tensor out of `weights`; any left over is an error.
    pub fn load(config: Qwen25VlConfig, weights: &mut Weights, par: &Parallelism) -> Result<Self> {
        weights.discard(|name| name.contains("position_ids"));
        let vision = VisionModel::load(weights, config.quantization.as_ref(), &config.vision, par)?;
        let language = language::load(&config, weights, par)?;
        weights.expect_all_used("Qwen2.5-VL")?;
        Ok(Qwen25Vl {
            config,
            vision,
            language,
        })
    }

    pub fn config(&self) -> &Qwen25VlConfig {
        &self.config
    }

    pub fn language(&self) -> &DecoderModel {
        &self.language
    }

    pub fn vision(&self) -> &VisionModel {
        &self.vision
    }

    /// Image features of `patches` (`[N, patch_values]`, the images' rows one after the
    /// other, grids `grids`) → `[N / 4, text_hidden]`, one image at a time.
    pub fn image_features(&self, patches: &Array, grids: &[[usize; 3]]) -> Result<Array> {
        let out = each_image(patches, grids, |rows, grid| {
            let tokens = self.vision.forward(rows, grid)?;
            tokens.eval()?;
            Ok(tokens)
        })?;
        Ok(ops::concatenate(&out, 0)?)
    }

    /// Text embeddings of `ids` with the rows of `features` at the `<|image_pad|>`
    /// positions → `[1, L, hidden]`. The count must match exactly.
    pub fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        merge_features(
            &self.language,
            ids,
            self.config.image_token_id,
            features,
            None,
        )
    }

    /// The prompt's multimodal rope positions ([`language::rope_index`]).
    pub fn positions(&self, ids: &[u32], grids: &[[usize; 3]]) -> Result<MropePositions> {
        let tokens = ImageTokens {
            image: self.config.image_token_id,
            vision_start: self.config.vision_start_token_id,
            merge: self.config.vision.spatial_merge_size,
        };
        language::rope_index(ids, grids, tokens)
    }
}
