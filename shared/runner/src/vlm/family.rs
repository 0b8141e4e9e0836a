//! The supported families behind [`super::VisionModel`]: what differs between them
//! (config, processor, image marker and tokens, memory shape, model) in one place.

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;

use super::{gemma3, smolvlm};
use crate::config::{ModelConfig, TokenIds};
use crate::error::{Result, RunnerError};
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::memory::VisionShape;
use crate::weights::Weights;

/// A family's parsed `config.json` and its processor, before the model is loaded.
pub(super) enum FamilyConfig {
    SmolVlm(smolvlm::SmolVlmConfig, smolvlm::Processor),
    Gemma3(gemma3::Gemma3Config, gemma3::Processor),
}

/// A loaded model with its processor.
pub(super) enum Family {
    SmolVlm {
        model: smolvlm::SmolVlm,
        processor: smolvlm::Processor,
    },
    Gemma3 {
        model: gemma3::Gemma3Vlm,
        processor: gemma3::Processor,
    },
}

/// What a processor made of a prompt's images.
pub(super) struct Prepared {
    pub prompt_text: String,
    pub frames: Vec<RgbImage>,
    pub grids: Vec<(usize, usize)>,
    /// Every frame's (height, width).
    pub frame_size: (u32, u32),
}

impl FamilyConfig {
    /// Parses `dir/config.json` for a supported `model_type`, and the processor files.
    pub fn read(dir: &Path, model_type: &str) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| RunnerError::Io {
            path: path.clone(),
            source,
        })?;
        let invalid = |message| RunnerError::InvalidConfig {
            path: path.clone(),
            message,
        };
        Ok(if gemma3::MODEL_TYPES.contains(&model_type) {
            let c = gemma3::Gemma3Config::from_json(&text).map_err(invalid)?;
            let side = c.vision.image_size as u32;
            let p = gemma3::Processor::load(dir, side, c.mm_tokens_per_image)?;
            FamilyConfig::Gemma3(c, p)
        } else {
            let c = smolvlm::SmolVlmConfig::from_json(&text).map_err(invalid)?;
            let p = smolvlm::Processor::load(dir, c.tokens_per_frame())?;
            FamilyConfig::SmolVlm(c, p)
        })
    }

    pub fn text(&self) -> &ModelConfig {
        match self {
            FamilyConfig::SmolVlm(c, _) => &c.text,
            FamilyConfig::Gemma3(c, _) => &c.text,
        }
    }

    pub fn eos(&self) -> &TokenIds {
        match self {
            FamilyConfig::SmolVlm(c, _) => &c.eos_token_id,
            FamilyConfig::Gemma3(c, _) => &c.eos_token_id,
        }
    }

    /// The image token's text and the id `config.json` gives it.
    pub fn image_token(&self) -> (&'static str, u32) {
        match self {
            FamilyConfig::SmolVlm(c, _) => (smolvlm::processor::IMAGE_TOKEN, c.image_token_id),
            FamilyConfig::Gemma3(c, _) => (gemma3::processor::IMAGE_TOKEN, c.image_token_id),
        }
    }

    /// The family's end-of-turn token, a stop token beside the configured ones.
    pub fn end_of_turn(&self) -> &'static str {
        match self {
            FamilyConfig::SmolVlm(..) => smolvlm::processor::END_OF_UTTERANCE,
            FamilyConfig::Gemma3(..) => gemma3::processor::END_OF_TURN,
        }
    }

    /// The memory gate's view of `images` images at their largest tiling.
    pub fn shape(&self, images: usize) -> VisionShape {
        match self {
            FamilyConfig::SmolVlm(c, p) => smolvlm_shape(c, p, images),
            FamilyConfig::Gemma3(c, _) => gemma3_shape(c, images),
        }
    }

    /// Builds the model from `weights`.
    pub fn build(self, weights: &mut Weights, par: &Parallelism) -> Result<Family> {
        Ok(match self {
            FamilyConfig::SmolVlm(c, processor) => Family::SmolVlm {
                model: smolvlm::SmolVlm::load(c, weights, par)?,
                processor,
            },
            FamilyConfig::Gemma3(c, processor) => Family::Gemma3 {
                model: gemma3::Gemma3Vlm::load(c, weights, par)?,
                processor,
            },
        })
    }
}

impl Family {
    pub fn language(&self) -> &DecoderModel {
        match self {
            Family::SmolVlm { model, .. } => model.language(),
            Family::Gemma3 { model, .. } => model.language(),
        }
    }

    /// The marker the chat template writes for an image.
    pub fn marker(&self) -> &'static str {
        match self {
            Family::SmolVlm { .. } => smolvlm::processor::IMAGE_TOKEN,
            Family::Gemma3 { .. } => gemma3::processor::BOI_TOKEN,
        }
    }

    /// Whether the prompt is encoded with the tokenizer's special tokens added. mlx-vlm
    /// 0.7.10 adds them for Gemma 3 although its chat template writes `<bos>` too (its
    /// Gemma 3 processor has no chat template of its own), so ids start `<bos><bos>`;
    /// we agree with it. SmolVLM's are not added.
    pub fn adds_special_tokens(&self) -> bool {
        matches!(self, Family::Gemma3 { .. })
    }

    pub fn tokens_per_frame(&self) -> usize {
        match self {
            Family::SmolVlm { processor, .. } => processor.image_seq_len,
            Family::Gemma3 { processor, .. } => processor.image_seq_length,
        }
    }

    pub fn shape(&self, images: usize) -> VisionShape {
        match self {
            Family::SmolVlm { model, processor } => {
                smolvlm_shape(model.config(), processor, images)
            }
            Family::Gemma3 { model, .. } => gemma3_shape(model.config(), images),
        }
    }

    /// Images → frames, and `text` (with one marker per image) → the prompt with every
    /// marker expanded into the image's tokens.
    pub fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        match self {
            Family::SmolVlm { processor, .. } => {
                let processed = images
                    .iter()
                    .map(|img| processor.frames(img))
                    .collect::<Result<Vec<_>>>()?;
                let side = processor.image.max_image_size;
                Ok(Prepared {
                    prompt_text: processor.expand_prompt(text, &processed)?,
                    grids: processed.iter().map(|p| (p.rows, p.cols)).collect(),
                    frames: processed.into_iter().flat_map(|p| p.frames).collect(),
                    frame_size: (side, side),
                })
            }
            Family::Gemma3 { processor, .. } => Ok(Prepared {
                prompt_text: processor.expand_prompt(text, images.len())?,
                grids: vec![(0, 0); images.len()],
                frames: images
                    .iter()
                    .map(|img| processor.frame(img))
                    .collect::<Result<Vec<_>>>()?,
                frame_size: (processor.height, processor.width),
            }),
        }
    }

    /// Frames → normalised float32 pixels, channels last.
    pub fn pixels(&self, frames: &[RgbImage]) -> Vec<f32> {
        match self {
            Family::SmolVlm { processor, .. } => processor.pixels(frames),
            Family::Gemma3 { processor, .. } => processor.pixels.pixels(frames),
        }
    }

    /// The decoder's input embeddings: the text's, with the image features merged in.
    pub fn embeddings(&self, ids: &[u32], pixels: &Array) -> Result<Array> {
        match self {
            Family::SmolVlm { model, .. } => model.merge(ids, &model.image_features(pixels)?),
            Family::Gemma3 { model, .. } => model.merge(ids, &model.image_features(pixels)?),
        }
    }
}

/// SmolVLM: every image at its largest tiling.
fn smolvlm_shape(
    config: &smolvlm::SmolVlmConfig,
    processor: &smolvlm::Processor,
    images: usize,
) -> VisionShape {
    let im = &processor.image;
    let per_image = if im.do_image_splitting {
        let edge = if im.do_resize {
            im.size_longest_edge
        } else {
            smolvlm::processor::MAX_IMAGE_SIZE
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
    let v = &config.vision;
    VisionShape {
        hidden: v.hidden_size,
        heads: v.heads(),
        intermediate: v.intermediate(),
        patches: v.patches(),
        frame_side: im.max_image_size as usize,
        frames: per_image * images,
        tokens_per_frame: processor.image_seq_len,
    }
}

/// Gemma 3: one frame per image.
fn gemma3_shape(config: &gemma3::Gemma3Config, images: usize) -> VisionShape {
    let v = &config.vision;
    VisionShape {
        hidden: v.hidden_size,
        heads: v.heads(),
        intermediate: v.intermediate(),
        patches: v.patches(),
        frame_side: v.image_size,
        frames: images,
        tokens_per_frame: config.mm_tokens_per_image,
    }
}
