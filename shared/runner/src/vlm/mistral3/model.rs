//! The Mistral 3 model: the Pixtral vision tower → projector (RMS norm, the patch
//! merger's `spatial_merge_size`² blocks → one vector each, a linear merge, then Linear,
//! exact GELU, Linear) → image features, written into the text embeddings at the `[IMG]`
//! positions, then the Mistral decoder (mlx-vlm `models/mistral3/mistral3.py`).

use mlx_rs::Array;

use super::config::Mistral3Config;
use crate::error::Result;
use crate::layers::{DecoderModel, RmsNorm};
use crate::linear::{Linear, Parallelism};
use crate::vlm::merge::merge_features;
use crate::vlm::pixtral::language;
use crate::vlm::pixtral::vision::VisionModel;
use crate::vlm::pixtral::PixtralModel;
use crate::weights::Weights;

#[derive(Debug)]
pub struct Mistral3 {
    config: Mistral3Config,
    vision: VisionModel,
    norm: RmsNorm,
    merging_layer: Linear,
    linear_1: Linear,
    linear_2: Linear,
    language: DecoderModel,
}

impl Mistral3 {
    /// Builds the model, taking every tensor out of `weights`; any left over is an error.
    pub fn load(config: Mistral3Config, weights: &mut Weights, par: &Parallelism) -> Result<Self> {
        let q = config.quantization.as_ref();
        weights.discard(|name| name.contains("position_ids"));
        let vision = VisionModel::load(weights, q, &config.vision, par)?;
        let (v, t, m) = (
            config.vision.hidden_size,
            config.text.hidden_size,
            config.spatial_merge_size,
        );
        let p = "multi_modal_projector";
        let norm = RmsNorm::load(weights, &format!("{p}.norm"), v, config.text.rms_norm_eps)?;
        let lin = |w: &mut Weights, name: &str, i, o, bias| {
            Linear::load(w, q, &format!("{p}.{name}"), i, o, bias, par)
        };
        let merging_layer = lin(weights, "patch_merger.merging_layer", v * m * m, v, false)?;
        let linear_1 = lin(weights, "linear_1", v, t, config.projector_bias)?;
        let linear_2 = lin(weights, "linear_2", t, t, config.projector_bias)?;
        let language = language::load(&config.text, weights, q, par)?;
        weights.expect_all_used("Mistral 3")?;
        Ok(Mistral3 {
            config,
            vision,
            norm,
            merging_layer,
            linear_1,
            linear_2,
            language,
        })
    }

    pub fn config(&self) -> &Mistral3Config {
        &self.config
    }

    /// `[h · w, d]` patches, row by row → `[(h / m) · (w / m), d · m²]`: each m × m block's
    /// vector channel-major, then by row and column in the block (torch's `unfold`).
    fn merge_blocks(&self, x: &Array, h: usize, w: usize) -> Result<Array> {
        let m = self.config.spatial_merge_size as i32;
        let (h, w, d) = (h as i32, w as i32, x.dim(-1));
        Ok(x.reshape(&[h / m, m, w / m, m, d])?
            .transpose_axes(&[0, 2, 4, 1, 3])?
            .reshape(&[(h / m) * (w / m), d * m * m])?)
    }
}

impl PixtralModel for Mistral3 {
    fn language(&self) -> &DecoderModel {
        &self.language
    }

    /// Image features of `images` (`[F, H, W, 3]`, normalised, padded to the largest
    /// image; `grids[i]` its patch grid `[1, rows, cols]`) → one row per merged block,
    /// `[Σ rows · cols / merge², text_hidden]`, one image at a time, blocks row by row.
    fn image_features(&self, images: &Array, grids: &[[usize; 3]]) -> Result<Array> {
        self.vision
            .encode_each(images, grids, |patches, [_, h, w]| {
                let x = self.norm.forward(patches)?;
                let x = self.merging_layer.forward(&self.merge_blocks(&x, h, w)?)?;
                let x = self.linear_1.forward(&x)?;
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
