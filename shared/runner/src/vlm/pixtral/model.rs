//! The Pixtral model: vision tower → projector (Linear, exact GELU, Linear, with biases)
//! → image features, written into the text embeddings at the `[IMG]` positions, then
//! the Mistral decoder (mlx-vlm `models/pixtral/pixtral.py`).

use mlx_rs::Array;

use super::config::PixtralConfig;
use super::language;
use super::vision::VisionModel;
use super::PixtralModel;
use crate::error::Result;
use crate::layers::DecoderModel;
use crate::linear::{Linear, Parallelism};
use crate::vlm::merge::merge_features;
use crate::weights::Weights;

#[derive(Debug)]
pub struct Pixtral {
    config: PixtralConfig,
    vision: VisionModel,
    linear_1: Linear,
    linear_2: Linear,
    language: DecoderModel,
}

impl Pixtral {
    /// Builds the model, taking every tensor out of `weights`; any left over is an error.
    pub fn load(config: PixtralConfig, weights: &mut Weights, par: &Parallelism) -> Result<Self> {
        let q = config.quantization.as_ref();
        weights.discard(|name| name.contains("position_ids"));
        let vision = VisionModel::load(weights, q, &config.vision, par)?;
        let (v, t) = (config.vision.hidden_size, config.text.hidden_size);
        let proj = |w: &mut Weights, name: &str, i, o| {
            Linear::load(
                w,
                q,
                &format!("multi_modal_projector.{name}"),
                i,
                o,
                true,
                par,
            )
        };
        let linear_1 = proj(weights, "linear_1", v, t)?;
        let linear_2 = proj(weights, "linear_2", t, t)?;
        let language = language::load(&config.text, weights, q, par)?;
        weights.expect_all_used("Pixtral")?;
        Ok(Pixtral {
            config,
            vision,
            linear_1,
            linear_2,
            language,
        })
    }

    pub fn config(&self) -> &PixtralConfig {
        &self.config
    }
}

impl PixtralModel for Pixtral {
    fn language(&self) -> &DecoderModel {
        &self.language
    }

    /// Image features of `images` (`[F, H, W, 3]`, normalised, padded to the largest
    /// image; `grids[i]` its patch grid `[1, rows, cols]`) → `[Σ rows · cols,
    /// text_hidden]`, one image at a time, patches row by row.
    fn image_features(&self, images: &Array, grids: &[[usize; 3]]) -> Result<Array> {
        self.vision.encode_each(images, grids, |patches, _| {
            let x = self.linear_1.forward(patches)?;
            self.linear_2.forward(&crate::activation::gelu(&x)?)
        })
    }

    /// Text embeddings of `ids` with the rows of `features` at the `[IMG]` positions →
    /// `[1, L, hidden]`. The count must match exactly.
    fn merge(&self, ids: &[u32], features: &Array) -> Result<Array> {
        merge_features(
            &self.language,
            ids,
            self.config.image_token_id,
            features,
            None,
        )
    }
}
