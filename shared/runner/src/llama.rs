//! Llama (SmolLM2, Llama 2/3.x, with llama3 rope scaling) and Mistral, which mlx-lm runs
//! as llama.
//!
//! `attention_bias` puts a bias on all four attention projections, `mlp_bias` on the MLP;
//! layers listed as `"sliding_attention"` in `layer_types` attend within `sliding_window`
//! positions (a Mistral config's `sliding_window` without `layer_types` is ignored, as in
//! mlx-lm).

use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::{DecoderSpec, SlidingSpec};
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
    if let (Some(types), Some(window)) = (&config.layer_types, config.sliding_window) {
        let layers: Vec<bool> = types.iter().map(|t| t == "sliding_attention").collect();
        if layers.contains(&true) {
            spec.sliding = Some(SlidingSpec {
                window,
                layers,
                rope: None,
            });
        }
    }
    Ok(spec)
}
