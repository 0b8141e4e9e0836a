//! Pixtral `config.json`: a Mistral text config, a Pixtral vision config and the image
//! token. Defaults are mlx-vlm's (`models/pixtral/config.py`: Pixtral-12B's text model,
//! its vision tower but `image_size` 336 and `patch_size` 14), so a key a checkpoint
//! leaves out means what it means to mlx-vlm.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::config::{ModelConfig, Quantization, TokenIds};
use crate::memory::VisionShape;

/// The whole `config.json`.
#[derive(Debug, Clone)]
pub struct PixtralConfig {
    pub model_type: String,
    pub text: ModelConfig,
    pub vision: VisionConfig,
    pub image_token_id: u32,
    pub eos_token_id: TokenIds,
    pub quantization: Option<Quantization>,
}

/// The vision tower's shape (`vision_config`).
#[derive(Debug, Clone, Deserialize)]
pub struct VisionConfig {
    #[serde(default = "default_hidden")]
    pub hidden_size: usize,
    #[serde(default = "default_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "default_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "default_head_dim")]
    pub head_dim: usize,
    #[serde(default = "default_intermediate")]
    pub intermediate_size: usize,
    /// The largest image side: the 2-D rope covers `image_size / patch_size` patches
    /// per side.
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    #[serde(default = "default_patch")]
    pub patch_size: usize,
    #[serde(default = "default_channels")]
    pub num_channels: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f32,
    #[serde(default = "default_theta")]
    pub rope_theta: f32,
}

fn default_hidden() -> usize {
    1024
}
fn default_layers() -> usize {
    24
}
fn default_heads() -> usize {
    16
}
fn default_head_dim() -> usize {
    64
}
fn default_intermediate() -> usize {
    4096
}
fn default_image_size() -> usize {
    336
}
fn default_patch() -> usize {
    14
}
fn default_channels() -> usize {
    3
}
fn default_eps() -> f32 {
    1e-5
}
fn default_theta() -> f32 {
    10_000.0
}

impl VisionConfig {
    /// Patches along the largest side the rope covers.
    pub fn max_patches_per_side(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// The memory gate's view of one image at the largest size: every patch attends to
    /// every other (queries in chunks), and becomes one token (plus a break per row and
    /// the end token).
    pub fn shape(&self) -> VisionShape {
        let side = self.max_patches_per_side();
        let patches = side * side;
        VisionShape {
            hidden: self.hidden_size,
            heads: self.num_attention_heads,
            intermediate: self.intermediate_size,
            patches,
            frame_side: side * self.patch_size,
            attention_rows: crate::softmax::query_chunk(self.num_attention_heads, patches)
                .min(patches),
            frames: 1,
            tokens_per_frame: patches + side,
            cross_tokens_per_frame: 0,
            cross_layers: 0,
        }
    }
}

/// The keys Pixtral and Mistral 3 share at the top of `config.json`.
#[derive(Deserialize)]
pub(crate) struct Raw {
    pub model_type: String,
    #[serde(default)]
    pub text_config: Value,
    #[serde(default)]
    pub vision_config: Value,
    #[serde(default)]
    image_token_index: Option<u32>,
    #[serde(default)]
    image_token_id: Option<u32>,
    #[serde(default)]
    vision_feature_layer: Option<i64>,
    #[serde(default)]
    vision_feature_select_strategy: Option<String>,
    #[serde(default)]
    pub eos_token_id: TokenIds,
    #[serde(default)]
    quantization: Option<Quantization>,
    #[serde(default)]
    quantization_config: Option<Quantization>,
}

impl Raw {
    /// Checks what the two families support of the top-level keys.
    pub fn check(&self) -> Result<(), String> {
        if self.vision_feature_layer.is_some_and(|l| l != -1) {
            return Err(
                "only the last vision layer's features (`vision_feature_layer` -1) are supported"
                    .into(),
            );
        }
        if self
            .vision_feature_select_strategy
            .as_deref()
            .is_some_and(|s| s != "full")
        {
            return Err("only `vision_feature_select_strategy` \"full\" is supported".into());
        }
        Ok(())
    }

    pub fn image_token_id(&self) -> u32 {
        self.image_token_index.or(self.image_token_id).unwrap_or(10)
    }

    pub fn quantization(&self) -> Option<Quantization> {
        Quantization::of_config(self.quantization.clone(), self.quantization_config.clone())
    }
}

fn object(v: Value, key: &str) -> Result<Map<String, Value>, String> {
    match v {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(format!("`{key}` is not an object")),
    }
}

/// A `text_config`: `defaults` fill absent keys (mlx-vlm's per family), and
/// `tie_word_embeddings` absent means untied; no sliding window (mlx-vlm's Mistral and
/// Mllama have none), and rope scaling only of the `ropes` kinds (Mistral: linear).
pub(crate) fn text_config(
    raw: Value,
    defaults: &[(&str, Value)],
    ropes: &[&str],
) -> Result<ModelConfig, String> {
    let mut t = object(raw, "text_config")?;
    for (key, value) in defaults {
        if t.get(*key).map_or(true, Value::is_null) {
            t.insert((*key).into(), value.clone());
        }
    }
    if t.get("tie_word_embeddings").map_or(true, Value::is_null) {
        t.insert("tie_word_embeddings".into(), json!(false));
    }
    for key in ["quantization", "quantization_config", "sliding_window"] {
        t.remove(key);
    }
    if let Some(scaling) = t.get("rope_scaling").filter(|s| !s.is_null()) {
        let kind = scaling
            .get("type")
            .or_else(|| scaling.get("rope_type"))
            .and_then(Value::as_str);
        if !kind.is_some_and(|k| ropes.contains(&k)) {
            return Err(format!(
                "text_config: rope scaling {kind:?} is not supported (this family takes {})",
                ropes.join(", ")
            ));
        }
    }
    ModelConfig::from_json(&Value::Object(t).to_string()).map_err(|e| format!("text_config: {e}"))
}

/// The Pixtral vision tower's config, checked.
pub(crate) fn vision_config(raw: Value) -> Result<VisionConfig, String> {
    let v: VisionConfig = serde_json::from_value(Value::Object(object(raw, "vision_config")?))
        .map_err(|e| format!("vision_config: {e}"))?;
    if v.patch_size == 0
        || v.max_patches_per_side() == 0
        || v.num_attention_heads == 0
        || v.hidden_size != v.num_attention_heads * v.head_dim
        || v.head_dim % 4 != 0
    {
        return Err(format!(
            "vision_config: {} heads of {} (a multiple of 4) must make hidden size {}, and patches of {} must fit images of {}",
            v.num_attention_heads, v.head_dim, v.hidden_size, v.patch_size, v.image_size
        ));
    }
    Ok(v)
}

impl PixtralConfig {
    /// Parses the text of `config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        raw.check()?;
        // mlx-vlm's Pixtral TextConfig defaults (Pixtral-12B's), and always its own
        // lm_head.
        let mut t = raw.text_config.clone();
        if let Some(map) = t.as_object_mut() {
            map.insert("tie_word_embeddings".into(), json!(false));
        }
        let text = text_config(
            t,
            &[
                ("model_type", json!("mistral")),
                ("hidden_size", json!(5120)),
                ("head_dim", json!(128)),
                ("num_hidden_layers", json!(40)),
                ("intermediate_size", json!(14336)),
                ("num_attention_heads", json!(32)),
                ("rms_norm_eps", json!(1e-6)),
                ("vocab_size", json!(131072)),
                ("num_key_value_heads", json!(8)),
                ("rope_theta", json!(1e9)),
                ("max_position_embeddings", json!(4096)),
            ],
            &["linear"],
        )?;
        Ok(PixtralConfig {
            model_type: raw.model_type.clone(),
            text,
            vision: vision_config(raw.vision_config.clone())?,
            image_token_id: raw.image_token_id(),
            eos_token_id: raw.eos_token_id.clone(),
            quantization: raw.quantization(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixtral_12b_shape() {
        let c = PixtralConfig::from_json(
            r#"{"model_type":"pixtral","image_token_index":10,"vision_feature_layer":-1,
            "text_config":{"model_type":"mistral","hidden_size":5120,"head_dim":128,
              "intermediate_size":14336,"num_hidden_layers":40,"num_attention_heads":32,
              "num_key_value_heads":8,"rms_norm_eps":1e-5,"rope_theta":1000000000.0,
              "sliding_window":null,"vocab_size":131072,"max_position_embeddings":1024000},
            "vision_config":{"model_type":"pixtral","hidden_size":1024,"head_dim":64,
              "image_size":1024,"patch_size":16,"num_attention_heads":16,"num_hidden_layers":24,
              "intermediate_size":4096,"rope_theta":10000.0},
            "quantization":{"group_size":64,"bits":4}}"#,
        )
        .unwrap();
        assert_eq!(c.image_token_id, 10);
        assert_eq!(c.text.head_dim(), 128);
        assert_eq!(c.text.rope_theta, Some(1e9));
        assert_eq!(c.text.tie_word_embeddings, Some(false));
        assert_eq!(c.vision.max_patches_per_side(), 64);
        let s = c.vision.shape();
        assert_eq!((s.patches, s.image_tokens()), (4096, 4096 + 64));
    }

    #[test]
    fn unsupported_settings_are_refused() {
        let base =
            r#""text_config":{"hidden_size":64,"num_hidden_layers":2,"intermediate_size":128}"#;
        for (extra, want) in [
            (r#""vision_feature_layer":-2"#, "vision_feature_layer"),
            (
                r#""vision_config":{"hidden_size":64,"head_dim":32}"#,
                "heads",
            ),
        ] {
            let text = format!(r#"{{"model_type":"pixtral",{base},{extra}}}"#);
            let e = PixtralConfig::from_json(&text).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
