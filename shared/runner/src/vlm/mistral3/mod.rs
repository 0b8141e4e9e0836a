//! Mistral 3 (`model_type` `mistral3`: Mistral Small 3.1 and 3.2 with vision), in
//! mlx-vlm's shape: [`config`], the top-level [`model`] (its projector with the patch
//! merger, and the merge into the text embeddings); the vision tower, the language
//! model (Mistral) and the processor are Pixtral's ([`crate::vlm::pixtral`]), as
//! mlx-vlm's Mistral 3 imports them, with image tokens of 2 × 2 patches. This file is
//! the family's entry in the vision registry.

pub mod config;
pub mod model;

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;

pub use config::Mistral3Config;
pub use model::Mistral3;

use super::family::{Plan, PlanError, Prepared, Style, VisionFamily};
use super::pixtral::processor::{self, Processor};
use crate::error::Result;
use crate::layers::DecoderModel;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["mistral3"];

/// Reads the family's config and processor files.
pub(super) fn plan(dir: &Path, json: &str) -> std::result::Result<Plan, PlanError> {
    let config = Mistral3Config::from_json(json).map_err(PlanError::Config)?;
    let processor = Processor::load(dir, config.vision.patch_size, config.spatial_merge_size)?;
    Ok(Plan {
        text: config.text.clone(),
        eos: config.eos_token_id.clone(),
        style: Style {
            image_token: (processor::IMAGE_TOKEN, config.image_token_id),
            marker: processor::IMAGE_TOKEN,
            end_of_turn: processor::END_OF_TURN,
            image_first: true,
            adds_special_tokens: true,
        },
        per_image: config.shape(),
        build: Box::new(move |weights, par| {
            let model = Mistral3::load(config, weights, par)?;
            Ok(Box::new(Loaded { model, processor }))
        }),
    })
}

struct Loaded {
    model: Mistral3,
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
        self.model.image_features(pixels, patch_grids)
    }

    fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        self.model.merge(ids, features)
    }
}
