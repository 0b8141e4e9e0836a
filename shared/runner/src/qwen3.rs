//! Qwen3 (dense): llama blocks with a per-head RMS norm of queries and keys
//! (`q_norm`, `k_norm`) before RoPE, no projection biases, explicit `head_dim`.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::DecoderSpec;
use crate::weights::Weights;

pub const MODEL_TYPE: &str = "qwen3";

pub fn spec(config: &ModelConfig, weights: &Weights) -> Result<DecoderSpec> {
    let mut spec = DecoderSpec::from_config(config, 1_000_000.0)?;
    spec.qk_norm = true;
    spec.tie_word_embeddings = config
        .tie_word_embeddings
        .unwrap_or(!weights.contains("lm_head.weight"));
    Ok(spec)
}
