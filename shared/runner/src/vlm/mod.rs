//! Vision-language models: describe images with a model that reads them.
//!
//! Supported families ([`SUPPORTED_VISION_FAMILIES`]): SmolVLM / SmolVLM2 and Idefics3
//! (`smolvlm`, `idefics3`), Gemma 3 (`gemma3`), Qwen2.5-VL (`qwen2_5_vl`), Pixtral
//! (`pixtral`), Mistral Small 3.1/3.2 (`mistral3`), Llama 3.2 Vision (`mllama`) and
//! Qwen3-VL (`qwen3_vl`, `qwen3_vl_moe`), in
//! mlx-community's layout (the
//! language model MLX-quantized, the vision tower as published). Each family keeps
//! mlx-vlm's shape: language model, vision encoder, connector or projector, the
//! top-level model, and the processor kept apart.
//!
//! ```no_run
//! use mlxk_runner::vlm::{VisionLoadOptions, VisionModel};
//! use mlxk_runner::{Event, SamplingParams};
//!
//! # fn main() -> Result<(), mlxk_runner::RunnerError> {
//! let model = VisionModel::load("/path/to/SmolVLM-256M-Instruct-4bit", &VisionLoadOptions::default())?;
//! // Decoded RGB, EXIF orientation already applied by the caller.
//! let photo: image::RgbImage = image::RgbImage::new(640, 480);
//! let input = model.prepare(&[photo], "Describe this photo.", None)?;
//! for event in model.generate(&input, &SamplingParams::greedy(128), None)? {
//!     match event? {
//!         Event::Token { text, .. } => print!("{text}"),
//!         Event::Reasoning { .. } => {}
//!         Event::Done { text, stats } => println!("{text}\n{stats:?}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! As for text, MLX is not thread safe across concurrent evaluation: use one model from
//! one thread at a time. Each [`VisionModel::generate`] is a fresh session (its own KV
//! cache), so chunks of images are independent.

mod family;
pub mod gemma3;
pub mod merge;
pub mod mistral3;
pub mod mllama;
pub mod pixels;
pub mod pixtral;
pub mod processor_files;
pub mod qwen2_5_vl;
pub mod qwen3_vl;
/// Pillow's resampling, shared with mlxk-core's photo decoding.
pub use mlxk_core::photo::resample;
pub mod siglip;
pub mod smolvlm;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use image::RgbImage;
use mlx_rs::Array;
use serde_json::{json, Value};
use tokenizers::Tokenizer;

use crate::config::{read_json, TokenIds};
use crate::error::{Result, RunnerError};
use crate::folder::TextAssets;
use crate::generate::{self, Limits, Prompt, TokenGenerator};
use crate::image_context::ImageContext;
use crate::linear::Parallelism;
use crate::memory::{self, MemoryVerdict, VisionShape};
use crate::rope::MropePositions;
use crate::runner::{Generation, LoadOptions};
use crate::sampler::SamplingParams;
use crate::template::{ChatTemplate, RenderOptions};
use crate::weights::Weights;
use family::{Placement, Style, VisionFamily};

/// `model_type` values [`VisionModel`] can load.
pub const SUPPORTED_VISION_FAMILIES: &[&str] = mlxk_core::health::RUNNER_VISION_FAMILIES;

/// Text tokens (system prompt, question, answer) the memory gate adds to the image
/// tokens when [`LoadOptions::gate_tokens`] does not say.
pub const DEFAULT_TEXT_TOKENS: usize = 1024;

/// How to load a vision-language model.
#[derive(Debug, Clone)]
pub struct VisionLoadOptions {
    /// As for text models; `gate_tokens` is the text (not image) token budget.
    pub load: LoadOptions,
    /// Images one prompt carries (a chunk): the memory gate sizes the KV cache and
    /// activations for this many images of the largest tiling.
    pub images_per_prompt: usize,
}

impl Default for VisionLoadOptions {
    fn default() -> Self {
        VisionLoadOptions {
            load: LoadOptions::default(),
            images_per_prompt: 1,
        }
    }
}

/// What `config.json` says a model directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelKind {
    /// A vision-language family this runner supports.
    Vision { model_type: String },
    /// A vision-language model of another family.
    UnsupportedVision { model_type: String },
    /// A text-only model.
    Text { model_type: String },
}

/// Reads `config.json` in `dir` and tells a supported vision model from an unsupported
/// one and from a text-only model (no `vision_config`).
pub fn detect(dir: &Path) -> Result<ModelKind> {
    let path = dir.join("config.json");
    let config = read_json(&path)?.ok_or_else(|| RunnerError::Io {
        path: path.clone(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no config.json"),
    })?;
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(
        if SUPPORTED_VISION_FAMILIES.contains(&model_type.as_str()) {
            ModelKind::Vision { model_type }
        } else if config.get("vision_config").is_some_and(|v| !v.is_null()) {
            ModelKind::UnsupportedVision { model_type }
        } else {
            ModelKind::Text { model_type }
        },
    )
}

/// A prompt with its images, ready to run: what the processor made of them.
#[derive(Debug)]
pub struct VisionInput {
    /// The chat-templated prompt with every image marker expanded.
    pub prompt_text: String,
    /// Its token ids.
    pub input_ids: Vec<u32>,
    /// Each image's tile grid (rows, columns; 0×0 when it is one frame).
    pub grids: Vec<(usize, usize)>,
    /// Frames in all (Qwen2.5-VL: images), and the image tokens they become.
    pub frames: usize,
    pub image_tokens: usize,
    /// Each image's patch grid `[t, h, w]` (Qwen2.5-VL and Pixtral; empty for the other
    /// families).
    pub patch_grids: Vec<[usize; 3]>,
    /// `[frames, height, width, 3]`, float32, channels last, normalised; Qwen2.5-VL:
    /// `[patches, patch_values]`, flattened patches.
    pixels: Array,
    /// The prompt's multimodal rope positions (Qwen2.5-VL).
    positions: Option<MropePositions>,
}

impl VisionInput {
    /// The pixel values as the model sees them: `[frames, side, side, 3]`, channels
    /// last, or (Qwen2.5-VL) `[patches, channels · temporal · patch²]`.
    pub fn pixel_values(&self) -> Result<Vec<f32>> {
        self.pixels.eval()?;
        Ok(self.pixels.as_slice::<f32>().to_vec())
    }

    /// Shape of [`VisionInput::pixel_values`].
    pub fn pixel_shape(&self) -> Vec<usize> {
        self.pixels.shape().iter().map(|&d| d as usize).collect()
    }

    /// The prompt's multimodal rope positions (`[3, L]`, row after row) and the shift
    /// of decode positions (mlx-vlm's `rope_deltas`); `None` for families without.
    pub fn rope_positions(&self) -> Result<Option<(Vec<i32>, i64)>> {
        let Some(p) = &self.positions else {
            return Ok(None);
        };
        p.ids.eval()?;
        Ok(Some((p.ids.as_slice::<i32>().to_vec(), p.delta)))
    }
}

/// A loaded vision-language model with its processor, tokenizer and chat template.
pub struct VisionModel {
    model_type: String,
    family: Box<dyn VisionFamily>,
    style: Style,
    /// The memory gate's view of one image at its largest tiling.
    per_image: VisionShape,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    stop_tokens: HashSet<u32>,
    context_length: usize,
    memory: MemoryVerdict,
}

impl std::fmt::Debug for VisionModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisionModel")
            .field("model_type", &self.model_type)
            .field("context_length", &self.context_length)
            .finish_non_exhaustive()
    }
}

impl VisionModel {
    /// Checks the family and memory, then loads the model in `dir`. A text-only model
    /// is [`RunnerError::NotAVisionModel`]; another vision family is
    /// [`RunnerError::UnsupportedVisionModel`] (naming the supported ones).
    pub fn load(dir: impl AsRef<Path>, options: &VisionLoadOptions) -> Result<Self> {
        let dir: PathBuf = dir.as_ref().to_path_buf();
        let model_type = match detect(&dir)? {
            ModelKind::Vision { model_type } => model_type,
            ModelKind::UnsupportedVision { model_type } => {
                return Err(RunnerError::UnsupportedVisionModel {
                    model_type,
                    supported: SUPPORTED_VISION_FAMILIES.to_vec(),
                })
            }
            ModelKind::Text { model_type } => {
                return Err(RunnerError::NotAVisionModel { model_type })
            }
        };
        let plan = family::plan(&dir, &model_type)?;
        let load = &options.load;
        let text_config = &plan.text;
        let assets = TextAssets::load(&dir)?;
        let context_length = assets.context_length(load, text_config.max_position_embeddings);
        let shape = plan.per_image.for_images(options.images_per_prompt.max(1));
        let text_tokens = load.gate_tokens.unwrap_or(DEFAULT_TEXT_TOKENS);
        let weights_bytes = memory::weight_bytes(&dir, load.upcast)?;
        let estimate = memory::estimate_vision(text_config, weights_bytes, &shape, text_tokens);
        let verdict = memory::gate(estimate, load.check_memory)?;

        let (token, id) = plan.style.image_token;
        let tokenizer = &assets.tokenizer;
        let image_token = tokenizer.token_to_id(token);
        if image_token != Some(id) {
            return Err(RunnerError::Tokenizer(format!(
                "`{token}` is token {image_token:?} in tokenizer.json, but config.json's image token is {id}"
            )));
        }

        let mut eos = plan.eos.0.clone();
        eos.extend(&text_config.eos_token_id.0);
        let mut stop_tokens = assets.stop_tokens(&dir, &TokenIds(eos))?;
        // The family's end-of-turn token (mlx-vlm's additional_eos_token_ids).
        stop_tokens.extend(tokenizer.token_to_id(plan.style.end_of_turn));

        let mut weights = Weights::load(&dir, load.upcast)?;
        let family = (plan.build)(
            &mut weights,
            &Parallelism::cpu(load.threads, load.cpu_kernel),
        )?;
        Ok(VisionModel {
            model_type,
            family,
            style: plan.style,
            per_image: plan.per_image,
            tokenizer: assets.tokenizer,
            template: assets.template,
            stop_tokens,
            context_length,
            memory: verdict,
        })
    }

    /// `config.json`'s `model_type`.
    pub fn family(&self) -> &str {
        &self.model_type
    }

    pub fn context_length(&self) -> usize {
        self.context_length
    }

    pub fn stop_tokens(&self) -> &HashSet<u32> {
        &self.stop_tokens
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// What the memory gate decided at load.
    pub fn memory_verdict(&self) -> &MemoryVerdict {
        &self.memory
    }

    /// Language-model tokens one image costs at most (its largest tiling), or, for a
    /// model that cross-attends to the image, the image features it holds.
    pub fn max_tokens_per_image(&self) -> usize {
        self.per_image.image_tokens() + self.per_image.cross_tokens()
    }

    /// The chat-templated prompt for `images` images and the user's `prompt` (after
    /// `system` when given), with one image marker per image where mlx-vlm puts it for
    /// this family: SmolVLM's `<image>` and Qwen2.5-VL's image items
    /// before the text, Llama 3.2 Vision's after it, Gemma 3's `<start_of_image>` after
    /// it in the message's text.
    pub fn render_prompt(
        &self,
        prompt: &str,
        system: Option<&str>,
        images: usize,
    ) -> Result<String> {
        let Style {
            marker, placement, ..
        } = self.style;
        let Some(template) = &self.template else {
            let markers = marker.repeat(images);
            let mut text = match placement {
                Placement::PartsFirst => markers + prompt,
                Placement::PartsLast | Placement::MarkersAfter => format!("{prompt}{markers}"),
            };
            if let Some(system) = system {
                text = format!("{system}\n{text}");
            }
            return Ok(text);
        };
        let text_part = |t: &str| json!({"type": "text", "text": t, "content": t});
        let mut messages = Vec::new();
        if placement == Placement::MarkersAfter {
            if let Some(system) = system {
                messages.push(json!({"role": "system", "content": system}));
            }
            let content = format!("{prompt}{}", marker.repeat(images));
            messages.push(json!({"role": "user", "content": content}));
        } else {
            if let Some(system) = system {
                messages.push(json!({"role": "system", "content": [text_part(system)]}));
            }
            let mut content: Vec<Value> = (0..images).map(|_| json!({"type": "image"})).collect();
            match placement {
                Placement::PartsFirst => content.push(text_part(prompt)),
                _ => content.insert(0, text_part(prompt)),
            }
            messages.push(json!({"role": "user", "content": content}));
        }
        let options = RenderOptions {
            add_generation_prompt: true,
            ..RenderOptions::default()
        };
        let text = template.render_json(&messages, &options)?;
        let found = text.matches(marker).count();
        if found != images {
            return Err(RunnerError::Template(format!(
                "the chat template wrote {found} `{marker}` markers for {images} images"
            )));
        }
        Ok(text)
    }

    /// Runs the processor: images → frames → pixels, and the prompt with its image
    /// tokens expanded → ids. `images` are decoded RGB with orientation applied.
    pub fn prepare(
        &self,
        images: &[RgbImage],
        prompt: &str,
        system: Option<&str>,
    ) -> Result<VisionInput> {
        if images.is_empty() {
            return Err(RunnerError::InvalidImage("no images given".into()));
        }
        let text = self.render_prompt(prompt, system, images.len())?;
        let prepared = self.family.prepare(images, &text)?;
        let input_ids = self
            .tokenizer
            .encode(
                prepared.prompt_text.as_str(),
                self.style.adds_special_tokens,
            )
            .map_err(|e| RunnerError::Tokenizer(e.to_string()))?
            .get_ids()
            .to_vec();
        if input_ids.len() >= self.context_length {
            return Err(RunnerError::PromptTooLong {
                prompt_tokens: input_ids.len(),
                context_length: self.context_length,
            });
        }
        let pixels = Array::from_slice(&prepared.pixels, &prepared.pixel_shape);
        let positions = self.family.positions(&input_ids, &prepared.patch_grids)?;
        Ok(VisionInput {
            prompt_text: prepared.prompt_text,
            grids: prepared.grids,
            frames: prepared.frames,
            image_tokens: prepared.image_tokens,
            patch_grids: prepared.patch_grids,
            input_ids,
            pixels,
            positions,
        })
    }

    /// Input embeddings of `input` (text embeddings with the image features merged in),
    /// and what else the images give the decoder, where the family has anything.
    fn embeddings(&self, input: &VisionInput) -> Result<(Array, Option<ImageContext>)> {
        let encoded = self.family.encode(&input.pixels, &input.patch_grids)?;
        let merged = self.family.merge(&input.input_ids, &encoded.features)?;
        merged.eval()?;
        let context = self
            .family
            .context(&input.input_ids, &encoded, &input.patch_grids)?;
        let any = context.cross.is_some() || context.deepstack.is_some();
        Ok((merged, any.then_some(context)))
    }

    /// Token ids only: the images are encoded now, generation runs as the iterator is
    /// driven (see [`TokenGenerator`]).
    pub fn generate_tokens(
        &self,
        input: &VisionInput,
        params: &SamplingParams,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<TokenGenerator<'_>> {
        let limits = Limits {
            stop: &self.stop_tokens,
            context_length: self.context_length,
        };
        TokenGenerator::new(
            self.family.language(),
            self.prompt(input)?,
            params,
            limits,
            interrupt,
        )
    }

    /// Streams a generation as text events, the last being [`crate::Event::Done`].
    pub fn generate(
        &self,
        input: &VisionInput,
        params: &SamplingParams,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<Generation<'_>> {
        Ok(Generation::new(
            self.generate_tokens(input, params, interrupt)?,
            &self.tokenizer,
        ))
    }

    /// [`VisionModel::prepare`] then [`VisionModel::generate`]: describes `images` as
    /// `prompt` (after `system`) asks.
    pub fn describe(
        &self,
        images: &[RgbImage],
        prompt: &str,
        system: Option<&str>,
        params: &SamplingParams,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<Generation<'_>> {
        let input = self.prepare(images, prompt, system)?;
        self.generate(&input, params, interrupt)
    }

    /// The image features of `input` (float32, `[image_tokens, text_hidden]`, row after
    /// row) as they replace the image tokens: for checks against a reference.
    pub fn image_features(&self, input: &VisionInput) -> Result<Vec<f32>> {
        let f = self
            .family
            .image_features(&input.pixels, &input.patch_grids)?
            .as_dtype(mlx_rs::Dtype::Float32)?;
        f.eval()?;
        Ok(f.as_slice::<f32>().to_vec())
    }

    /// Qwen3-VL's deepstack features of `input` (float32, one `[image_tokens,
    /// text_hidden]` per level, row after row); empty for the other families.
    pub fn deepstack_features(&self, input: &VisionInput) -> Result<Vec<Vec<f32>>> {
        let encoded = self.family.encode(&input.pixels, &input.patch_grids)?;
        encoded
            .deepstack
            .iter()
            .map(|level| {
                let level = level.as_dtype(mlx_rs::Dtype::Float32)?;
                level.eval()?;
                Ok(level.as_slice::<f32>().to_vec())
            })
            .collect()
    }

    /// Logits at the last prompt position, as generation computes them.
    pub fn prompt_logits(&self, input: &VisionInput) -> Result<Vec<f32>> {
        generate::prompt_logits(self.family.language(), &self.prompt(input)?)
    }

    /// `input` as it enters the language model: ids, embeddings with the image features
    /// merged in, and multimodal positions where the family has them.
    fn prompt<'i>(&self, input: &'i VisionInput) -> Result<Prompt<'i>> {
        let (embeddings, image) = self.embeddings(input)?;
        Ok(Prompt {
            ids: &input.input_ids,
            embeddings: Some(embeddings),
            positions: input.positions.clone(),
            image,
        })
    }

    /// Ids → text (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| RunnerError::Tokenizer(e.to_string()))
    }
}
