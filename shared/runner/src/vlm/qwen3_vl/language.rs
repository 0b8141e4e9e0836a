//! Qwen3-VL's language model: the runner's Qwen3 decoder ([`crate::qwen3`], or
//! [`crate::qwen3_moe`] for `qwen3_vl_moe`) built from the `language_model.*` tensors,
//! with interleaved multimodal rope ([`crate::rope::MRope`]) and the deepstack features
//! added after its first layers ([`crate::image_context::Deepstack`]). The prompt's rope
//! positions are Qwen2-VL's ([`crate::vlm::qwen2_5_vl::language::rope_index`]).

use super::config::Qwen3VlConfig;
use crate::error::Result;
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::weights::Weights;

const PREFIX: &str = "language_model.";

/// Takes every `language_model.*` tensor out of `weights` and builds the decoder.
pub fn load(c: &Qwen3VlConfig, weights: &mut Weights, par: &Parallelism) -> Result<DecoderModel> {
    let text = &c.text;
    let mut lm = weights.split_off(PREFIX, str::to_string);
    let mut spec = match c.is_moe() {
        true => crate::qwen3_moe::spec(text, &lm)?,
        false => crate::qwen3::spec(text, &lm)?,
    };
    spec.rope.scaling = None;
    spec.tie_word_embeddings = text.tie_word_embeddings.unwrap_or(false);
    spec.mrope_section = Some(c.mrope_section.clone());
    spec.mrope_interleaved = true;
    let quantization = c
        .quantization
        .as_ref()
        .map(|q| q.for_part(PREFIX, str::to_string));
    DecoderModel::load(spec, &mut lm, quantization.as_ref(), par)
}
