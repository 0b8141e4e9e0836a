//! Qwen2 / Qwen2.5: llama blocks with a bias on the q/k/v projections and
//! `rope_theta` 1e6 by default.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::DecoderSpec;
use crate::weights::Weights;

pub const MODEL_TYPE: &str = "qwen2";

pub fn spec(config: &ModelConfig, weights: &Weights) -> Result<DecoderSpec> {
    let mut spec = DecoderSpec::from_config(config, 1_000_000.0)?;
    spec.qkv_bias = true;
    spec.tie_word_embeddings = config
        .tie_word_embeddings
        .unwrap_or(!weights.contains("lm_head.weight"));
    Ok(spec)
}
