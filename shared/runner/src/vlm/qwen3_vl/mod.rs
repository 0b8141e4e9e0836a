//! Qwen3-VL (`model_type` `qwen3_vl`, and `qwen3_vl_moe` on Qwen3-MoE), in mlx-vlm's
//! shape: [`config`], the language model ([`language`]: Qwen3 with interleaved
//! multimodal rope and deepstack), the vision tower ([`vision`]: interpolated position
//! embeddings, full attention, deepstack mergers), and the top-level [`model`]. The
//! processor is Qwen2.5-VL's ([`crate::vlm::qwen2_5_vl::processor`]: mlx-vlm's own
//! `Qwen3VLImageProcessor`, which it uses for both), with Qwen3-VL's patches of 16.
//! This file is the family's entry in the vision registry.

pub mod config;
pub mod language;
pub mod model;
pub mod vision;

use std::path::Path;

use image::RgbImage;
use mlx_rs::Array;

pub use config::Qwen3VlConfig;
pub use model::Qwen3Vl;

use super::family::{Encoded, Plan, PlanError, Prepared, VisionFamily};
use super::qwen2_5_vl::{self, Processor};
use crate::error::Result;
use crate::image_context::ImageContext;
use crate::layers::DecoderModel;
use crate::rope::MropePositions;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["qwen3_vl", "qwen3_vl_moe"];

/// Reads the family's config and processor files, and checks that the processor's
/// patches fit the vision tower.
pub(super) fn plan(dir: &Path, json: &str) -> std::result::Result<Plan, PlanError> {
    let config = Qwen3VlConfig::from_json(json).map_err(PlanError::Config)?;
    let p = Processor::load(dir)?;
    let v = &config.vision;
    qwen2_5_vl::check_patches(
        dir,
        &p,
        (v.patch_size, v.temporal_patch_size, v.spatial_merge_size),
    )?;
    let tower = (v.hidden_size, v.num_heads, v.intermediate_size);
    Ok(Plan {
        text: config.text.clone(),
        eos: config.eos_token_id.clone(),
        style: qwen2_5_vl::style(config.image_token_id),
        per_image: qwen2_5_vl::patch_shape(&p, tower, v.merge_unit()),
        build: Box::new(move |weights, par| {
            let model = Qwen3Vl::load(config, weights, par)?;
            Ok(Box::new(Loaded {
                model,
                processor: p,
            }))
        }),
    })
}

struct Loaded {
    model: Qwen3Vl,
    processor: Processor,
}

impl VisionFamily for Loaded {
    fn language(&self) -> &DecoderModel {
        self.model.language()
    }

    fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        let width = self.model.config().vision.patch_values();
        qwen2_5_vl::prepare_patches(&self.processor, images, text, width)
    }

    fn image_features(&self, pixels: &Array, patch_grids: &[[usize; 3]]) -> Result<Array> {
        Ok(self.model.encode(pixels, patch_grids)?.0)
    }

    fn encode(&self, pixels: &Array, patch_grids: &[[usize; 3]]) -> Result<Encoded> {
        let (features, deepstack) = self.model.encode(pixels, patch_grids)?;
        Ok(Encoded {
            features,
            deepstack,
        })
    }

    fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        self.model.merge(ids, features)
    }

    fn context(
        &self,
        ids: &[u32],
        encoded: &Encoded,
        _patch_grids: &[[usize; 3]],
    ) -> Result<ImageContext> {
        let deepstack = match encoded.deepstack.is_empty() {
            true => None,
            false => Some(self.model.deepstack(ids, &encoded.deepstack)?),
        };
        Ok(ImageContext {
            cross: None,
            deepstack,
        })
    }

    fn positions(&self, ids: &[u32], patch_grids: &[[usize; 3]]) -> Result<Option<MropePositions>> {
        Ok(Some(self.model.positions(ids, patch_grids)?))
    }
}
