//! The Llama 3.2 Vision model (mlx-vlm `models/mllama/mllama.py`): the tiled vision
//! tower → `multi_modal_projector` (one Linear with bias) → image features, which the
//! language model's cross-attention layers attend to; the text embeddings are the
//! tokens' own.

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use super::config::MllamaConfig;
use super::language;
use super::vision::VisionModel;
use crate::error::{Result, RunnerError};
use crate::layers::DecoderModel;
use crate::linear::{Linear, Parallelism};
use crate::weights::Weights;

#[derive(Debug)]
pub struct Mllama {
    config: MllamaConfig,
    vision: VisionModel,
    projector: Linear,
    language: DecoderModel,
}

impl Mllama {
    /// Builds the model, taking every tensor out of `weights`; any left over is an error.
    pub fn load(config: MllamaConfig, weights: &mut Weights, par: &Parallelism) -> Result<Self> {
        let q = config.quantization.as_ref();
        // mlx-vlm's sanitize: Hugging Face's `vision_model` is its `vision_tower`.
        weights.rename_prefix("vision_model.", "vision_tower.");
        weights.discard(|name| name.contains("position_ids"));
        let vision = VisionModel::load(weights, q, &config.vision, par)?;
        let projector = Linear::load(
            weights,
            q,
            "multi_modal_projector",
            config.vision.vision_output_dim,
            config.text.hidden_size,
            true,
            par,
        )?;
        let language = language::load(&config, weights, q, par)?;
        weights.expect_all_used("Llama 3.2 Vision")?;
        Ok(Mllama {
            config,
            vision,
            projector,
            language,
        })
    }

    pub fn config(&self) -> &MllamaConfig {
        &self.config
    }

    pub fn language(&self) -> &DecoderModel {
        &self.language
    }

    /// Image features `[images · tiles · tokens per tile, text hidden]` of `tiles`
    /// (`[images · max tiles, side, side, 3]`) with each image's tiling `[1, rows, cols]`
    /// and its id.
    pub fn image_features(
        &self,
        tiles: &Array,
        grids: &[[usize; 3]],
        ids: &[u32],
    ) -> Result<Array> {
        let t = self.config.vision.max_num_tiles as i32;
        if tiles.dim(0) != t * grids.len() as i32 || ids.len() != grids.len() {
            return Err(RunnerError::Internal(format!(
                "{} tiles for {} images of {t} tiles",
                tiles.dim(0),
                grids.len()
            )));
        }
        let mut out = Vec::with_capacity(grids.len());
        for (n, (grid, &id)) in grids.iter().zip(ids).enumerate() {
            let n = n as i32;
            let image = tiles.index(n * t..(n + 1) * t);
            let features = self.vision.forward(&image, id, grid[1] * grid[2])?;
            let features = self.projector.forward(&features)?;
            features.eval()?;
            out.push(features);
        }
        Ok(ops::concatenate(&out, 0)?)
    }
}
