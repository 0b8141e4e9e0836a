//! Qwen2.5-VL (`model_type` `qwen2_5_vl`), in mlx-vlm's shape: [`config`], the language
//! model ([`language`], the runner's qwen2 decoder with multimodal rope positions), the
//! vision tower ([`vision`]: patch embedding, 2-D rotary, window attention, patch
//! merger), the top-level [`model`] that merges image features into the text
//! embeddings, and the [`processor`] (images and prompt), kept apart from the model.
//! This file is the family's entry in the vision registry.

pub mod config;
pub mod language;
pub mod model;
pub mod processor;
pub mod vision;

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;

pub use config::Qwen25VlConfig;
pub use model::Qwen25Vl;
pub use processor::Processor;

use super::family::{Placement, Plan, PlanError, Prepared, Style, VisionFamily};
use crate::error::{Result, RunnerError};
use crate::layers::DecoderModel;
use crate::memory::VisionShape;
use crate::rope::MropePositions;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["qwen2_5_vl"];

/// Reads the family's config and processor files, and checks that the processor's
/// patches fit the vision tower.
pub(super) fn plan(dir: &Path, json: &str) -> std::result::Result<Plan, PlanError> {
    let config = Qwen25VlConfig::from_json(json).map_err(PlanError::Config)?;
    let p = Processor::load(dir)?;
    let v = &config.vision;
    check_patches(
        dir,
        &p,
        (v.patch_size, v.temporal_patch_size, v.spatial_merge_size),
    )?;
    Ok(Plan {
        text: config.text.clone(),
        eos: config.eos_token_id.clone(),
        style: style(config.image_token_id),
        per_image: shape(&config, &p),
        build: Box::new(move |weights, par| {
            let model = Qwen25Vl::load(config, weights, par)?;
            Ok(Box::new(Loaded {
                model,
                processor: p,
            }))
        }),
    })
}

fn shape(config: &Qwen25VlConfig, processor: &Processor) -> VisionShape {
    let v = &config.vision;
    let tower = (v.hidden_size, v.num_heads, v.intermediate_size);
    patch_shape(processor, tower, v.merge_unit())
}

/// One image at `max_pixels` (the largest `smart_resize` allows) through a tower of
/// `(hidden, heads, intermediate)`: `max_pixels / patch²` patches, `merge_unit` times
/// fewer tokens, pixel values of `temporal_patch_size` copies (`frame_side² = temporal ·
/// max_pixels`), and full-attention queries in chunks ([`crate::softmax::query_chunk`]).
pub(in crate::vlm) fn patch_shape(
    processor: &Processor,
    (hidden, heads, intermediate): (usize, usize, usize),
    merge_unit: usize,
) -> VisionShape {
    let patches =
        (processor.max_pixels / (processor.patch_size * processor.patch_size) as u64) as usize;
    let values = processor.max_pixels as f64 * processor.temporal_patch_size as f64;
    VisionShape {
        hidden,
        heads,
        intermediate,
        patches,
        frame_side: values.sqrt().ceil() as usize,
        attention_rows: crate::softmax::query_chunk(heads, patches).min(patches),
        frames: 1,
        tokens_per_frame: patches / merge_unit,
        cross_tokens_per_frame: 0,
        cross_layers: 0,
    }
}

/// Images → patches (rows of `patch_values`) and the prompt with each `<|image_pad|>`
/// expanded (Qwen2.5-VL's and Qwen3-VL's processor).
pub(in crate::vlm) fn prepare_patches(
    processor: &Processor,
    images: &[RgbImage],
    text: &str,
    patch_values: usize,
) -> Result<Prepared> {
    let patches = images
        .iter()
        .map(|img| processor.patches(img))
        .collect::<Result<Vec<_>>>()?;
    let pixels: Vec<f32> = patches
        .iter()
        .flat_map(|p| p.values.iter().copied())
        .collect();
    let rows = pixels.len() / patch_values;
    Ok(Prepared {
        prompt_text: processor.expand_prompt(text, &patches)?,
        grids: vec![(0, 0); images.len()],
        frames: images.len(),
        image_tokens: patches.iter().map(|p| p.tokens(processor.merge_size)).sum(),
        pixels,
        pixel_shape: vec![rows as i32, patch_values as i32],
        patch_grids: patches.iter().map(|p| p.grid).collect(),
    })
}

/// Checks that the processor's patches are the tower's `(patch, temporal, merge)`.
pub(in crate::vlm) fn check_patches(
    dir: &Path,
    p: &Processor,
    (patch, temporal, merge): (usize, usize, usize),
) -> std::result::Result<(), PlanError> {
    if (p.patch_size, p.temporal_patch_size, p.merge_size) == (patch, temporal, merge) {
        return Ok(());
    }
    Err(PlanError::Other(RunnerError::InvalidConfig {
        path: dir.join("preprocessor_config.json"),
        message: format!(
            "patches of {}×{} (time {}, merged {}×{}) do not fit the vision tower's {patch}×{patch} (time {temporal}, merged {merge}×{merge})",
            p.patch_size, p.patch_size, p.temporal_patch_size, p.merge_size, p.merge_size,
        ),
    }))
}

/// How the Qwen-VL families' prompts are written: images first (typed content parts),
/// no special tokens added, `<|im_end|>` ending a turn.
pub(in crate::vlm) fn style(image_token_id: u32) -> Style {
    Style {
        image_token: (processor::IMAGE_TOKEN, image_token_id),
        marker: processor::IMAGE_TOKEN,
        end_of_turn: processor::END_OF_TURN,
        placement: Placement::PartsFirst,
        adds_special_tokens: false,
    }
}

struct Loaded {
    model: Qwen25Vl,
    processor: Processor,
}

impl VisionFamily for Loaded {
    fn language(&self) -> &DecoderModel {
        self.model.language()
    }

    fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        let width = self.model.config().vision.patch_values();
        prepare_patches(&self.processor, images, text, width)
    }

    fn image_features(&self, pixels: &Array, patch_grids: &[[usize; 3]]) -> Result<Array> {
        self.model.image_features(pixels, patch_grids)
    }

    fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        self.model.merge(ids, features)
    }

    fn positions(&self, ids: &[u32], patch_grids: &[[usize; 3]]) -> Result<Option<MropePositions>> {
        Ok(Some(self.model.positions(ids, patch_grids)?))
    }
}
