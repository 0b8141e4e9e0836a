//! SmolVLM's language model: the runner's llama decoder ([`DecoderModel`]), built from
//! the `language_model.*` tensors the way mlx-vlm's Idefics3 `LanguageModel` reads
//! them (`head_dim = hidden / heads`, unscaled RoPE with `rope_theta` defaulting to
//! 1e6, an untied `lm_head` unless the checkpoint has none). Image features reach it
//! through [`DecoderModel::forward`] (`Tokens::Embeddings`).

use crate::config::{ModelConfig, Quantization};
use crate::error::Result;
use crate::layers::{DecoderModel, DecoderSpec};
use crate::linear::Parallelism;
use crate::weights::Weights;

const PREFIX: &str = "language_model.";

/// mlx-vlm's names (`language_model.layers.0…`, `language_model.lm_head`) → the
/// decoder's Hugging Face names (`model.layers.0…`, `lm_head`).
fn rename(rest: &str) -> String {
    if rest.starts_with("lm_head.") || rest == "lm_head" {
        rest.to_string()
    } else {
        format!("model.{rest}")
    }
}

/// Takes every `language_model.*` tensor out of `weights` and builds the decoder.
pub fn load(
    text: &ModelConfig,
    weights: &mut Weights,
    quantization: Option<&Quantization>,
    par: &Parallelism,
) -> Result<DecoderModel> {
    let mut lm = weights.split_off(PREFIX, rename);
    let mut spec = DecoderSpec::from_config(text, 1_000_000.0)?;
    spec.head_dim = text.hidden_size / text.num_attention_heads;
    spec.rope.dims = spec.head_dim;
    spec.rope.scaling = None;
    spec.tie_word_embeddings = !lm.contains("lm_head.weight");
    let quantization = quantization.map(|q| q.for_part(PREFIX, rename));
    DecoderModel::load(spec, &mut lm, quantization.as_ref(), par)
}
