//! The seam to the vision model: load one, and describe a chunk of decoded
//! images. Everything else of mlxk-vision (input, EXIF, decoding, chunking,
//! output) is independent of the model code.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use image::RgbImage;
use mlxk_core::ndjson::FinishReason;
use mlxk_core::output::Closed;
use mlxk_runner::vlm::{VisionLoadOptions, VisionModel, SUPPORTED_VISION_FAMILIES};
use mlxk_runner::{Event, LoadOptions, MemoryVerdict, RunnerError, SamplingParams};

use crate::failure::Failure;

/// A loaded vision model.
pub struct Describer {
    model: VisionModel,
    interrupt: Arc<AtomicBool>,
}

/// What the model said about one chunk.
pub struct Described {
    pub text: String,
    pub finish_reason: FinishReason,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    pub prompt_tps: f64,
    pub generation_tps: f64,
}

impl Describer {
    /// Loads the model in `dir` (`name` already resolved and healthy), the
    /// memory gate sized for `chunk` images of the largest tiling per prompt.
    pub fn load(
        name: &str,
        dir: &Path,
        chunk: usize,
        force: bool,
        interrupt: Arc<AtomicBool>,
    ) -> Result<Describer, Failure> {
        let options = VisionLoadOptions {
            load: LoadOptions {
                check_memory: !force,
                ..LoadOptions::default()
            },
            images_per_prompt: chunk,
        };
        let model = VisionModel::load(dir, &options).map_err(|e| match e {
            RunnerError::NotAVisionModel { .. } => Failure::TextOnly { name: name.into() },
            RunnerError::UnsupportedVisionModel { model_type, .. } => Failure::Unsupported {
                name: name.into(),
                reason: format!("vision architecture {model_type} is not supported"),
            },
            e => Failure::Runner(e),
        })?;
        Ok(Describer { model, interrupt })
    }

    /// What the memory gate estimated at load.
    pub fn memory_verdict(&self) -> &MemoryVerdict {
        self.model.memory_verdict()
    }

    /// Describes `images` (the chunk, in order) after `prompt` (the image
    /// lines, then the user's prompt), calling `on_text` with each piece.
    /// The outer error is a closed stdout; the inner one, this chunk's failure.
    pub fn describe(
        &self,
        images: &[RgbImage],
        system: Option<&str>,
        prompt: &str,
        params: &SamplingParams,
        on_text: &mut dyn FnMut(&str) -> Result<(), Closed>,
    ) -> Result<Result<Described, Failure>, Closed> {
        let generation =
            self.model
                .describe(images, prompt, system, params, Some(self.interrupt.clone()));
        let generation = match generation {
            Ok(g) => g,
            Err(e) => return Ok(Err(Failure::Runner(e))),
        };
        let mut text = String::new();
        for event in generation {
            let (piece, stats) = match event {
                Ok(Event::Token { text, .. }) => (text, None),
                Ok(Event::Reasoning { .. }) => continue,
                Ok(Event::Done { text, stats }) => (text, Some(stats)),
                Err(e) => return Ok(Err(Failure::Runner(e))),
            };
            if !piece.is_empty() {
                on_text(&piece)?;
                text.push_str(&piece);
            }
            if let Some(s) = stats {
                return Ok(Ok(Described {
                    text,
                    finish_reason: s.finish_reason,
                    prompt_tokens: s.prompt_tokens as u64,
                    generated_tokens: s.generated_tokens as u64,
                    prompt_tps: s.prompt_tps,
                    generation_tps: s.generation_tps,
                }));
            }
        }
        unreachable!("a generation ends with Event::Done")
    }
}

/// The families named in errors and hints.
pub fn families() -> String {
    SUPPORTED_VISION_FAMILIES.join(", ")
}
