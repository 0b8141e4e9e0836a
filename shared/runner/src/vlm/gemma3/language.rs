//! Gemma 3's language model: the runner's gemma3_text decoder ([`crate::gemma3`]),
//! built from the `language_model.*` tensors as mlx-vlm's Gemma 3 `LanguageModel`
//! reads them (an `lm_head` when the checkpoint has one, else the embeddings tied).
//! Image features reach it through [`DecoderModel::forward`] (`Tokens::Embeddings`), which scales
//! them with the embeddings as mlx-vlm does.

use crate::config::{ModelConfig, Quantization};
use crate::error::Result;
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::weights::Weights;

const PREFIX: &str = "language_model.";

/// Takes every `language_model.*` tensor out of `weights` and builds the decoder.
pub fn load(
    text: &ModelConfig,
    weights: &mut Weights,
    quantization: Option<&Quantization>,
    par: &Parallelism,
) -> Result<DecoderModel> {
    let mut lm = weights.split_off(PREFIX, |rest| rest.to_string());
    let spec = crate::gemma3::spec(text, &lm)?;
    let quantization = quantization.map(|q| q.for_part(PREFIX, str::to_string));
    DecoderModel::load(spec, &mut lm, quantization.as_ref(), par)
}
