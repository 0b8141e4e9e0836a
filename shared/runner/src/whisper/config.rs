//! A Whisper checkpoint's `config.json` in the two layouts that are published:
//! mlx-whisper's converter writes its `ModelDimensions` (`n_mels`, `n_audio_ctx`,
//! `n_audio_state`, …); mlx-audio's converter keeps the Hugging Face config
//! (`d_model`, `encoder_layers`, `num_mel_bins`, …), which it maps the same way
//! (`ModelDimensions.from_dict`). Either may carry an MLX `quantization`.

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

/// The Hugging Face keys mlx-audio reads, with the defaults it falls back on
/// (large-v3's) when one is missing.
#[derive(Deserialize)]
struct HfDims {
    #[serde(default = "hf_default::mels")]
    num_mel_bins: usize,
    #[serde(default = "hf_default::audio_ctx")]
    max_source_positions: usize,
    #[serde(default = "hf_default::state")]
    d_model: usize,
    #[serde(default = "hf_default::heads")]
    encoder_attention_heads: usize,
    #[serde(default = "hf_default::layers")]
    encoder_layers: usize,
    #[serde(default = "hf_default::vocab")]
    vocab_size: usize,
    #[serde(default = "hf_default::text_ctx")]
    max_target_positions: usize,
    #[serde(default = "hf_default::heads")]
    decoder_attention_heads: usize,
    #[serde(default = "hf_default::layers")]
    decoder_layers: usize,
}

mod hf_default {
    pub fn mels() -> usize {
        128
    }
    pub fn audio_ctx() -> usize {
        1500
    }
    pub fn state() -> usize {
        1280
    }
    pub fn heads() -> usize {
        20
    }
    pub fn layers() -> usize {
        32
    }
    pub fn vocab() -> usize {
        51866
    }
    pub fn text_ctx() -> usize {
        448
    }
}

impl From<HfDims> for WhisperConfig {
    fn from(h: HfDims) -> Self {
        WhisperConfig {
            n_mels: h.num_mel_bins,
            n_audio_ctx: h.max_source_positions,
            n_audio_state: h.d_model,
            n_audio_head: h.encoder_attention_heads,
            n_audio_layer: h.encoder_layers,
            n_vocab: h.vocab_size,
            n_text_ctx: h.max_target_positions,
            n_text_state: h.d_model,
            n_text_head: h.decoder_attention_heads,
            n_text_layer: h.decoder_layers,
            quantization: None,
        }
    }
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
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let hf = json.get("d_model").is_some() || json.get("encoder_layers").is_some();
        let mut c: WhisperConfig = if hf {
            HfDims::deserialize(&json)
                .map_err(|e| e.to_string())?
                .into()
        } else {
            WhisperConfig::deserialize(&json).map_err(|e| e.to_string())?
        };
        c.quantization = match json.get("quantization") {
            Some(q) => {
                Some(Quantization::deserialize(q).map_err(|e| format!("quantization: {e}"))?)
            }
            None => None,
        };
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

/// Whether `dir/config.json` describes a Whisper model (`model_type` "whisper", as
/// both converters write it, or mlx-whisper's dimensions without a `model_type`).
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

    /// mlx-audio's converter keeps the Hugging Face config (whisper-large-v3-turbo's
    /// keys here, quantized as its `-q` writes it).
    #[test]
    fn parses_mlx_audio_config() {
        let turbo = r#"{"model_type": "whisper", "d_model": 1280, "encoder_layers": 32,
            "decoder_layers": 4, "encoder_attention_heads": 20, "decoder_attention_heads": 20,
            "num_mel_bins": 128, "vocab_size": 51866, "max_source_positions": 1500,
            "max_target_positions": 448, "torch_dtype": "float16",
            "quantization": {"group_size": 64, "bits": 4, "mode": "affine"}}"#;
        let c = WhisperConfig::from_json(turbo).unwrap();
        assert_eq!((c.n_mels, c.n_audio_layer, c.n_text_layer), (128, 32, 4));
        assert_eq!(
            (c.n_audio_state, c.n_text_state, c.n_text_head),
            (1280, 1280, 20)
        );
        assert_eq!(c.num_languages(), 100);
        assert_eq!(c.quantization.unwrap().bits, 4);
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
