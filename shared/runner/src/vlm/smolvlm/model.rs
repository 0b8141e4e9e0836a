//! The SmolVLM / Idefics3 model: vision tower → connector → image features, written
//! into the text embeddings at the `<image>` token positions, then the llama decoder
//! (mlx-vlm `models/idefics3/idefics3.py`).

use mlx_rs::Array;

use super::config::SmolVlmConfig;
use super::connector::Connector;
use super::language;
use crate::error::Result;
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::vlm::merge::{encode_frames, merge_features};
use crate::vlm::siglip::{SiglipOptions, VisionModel};
use crate::weights::Weights;

/// The vision tower: the shared SigLIP with its weights under `vision_model.`, position
/// ids bucketed from fractional patch coordinates (mlx-vlm `models/idefics3/vision.py`).
const VISION: SiglipOptions = SiglipOptions {
    prefix: "vision_model",
    bucketed_positions: true,
};

#[derive(Debug)]
pub struct SmolVlm {
    config: SmolVlmConfig,
    vision: VisionModel,
    connector: Connector,
    language: DecoderModel,
}

impl SmolVlm {
    /// Builds the model, taking every tensor out of `weights`; any left over is an error.
    pub fn load(config: SmolVlmConfig, weights: &mut Weights, par: &Parallelism) -> Result<Self> {
        let q = config.quantization.as_ref();
        weights.discard(|name| name.contains("position_ids"));
        let vision = VisionModel::load(weights, q, &config.vision, VISION, par)?;
        let connector = Connector::load(
            weights,
            q,
            config.vision.hidden_size,
            config.text.hidden_size,
            config.scale_factor,
            par,
        )?;
        let language = language::load(&config.text, weights, q, par)?;
        weights.expect_all_used("SmolVLM")?;
        Ok(SmolVlm {
            config,
            vision,
            connector,
            language,
        })
    }

    pub fn config(&self) -> &SmolVlmConfig {
        &self.config
    }

    pub fn language(&self) -> &DecoderModel {
        &self.language
    }

    /// Image features of `frames` (`[F, M, M, 3]`, normalised) → `[F · tokens_per_frame,
    /// text_hidden]`. Frames are encoded one at a time (each is independent), which keeps
    /// the vision tower's activations to one frame's worth.
    pub fn image_features(&self, frames: &Array) -> Result<Array> {
        encode_frames(frames, |frame| {
            self.connector.forward(&self.vision.forward(frame)?)
        })
    }

    /// Text embeddings of `ids` with the rows of `features` written, in order, at the
    /// image-token positions → `[1, L, hidden]`. The count must match exactly.
    pub fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        merge_features(
            &self.language,
            ids,
            self.config.image_token_id,
            features,
            None,
        )
    }
}
