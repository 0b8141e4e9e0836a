//! Gemma 3 text (`gemma3_text`; also the text half of the `gemma3` vision model):
//! llama-like blocks with Gemma's switches ([`DecoderSpec`]):
//! - RMS norms scale by `1 + w`, and each layer has four (sandwich norms);
//! - queries and keys get a per-head RMS norm before RoPE (as qwen3);
//! - a GeGLU MLP (tanh-approximated GELU);
//! - embeddings are multiplied by √hidden rounded to bfloat16;
//! - attention is scaled by `query_pre_attn_scalar^-½`;
//! - five of every six layers (`sliding_window_pattern`) attend within
//!   `sliding_window` positions with RoPE base `rope_local_base_freq` and no scaling;
//!   the others are global with `rope_theta` and `rope_scaling`.
//!
//! Defaults are mlx-lm's `gemma3_text.ModelArgs`.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::layers::{Activation, DecoderSpec, RopeSpec, SlidingSpec};
use crate::weights::Weights;

pub const MODEL_TYPE: &str = "gemma3_text";

pub fn spec(config: &ModelConfig, weights: &Weights) -> Result<DecoderSpec> {
    let mut spec = DecoderSpec::from_config(config, 1_000_000.0)?;
    spec.head_dim = config.head_dim.unwrap_or(256);
    spec.rope.dims = spec.head_dim;
    spec.rope.traditional = false;
    spec.qk_norm = true;
    spec.norm_plus_one = true;
    spec.sandwich_norms = true;
    spec.activation = Activation::GeluTanh;
    spec.embed_scale = Some(bfloat16_round((config.hidden_size as f32).sqrt()));
    spec.attn_scale = Some(config.query_pre_attn_scalar.unwrap_or(256.0).powf(-0.5));
    spec.sliding = Some(SlidingSpec {
        window: config.sliding_window.unwrap_or(512),
        layers: SlidingSpec::every(
            config.sliding_window_pattern.unwrap_or(6),
            config.num_hidden_layers,
        ),
        rope: Some(RopeSpec {
            dims: spec.head_dim,
            traditional: false,
            theta: config.rope_local_base_freq.unwrap_or(10_000.0),
            scaling: None,
        }),
    });
    spec.tie_word_embeddings = !weights.contains("lm_head.weight");
    Ok(spec)
}

/// `x` rounded to the nearest bfloat16 (ties to even), as `mx.array(x, mx.bfloat16)`.
pub fn bfloat16_round(x: f32) -> f32 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) & 0xffff_0000;
    f32::from_bits(rounded)
}

#[cfg(test)]
mod tests {
    use super::bfloat16_round;

    #[test]
    fn bfloat16_rounding_matches_mlx() {
        // √640 (Gemma 3 270M) and √2560 (4B) as MLX stores them in bfloat16.
        assert_eq!(bfloat16_round(640f32.sqrt()), 25.25);
        assert_eq!(bfloat16_round(2560f32.sqrt()), 50.5);
        assert_eq!(bfloat16_round(8.0), 8.0);
        // A tie rounds to the even mantissa.
        assert_eq!(bfloat16_round(f32::from_bits(0x3f80_8000)), 1.0);
        assert_eq!(
            bfloat16_round(f32::from_bits(0x3f81_8000)),
            f32::from_bits(0x3f82_0000)
        );
    }
}
