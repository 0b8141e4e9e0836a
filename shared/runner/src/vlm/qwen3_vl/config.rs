//! Qwen3-VL `config.json` (`qwen3_vl`, and `qwen3_vl_moe` with a Qwen3-MoE text model):
//! a `text_config` (Qwen3, explicit `head_dim`, interleaved multimodal rope from
//! `rope_scaling.mrope_section`), a `vision_config` (mlx-vlm's `VisionConfig` defaults,
//! `models/qwen3_vl/config.py`), and the vision tokens.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{ModelConfig, Quantization, TokenIds};

/// The vision tower's shape.
#[derive(Debug, Clone, Deserialize)]
pub struct VisionConfig {
    #[serde(default = "d_depth")]
    pub depth: usize,
    #[serde(default = "d_hidden")]
    pub hidden_size: usize,
    #[serde(default = "d_intermediate")]
    pub intermediate_size: usize,
    #[serde(default = "d_out_hidden")]
    pub out_hidden_size: usize,
    #[serde(default = "d_heads")]
    pub num_heads: usize,
    #[serde(default = "d_patch")]
    pub patch_size: usize,
    #[serde(default = "d_channels")]
    pub in_channels: usize,
    #[serde(default = "d_two")]
    pub spatial_merge_size: usize,
    #[serde(default = "d_two")]
    pub temporal_patch_size: usize,
    #[serde(default = "d_positions")]
    pub num_position_embeddings: usize,
    #[serde(default)]
    pub deepstack_visual_indexes: Vec<usize>,
}

fn d_depth() -> usize {
    32
}
fn d_hidden() -> usize {
    1280
}
fn d_intermediate() -> usize {
    3420
}
fn d_out_hidden() -> usize {
    1536
}
fn d_heads() -> usize {
    16
}
fn d_patch() -> usize {
    14
}
fn d_channels() -> usize {
    3
}
fn d_two() -> usize {
    2
}
fn d_positions() -> usize {
    2304
}

impl VisionConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads.max(1)
    }

    /// Values of one flattened patch (`channels · temporal · patch²`).
    pub fn patch_values(&self) -> usize {
        self.in_channels * self.temporal_patch_size * self.patch_size * self.patch_size
    }

    /// Patches merged into one token.
    pub fn merge_unit(&self) -> usize {
        self.spatial_merge_size * self.spatial_merge_size
    }

    /// Sides of the learned position table (`⌊√num_position_embeddings⌋`).
    pub fn position_side(&self) -> usize {
        (self.num_position_embeddings as f64).sqrt().floor() as usize
    }
}

/// The whole `config.json`.
#[derive(Debug, Clone)]
pub struct Qwen3VlConfig {
    pub model_type: String,
    pub text: ModelConfig,
    /// Frequencies per position coordinate of the text rope (interleaved).
    pub mrope_section: Vec<usize>,
    pub vision: VisionConfig,
    pub image_token_id: u32,
    pub vision_start_token_id: u32,
    pub eos_token_id: TokenIds,
    pub quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Raw {
    model_type: String,
    #[serde(default)]
    text_config: Value,
    #[serde(default)]
    vision_config: Value,
    #[serde(default)]
    image_token_id: Option<u32>,
    #[serde(default)]
    vision_start_token_id: Option<u32>,
    #[serde(default)]
    eos_token_id: TokenIds,
    #[serde(default)]
    quantization: Option<Quantization>,
    #[serde(default)]
    quantization_config: Option<Quantization>,
}

impl Qwen3VlConfig {
    /// Parses the text of `config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut t: Map<String, Value> = match raw.text_config {
            Value::Object(m) => m,
            _ => return Err("config.json has no `text_config`".into()),
        };
        let mrope_section = match t.remove("rope_scaling") {
            None | Some(Value::Null) => vec![24, 20, 20],
            Some(s) => {
                let kind = s.get("type").or_else(|| s.get("rope_type"));
                match kind.and_then(Value::as_str) {
                    Some("mrope" | "default") => {}
                    other => {
                        return Err(format!(
                            "text_config: rope_scaling type {other:?} is not supported (mrope, default)"
                        ))
                    }
                }
                s.get("mrope_section")
                    .and_then(|v| serde_json::from_value::<Vec<usize>>(v.clone()).ok())
                    .ok_or("text_config: rope_scaling has no `mrope_section`")?
            }
        };
        for key in [
            "rope_parameters",
            "quantization",
            "quantization_config",
            "sliding_window",
        ] {
            t.remove(key);
        }
        let text = ModelConfig::from_json(&Value::Object(t).to_string())
            .map_err(|e| format!("text_config: {e}"))?;
        let head_dim = text.head_dim();
        if head_dim % 2 != 0
            || mrope_section.len() != 3
            || mrope_section.iter().sum::<usize>() > head_dim / 2
        {
            return Err(format!(
                "text_config: mrope_section {mrope_section:?} does not fit head_dim {head_dim}"
            ));
        }
        let vision: VisionConfig = match raw.vision_config {
            Value::Null => serde_json::from_value(serde_json::json!({})),
            v => serde_json::from_value(v),
        }
        .map_err(|e| format!("vision_config: {e}"))?;
        let v = &vision;
        if v.num_heads == 0
            || v.hidden_size % v.num_heads != 0
            || v.head_dim() % 4 != 0
            || v.patch_size == 0
            || v.spatial_merge_size == 0
            || v.temporal_patch_size == 0
            || v.position_side() == 0
            || v.deepstack_visual_indexes.iter().any(|&i| i >= v.depth)
            || v.deepstack_visual_indexes.len() > text.num_hidden_layers
        {
            return Err(format!(
                "vision_config: unusable shape (hidden {}, heads {}, patch {}, merge {}, depth {}, deepstack {:?})",
                v.hidden_size, v.num_heads, v.patch_size, v.spatial_merge_size, v.depth,
                v.deepstack_visual_indexes
            ));
        }
        let quantization = Quantization::of_config(raw.quantization, raw.quantization_config);
        Ok(Qwen3VlConfig {
            model_type: raw.model_type,
            text,
            mrope_section,
            vision,
            image_token_id: raw.image_token_id.unwrap_or(151_655),
            vision_start_token_id: raw.vision_start_token_id.unwrap_or(151_652),
            eos_token_id: raw.eos_token_id,
            quantization,
        })
    }

    /// Whether the text model is Qwen3-MoE.
    pub fn is_moe(&self) -> bool {
        self.model_type == "qwen3_vl_moe"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Qwen3-VL-4B-Instruct's config (abridged).
    #[test]
    fn qwen3_vl_4b_shape() {
        let c = Qwen3VlConfig::from_json(
            r#"{"model_type":"qwen3_vl","image_token_id":151655,"vision_start_token_id":151652,
            "text_config":{"model_type":"qwen3_vl_text","hidden_size":2560,"head_dim":128,
              "intermediate_size":9728,"num_hidden_layers":36,"num_attention_heads":32,
              "num_key_value_heads":8,"rms_norm_eps":1e-6,"rope_theta":5000000,
              "max_position_embeddings":262144,"vocab_size":151936,"tie_word_embeddings":true,
              "rope_scaling":{"mrope_interleaved":true,"mrope_section":[24,20,20],"rope_type":"default"}},
            "vision_config":{"depth":24,"hidden_size":1024,"intermediate_size":4096,
              "num_heads":16,"out_hidden_size":2560,"patch_size":16,"num_position_embeddings":2304,
              "deepstack_visual_indexes":[5,11,17]}}"#,
        )
        .unwrap();
        assert_eq!(c.text.head_dim(), 128);
        assert_eq!(c.mrope_section, [24, 20, 20]);
        assert_eq!(c.vision.position_side(), 48);
        assert_eq!(c.vision.patch_values(), 1536);
        assert!(!c.is_moe());
    }

    #[test]
    fn unusable_shapes_are_refused() {
        let text = r#""text_config":{"model_type":"qwen3_vl_text","hidden_size":64,
            "head_dim":16,"num_hidden_layers":2,"intermediate_size":128,"num_attention_heads":4,
            "rms_norm_eps":1e-6,"vocab_size":10,
            "rope_scaling":{"rope_type":"default","mrope_section":[4,2,2]}}"#;
        for (extra, want) in [
            (
                r#""vision_config":{"depth":2,"deepstack_visual_indexes":[2]}"#,
                "deepstack",
            ),
            (
                r#""vision_config":{"hidden_size":30,"num_heads":4}"#,
                "unusable",
            ),
        ] {
            let json = format!(r#"{{"model_type":"qwen3_vl",{text},{extra}}}"#);
            let e = Qwen3VlConfig::from_json(&json).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        assert!(Qwen3VlConfig::from_json(r#"{"model_type":"qwen3_vl"}"#).is_err());
    }
}
