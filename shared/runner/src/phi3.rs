//! Phi-3 / Phi-3.5 / Phi-4-mini (`phi3`): llama blocks with
//! - q, k and v in one `qkv_proj`, gate and up in one `gate_up_proj` (split at load);
//! - `partial_rotary_factor`: only the first part of each head is rotated (Phi-4-mini: ¾);
//! - long-rope scaling (`longrope`, older `su`): per-frequency `long_factor`s and an input
//!   scale, as mlx-lm's `SuScaledRoPE`; `linear` scaling; any other kind is dropped, as
//!   mlx-lm drops it (with a warning there).
//!
//! Defaults are mlx-lm's `phi3.ModelArgs`.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::DecoderSpec;
use crate::weights::Weights;

pub const MODEL_TYPE: &str = "phi3";

pub fn spec(config: &ModelConfig, _weights: &Weights) -> Result<DecoderSpec> {
    let mut spec = DecoderSpec::from_config(config, 10_000.0)?;
    spec.head_dim = config.hidden_size / config.num_attention_heads;
    spec.rope.dims = (spec.head_dim as f32 * config.partial_rotary_factor.unwrap_or(1.0)) as usize;
    if let Some(s) = spec.rope.scaling.as_mut() {
        match s.kind() {
            "longrope" | "su" => {
                s.original_max_position_embeddings =
                    Some(config.original_max_position_embeddings.unwrap_or(4096) as f32);
                s.max_position_embeddings =
                    Some(config.max_position_embeddings.unwrap_or(131_072) as f32);
            }
            "linear" => {}
            _ => spec.rope.scaling = None,
        }
    }
    spec.fused_qkv = true;
    spec.fused_gate_up = true;
    spec.tie_word_embeddings = config.tie_word_embeddings.unwrap_or(false);
    Ok(spec)
}
