//! Llama 3.2 Vision's language model (mlx-vlm `models/mllama/language.py`): the runner's
//! llama decoder with the cross-attention layers of `cross_attention_layers` in place
//! of self-attention ones ([`crate::cross_attention`]), an `embed_tokens` of the
//! vocabulary plus 8 rows, its own `lm_head`, from the `language_model.*` tensors.
//! Image features reach it as the generation's cross-attention context, not merged
//! into the text embeddings.

use super::config::MllamaConfig;
use crate::config::Quantization;
use crate::error::Result;
use crate::layers::{DecoderModel, DecoderSpec};
use crate::linear::Parallelism;
use crate::weights::Weights;

const PREFIX: &str = "language_model.";

/// Rows of `embed_tokens` past the vocabulary.
const EXTRA_EMBEDDINGS: usize = 8;

/// Takes every `language_model.*` tensor out of `weights` and builds the decoder.
pub fn load(
    config: &MllamaConfig,
    weights: &mut Weights,
    quantization: Option<&Quantization>,
    par: &Parallelism,
) -> Result<DecoderModel> {
    let mut lm = weights.split_off(PREFIX, str::to_string);
    let text = &config.text;
    let mut spec = DecoderSpec::from_config(text, 10_000.0)?;
    spec.tie_word_embeddings = text.tie_word_embeddings.unwrap_or(false);
    spec.cross_attention_layers = config.cross_attention_layers.clone();
    spec.extra_embeddings = EXTRA_EMBEDDINGS;
    let quantization = quantization.map(|q| q.for_part(PREFIX, str::to_string));
    DecoderModel::load(spec, &mut lm, quantization.as_ref(), par)
}
