//! A Whisper checkpoint's `config.json` as mlx-community publishes it: mlx-whisper's
//! `ModelDimensions` (`n_mels`, `n_audio_ctx`, `n_audio_state`, …) plus an optional
//! MLX `quantization`.

use std::path::Path;

use serde::Deserialize;

use crate::config::Quantization;
use crate::error::{Result, RunnerError};

/// mlx-whisper's `ModelDimensions`.
#[derive(Debug, Clone, Deserialize)]
pub struct WhisperConfig {
    pub n_mels: usize,
    pub n_audio_ctx: usize,
    pub n_audio_state: usize,
    pub n_audio_head: usize,
    pub n_audio_layer: usize,
    pub n_vocab: usize,
    pub n_text_ctx: usize,
    pub n_text_state: usize,
    pub n_text_head: usize,
    pub n_text_layer: usize,
    #[serde(default, skip)]
    pub quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(flatten)]
    dims: WhisperConfig,
    #[serde(default)]
    quantization: Option<Quantization>,
}

impl WhisperConfig {
    /// Reads `dir/config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| RunnerError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| RunnerError::InvalidConfig { path, message })
    }

    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut c = raw.dims;
        c.quantization = raw.quantization;
        if ![80, 128].contains(&c.n_mels) {
            return Err(format!("n_mels {} (Whisper uses 80 or 128)", c.n_mels));
        }
        let heads_ok = c.n_audio_head > 0
            && c.n_text_head > 0
            && c.n_audio_state % c.n_audio_head == 0
            && c.n_text_state % c.n_text_head == 0;
        if !heads_ok || c.n_audio_layer == 0 || c.n_text_layer == 0 {
            return Err("head counts must divide the widths, and layers be positive".into());
        }
        if c.n_audio_ctx == 0 || c.n_text_ctx == 0 || c.n_vocab < 51_864 {
            return Err(format!(
                "n_audio_ctx {}, n_text_ctx {}, n_vocab {}: not a Whisper model",
                c.n_audio_ctx, c.n_text_ctx, c.n_vocab
            ));
        }
        Ok(c)
    }

    /// Multilingual checkpoints have the 51,865 (or more) token vocabulary.
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= 51_865
    }

    /// Languages the vocabulary has tokens for (99, or 100 for large-v3).
    pub fn num_languages(&self) -> usize {
        self.n_vocab - 51_765 - usize::from(self.is_multilingual())
    }
}

/// Whether `dir/config.json` describes a Whisper model (`model_type` "whisper", or
/// mlx-whisper's dimensions without a `model_type`).
pub fn is_whisper(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return false;
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    match json.get("model_type").and_then(|t| t.as_str()) {
        Some(t) => t == "whisper",
        None => json.get("n_audio_state").is_some() && json.get("n_mels").is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY_EN: &str = r#"{"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384,
        "n_audio_head": 6, "n_audio_layer": 4, "n_vocab": 51864, "n_text_ctx": 448,
        "n_text_state": 384, "n_text_head": 6, "n_text_layer": 4, "model_type": "whisper",
        "quantization": {"group_size": 64, "bits": 4}}"#;

    #[test]
    fn parses_mlx_community_config() {
        let c = WhisperConfig::from_json(TINY_EN).unwrap();
        assert_eq!(c.n_audio_state, 384);
        assert!(!c.is_multilingual());
        assert_eq!(c.num_languages(), 99);
        assert_eq!(c.quantization.unwrap().bits, 4);
        let base = TINY_EN.replace("51864", "51865");
        let c = WhisperConfig::from_json(&base).unwrap();
        assert!(c.is_multilingual());
        assert_eq!(c.num_languages(), 99);
        let v3 = TINY_EN
            .replace("51864", "51866")
            .replace("\"n_mels\": 80", "\"n_mels\": 128");
        assert_eq!(WhisperConfig::from_json(&v3).unwrap().num_languages(), 100);
    }

    #[test]
    fn rejects_what_is_not_whisper() {
        assert!(WhisperConfig::from_json(r#"{"model_type":"llama","hidden_size":8}"#).is_err());
        let bad = TINY_EN.replace("\"n_mels\": 80", "\"n_mels\": 64");
        assert!(WhisperConfig::from_json(&bad)
            .unwrap_err()
            .contains("n_mels"));
    }
}
