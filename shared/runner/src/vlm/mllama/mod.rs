//! Llama 3.2 Vision (`model_type` `mllama`), in mlx-vlm's shape: [`config`], the
//! language model ([`language`]: llama with gated cross-attention layers), the tiled
//! vision tower ([`vision`]), the top-level [`model`] (projector), and the
//! [`processor`] (tiles, and which images each token sees), kept apart from the model.
//! Unlike the other families the image features are not merged into the text: the
//! cross-attention layers attend to them ([`crate::cross_attention`]). This file is the
//! family's entry in the vision registry.

pub mod config;
pub mod language;
pub mod model;
pub mod processor;
pub mod vision;

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;

pub use config::MllamaConfig;
pub use model::Mllama;
pub use processor::Processor;

use super::family::{Encoded, Plan, PlanError, Prepared, VisionFamily};
use crate::error::Result;
use crate::image_context::ImageContext;
use crate::layers::DecoderModel;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["mllama"];

/// Reads the family's config and processor files.
pub(super) fn plan(dir: &Path, json: &str) -> std::result::Result<Plan, PlanError> {
    let config = MllamaConfig::from_json(json).map_err(PlanError::Config)?;
    let processor = Processor::load(dir, &config.vision)?;
    Ok(Plan {
        text: config.text.clone(),
        eos: config.eos_token_id.clone(),
        style: processor::style(config.image_token_id),
        per_image: config.shape(),
        build: Box::new(move |weights, par| {
            let model = Mllama::load(config, weights, par)?;
            Ok(Box::new(Loaded { model, processor }))
        }),
    })
}

struct Loaded {
    model: Mllama,
    processor: Processor,
}

impl VisionFamily for Loaded {
    fn language(&self) -> &DecoderModel {
        self.model.language()
    }

    fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        self.processor.prepare(images, text)
    }

    fn image_features(&self, pixels: &Array, patch_grids: &[[usize; 3]]) -> Result<Array> {
        let ids: Vec<u32> = patch_grids
            .iter()
            .map(|g| self.processor.aspect_ratio_id(g[1], g[2]))
            .collect();
        self.model.image_features(pixels, patch_grids, &ids)
    }

    /// The text embeddings as they are: the image reaches the text through the
    /// cross-attention layers.
    fn merge(&self, ids: &[u32], _features: &Array) -> Result<Array> {
        let ids = Array::from_slice(ids, &[1, ids.len() as i32]);
        self.model.language().embed(&ids)
    }

    fn context(
        &self,
        ids: &[u32],
        encoded: &Encoded,
        patch_grids: &[[usize; 3]],
    ) -> Result<ImageContext> {
        let image_token = self.model.config().image_token_id;
        let mask = self.processor.cross_mask(ids, image_token, patch_grids)?;
        let features = encoded.features.expand_dims(0)?;
        let cross = self.model.language().cross_context(&features, &mask)?;
        Ok(ImageContext {
            cross: Some(cross),
            deepstack: None,
        })
    }
}
