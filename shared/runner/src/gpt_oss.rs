//! gpt-oss (`gpt_oss`): attention with biases on all four projections and a learned sink
//! logit per head, layers alternating between a 128-position sliding window and full
//! attention (`layer_types`), YaRN rope, and a sparse block in every layer: a router with
//! a bias, the `num_experts_per_tok` largest logits softmaxed, experts with biases and
//! the clamped `swiglu_oai` gate ([`ExpertGlu::SwigluOai`]). mlx-community's MXFP4-Q8
//! checkpoints keep the experts in MXFP4 and the rest in 8-bit affine (per-module
//! `quantization` entries).
//!
//! Defaults are mlx-lm's `gpt_oss.ModelArgs`.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::{DecoderSpec, SlidingSpec};
use crate::moe::{ExpertGlu, MoeSpec, Routing};
use crate::weights::Weights;

pub const MODEL_TYPE: &str = "gpt_oss";

pub fn spec(config: &ModelConfig, _weights: &Weights) -> Result<DecoderSpec> {
    let mut spec = DecoderSpec::from_config(config, 150_000.0)?;
    spec.head_dim = config.head_dim.unwrap_or(64);
    spec.rope.dims = spec.head_dim;
    spec.rope.traditional = false;
    spec.qkv_bias = true;
    spec.o_bias = true;
    spec.attention_sinks = true;
    spec.tie_word_embeddings = false;
    let n = config.num_hidden_layers;
    let layers = match &config.layer_types {
        Some(types) => types.iter().map(|t| t == "sliding_attention").collect(),
        None => (0..n).map(|i| i % 2 == 0).collect(),
    };
    spec.sliding = Some(SlidingSpec {
        window: config.sliding_window.unwrap_or(128),
        layers,
        rope: None,
    });
    spec.moe = Some(MoeSpec {
        num_experts: config.num_experts.unwrap_or(128),
        top_k: config.num_experts_per_tok.unwrap_or(4),
        intermediate_size: config.intermediate_size,
        routing: Routing::TopKThenSoftmax,
        module: "mlp",
        router: ("router", true),
        experts: ("experts", true),
        glu: ExpertGlu::SwigluOai,
        sparse_layers: vec![true; n],
    });
    Ok(spec)
}
