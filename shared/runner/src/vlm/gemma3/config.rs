//! Gemma 3 `config.json`: a gemma3_text config, a SigLIP vision config, and the image
//! token settings. Defaults are mlx-vlm's (`models/gemma3/config.py`), including where
//! mlx-vlm reads a key from: the global layers' rope base is `rope_global_base_freq`
//! (not `rope_theta`), `mm_tokens_per_image` lives in `text_config`, and the image
//! features are divided by √`hidden_size` of the top level (2048 when absent).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::config::{ModelConfig, Quantization, TokenIds};
use crate::vlm::siglip::VisionConfig;

/// The whole `config.json`.
#[derive(Debug, Clone)]
pub struct Gemma3Config {
    pub model_type: String,
    pub text: ModelConfig,
    pub vision: VisionConfig,
    /// Language-model tokens one image becomes (a square number).
    pub mm_tokens_per_image: usize,
    pub image_token_id: u32,
    /// Prompt positions holding this id get a zero embedding (mlx-vlm's pad mask).
    pub pad_token_id: u32,
    /// The top-level `hidden_size` image features are divided by the root of.
    pub hidden_size: usize,
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
    image_token_index: Option<u32>,
    #[serde(default)]
    image_token_id: Option<u32>,
    #[serde(default)]
    pad_token_id: Option<u32>,
    #[serde(default)]
    hidden_size: Option<usize>,
    #[serde(default)]
    eos_token_id: TokenIds,
    #[serde(default)]
    quantization: Option<Quantization>,
    #[serde(default)]
    quantization_config: Option<Quantization>,
}

fn object(v: Value, key: &str) -> Result<Map<String, Value>, String> {
    match v {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(format!("`{key}` is not an object")),
    }
}

impl Gemma3Config {
    /// Parses the text of `config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut t = object(raw.text_config, "text_config")?;
        for (key, value) in [
            ("model_type", json!("gemma3_text")),
            ("num_attention_heads", json!(8)),
            ("head_dim", json!(256)),
            ("rms_norm_eps", json!(1e-6)),
            ("vocab_size", json!(262208)),
            ("num_key_value_heads", json!(4)),
            ("rope_local_base_freq", json!(10_000.0)),
            ("query_pre_attn_scalar", json!(256)),
            ("sliding_window", json!(1024)),
            ("sliding_window_pattern", json!(6)),
            ("max_position_embeddings", json!(4096)),
        ] {
            t.entry(key).or_insert(value);
        }
        for key in ["hidden_size", "num_hidden_layers", "intermediate_size"] {
            if !t.contains_key(key) {
                return Err(format!("text_config has no `{key}`"));
            }
        }
        let global_base = t
            .get("rope_global_base_freq")
            .cloned()
            .unwrap_or(json!(1_000_000.0));
        t.insert("rope_theta".into(), global_base);
        t.remove("rope_parameters");
        t.remove("quantization");
        t.remove("quantization_config");
        let mm_tokens = t
            .get("mm_tokens_per_image")
            .and_then(Value::as_u64)
            .unwrap_or(256) as usize;
        let text = ModelConfig::from_json(&Value::Object(t).to_string())
            .map_err(|e| format!("text_config: {e}"))?;

        let mut v = object(raw.vision_config, "vision_config")?;
        v.entry("image_size").or_insert(json!(224));
        let vision: VisionConfig =
            serde_json::from_value(Value::Object(v)).map_err(|e| format!("vision_config: {e}"))?;
        let side = vision.patches_per_side();
        let tokens_side = (mm_tokens as f64).sqrt() as usize;
        if vision.patch_size == 0
            || side == 0
            || tokens_side == 0
            || tokens_side * tokens_side != mm_tokens
            || side % tokens_side != 0
        {
            return Err(format!(
                "mm_tokens_per_image {mm_tokens} does not pool the {side}×{side} patches evenly"
            ));
        }
        let quantization = Quantization::of_config(raw.quantization, raw.quantization_config);
        Ok(Gemma3Config {
            model_type: raw.model_type,
            text,
            vision,
            mm_tokens_per_image: mm_tokens,
            image_token_id: raw
                .image_token_index
                .or(raw.image_token_id)
                .unwrap_or(262144),
            pad_token_id: raw.pad_token_id.unwrap_or(0),
            hidden_size: raw.hidden_size.unwrap_or(2048),
            eos_token_id: raw.eos_token_id,
            quantization,
        })
    }

    /// Patches per side over tokens per side: the pooling kernel.
    pub fn pool(&self) -> usize {
        let tokens_side = (self.mm_tokens_per_image as f64).sqrt() as usize;
        self.vision.patches_per_side() / tokens_side
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemma3_4b_shape() {
        let c = Gemma3Config::from_json(
            r#"{"model_type":"gemma3","image_token_index":262144,"eos_token_id":[1,106],
            "text_config":{"model_type":"gemma3_text","hidden_size":2560,"intermediate_size":10240,
              "num_hidden_layers":34,"num_attention_heads":8,"num_key_value_heads":4,
              "rope_scaling":{"factor":8.0,"rope_type":"linear"},"sliding_window":1024},
            "vision_config":{"model_type":"siglip_vision_model","hidden_size":1152,"image_size":896,
              "intermediate_size":4304,"num_attention_heads":16,"num_hidden_layers":27,"patch_size":14},
            "quantization":{"group_size":64,"bits":4}}"#,
        )
        .unwrap();
        assert_eq!(c.mm_tokens_per_image, 256);
        assert_eq!(c.pool(), 4);
        assert_eq!(c.hidden_size, 2048);
        assert_eq!(c.text.rope_theta, Some(1e6));
        assert_eq!(c.text.head_dim(), 256);
        assert_eq!(c.text.sliding_window_pattern, Some(6));
        assert_eq!(c.eos_token_id.0, vec![1, 106]);
    }

    #[test]
    fn uneven_pooling_is_refused() {
        let e = Gemma3Config::from_json(
            r#"{"model_type":"gemma3","text_config":{"hidden_size":64,"intermediate_size":128,
            "num_hidden_layers":2,"mm_tokens_per_image":15},"vision_config":{"patch_size":14}}"#,
        )
        .unwrap_err();
        assert!(e.contains("mm_tokens_per_image"), "{e}");
    }
}
