//! Mistral 3 (`model_type` `mistral3`: Mistral Small 3.1 and 3.2 with vision), in
//! mlx-vlm's shape: [`config`], the top-level [`model`] (its projector with the patch
//! merger, and the merge into the text embeddings); the vision tower, the language
//! model (Mistral) and the processor are Pixtral's ([`crate::vlm::pixtral`]), as
//! mlx-vlm's Mistral 3 imports them, with image tokens of 2 × 2 patches. This file is
//! the family's entry in the vision registry.

pub mod config;
pub mod model;

use std::path::Path;

pub use config::Mistral3Config;
pub use model::Mistral3;

use super::family::{Plan, PlanError};
use super::pixtral::processor::{self, Processor};
use super::pixtral::Loaded;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["mistral3"];

/// Reads the family's config and processor files.
pub(super) fn plan(dir: &Path, json: &str) -> std::result::Result<Plan, PlanError> {
    let config = Mistral3Config::from_json(json).map_err(PlanError::Config)?;
    let processor = Processor::load(dir, config.vision.patch_size, config.spatial_merge_size)?;
    Ok(Plan {
        text: config.text.clone(),
        eos: config.eos_token_id.clone(),
        style: processor::style(config.image_token_id),
        per_image: config.shape(),
        build: Box::new(move |weights, par| {
            let model = Mistral3::load(config, weights, par)?;
            Ok(Box::new(Loaded { model, processor }))
        }),
    })
}
