//! Pixtral (`model_type` `pixtral`, as mlx-community publishes Pixtral-12B), in
//! mlx-vlm's shape: [`config`], the language model ([`language`], Mistral on the
//! runner's llama decoder), the vision tower ([`vision`]: 2-D rotary, images at their
//! own size), the top-level [`model`] (projector, and the merge into the text
//! embeddings), and the [`processor`] (images and prompt: `[IMG]` per patch,
//! `[IMG_BREAK]` per row, `[IMG_END]`), kept apart from the model. This file is the
//! family's entry in the vision registry.

pub mod config;
pub mod language;
pub mod model;
pub mod processor;
pub mod vision;

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;

pub use config::PixtralConfig;
pub use model::Pixtral;
pub use processor::Processor;

use super::family::{Plan, PlanError, Prepared, VisionFamily};
use crate::error::Result;
use crate::layers::DecoderModel;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["pixtral"];

/// Reads the family's config and processor files.
pub(super) fn plan(dir: &Path, json: &str) -> std::result::Result<Plan, PlanError> {
    let config = PixtralConfig::from_json(json).map_err(PlanError::Config)?;
    let processor = Processor::load(dir, config.vision.patch_size, 1)?;
    Ok(Plan {
        text: config.text.clone(),
        eos: config.eos_token_id.clone(),
        style: processor::style(config.image_token_id),
        per_image: config.vision.shape(),
        build: Box::new(move |weights, par| {
            let model = Pixtral::load(config, weights, par)?;
            Ok(Box::new(Loaded { model, processor }))
        }),
    })
}

/// What a model on Pixtral's tower and processor gives [`Loaded`] (Pixtral, Mistral 3).
pub(super) trait PixtralModel {
    fn language(&self) -> &DecoderModel;
    /// Image features of padded images with their patch grids `[1, rows, cols]`.
    fn image_features(&self, images: &Array, grids: &[[usize; 3]]) -> Result<Array>;
    fn merge(&self, ids: &[u32], features: &Array) -> Result<Array>;
}

/// A loaded model on Pixtral's processor.
pub(super) struct Loaded<M> {
    pub model: M,
    pub processor: Processor,
}

impl<M: PixtralModel> VisionFamily for Loaded<M> {
    fn language(&self) -> &DecoderModel {
        self.model.language()
    }

    fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        self.processor.prepare(images, text)
    }

    fn image_features(&self, pixels: &Array, patch_grids: &[[usize; 3]]) -> Result<Array> {
        self.model.image_features(pixels, patch_grids)
    }

    fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        self.model.merge(ids, features)
    }
}
