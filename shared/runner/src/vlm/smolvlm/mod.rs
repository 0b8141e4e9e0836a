//! SmolVLM / SmolVLM2 and Idefics3 (`model_type` `smolvlm`, `idefics3`), in mlx-vlm's
//! shape: [`config`], the language model ([`language`], the runner's llama decoder),
//! the vision tower (the shared SigLIP, [`crate::vlm::siglip`], as [`model`] sets it
//! up), the [`connector`], the top-level [`model`] that merges image features into the
//! text embeddings, and the [`processor`] (images and prompt), kept apart from the
//! model. This file is the family's entry in the vision registry.

pub mod config;
pub mod connector;
pub mod language;
pub mod model;
pub mod processor;

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;

pub use config::SmolVlmConfig;
pub use model::SmolVlm;
pub use processor::Processor;

use super::family::{Placement, Plan, PlanError, Prepared, Style, VisionFamily};
use crate::error::Result;
use crate::layers::DecoderModel;
use crate::memory::VisionShape;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["smolvlm", "idefics3"];

/// Reads the family's config and processor files.
pub(super) fn plan(dir: &Path, json: &str) -> std::result::Result<Plan, PlanError> {
    let config = SmolVlmConfig::from_json(json).map_err(PlanError::Config)?;
    let processor = Processor::load(dir, config.tokens_per_frame())?;
    Ok(Plan {
        text: config.text.clone(),
        eos: config.eos_token_id.clone(),
        style: Style {
            image_token: (processor::IMAGE_TOKEN, config.image_token_id),
            marker: processor::IMAGE_TOKEN,
            end_of_turn: processor::END_OF_UTTERANCE,
            placement: Placement::PartsFirst,
            adds_special_tokens: false,
        },
        per_image: shape(&config, &processor),
        build: Box::new(move |weights, par| {
            let model = SmolVlm::load(config, weights, par)?;
            Ok(Box::new(Loaded { model, processor }))
        }),
    })
}

/// One image at its largest tiling.
fn shape(config: &SmolVlmConfig, processor: &Processor) -> VisionShape {
    let im = &processor.image;
    let frames = if im.do_image_splitting {
        let edge = if im.do_resize {
            im.size_longest_edge
        } else {
            processor::MAX_IMAGE_SIZE
        };
        let side = edge.div_ceil(im.max_image_size) as usize;
        if side > 1 {
            side * side + 1
        } else {
            1
        }
    } else {
        1
    };
    config
        .vision
        .shape(im.max_image_size as usize, frames, processor.image_seq_len)
}

struct Loaded {
    model: SmolVlm,
    processor: Processor,
}

impl VisionFamily for Loaded {
    fn language(&self) -> &DecoderModel {
        self.model.language()
    }

    fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        let processor = &self.processor;
        let processed = images
            .iter()
            .map(|img| processor.frames(img))
            .collect::<Result<Vec<_>>>()?;
        let side = processor.image.max_image_size;
        let prompt_text = processor.expand_prompt(text, &processed)?;
        let grids = processed.iter().map(|p| (p.rows, p.cols)).collect();
        let frames: Vec<RgbImage> = processed.into_iter().flat_map(|p| p.frames).collect();
        let pixels = processor.pixels(&frames);
        Ok(Prepared::frames(
            prompt_text,
            grids,
            frames.len(),
            (side, side),
            pixels,
            processor.image_seq_len,
        ))
    }

    fn image_features(&self, pixels: &Array, _: &[[usize; 3]]) -> Result<Array> {
        self.model.image_features(pixels)
    }

    fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        self.model.merge(ids, features)
    }
}
