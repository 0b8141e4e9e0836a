//! The seam to the vision model: load one, and describe a chunk of decoded
//! images. Everything else of mlxk-vision (input, EXIF, decoding, chunking,
//! output) is independent of the model code.
//!
//! This build has no vision family yet, so [`Describer`] has no value: a
//! vision model passes every check before loading (resolution, health, the
//! memory gate) and is then refused with `unsupported_architecture`. Wiring
//! `mlxk_runner::vlm::VisionModel` in means giving `Describer` a field with
//! it, loading it in [`Describer::load`], and streaming its tokens in
//! [`Describer::describe`].

use image::RgbImage;
use mlxk_core::ndjson::{FinishReason, Model};
use mlxk_core::output::Closed;
use mlxk_runner::SamplingParams;

use crate::failure::Failure;

/// Vision families this build runs (`config.json`'s `model_type`).
pub const FAMILIES: &[&str] = &[];

/// Families that are on their way (named in the refusal).
pub const PLANNED: &[&str] = &["idefics3 (SmolVLM)"];

/// A loaded vision model.
pub enum Describer {}

/// What the model said about one chunk.
pub struct Described {
    pub text: String,
    pub finish_reason: FinishReason,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
}

impl Describer {
    /// Loads the model of `found` (already resolved, healthy, a vision model,
    /// within the memory gate).
    pub fn load(found: &Model) -> Result<Describer, Failure> {
        let arch = found
            .architecture
            .clone()
            .unwrap_or_else(|| "unknown".into());
        Err(Failure::Unsupported {
            name: found.name.clone(),
            reason: if FAMILIES.contains(&arch.as_str()) {
                format!("{arch} is known but not built into this mlxk-vision")
            } else {
                format!("vision architecture {arch} is not supported")
            },
        })
    }

    /// Describes `images` (the chunk, in order) after `prompt` (the image
    /// lines, then the user's prompt), calling `on_text` with each piece.
    pub fn describe(
        &self,
        _images: &[RgbImage],
        _system: Option<&str>,
        _prompt: &str,
        _params: &SamplingParams,
        _on_text: &mut dyn FnMut(&str) -> Result<(), Closed>,
    ) -> Result<Result<Described, Failure>, Closed> {
        match *self {}
    }
}

/// The families named in errors and hints.
pub fn families() -> String {
    if FAMILIES.is_empty() {
        format!("none yet ({} is next)", PLANNED.join(", "))
    } else {
        FAMILIES.join(", ")
    }
}
