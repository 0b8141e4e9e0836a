//! Llama (SmolLM2, Llama 2/3.x, with llama3 rope scaling).
//!
//! `attention_bias` puts a bias on all four attention projections, `mlp_bias` on the MLP.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::DecoderSpec;
use crate::weights::Weights;

pub const MODEL_TYPE: &str = "llama";

pub fn spec(config: &ModelConfig, weights: &Weights) -> Result<DecoderSpec> {
    let mut spec = DecoderSpec::from_config(config, 10_000.0)?;
    spec.qkv_bias = config.attention_bias;
    spec.o_bias = config.attention_bias;
    spec.mlp_bias = config.mlp_bias;
    spec.tie_word_embeddings = config
        .tie_word_embeddings
        .unwrap_or(!weights.contains("lm_head.weight"));
    Ok(spec)
}
