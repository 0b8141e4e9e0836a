//! Qwen2.5-VL `config.json`. Defaults and key quirks are mlx-vlm's
//! (`models/qwen2_5_vl/config.py`): `ModelConfig.from_dict` builds the text config from
//! the *root* keys (all but `vision_config`; `text_config` itself is ignored),
//! `head_dim` is `hidden_size / num_attention_heads`, and the mrope sections come from
//! `rope_scaling.mrope_section` (24, 20, 20 when there is no `rope_scaling`).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::config::{ModelConfig, Quantization, TokenIds};

/// The vision tower's shape (`vision_config`, mlx-vlm's `VisionConfig` defaults).
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
    #[serde(default = "d_window")]
    pub window_size: usize,
    #[serde(default = "d_fullatt")]
    pub fullatt_block_indexes: Vec<usize>,
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
fn d_window() -> usize {
    112
}
fn d_fullatt() -> Vec<usize> {
    vec![7, 15, 23, 31]
}

impl VisionConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// Values in one flattened patch (`channels · temporal · patch²`, 1176 for 3·2·14²).
    pub fn patch_values(&self) -> usize {
        self.in_channels * self.temporal_patch_size * self.patch_size * self.patch_size
    }

    /// Patches merged into one token (4 for a 2×2 merge).
    pub fn merge_unit(&self) -> usize {
        self.spatial_merge_size * self.spatial_merge_size
    }

    /// Merged tokens along a window's side (112 / 2 / 14 = 4).
    pub fn window_tokens(&self) -> usize {
        self.window_size / self.spatial_merge_size / self.patch_size
    }
}

/// The whole `config.json`.
#[derive(Debug, Clone)]
pub struct Qwen25VlConfig {
    pub model_type: String,
    pub text: ModelConfig,
    /// Frequencies per position coordinate (time, height, width) of the text rope.
    pub mrope_section: Vec<usize>,
    pub vision: VisionConfig,
    pub image_token_id: u32,
    pub video_token_id: u32,
    pub vision_start_token_id: u32,
    pub eos_token_id: TokenIds,
    pub quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Raw {
    model_type: String,
    #[serde(default)]
    vision_config: Value,
    #[serde(default)]
    image_token_id: Option<u32>,
    #[serde(default)]
    video_token_id: Option<u32>,
    #[serde(default)]
    vision_start_token_id: Option<u32>,
    #[serde(default)]
    eos_token_id: TokenIds,
    #[serde(default)]
    quantization: Option<Quantization>,
    #[serde(default)]
    quantization_config: Option<Quantization>,
}

impl Qwen25VlConfig {
    /// Parses the text of `config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let root: Map<String, Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let raw: Raw =
            serde_json::from_value(Value::Object(root.clone())).map_err(|e| e.to_string())?;

        // The text config is the root (mlx-vlm's from_dict), with TextConfig's defaults.
        let mut t = root;
        t.remove("vision_config");
        t.remove("text_config");
        for key in [
            "hidden_size",
            "num_hidden_layers",
            "intermediate_size",
            "num_attention_heads",
            "rms_norm_eps",
            "vocab_size",
        ] {
            if !t.contains_key(key) {
                return Err(format!("config.json has no `{key}`"));
            }
        }
        t.entry("max_position_embeddings").or_insert(json!(128000));
        t.entry("rope_theta").or_insert(json!(1_000_000.0));
        t.entry("tie_word_embeddings").or_insert(json!(true));
        let mrope_section = match t.remove("rope_scaling") {
            None | Some(Value::Null) => vec![24, 20, 20],
            Some(s) => {
                let kind = s.get("type").or_else(|| s.get("rope_type"));
                match kind.and_then(Value::as_str) {
                    Some("mrope" | "default") => {}
                    other => {
                        return Err(format!(
                            "rope_scaling type {other:?} is not supported (mrope, default)"
                        ))
                    }
                }
                s.get("mrope_section")
                    .and_then(|v| serde_json::from_value::<Vec<usize>>(v.clone()).ok())
                    .ok_or("rope_scaling has no `mrope_section`")?
            }
        };
        // mlx-vlm's Qwen2.5-VL decoder has no sliding window and derives head_dim.
        t.remove("sliding_window");
        t.remove("head_dim");
        t.remove("rope_parameters");
        t.remove("quantization");
        t.remove("quantization_config");
        let text = ModelConfig::from_json(&Value::Object(t).to_string())
            .map_err(|e| format!("text config: {e}"))?;
        let head_dim = text.hidden_size / text.num_attention_heads.max(1);
        if text.num_attention_heads == 0
            || head_dim % 2 != 0
            || mrope_section.len() != 3
            || mrope_section.iter().sum::<usize>() > head_dim / 2
        {
            return Err(format!(
                "mrope_section {mrope_section:?} does not fit head_dim {head_dim}"
            ));
        }

        let vision: VisionConfig = match raw.vision_config {
            Value::Null => serde_json::from_value(json!({})),
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
            || v.window_tokens() == 0
        {
            return Err(format!(
                "vision_config: unusable shape (hidden {}, heads {}, patch {}, merge {}, window {})",
                v.hidden_size, v.num_heads, v.patch_size, v.spatial_merge_size, v.window_size
            ));
        }
        let quantization = Quantization::of_config(raw.quantization, raw.quantization_config);
        Ok(Qwen25VlConfig {
            model_type: raw.model_type,
            text,
            mrope_section,
            vision,
            image_token_id: raw.image_token_id.unwrap_or(151655),
            video_token_id: raw.video_token_id.unwrap_or(151656),
            vision_start_token_id: raw.vision_start_token_id.unwrap_or(151652),
            eos_token_id: raw.eos_token_id,
            quantization,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_keys_make_the_text_config() {
        let c = Qwen25VlConfig::from_json(
            r#"{"model_type":"qwen2_5_vl","hidden_size":2048,"intermediate_size":11008,
            "num_hidden_layers":36,"num_attention_heads":16,"num_key_value_heads":2,
            "rms_norm_eps":1e-6,"vocab_size":151936,"eos_token_id":151645,
            "rope_scaling":{"type":"mrope","mrope_section":[16,24,24]},
            "text_config":{"hidden_size":1,"num_attention_heads":1},
            "vision_config":{"depth":32,"hidden_size":1280,"intermediate_size":3420,
              "num_heads":16,"out_hidden_size":2048,"fullatt_block_indexes":[7,15,23,31]}}"#,
        )
        .unwrap();
        assert_eq!(c.text.hidden_size, 2048);
        assert_eq!(c.text.num_attention_heads, 16);
        assert_eq!(c.text.head_dim(), 128);
        assert_eq!(c.text.rope_theta, Some(1e6));
        assert_eq!(c.text.tie_word_embeddings, Some(true));
        assert_eq!(c.mrope_section, vec![16, 24, 24]);
        assert_eq!(c.vision.window_tokens(), 4);
        assert_eq!(c.vision.patch_values(), 1176);
        assert_eq!(c.image_token_id, 151655);
    }

    #[test]
    fn bad_rope_scaling_is_refused() {
        let base = r#""model_type":"qwen2_5_vl","hidden_size":64,"intermediate_size":128,
            "num_hidden_layers":2,"num_attention_heads":4,"rms_norm_eps":1e-6,"vocab_size":10"#;
        let e = Qwen25VlConfig::from_json(&format!(
            r#"{{{base},"rope_scaling":{{"type":"mrope","mrope_section":[4,4,4]}}}}"#
        ))
        .unwrap_err();
        assert!(e.contains("does not fit head_dim 16"), "{e}");
        let e = Qwen25VlConfig::from_json(&format!(
            r#"{{{base},"rope_scaling":{{"type":"yarn","mrope_section":[2,3,3]}}}}"#
        ))
        .unwrap_err();
        assert!(e.contains("yarn"), "{e}");
        assert!(Qwen25VlConfig::from_json(&format!("{{{base}}}"))
            .unwrap_err()
            .contains("[24, 20, 20]"));
    }
}
