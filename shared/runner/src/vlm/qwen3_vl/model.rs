//! The Qwen3-VL model (mlx-vlm `models/qwen3_vl/qwen3_vl.py`): vision tower → image
//! features written into the text embeddings at the `<|image_pad|>` positions, and
//! deepstack features added to the first decoder layers' outputs there; the Qwen3
//! decoder at the prompt's multimodal rope positions.

use mlx_rs::{ops, Array};

use super::config::Qwen3VlConfig;
use super::language;
use super::vision::VisionModel;
use crate::error::Result;
use crate::image_context::Deepstack;
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::rope::MropePositions;
use crate::vlm::merge::{merge_features, scatter_features};
use crate::vlm::qwen2_5_vl::language::{rope_index, ImageTokens};
use crate::vlm::qwen2_5_vl::model::each_image;
use crate::weights::Weights;

#[derive(Debug)]
pub struct Qwen3Vl {
    config: Qwen3VlConfig,
    vision: VisionModel,
    language: DecoderModel,
}

impl Qwen3Vl {
    /// Builds the model, taking every tensor out of `weights`; any left over is an error.
    pub fn load(config: Qwen3VlConfig, weights: &mut Weights, par: &Parallelism) -> Result<Self> {
        weights.discard(|name| name.contains("position_ids"));
        let q = config.quantization.as_ref();
        let vision = VisionModel::load(weights, q, &config.vision, config.is_moe(), par)?;
        let language = language::load(&config, weights, par)?;
        weights.expect_all_used("Qwen3-VL")?;
        Ok(Qwen3Vl {
            config,
            vision,
            language,
        })
    }

    pub fn config(&self) -> &Qwen3VlConfig {
        &self.config
    }

    pub fn language(&self) -> &DecoderModel {
        &self.language
    }

    /// Image features of `patches` (`[N, patch_values]`, the images' rows one after the
    /// other, grids `grids`) → `[N / 4, text_hidden]` and each deepstack level's, one
    /// image at a time.
    pub fn encode(&self, patches: &Array, grids: &[[usize; 3]]) -> Result<(Array, Vec<Array>)> {
        let levels = self.config.vision.deepstack_visual_indexes.len();
        let mut deepstack = vec![Vec::new(); levels];
        let features = each_image(patches, grids, |rows, grid| {
            let (tokens, stack) = self.vision.forward(rows, grid)?;
            tokens.eval()?;
            for (level, tokens) in deepstack.iter_mut().zip(stack) {
                level.push(tokens);
            }
            Ok(tokens)
        })?;
        let deepstack = deepstack
            .iter()
            .map(|level| Ok(ops::concatenate(level, 0)?))
            .collect::<Result<Vec<_>>>()?;
        Ok((ops::concatenate(&features, 0)?, deepstack))
    }

    /// Text embeddings of `ids` with the rows of `features` at the `<|image_pad|>`
    /// positions → `[1, L, hidden]`.
    pub fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        merge_features(
            &self.language,
            ids,
            self.config.image_token_id,
            features,
            None,
        )
    }

    /// The deepstack levels at the prompt's `<|image_pad|>` positions.
    pub fn deepstack(&self, ids: &[u32], levels: &[Array]) -> Result<Deepstack> {
        let image = self.config.image_token_id;
        let levels = levels
            .iter()
            .map(|level| scatter_features(ids, image, level))
            .collect::<Result<Vec<_>>>()?;
        Ok(Deepstack::new(levels))
    }

    /// The prompt's multimodal rope positions (Qwen2-VL's `get_rope_index`).
    pub fn positions(&self, ids: &[u32], grids: &[[usize; 3]]) -> Result<MropePositions> {
        let tokens = ImageTokens {
            image: self.config.image_token_id,
            vision_start: self.config.vision_start_token_id,
            merge: self.config.vision.spatial_merge_size,
        };
        rope_index(ids, grids, tokens)
    }
}
