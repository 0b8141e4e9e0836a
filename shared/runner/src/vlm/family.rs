//! The vision registry: `config.json`'s `model_type` → the family that loads it, and the
//! one interface ([`VisionFamily`]) every family gives [`super::VisionModel`].
//!
//! A family is its own module (config, language, vision, processor, model in mlx-vlm's
//! shape) whose `mod.rs` reads the folder into a [`Plan`] and implements
//! [`VisionFamily`] over its model and processor; adding one is that module and one line
//! in [`REGISTRY`]. The names are mlxk-core's [`RUNNER_VISION_FAMILIES`] (mlxk-list's
//! runtime check reads that list without linking MLX); a test keeps the two equal.

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;
use mlxk_core::health::RUNNER_VISION_FAMILIES;

use super::{gemma3, mistral3, mllama, pixtral, qwen2_5_vl, qwen3_vl, smolvlm};
use crate::config::{ModelConfig, TokenIds};
use crate::error::{Result, RunnerError};
use crate::image_context::ImageContext;
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::memory::VisionShape;
use crate::rope::MropePositions;
use crate::weights::Weights;

/// Reads a family's `config.json` text (and its processor files in the folder) into a
/// [`Plan`].
type PlanFn = fn(&Path, &str) -> std::result::Result<Plan, PlanError>;

/// One line per family: the `model_type` values it loads and its reader.
const REGISTRY: &[(&[&str], PlanFn)] = &[
    (smolvlm::MODEL_TYPES, smolvlm::plan),
    (gemma3::MODEL_TYPES, gemma3::plan),
    (qwen2_5_vl::MODEL_TYPES, qwen2_5_vl::plan),
    (pixtral::MODEL_TYPES, pixtral::plan),
    (mistral3::MODEL_TYPES, mistral3::plan),
    (mllama::MODEL_TYPES, mllama::plan),
    (qwen3_vl::MODEL_TYPES, qwen3_vl::plan),
];

/// Why a family could not read its folder: `config.json` itself is invalid (the loader
/// names the file), or another error (a processor file, a shape that does not fit).
pub(super) enum PlanError {
    Config(String),
    Other(RunnerError),
}

impl From<RunnerError> for PlanError {
    fn from(e: RunnerError) -> Self {
        PlanError::Other(e)
    }
}

/// The loaded family: its model and processor behind one interface.
pub(super) type Build =
    Box<dyn FnOnce(&mut Weights, &Parallelism) -> Result<Box<dyn VisionFamily>>>;

/// A family as read from its folder, before the weights load: what the loader checks
/// and gates on, and how to build the model.
pub(super) struct Plan {
    /// The language model's config.
    pub text: ModelConfig,
    /// `config.json`'s own end tokens (beside the language model's).
    pub eos: TokenIds,
    pub style: Style,
    /// The memory gate's view of one image at its largest tiling.
    pub per_image: VisionShape,
    pub build: Build,
}

/// How a family's prompt is written and tokenized.
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    /// The image token's text and the id `config.json` gives it.
    pub image_token: (&'static str, u32),
    /// The marker the chat template writes for an image.
    pub marker: &'static str,
    /// The family's end-of-turn token, a stop token beside the configured ones
    /// (mlx-vlm's `additional_eos_token_ids`).
    pub end_of_turn: &'static str,
    /// Where mlx-vlm puts the images in the user's message.
    pub placement: Placement,
    /// Whether the prompt is encoded with the tokenizer's special tokens added.
    pub adds_special_tokens: bool,
}

/// Where the images go in the user's message (mlx-vlm's message format per family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    /// Typed `{"type": "image"}` content parts before the text part.
    PartsFirst,
    /// Typed content parts after the text part (Llama 3.2 Vision).
    PartsLast,
    /// Markers after the text, in the message's text (Gemma 3).
    MarkersAfter,
}

/// What a processor made of a prompt's images.
pub(super) struct Prepared {
    pub prompt_text: String,
    pub grids: Vec<(usize, usize)>,
    /// Frames (tiles and global images; Qwen2.5-VL: images) in all.
    pub frames: usize,
    pub image_tokens: usize,
    /// Normalised float32 pixels and their shape: `[frames, H, W, 3]` (channels last),
    /// or `[patches, patch_values]` (Qwen2.5-VL).
    pub pixels: Vec<f32>,
    pub pixel_shape: Vec<i32>,
    /// Each image's patch grid `[t, h, w]` (Qwen2.5-VL, Pixtral; empty for the others).
    pub patch_grids: Vec<[usize; 3]>,
}

impl Prepared {
    /// `frames` frames of `h`×`w` pixels (`[F, h, w, 3]`), `tokens_per_frame` tokens
    /// each.
    pub fn frames(
        prompt_text: String,
        grids: Vec<(usize, usize)>,
        frames: usize,
        (h, w): (u32, u32),
        pixels: Vec<f32>,
        tokens_per_frame: usize,
    ) -> Self {
        Prepared {
            prompt_text,
            grids,
            frames,
            image_tokens: frames * tokens_per_frame,
            pixels,
            pixel_shape: vec![frames as i32, h as i32, w as i32, 3],
            patch_grids: Vec::new(),
        }
    }
}

/// What the vision tower makes of a prompt's images.
pub(super) struct Encoded {
    /// `[image_tokens, text_hidden]`, in prompt order.
    pub features: Array,
    /// Qwen3-VL: one `[image_tokens, text_hidden]` per deepstack level.
    pub deepstack: Vec<Array>,
}

/// What every vision family does, from images to the language model's input.
pub(super) trait VisionFamily {
    /// The language model the merged embeddings run through.
    fn language(&self) -> &DecoderModel;

    /// Images → pixels, and `text` (with one marker per image) → the prompt with every
    /// marker expanded into the image's tokens.
    fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared>;

    /// Image features `[image_tokens, text_hidden]` of `pixels` (patch grids
    /// `patch_grids` where the family has them), in prompt order.
    fn image_features(&self, pixels: &Array, patch_grids: &[[usize; 3]]) -> Result<Array>;

    /// [`VisionFamily::image_features`] with, where the family has them, the deepstack
    /// features of each level.
    fn encode(&self, pixels: &Array, patch_grids: &[[usize; 3]]) -> Result<Encoded> {
        Ok(Encoded {
            features: self.image_features(pixels, patch_grids)?,
            deepstack: Vec::new(),
        })
    }

    /// The decoder's input embeddings: the text's, with `features` merged in.
    fn merge(&self, ids: &[u32], features: &Array) -> Result<Array>;

    /// What else the images give the decoder for the prompt `ids` (Llama 3.2 Vision's
    /// cross-attention context, Qwen3-VL's deepstack features); nothing by default.
    fn context(
        &self,
        _ids: &[u32],
        _encoded: &Encoded,
        _patch_grids: &[[usize; 3]],
    ) -> Result<ImageContext> {
        Ok(ImageContext::default())
    }

    /// Explicit rope positions of the prompt `ids`, for families with multimodal rope.
    fn positions(
        &self,
        _ids: &[u32],
        _patch_grids: &[[usize; 3]],
    ) -> Result<Option<MropePositions>> {
        Ok(None)
    }
}

/// Reads `dir` as the family registered for `model_type` (one of
/// [`RUNNER_VISION_FAMILIES`]).
pub(super) fn plan(dir: &Path, model_type: &str) -> Result<Plan> {
    let read = REGISTRY
        .iter()
        .find(|(names, _)| names.contains(&model_type))
        .map(|(_, read)| *read)
        .ok_or_else(|| RunnerError::UnsupportedVisionModel {
            model_type: model_type.to_string(),
            supported: RUNNER_VISION_FAMILIES.to_vec(),
        })?;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| RunnerError::Io {
        path: path.clone(),
        source,
    })?;
    read(dir, &text).map_err(|e| match e {
        PlanError::Config(message) => RunnerError::InvalidConfig { path, message },
        PlanError::Other(e) => e,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_and_list_agree() {
        let names: Vec<&str> = super::REGISTRY
            .iter()
            .flat_map(|(names, _)| names.iter().copied())
            .collect();
        assert_eq!(names, super::RUNNER_VISION_FAMILIES);
    }
}
