//! Qwen3-MoE (`qwen3_moe`): Qwen3's attention (q/k norms, no biases, explicit `head_dim`,
//! no rope scaling) and, in every `decoder_sparse_step`-th layer not listed in
//! `mlp_only_layers`, a sparse block: a softmax over the router's `num_experts` logits,
//! the `num_experts_per_tok` most probable experts, their probabilities renormalised
//! when `norm_topk_prob` ([`Routing::SoftmaxThenTopK`]); experts `moe_intermediate_size`
//! wide. Dense layers keep the `intermediate_size` MLP.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::DecoderSpec;
use crate::moe::{ExpertGlu, MoeSpec, Routing};
use crate::weights::Weights;

pub const MODEL_TYPE: &str = "qwen3_moe";

pub fn spec(config: &ModelConfig, _weights: &Weights) -> Result<DecoderSpec> {
    let mut spec = DecoderSpec::from_config(config, 1_000_000.0)?;
    spec.qk_norm = true;
    spec.rope.traditional = false;
    spec.rope.scaling = None;
    spec.tie_word_embeddings = config.tie_word_embeddings.unwrap_or(false);
    let experts = config.num_experts.unwrap_or(0);
    let step = config.decoder_sparse_step.unwrap_or(1).max(1);
    spec.moe = Some(MoeSpec {
        num_experts: experts,
        top_k: config.num_experts_per_tok.unwrap_or(8),
        intermediate_size: config
            .moe_intermediate_size
            .unwrap_or(config.intermediate_size),
        routing: Routing::SoftmaxThenTopK {
            normalize: config.norm_topk_prob,
        },
        module: "mlp",
        router: ("gate", false),
        experts: ("switch_mlp", false),
        glu: ExpertGlu::Swiglu,
        sparse_layers: (0..config.num_hidden_layers)
            .map(|i| !config.mlp_only_layers.contains(&i) && experts > 0 && (i + 1) % step == 0)
            .collect(),
    });
    Ok(spec)
}
