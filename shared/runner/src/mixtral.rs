//! Mixtral (`mixtral`): llama attention (no rope scaling, as mlx-lm's `MixtralAttention`)
//! and a sparse block in every layer, `block_sparse_moe`: a router over
//! `num_local_experts` experts, the `num_experts_per_tok` largest logits chosen and
//! weighted by a softmax over them ([`Routing::TopKThenSoftmax`]).
//!
//! Defaults are mlx-lm's `mixtral.ModelArgs`.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::DecoderSpec;
use crate::moe::{ExpertGlu, MoeSpec, Routing};
use crate::weights::Weights;

pub const MODEL_TYPE: &str = "mixtral";

pub fn spec(config: &ModelConfig, _weights: &Weights) -> Result<DecoderSpec> {
    let mut spec = DecoderSpec::from_config(config, 1_000_000.0)?;
    spec.head_dim = config.hidden_size / config.num_attention_heads;
    spec.rope.dims = spec.head_dim;
    spec.rope.scaling = None;
    spec.tie_word_embeddings = config.tie_word_embeddings.unwrap_or(false);
    spec.moe = Some(MoeSpec {
        num_experts: config.num_experts.unwrap_or(8),
        top_k: config.num_experts_per_tok.unwrap_or(2),
        intermediate_size: config.intermediate_size,
        routing: Routing::TopKThenSoftmax,
        module: "block_sparse_moe",
        router: ("gate", false),
        experts: ("switch_mlp", false),
        glu: ExpertGlu::Swiglu,
        sparse_layers: vec![true; config.num_hidden_layers],
    });
    Ok(spec)
}
