//! The supported families behind [`super::VisionModel`]: what differs between them
//! (config, processor, image marker and tokens, memory shape, model) in one place.

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;

use super::{gemma3, qwen2_5_vl, smolvlm};
use crate::config::{ModelConfig, TokenIds};
use crate::error::{Result, RunnerError};
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::memory::VisionShape;
use crate::rope::MropePositions;
use crate::weights::Weights;

/// A family's parsed `config.json` and its processor, before the model is loaded.
pub(super) enum FamilyConfig {
    SmolVlm(smolvlm::SmolVlmConfig, smolvlm::Processor),
    Gemma3(gemma3::Gemma3Config, gemma3::Processor),
    Qwen25Vl(qwen2_5_vl::Qwen25VlConfig, qwen2_5_vl::Processor),
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
    Qwen25Vl {
        model: qwen2_5_vl::Qwen25Vl,
        processor: qwen2_5_vl::Processor,
    },
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
    /// Each image's patch grid `[t, h, w]` (Qwen2.5-VL; empty for the others).
    pub patch_grids: Vec<[usize; 3]>,
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
        Ok(if qwen2_5_vl::MODEL_TYPES.contains(&model_type) {
            let c = qwen2_5_vl::Qwen25VlConfig::from_json(&text).map_err(invalid)?;
            let p = qwen2_5_vl::Processor::load(dir)?;
            let v = &c.vision;
            if (p.patch_size, p.temporal_patch_size, p.merge_size)
                != (v.patch_size, v.temporal_patch_size, v.spatial_merge_size)
            {
                return Err(RunnerError::InvalidConfig {
                    path: dir.join("preprocessor_config.json"),
                    message: format!(
                        "patches of {}×{} (time {}, merged {}×{}) do not fit the vision tower's {}×{} (time {}, merged {}×{})",
                        p.patch_size, p.patch_size, p.temporal_patch_size, p.merge_size, p.merge_size,
                        v.patch_size, v.patch_size, v.temporal_patch_size, v.spatial_merge_size,
                        v.spatial_merge_size
                    ),
                });
            }
            FamilyConfig::Qwen25Vl(c, p)
        } else if gemma3::MODEL_TYPES.contains(&model_type) {
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
            FamilyConfig::Qwen25Vl(c, _) => &c.text,
        }
    }

    pub fn eos(&self) -> &TokenIds {
        match self {
            FamilyConfig::SmolVlm(c, _) => &c.eos_token_id,
            FamilyConfig::Gemma3(c, _) => &c.eos_token_id,
            FamilyConfig::Qwen25Vl(c, _) => &c.eos_token_id,
        }
    }

    /// The image token's text and the id `config.json` gives it.
    pub fn image_token(&self) -> (&'static str, u32) {
        match self {
            FamilyConfig::SmolVlm(c, _) => (smolvlm::processor::IMAGE_TOKEN, c.image_token_id),
            FamilyConfig::Gemma3(c, _) => (gemma3::processor::IMAGE_TOKEN, c.image_token_id),
            FamilyConfig::Qwen25Vl(c, _) => (qwen2_5_vl::processor::IMAGE_TOKEN, c.image_token_id),
        }
    }

    /// The family's end-of-turn token, a stop token beside the configured ones.
    pub fn end_of_turn(&self) -> &'static str {
        match self {
            FamilyConfig::SmolVlm(..) => smolvlm::processor::END_OF_UTTERANCE,
            FamilyConfig::Gemma3(..) => gemma3::processor::END_OF_TURN,
            FamilyConfig::Qwen25Vl(..) => qwen2_5_vl::processor::END_OF_TURN,
        }
    }

    /// The memory gate's view of `images` images at their largest tiling.
    pub fn shape(&self, images: usize) -> VisionShape {
        match self {
            FamilyConfig::SmolVlm(c, p) => smolvlm_shape(c, p, images),
            FamilyConfig::Gemma3(c, _) => gemma3_shape(c, images),
            FamilyConfig::Qwen25Vl(c, p) => qwen_shape(c, p, images),
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
            FamilyConfig::Qwen25Vl(c, processor) => Family::Qwen25Vl {
                model: qwen2_5_vl::Qwen25Vl::load(c, weights, par)?,
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
            Family::Qwen25Vl { model, .. } => model.language(),
        }
    }

    /// The marker the chat template writes for an image.
    pub fn marker(&self) -> &'static str {
        match self {
            Family::SmolVlm { .. } => smolvlm::processor::IMAGE_TOKEN,
            Family::Gemma3 { .. } => gemma3::processor::BOI_TOKEN,
            Family::Qwen25Vl { .. } => qwen2_5_vl::processor::IMAGE_TOKEN,
        }
    }

    /// Whether mlx-vlm puts the images before the prompt's text (as typed content parts).
    pub fn image_first(&self) -> bool {
        matches!(self, Family::SmolVlm { .. } | Family::Qwen25Vl { .. })
    }

    /// Whether the prompt is encoded with the tokenizer's special tokens added. mlx-vlm
    /// 0.7.10 adds them for Gemma 3 although its chat template writes `<bos>` too (its
    /// Gemma 3 processor has no chat template of its own), so ids start `<bos><bos>`;
    /// we agree with it. SmolVLM's and Qwen2.5-VL's are not added.
    pub fn adds_special_tokens(&self) -> bool {
        matches!(self, Family::Gemma3 { .. })
    }

    pub fn shape(&self, images: usize) -> VisionShape {
        match self {
            Family::SmolVlm { model, processor } => {
                smolvlm_shape(model.config(), processor, images)
            }
            Family::Gemma3 { model, .. } => gemma3_shape(model.config(), images),
            Family::Qwen25Vl { model, processor } => qwen_shape(model.config(), processor, images),
        }
    }

    /// Images → pixels, and `text` (with one marker per image) → the prompt with every
    /// marker expanded into the image's tokens.
    pub fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        let framed = |frames: Vec<RgbImage>, (h, w): (u32, u32), pixels: Vec<f32>| {
            let shape = vec![frames.len() as i32, h as i32, w as i32, 3];
            (frames.len(), pixels, shape)
        };
        match self {
            Family::SmolVlm { processor, .. } => {
                let processed = images
                    .iter()
                    .map(|img| processor.frames(img))
                    .collect::<Result<Vec<_>>>()?;
                let side = processor.image.max_image_size;
                let prompt_text = processor.expand_prompt(text, &processed)?;
                let grids = processed.iter().map(|p| (p.rows, p.cols)).collect();
                let frames: Vec<RgbImage> = processed.into_iter().flat_map(|p| p.frames).collect();
                let pixels = processor.pixels(&frames);
                let (frames, pixels, pixel_shape) = framed(frames, (side, side), pixels);
                Ok(Prepared {
                    prompt_text,
                    grids,
                    frames,
                    image_tokens: frames * processor.image_seq_len,
                    pixels,
                    pixel_shape,
                    patch_grids: Vec::new(),
                })
            }
            Family::Gemma3 { processor, .. } => {
                let frames = images
                    .iter()
                    .map(|img| processor.frame(img))
                    .collect::<Result<Vec<_>>>()?;
                let pixels = processor.pixels.pixels(&frames);
                let size = (processor.height, processor.width);
                let (frames, pixels, pixel_shape) = framed(frames, size, pixels);
                Ok(Prepared {
                    prompt_text: processor.expand_prompt(text, images.len())?,
                    grids: vec![(0, 0); images.len()],
                    frames,
                    image_tokens: frames * processor.image_seq_length,
                    pixels,
                    pixel_shape,
                    patch_grids: Vec::new(),
                })
            }
            Family::Qwen25Vl { processor, model } => {
                let patches = images
                    .iter()
                    .map(|img| processor.patches(img))
                    .collect::<Result<Vec<_>>>()?;
                let width = model.config().vision.patch_values();
                let pixels: Vec<f32> = patches
                    .iter()
                    .flat_map(|p| p.values.iter().copied())
                    .collect();
                let rows = pixels.len() / width;
                Ok(Prepared {
                    prompt_text: processor.expand_prompt(text, &patches)?,
                    grids: vec![(0, 0); images.len()],
                    frames: images.len(),
                    image_tokens: patches.iter().map(|p| p.tokens(processor.merge_size)).sum(),
                    pixels,
                    pixel_shape: vec![rows as i32, width as i32],
                    patch_grids: patches.iter().map(|p| p.grid).collect(),
                })
            }
        }
    }

    /// Image features `[image_tokens, text_hidden]` of `pixels` (patch grids
    /// `patch_grids` for Qwen2.5-VL), in prompt order.
    pub fn image_features(&self, pixels: &Array, patch_grids: &[[usize; 3]]) -> Result<Array> {
        match self {
            Family::SmolVlm { model, .. } => model.image_features(pixels),
            Family::Gemma3 { model, .. } => model.image_features(pixels),
            Family::Qwen25Vl { model, .. } => model.image_features(pixels, patch_grids),
        }
    }

    /// The decoder's input embeddings: the text's, with `features` merged in.
    pub fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        match self {
            Family::SmolVlm { model, .. } => model.merge(ids, features),
            Family::Gemma3 { model, .. } => model.merge(ids, features),
            Family::Qwen25Vl { model, .. } => model.merge(ids, features),
        }
    }

    /// Explicit rope positions of the prompt `ids`, for families with multimodal rope.
    pub fn positions(
        &self,
        ids: &[u32],
        patch_grids: &[[usize; 3]],
    ) -> Result<Option<MropePositions>> {
        match self {
            Family::Qwen25Vl { model, .. } => Ok(Some(model.positions(ids, patch_grids)?)),
            _ => Ok(None),
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
    config.vision.shape(
        im.max_image_size as usize,
        per_image * images,
        processor.image_seq_len,
    )
}

/// Gemma 3: one frame per image.
fn gemma3_shape(config: &gemma3::Gemma3Config, images: usize) -> VisionShape {
    let v = &config.vision;
    v.shape(v.image_size, images, config.mm_tokens_per_image)
}

/// Qwen2.5-VL: one frame per image at `max_pixels` (the largest `smart_resize` allows):
/// `max_pixels / patch²` patches, a quarter as many tokens, pixel values of
/// `temporal_patch_size` copies (`frame_side² = temporal · max_pixels`), and the
/// full-attention blocks' queries in chunks ([`qwen2_5_vl::vision::query_chunk`]).
fn qwen_shape(
    config: &qwen2_5_vl::Qwen25VlConfig,
    processor: &qwen2_5_vl::Processor,
    images: usize,
) -> VisionShape {
    let v = &config.vision;
    let patches =
        (processor.max_pixels / (processor.patch_size * processor.patch_size) as u64) as usize;
    let values = processor.max_pixels as f64 * processor.temporal_patch_size as f64;
    VisionShape {
        hidden: v.hidden_size,
        heads: v.num_heads,
        intermediate: v.intermediate_size,
        patches,
        frame_side: values.sqrt().ceil() as usize,
        attention_rows: qwen2_5_vl::vision::query_chunk(v.num_heads, patches).min(patches),
        frames: images,
        tokens_per_frame: patches / v.merge_unit(),
    }
}
