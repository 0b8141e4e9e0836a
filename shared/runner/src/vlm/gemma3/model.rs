//! The Gemma 3 model: vision tower → projector → image features, divided by
//! √`hidden_size` and written into the text embeddings at the `<image_soft_token>`
//! positions (pad positions zeroed), then the gemma3_text decoder, which scales the
//! whole input by √text hidden (mlx-vlm `models/gemma3/gemma3.py`).

use mlx_rs::Array;

use super::config::Gemma3Config;
use super::language;
use super::projector::Projector;
use crate::error::Result;
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::vlm::merge::{encode_frames, merge_features};
use crate::vlm::siglip::{SiglipOptions, VisionModel};
use crate::weights::Weights;

/// The vision tower: the shared SigLIP with its weights under `vision_tower.vision_model.`
/// and patches numbered in order (mlx-vlm `models/gemma3/vision.py`; its `GELUMLP` uses
/// `GELU(approx="precise")`, which in MLX is the tanh approximation, as SmolVLM's tower).
const VISION: SiglipOptions = SiglipOptions {
    prefix: "vision_tower.vision_model",
    bucketed_positions: false,
};

#[derive(Debug)]
pub struct Gemma3Vlm {
    config: Gemma3Config,
    vision: VisionModel,
    projector: Projector,
    language: DecoderModel,
}

impl Gemma3Vlm {
    /// Builds the model, taking every tensor out of `weights`; any left over is an error.
    pub fn load(config: Gemma3Config, weights: &mut Weights, par: &Parallelism) -> Result<Self> {
        let q = config.quantization.as_ref();
        weights.discard(|name| name.contains("position_ids"));
        let vision = VisionModel::load(weights, q, &config.vision, VISION, par)?;
        let projector = Projector::load(weights, &config)?;
        let language = language::load(&config.text, weights, q, par)?;
        weights.expect_all_used("Gemma 3")?;
        Ok(Gemma3Vlm {
            config,
            vision,
            projector,
            language,
        })
    }

    pub fn config(&self) -> &Gemma3Config {
        &self.config
    }

    pub fn language(&self) -> &DecoderModel {
        &self.language
    }

    /// Image features of `frames` (`[F, S, S, 3]`, normalised, one per image) →
    /// `[F · mm_tokens_per_image, text_hidden]`, one image at a time.
    pub fn image_features(&self, frames: &Array) -> Result<Array> {
        encode_frames(frames, |frame| {
            self.projector.forward(&self.vision.forward(frame)?)
        })
    }

    /// The decoder's input: text embeddings with `features / √hidden_size` at the image
    /// tokens and zeros at pad tokens → `[1, L, hidden]`.
    pub fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        let scale = (self.config.hidden_size as f64).sqrt() as f32;
        let scaled = features.divide(Array::from_f32(scale))?;
        merge_features(
            &self.language,
            ids,
            self.config.image_token_id,
            &scaled,
            Some(self.config.pad_token_id),
        )
    }
}
