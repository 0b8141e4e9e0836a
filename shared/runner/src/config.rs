//! `config.json`, parsed forgivingly.
//!
//! Field names match Hugging Face / mlx-community configs. Missing keys take the
//! defaults mlx-lm uses; keys this runner does not need are ignored. Architecture-specific
//! defaults (e.g. Qwen2's `rope_theta` of 1e6) are applied by the architecture's module.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Result, RunnerError};

/// The subset of `config.json` the runner reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelConfig {
    pub model_type: String,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    /// Defaults to `num_attention_heads` (no grouped-query attention).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Defaults to `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f32,
    pub vocab_size: usize,
    /// `None` means the architecture's default.
    #[serde(default)]
    pub rope_theta: Option<f32>,
    #[serde(default)]
    pub rope_traditional: bool,
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// transformers ≥ 5 nests `rope_theta` and the scaling under this key.
    #[serde(default)]
    pub rope_parameters: Option<RopeScaling>,
    #[serde(default)]
    pub max_position_embeddings: Option<usize>,
    /// `None` means the architecture's default.
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub eos_token_id: TokenIds,
    #[serde(default)]
    pub bos_token_id: TokenIds,
    /// MLX quantization (mlx-community checkpoints).
    #[serde(default)]
    pub quantization: Option<Quantization>,
    /// Older mlx-community checkpoints use this name for the same thing.
    #[serde(default)]
    pub quantization_config: Option<Quantization>,
    /// Gemma: attention scale `query_pre_attn_scalar^-½` instead of `head_dim^-½`.
    #[serde(default)]
    pub query_pre_attn_scalar: Option<f32>,
    /// Gemma: the sliding-window layers' window.
    #[serde(default)]
    pub sliding_window: Option<usize>,
    /// Gemma 3: every `sliding_window_pattern`-th layer is global, the others slide.
    #[serde(default)]
    pub sliding_window_pattern: Option<usize>,
    /// Gemma 3: the sliding layers' rope base (the global layers use `rope_theta`).
    #[serde(default)]
    pub rope_local_base_freq: Option<f32>,
    /// Llama/Mistral: `"sliding_attention"` or `"full_attention"` per layer.
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
    /// Phi-3: the share of each head that is rotated.
    #[serde(default)]
    pub partial_rotary_factor: Option<f32>,
    /// Phi-3: the context length before long-rope scaling.
    #[serde(default)]
    pub original_max_position_embeddings: Option<usize>,
    /// Mixture of experts: experts per layer (`num_local_experts` in Mixtral).
    #[serde(default, alias = "num_local_experts")]
    pub num_experts: Option<usize>,
    /// Mixture of experts: experts each token is routed to.
    #[serde(default)]
    pub num_experts_per_tok: Option<usize>,
    /// Qwen3-MoE: each expert's hidden size (`intermediate_size` is the dense layers').
    #[serde(default)]
    pub moe_intermediate_size: Option<usize>,
    /// Qwen3-MoE: every `decoder_sparse_step`-th layer is sparse.
    #[serde(default)]
    pub decoder_sparse_step: Option<usize>,
    /// Qwen3-MoE: layers that keep a dense MLP.
    #[serde(default)]
    pub mlp_only_layers: Vec<usize>,
    /// Qwen3-MoE: renormalise the chosen experts' router probabilities.
    #[serde(default)]
    pub norm_topk_prob: bool,
}

fn default_rms_norm_eps() -> f32 {
    1e-6
}

impl ModelConfig {
    /// Reads and parses `dir/config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| RunnerError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| RunnerError::InvalidConfig { path, message })
    }

    /// Parses the text of a `config.json`.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let mut config: ModelConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        config.quantization = Quantization::of_config(
            config.quantization.take(),
            config.quantization_config.take(),
        );
        if config.num_attention_heads == 0 || config.num_hidden_layers == 0 {
            return Err("num_attention_heads and num_hidden_layers must be positive".into());
        }
        if let Some(params) = &config.rope_parameters {
            if config.rope_theta.is_none() {
                config.rope_theta = params.rope_theta;
            }
            if config.rope_scaling.is_none() {
                config.rope_scaling = Some(params.clone());
            }
        }
        Ok(config)
    }

    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }
}

/// A token id or a list of them (`eos_token_id` is either in the wild).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenIds(pub Vec<u32>);

impl<'de> Deserialize<'de> for TokenIds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(u32),
            Many(Vec<Option<u32>>),
            Other(serde::de::IgnoredAny),
        }
        Ok(match Option::<OneOrMany>::deserialize(d)? {
            Some(OneOrMany::One(id)) => TokenIds(vec![id]),
            Some(OneOrMany::Many(ids)) => TokenIds(ids.into_iter().flatten().collect()),
            Some(OneOrMany::Other(_)) | None => TokenIds::default(),
        })
    }
}

/// `rope_scaling` (or `rope_parameters`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RopeScaling {
    #[serde(default)]
    pub rope_type: Option<String>,
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    #[serde(default)]
    pub factor: Option<f32>,
    #[serde(default)]
    pub low_freq_factor: Option<f32>,
    #[serde(default)]
    pub high_freq_factor: Option<f32>,
    #[serde(default)]
    pub original_max_position_embeddings: Option<f32>,
    #[serde(default)]
    pub rope_theta: Option<f32>,
    /// Long-rope (`longrope`, `su`: Phi-3): per-frequency factors; mlx-lm uses the long ones.
    #[serde(default)]
    pub long_factor: Option<Vec<f32>>,
    #[serde(default)]
    pub short_factor: Option<Vec<f32>>,
    #[serde(default)]
    pub long_mscale: Option<f32>,
    /// Long-rope: the model's full context (set from `config.json`'s top level).
    #[serde(default)]
    pub max_position_embeddings: Option<f32>,
    /// YaRN (gpt-oss): the correction range's rotations and the attention scale terms.
    #[serde(default)]
    pub beta_fast: Option<f32>,
    #[serde(default)]
    pub beta_slow: Option<f32>,
    #[serde(default)]
    pub mscale: Option<f32>,
    #[serde(default)]
    pub mscale_all_dim: Option<f32>,
}

impl RopeScaling {
    /// `rope_type` or the older `type`; `default` when neither is set.
    pub fn kind(&self) -> &str {
        self.rope_type
            .as_deref()
            .or(self.type_.as_deref())
            .unwrap_or("default")
    }
}

/// How MLX packed a quantized matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuantMode {
    /// `w = scale · q + bias` per group, float scales and biases (2–8 bits).
    #[default]
    Affine,
    /// OCP microscaling FP4: e2m1 values, one e8m0 (power of two) scale per 32, no biases
    /// (gpt-oss's experts).
    Mxfp4,
}

impl QuantMode {
    /// The name MLX and `config.json` use.
    pub fn name(self) -> &'static str {
        match self {
            QuantMode::Affine => "affine",
            QuantMode::Mxfp4 => "mxfp4",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "affine" => Some(QuantMode::Affine),
            "mxfp4" => Some(QuantMode::Mxfp4),
            _ => None,
        }
    }

    /// Whether the packing has a bias per group.
    pub fn has_biases(self) -> bool {
        self == QuantMode::Affine
    }
}

/// Bits, group size and mode of one quantized matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantParams {
    pub bits: i32,
    pub group_size: i32,
    pub mode: QuantMode,
}

impl QuantParams {
    /// Affine quantization with `bits` and `group_size`.
    pub fn affine(bits: i32, group_size: i32) -> Self {
        QuantParams {
            bits,
            group_size,
            mode: QuantMode::Affine,
        }
    }
}

/// `config.json`'s `quantization`: global parameters plus per-module overrides keyed by
/// module path (`"model.embed_tokens": {"bits": 8, "group_size": 32}`); an override of
/// `false` leaves that module unquantized.
#[derive(Debug, Clone, Default)]
pub struct Quantization {
    pub bits: i32,
    pub group_size: i32,
    pub mode: QuantMode,
    pub overrides: BTreeMap<String, Option<QuantParams>>,
}

impl Quantization {
    /// A config's quantization: `quantization`, else `quantization_config` when it
    /// quantizes (older mlx-community checkpoints use that name; transformers writes it
    /// with `bits` 0 for other schemes).
    pub fn of_config(
        quantization: Option<Quantization>,
        quantization_config: Option<Quantization>,
    ) -> Option<Quantization> {
        quantization.or(quantization_config.filter(|q| q.bits > 0))
    }

    /// The same settings for a part of a model whose tensor names lose `prefix` and are
    /// then renamed by `rename` (a vision model's language model): per-module overrides
    /// are re-keyed the same way, other parts' overrides dropped.
    pub fn for_part(&self, prefix: &str, rename: impl Fn(&str) -> String) -> Quantization {
        let mut q = self.clone();
        q.overrides = self
            .overrides
            .iter()
            .filter_map(|(k, v)| Some((rename(k.strip_prefix(prefix)?), *v)))
            .collect();
        q
    }

    /// The global parameters.
    pub fn global(&self) -> QuantParams {
        QuantParams {
            bits: self.bits,
            group_size: self.group_size,
            mode: self.mode,
        }
    }
}

impl<'de> Deserialize<'de> for Quantization {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let int = |v: &serde_json::Value| v.as_f64().map(|f| f as i32);
        let mode = |o: &serde_json::Map<String, serde_json::Value>, key: &str, default| match o
            .get("mode")
            .and_then(|m| m.as_str())
        {
            None => Ok(default),
            Some(name) => QuantMode::parse(name).ok_or_else(|| {
                D::Error::custom(format!(
                    "quantization mode `{name}`{key} is not supported (affine, mxfp4)"
                ))
            }),
        };
        let mut q = Quantization {
            bits: map.get("bits").and_then(int).unwrap_or(0),
            group_size: map.get("group_size").and_then(int).unwrap_or(64),
            mode: mode(&map, "", QuantMode::Affine)?,
            overrides: BTreeMap::new(),
        };
        for (key, value) in &map {
            match value {
                serde_json::Value::Object(o) => {
                    let bits = o.get("bits").and_then(int).unwrap_or(q.bits);
                    let group_size = o.get("group_size").and_then(int).unwrap_or(q.group_size);
                    let mode = mode(o, &format!(" of `{key}`"), q.mode)?;
                    q.overrides.insert(
                        key.clone(),
                        Some(QuantParams {
                            bits,
                            group_size,
                            mode,
                        }),
                    );
                }
                serde_json::Value::Bool(false) => {
                    q.overrides.insert(key.clone(), None);
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// A JSON file of the model, or `None` when it is absent.
pub(crate) fn read_json(path: &std::path::Path) -> crate::error::Result<Option<serde_json::Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|source| crate::error::RunnerError::Io {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| crate::error::RunnerError::InvalidConfig {
            path: path.into(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOL: &str = r#"{
        "model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30,
        "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3,
        "rms_norm_eps": 1e-5, "vocab_size": 49152, "rope_theta": 100000,
        "tie_word_embeddings": true, "eos_token_id": 2,
        "quantization": {"group_size": 32, "bits": 4,
            "model.embed_tokens": {"group_size": 32, "bits": 8},
            "lm_head": false}
    }"#;

    #[test]
    fn parses_quantization_overrides() {
        let c = ModelConfig::from_json(SMOL).unwrap();
        let q = c.quantization.clone().unwrap();
        assert_eq!(q.global(), QuantParams::affine(4, 32));
        assert_eq!(
            q.overrides["model.embed_tokens"],
            Some(QuantParams::affine(8, 32))
        );
        assert_eq!(q.overrides["lm_head"], None);
        assert_eq!(c.head_dim(), 64);
        assert_eq!(c.kv_heads(), 3);
        assert_eq!(c.eos_token_id, TokenIds(vec![2]));
    }

    #[test]
    fn eos_token_id_list_or_null() {
        let base = r#""model_type":"qwen2","hidden_size":8,"num_hidden_layers":1,"intermediate_size":8,"num_attention_heads":2,"vocab_size":10"#;
        let c = ModelConfig::from_json(&format!("{{{base},\"eos_token_id\":[1,2]}}")).unwrap();
        assert_eq!(c.eos_token_id.0, vec![1, 2]);
        let c = ModelConfig::from_json(&format!("{{{base},\"eos_token_id\":null}}")).unwrap();
        assert!(c.eos_token_id.0.is_empty());
        assert_eq!(c.rope_theta, None);
    }

    #[test]
    fn llama3_rope_scaling() {
        let text = r#"{"model_type":"llama","hidden_size":8,"num_hidden_layers":1,"intermediate_size":8,
            "num_attention_heads":2,"vocab_size":10,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,
            "low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}}"#;
        let c = ModelConfig::from_json(text).unwrap();
        let s = c.rope_scaling.unwrap();
        assert_eq!(s.kind(), "llama3");
        assert_eq!(s.factor, Some(32.0));
    }
}
