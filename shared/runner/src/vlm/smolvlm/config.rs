//! SmolVLM / Idefics3 `config.json`: a llama text config, a SigLIP vision config and
//! the connector's pixel-shuffle factor. Defaults are mlx-vlm's (`models/smolvlm/config.py`,
//! `models/idefics3/config.py`).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{ModelConfig, Quantization, TokenIds};

pub use crate::vlm::siglip::VisionConfig;

/// The whole `config.json`.
#[derive(Debug, Clone)]
pub struct SmolVlmConfig {
    pub model_type: String,
    pub text: ModelConfig,
    pub vision: VisionConfig,
    pub scale_factor: usize,
    pub image_token_id: u32,
    pub eos_token_id: TokenIds,
    pub quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Raw {
    model_type: String,
    #[serde(default)]
    text_config: Value,
    #[serde(default)]
    vision_config: Option<VisionConfig>,
    #[serde(default = "default_scale")]
    scale_factor: usize,
    #[serde(default)]
    image_token_id: Option<u32>,
    #[serde(default)]
    image_token_index: Option<u32>,
    #[serde(default)]
    eos_token_id: TokenIds,
    #[serde(default)]
    quantization: Option<Quantization>,
    #[serde(default)]
    quantization_config: Option<Quantization>,
}

fn default_scale() -> usize {
    2
}

impl SmolVlmConfig {
    /// Parses the text of `config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut t = match raw.text_config {
            Value::Object(map) => map,
            Value::Null => Default::default(),
            _ => return Err("`text_config` is not an object".into()),
        };
        // mlx-vlm's TextConfig defaults (smolvlm), where the config leaves them out.
        for (key, value) in [
            ("model_type", json!("llama")),
            ("hidden_size", json!(4096)),
            ("intermediate_size", json!(11008)),
            ("rms_norm_eps", json!(1e-5)),
            ("vocab_size", json!(49152)),
            ("rope_theta", json!(1_000_000.0)),
            ("num_hidden_layers", json!(32)),
        ] {
            t.entry(key).or_insert(value);
        }
        if !t.contains_key("num_attention_heads") {
            let heads = match (
                t.get("head_dim").and_then(Value::as_u64),
                t["hidden_size"].as_u64(),
            ) {
                (Some(hd), Some(h)) if hd > 0 => h / hd,
                _ => 32,
            };
            t.insert("num_attention_heads".into(), json!(heads));
        }
        // mlx-vlm's Idefics3 language model ignores these: head_dim is hidden/heads,
        // RoPE is unscaled.
        t.remove("head_dim");
        t.remove("rope_scaling");
        t.remove("rope_parameters");
        t.remove("quantization");
        t.remove("quantization_config");
        let text = ModelConfig::from_json(&Value::Object(t).to_string())
            .map_err(|e| format!("text_config: {e}"))?;
        let vision = raw
            .vision_config
            .ok_or_else(|| "no `vision_config`".to_string())?;
        if vision.patch_size == 0 || vision.image_size < vision.patch_size {
            return Err(format!(
                "vision_config: image_size {} is smaller than patch_size {}",
                vision.image_size, vision.patch_size
            ));
        }
        let side = vision.patches_per_side();
        if raw.scale_factor == 0 || side % raw.scale_factor != 0 {
            return Err(format!(
                "scale_factor {} does not divide the {side} patches per side",
                raw.scale_factor
            ));
        }
        let quantization = Quantization::of_config(raw.quantization, raw.quantization_config);
        Ok(SmolVlmConfig {
            model_type: raw.model_type,
            text,
            vision,
            scale_factor: raw.scale_factor,
            image_token_id: raw
                .image_token_id
                .or(raw.image_token_index)
                .unwrap_or(49153),
            eos_token_id: raw.eos_token_id,
            quantization,
        })
    }

    /// Language-model tokens one frame becomes: patches / scale².
    pub fn tokens_per_frame(&self) -> usize {
        self.vision.patches() / (self.scale_factor * self.scale_factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smolvlm_256m_shape() {
        let c = SmolVlmConfig::from_json(
            r#"{"model_type":"idefics3","image_token_id":49190,"scale_factor":4,
            "text_config":{"model_type":"llama","hidden_size":576,"intermediate_size":1536,
              "num_attention_heads":9,"num_key_value_heads":3,"num_hidden_layers":30,
              "rms_norm_eps":1e-5,"rope_theta":100000,"vocab_size":49280,"head_dim":64},
            "vision_config":{"hidden_size":768,"image_size":512,"intermediate_size":3072,
              "num_attention_heads":12,"num_hidden_layers":12,"patch_size":16},
            "quantization":{"group_size":64,"bits":4}}"#,
        )
        .unwrap();
        assert_eq!(c.tokens_per_frame(), 64);
        assert_eq!(c.image_token_id, 49190);
        assert_eq!(c.text.head_dim(), 64);
        assert_eq!(c.text.rope_theta, Some(100000.0));
        assert_eq!(c.vision.layers(), 12);
        assert_eq!(c.quantization.unwrap().bits, 4);
    }

    #[test]
    fn defaults_and_errors() {
        let c = SmolVlmConfig::from_json(
            r#"{"model_type":"smolvlm","scale_factor":3,"vision_config":{}}"#,
        )
        .unwrap();
        assert_eq!(c.text.rope_theta, Some(1e6));
        assert_eq!(c.vision.heads(), 18);
        assert_eq!(c.vision.intermediate(), 4304);
        assert_eq!(c.tokens_per_frame(), 81);
        assert!(
            SmolVlmConfig::from_json(r#"{"model_type":"smolvlm","vision_config":{}}"#)
                .unwrap_err()
                .contains("scale_factor")
        );
        assert!(SmolVlmConfig::from_json(r#"{"model_type":"smolvlm"}"#)
            .unwrap_err()
            .contains("vision_config"));
    }
}
