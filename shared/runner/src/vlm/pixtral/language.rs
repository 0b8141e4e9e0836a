//! Pixtral's and Mistral 3's language model: Mistral as mlx-vlm's `LanguageModel`s
//! build it — the runner's llama decoder with `head_dim` from the config, rope base 1e9
//! unless given, no sliding window, and an `lm_head` unless the config ties it (Pixtral
//! never does) — from the `language_model.*` tensors. Image features reach it through
//! [`DecoderModel::forward`] (`Tokens::Embeddings`).

use crate::config::{ModelConfig, Quantization};
use crate::error::Result;
use crate::layers::{DecoderModel, DecoderSpec};
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
    let mut lm = weights.split_off(PREFIX, str::to_string);
    let mut spec = DecoderSpec::from_config(text, 1e9)?;
    spec.tie_word_embeddings = text.tie_word_embeddings.unwrap_or(false);
    let quantization = quantization.map(|q| q.for_part(PREFIX, str::to_string));
    DecoderModel::load(spec, &mut lm, quantization.as_ref(), par)
}
