//! Mistral 3 `config.json` (Mistral Small 3.1 / 3.2 vision): a Mistral text config, a
//! Pixtral vision config, the image token, and the projector's patch merge. As mlx-vlm
//! (`models/mistral3/config.py`), the text config has no family defaults for its shape
//! (`head_dim` defaults to hidden / heads there), and `spatial_merge_size` defaults
//! to 2. Only the `mistral` text model is supported: `ministral3` and `mistral4` text
//! models (sliding layers with Llama 4 attention scaling; latent attention and experts)
//! are refused by name.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{ModelConfig, Quantization, TokenIds};
use crate::memory::VisionShape;
use crate::vlm::pixtral::config::{text_config, vision_config, Raw, VisionConfig};

/// The whole `config.json`.
#[derive(Debug, Clone)]
pub struct Mistral3Config {
    pub model_type: String,
    pub text: ModelConfig,
    pub vision: VisionConfig,
    pub image_token_id: u32,
    /// Patches along an image token's side.
    pub spatial_merge_size: usize,
    /// Whether the projector's two linear layers have biases.
    pub projector_bias: bool,
    pub eos_token_id: TokenIds,
    pub quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Extra {
    #[serde(default = "default_merge")]
    spatial_merge_size: usize,
    #[serde(default)]
    multimodal_projector_bias: bool,
}

fn default_merge() -> usize {
    2
}

impl Mistral3Config {
    /// Parses the text of `config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let extra: Extra = serde_json::from_str(text).map_err(|e| e.to_string())?;
        raw.check()?;
        let text_type = raw
            .text_config
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or("mistral");
        if text_type != "mistral" {
            return Err(format!(
                "text_config: the `{text_type}` text model is not supported (Mistral 3 with a `mistral` text model is)"
            ));
        }
        let mut t = raw.text_config.clone();
        if let Some(map) = t.as_object_mut() {
            if map.get("head_dim").map_or(true, Value::is_null) {
                let hidden = map.get("hidden_size").and_then(Value::as_u64).unwrap_or(0);
                let heads = map.get("num_attention_heads").and_then(Value::as_u64);
                if let Some(heads) = heads.filter(|&h| h > 0) {
                    map.insert("head_dim".into(), json!(hidden / heads));
                }
            }
        }
        let text = text_config(t, &[], &["linear"])?;
        let vision = vision_config(raw.vision_config.clone())?;
        let merge = extra.spatial_merge_size;
        if merge == 0 || vision.max_patches_per_side() % merge != 0 {
            return Err(format!(
                "spatial_merge_size {merge} does not divide the {} patches per side",
                vision.max_patches_per_side()
            ));
        }
        Ok(Mistral3Config {
            model_type: raw.model_type.clone(),
            text,
            vision,
            image_token_id: raw.image_token_id(),
            spatial_merge_size: merge,
            projector_bias: extra.multimodal_projector_bias,
            eos_token_id: raw.eos_token_id.clone(),
            quantization: raw.quantization(),
        })
    }

    /// The memory gate's view of one image at the largest size: the tower over every
    /// patch (queries in chunks), one token per merged block plus a break per row and
    /// the end token.
    pub fn shape(&self) -> VisionShape {
        let mut shape = self.vision.shape();
        let side = self.vision.max_patches_per_side() / self.spatial_merge_size;
        shape.tokens_per_frame = side * side + side;
        shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistral_small_3_1_shape() {
        let c = Mistral3Config::from_json(
            r#"{"model_type":"mistral3","image_token_index":10,"spatial_merge_size":2,
            "multimodal_projector_bias":false,"vision_feature_layer":-1,
            "text_config":{"model_type":"mistral","hidden_size":5120,"head_dim":128,
              "intermediate_size":32768,"num_hidden_layers":40,"num_attention_heads":32,
              "num_key_value_heads":8,"rms_norm_eps":1e-5,"rope_theta":1000000000.0,
              "sliding_window":null,"vocab_size":131072,"max_position_embeddings":131072},
            "vision_config":{"model_type":"pixtral","hidden_size":1024,"head_dim":64,
              "image_size":1540,"patch_size":14,"num_attention_heads":16,"num_hidden_layers":24,
              "intermediate_size":4096,"rope_theta":10000.0}}"#,
        )
        .unwrap();
        assert_eq!((c.spatial_merge_size, c.projector_bias), (2, false));
        assert_eq!(c.text.tie_word_embeddings, Some(false));
        assert_eq!(c.text.head_dim(), 128);
        // 1540 / 14 = 110 patches per side → 55 × 55 tokens, 55 breaks and the end.
        let s = c.shape();
        assert_eq!((s.patches, s.image_tokens()), (110 * 110, 55 * 55 + 55));
    }

    #[test]
    fn other_text_models_are_refused() {
        let e = Mistral3Config::from_json(
            r#"{"model_type":"mistral3","text_config":{"model_type":"ministral3",
            "hidden_size":64,"num_hidden_layers":2,"intermediate_size":128,
            "num_attention_heads":4,"rms_norm_eps":1e-5,"vocab_size":100}}"#,
        )
        .unwrap_err();
        assert!(e.contains("ministral3"), "{e}");
    }
}
