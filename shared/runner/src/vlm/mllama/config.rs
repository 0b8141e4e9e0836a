//! Llama 3.2 Vision `config.json`: a Llama text config with its cross-attention layers,
//! the tiled vision tower's config, and the image token. Defaults are mlx-vlm's
//! (`models/mllama/config.py`), so a key a checkpoint leaves out means what it means to
//! mlx-vlm.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{ModelConfig, Quantization, TokenIds};
use crate::memory::VisionShape;
use crate::vlm::pixtral::config::text_config;

/// The whole `config.json`.
#[derive(Debug, Clone)]
pub struct MllamaConfig {
    pub text: ModelConfig,
    /// The text decoder's layers that cross-attend to the image features.
    pub cross_attention_layers: Vec<usize>,
    pub vision: VisionConfig,
    pub image_token_id: u32,
    pub eos_token_id: TokenIds,
    pub quantization: Option<Quantization>,
}

/// The vision tower's shape (`vision_config`).
#[derive(Debug, Clone, Deserialize)]
pub struct VisionConfig {
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    #[serde(default = "default_patch")]
    pub patch_size: usize,
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    #[serde(default = "default_hidden")]
    pub hidden_size: usize,
    #[serde(default = "default_intermediate")]
    pub intermediate_size: usize,
    #[serde(default = "default_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "default_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "default_tiles")]
    pub max_num_tiles: usize,
    #[serde(default = "default_aspect_ids")]
    pub max_aspect_ratio_id: usize,
    #[serde(default = "default_global_layers")]
    pub num_global_layers: usize,
    #[serde(default = "default_eps")]
    pub norm_eps: f32,
    #[serde(default = "default_output_dim")]
    pub vision_output_dim: usize,
    #[serde(default = "default_intermediate_layers")]
    pub intermediate_layers_indices: Vec<usize>,
}

fn default_image_size() -> usize {
    560
}
fn default_patch() -> usize {
    14
}
fn default_channels() -> usize {
    3
}
fn default_hidden() -> usize {
    1280
}
fn default_intermediate() -> usize {
    5120
}
fn default_layers() -> usize {
    32
}
fn default_heads() -> usize {
    16
}
fn default_tiles() -> usize {
    4
}
fn default_aspect_ids() -> usize {
    8
}
fn default_global_layers() -> usize {
    8
}
fn default_eps() -> f32 {
    1e-5
}
fn default_output_dim() -> usize {
    7680
}
fn default_intermediate_layers() -> Vec<usize> {
    vec![3, 7, 15, 23, 30]
}

impl VisionConfig {
    /// Feature rows of one tile: its patches and the class token.
    pub fn tokens_per_tile(&self) -> usize {
        let side = self.image_size / self.patch_size;
        side * side + 1
    }

    /// Rows of one tile in the encoder: [`VisionConfig::tokens_per_tile`] padded to a
    /// multiple of 8, as mlx-vlm pads them.
    pub fn padded_tokens_per_tile(&self) -> usize {
        self.tokens_per_tile().div_ceil(8) * 8
    }

    /// The memory gate's view of one image: its tiles attend to each other all at once
    /// (one sequence of `tiles × padded rows`), and become `tiles × rows` image
    /// features that the cross-attention layers hold as keys and values.
    pub fn shape(&self) -> VisionShape {
        let rows = self.max_num_tiles * self.padded_tokens_per_tile();
        VisionShape {
            hidden: self.hidden_size,
            heads: self.num_attention_heads,
            intermediate: self.intermediate_size,
            patches: rows,
            frame_side: self.image_size,
            attention_rows: crate::softmax::query_chunk(self.num_attention_heads, rows).min(rows),
            frames: self.max_num_tiles,
            tokens_per_frame: 0,
            cross_tokens_per_frame: self.tokens_per_tile(),
            cross_layers: 0,
        }
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    text_config: Value,
    #[serde(default)]
    vision_config: Value,
    #[serde(default)]
    image_token_index: Option<u32>,
    #[serde(default)]
    eos_token_id: TokenIds,
    #[serde(default)]
    quantization: Option<Quantization>,
    #[serde(default)]
    quantization_config: Option<Quantization>,
}

impl MllamaConfig {
    /// The memory gate's view of one image (see [`VisionConfig::shape`]), its features
    /// held by every cross-attention layer.
    pub fn shape(&self) -> VisionShape {
        VisionShape {
            cross_layers: self.cross_attention_layers.len(),
            ..self.vision.shape()
        }
    }

    /// Parses the text of `config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let cross_attention_layers: Vec<usize> = match raw.text_config.get("cross_attention_layers")
        {
            None | Some(Value::Null) => vec![3, 8, 13, 18, 23, 28, 33, 38],
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| format!("text_config: cross_attention_layers: {e}"))?,
        };
        let mut t = raw.text_config.clone();
        if let Some(map) = t.as_object_mut() {
            map.remove("cross_attention_layers");
        }
        // mlx-vlm's Mllama TextConfig defaults.
        let text = text_config(
            t,
            &[
                ("model_type", json!("mllama")),
                ("vocab_size", json!(32000)),
                ("hidden_size", json!(4096)),
                ("intermediate_size", json!(14336)),
                ("num_hidden_layers", json!(40)),
                ("num_attention_heads", json!(32)),
                ("num_key_value_heads", json!(8)),
                ("max_position_embeddings", json!(131072)),
                ("rms_norm_eps", json!(1e-6)),
                ("rope_theta", json!(10000.0)),
            ],
            &["linear", "llama3"],
        )?;
        if let Some(&bad) = cross_attention_layers
            .iter()
            .find(|&&i| i >= text.num_hidden_layers)
        {
            return Err(format!(
                "text_config: cross-attention layer {bad} of {} layers",
                text.num_hidden_layers
            ));
        }
        if text
            .head_dim
            .is_some_and(|d| d * text.num_attention_heads != text.hidden_size)
        {
            return Err("text_config: head_dim must be hidden_size / num_attention_heads".into());
        }
        let vision: VisionConfig = serde_json::from_value(match raw.vision_config {
            Value::Null => json!({}),
            v => v,
        })
        .map_err(|e| format!("vision_config: {e}"))?;
        let v = &vision;
        if v.patch_size == 0
            || v.image_size % v.patch_size != 0
            || v.num_attention_heads == 0
            || v.hidden_size % v.num_attention_heads != 0
            || v.max_num_tiles == 0
        {
            return Err(format!(
                "vision_config: tiles of {} must be whole patches of {}, and {} heads must divide hidden size {}",
                v.image_size, v.patch_size, v.num_attention_heads, v.hidden_size
            ));
        }
        if let Some(&bad) = v
            .intermediate_layers_indices
            .iter()
            .find(|&&i| i >= v.num_hidden_layers)
        {
            return Err(format!(
                "vision_config: intermediate layer {bad} of {} layers",
                v.num_hidden_layers
            ));
        }
        if v.vision_output_dim != v.hidden_size * (1 + v.intermediate_layers_indices.len()) {
            return Err(format!(
                "vision_config: vision_output_dim {} is not hidden size {} × (1 + {} intermediate layers)",
                v.vision_output_dim,
                v.hidden_size,
                v.intermediate_layers_indices.len()
            ));
        }
        let quantization = Quantization::of_config(raw.quantization, raw.quantization_config);
        Ok(MllamaConfig {
            text,
            cross_attention_layers,
            vision,
            image_token_id: raw.image_token_index.unwrap_or(128_256),
            eos_token_id: raw.eos_token_id,
            quantization,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Llama-3.2-11B-Vision-Instruct's config, as mlx-community publishes it (abridged).
    #[test]
    fn llama_3_2_11b_vision_shape() {
        let c = MllamaConfig::from_json(
            r#"{"model_type":"mllama","image_token_index":128256,
            "text_config":{"model_type":"mllama_text_model","hidden_size":4096,
              "intermediate_size":14336,"num_hidden_layers":40,"num_attention_heads":32,
              "num_key_value_heads":8,"rms_norm_eps":1e-5,"rope_theta":500000.0,
              "rope_scaling":{"factor":8.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
                "original_max_position_embeddings":8192,"rope_type":"llama3"},
              "vocab_size":128256,"max_position_embeddings":131072,
              "cross_attention_layers":[3,8,13,18,23,28,33,38],"eos_token_id":128001},
            "vision_config":{"model_type":"mllama_vision_model","image_size":560,
              "patch_size":14,"hidden_size":1280,"num_hidden_layers":32,
              "num_global_layers":8,"intermediate_layers_indices":[3,7,15,23,30],
              "vision_output_dim":7680,"max_num_tiles":4,"max_aspect_ratio_id":8},
            "quantization":{"group_size":64,"bits":4}}"#,
        )
        .unwrap();
        assert_eq!(c.cross_attention_layers.len(), 8);
        assert_eq!(c.text.head_dim(), 128);
        assert_eq!(c.vision.tokens_per_tile(), 1601);
        assert_eq!(c.vision.padded_tokens_per_tile(), 1608);
        let s = c.shape();
        assert_eq!((s.frames, s.image_tokens(), s.cross_tokens()), (4, 0, 6404));
        assert_eq!(s.cross_layers, 8);
        // The memory gate holds the cross-attention layers' keys and values of the
        // image's features, float32, beside the text's KV cache.
        let with = crate::memory::estimate_vision(&c.text, 0, &s, 64);
        let without = VisionShape {
            cross_layers: 0,
            ..s
        };
        let without = crate::memory::estimate_vision(&c.text, 0, &without, 64);
        assert_eq!(
            with.kv_cache_bytes - without.kv_cache_bytes,
            2 * 8 * 8 * 128 * 6404 * 4
        );
    }

    #[test]
    fn inconsistent_shapes_are_refused() {
        for (extra, want) in [
            (
                r#""text_config":{"num_hidden_layers":4,"cross_attention_layers":[4]}"#,
                "cross-attention layer 4",
            ),
            (
                r#""vision_config":{"hidden_size":32,"vision_output_dim":64}"#,
                "vision_output_dim",
            ),
            (r#""vision_config":{"image_size":50}"#, "whole patches"),
        ] {
            let text = format!(r#"{{"model_type":"mllama",{extra}}}"#);
            let e = MllamaConfig::from_json(&text).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
