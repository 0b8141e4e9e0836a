//! Gemma 3 (`model_type` `gemma3`), in mlx-vlm's shape: [`config`], the language model
//! ([`language`], the runner's gemma3_text decoder), the vision tower (the shared
//! SigLIP, [`crate::vlm::siglip`], as [`model`] sets it up), the [`projector`] (average
//! pooling to `mm_tokens_per_image`, a Gemma RMS norm, a projection), the top-level
//! [`model`] that merges image features into the text embeddings, and the
//! [`processor`] (images and prompt), kept apart from the model. This file is the
//! family's entry in the vision registry.

pub mod config;
pub mod language;
pub mod model;
pub mod processor;
pub mod projector;

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;

pub use config::Gemma3Config;
pub use model::Gemma3Vlm;
pub use processor::Processor;

use super::family::{Placement, Plan, PlanError, Prepared, Style, VisionFamily};
use crate::error::Result;
use crate::layers::DecoderModel;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["gemma3"];

/// Reads the family's config and processor files.
pub(super) fn plan(dir: &Path, json: &str) -> std::result::Result<Plan, PlanError> {
    let config = Gemma3Config::from_json(json).map_err(PlanError::Config)?;
    let v = &config.vision;
    let processor = Processor::load(dir, v.image_size as u32, config.mm_tokens_per_image)?;
    Ok(Plan {
        text: config.text.clone(),
        eos: config.eos_token_id.clone(),
        style: Style {
            image_token: (processor::IMAGE_TOKEN, config.image_token_id),
            marker: processor::BOI_TOKEN,
            end_of_turn: processor::END_OF_TURN,
            placement: Placement::MarkersAfter,
            // mlx-vlm 0.7.10 adds them for Gemma 3 although its chat template writes
            // `<bos>` too (its Gemma 3 processor has no chat template of its own), so
            // ids start `<bos><bos>`; we agree with it.
            adds_special_tokens: true,
        },
        // One frame per image.
        per_image: v.shape(v.image_size, 1, config.mm_tokens_per_image),
        build: Box::new(move |weights, par| {
            let model = Gemma3Vlm::load(config, weights, par)?;
            Ok(Box::new(Loaded { model, processor }))
        }),
    })
}

struct Loaded {
    model: Gemma3Vlm,
    processor: Processor,
}

impl VisionFamily for Loaded {
    fn language(&self) -> &DecoderModel {
        self.model.language()
    }

    fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        let processor = &self.processor;
        let frames = images
            .iter()
            .map(|img| processor.frame(img))
            .collect::<Result<Vec<_>>>()?;
        Ok(Prepared::frames(
            processor.expand_prompt(text, images.len())?,
            vec![(0, 0); images.len()],
            frames.len(),
            (processor.height, processor.width),
            processor.pixels.pixels(&frames),
            processor.image_seq_length,
        ))
    }

    fn image_features(&self, pixels: &Array, _: &[[usize; 3]]) -> Result<Array> {
        self.model.image_features(pixels)
    }

    fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        self.model.merge(ids, features)
    }
}
