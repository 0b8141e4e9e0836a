//! Whisper speech recognition (mlx-whisper's model, in the runner), one concern per
//! file as mlx-examples' whisper: [`mel`] (log-mel spectrogram), [`model`] (encoder,
//! decoder, KV cache), [`decoding`] (one 30-second window), [`transcribe`] (long audio,
//! fallback, thresholds), [`timing`] (word timestamps), [`tokenizer`] (the embedded vocabularies), [`vad`] (the
//! energy gate), [`config`].
//!
//! It loads the Whisper layouts that are published, as their converters write them:
//! mlx-whisper's (mlx-community's Whisper repos): `config.json` with `n_mels`,
//! `n_audio_state`, …, and `weights.safetensors` (float16 or float32, or MLX affine
//! quantized) or, in older conversions, `weights.npz`, with the `alignment_heads`
//! tensor beside the weights; and mlx-audio's: the Hugging Face `config.json`
//! (`d_model`, `encoder_layers`, …), `model.safetensors` (or shards) with the same
//! tensor names, and the alignment heads in `generation_config.json`. No tokenizer
//! file is needed: the vocabularies are embedded.
//!
//! ```no_run
//! use mlxk_runner::whisper::{TranscribeOptions, Whisper};
//! use mlxk_runner::LoadOptions;
//!
//! # fn main() -> Result<(), mlxk_runner::RunnerError> {
//! let whisper = Whisper::load("/path/to/whisper-tiny.en".as_ref(), &LoadOptions::default())?;
//! let samples: Vec<f32> = vec![0.0; 16000]; // 16 kHz mono
//! let mut source = vec![samples].into_iter();
//! let t = whisper.transcribe(&mut source, &TranscribeOptions::default(), |s| println!("{}", s.text), None)?;
//! println!("{} ({})", t.text, t.language);
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod decoding;
pub mod languages;
pub mod mel;
pub mod model;
pub mod timing;
pub mod tokenizer;
pub mod transcribe;
pub mod vad;

use std::path::Path;

pub use config::{is_whisper, WhisperConfig};
pub use model::{AlignmentHeads, HeadsSource};
pub use timing::Word;
pub use tokenizer::{language_code, Task, WhisperTokenizer};
pub use transcribe::{SampleSource, Segment, TranscribeOptions, Transcript};
pub use vad::VadGate;

use crate::error::{Result, RunnerError};
use crate::linear::Parallelism;
use crate::memory::{self, MemoryEstimate, MemoryVerdict, OVERHEAD_BYTES};
use crate::runner::LoadOptions;
use crate::weights::{self, NpzWeights, Weights};
use mel::MelSpectrogram;
use model::WhisperModel;

/// A loaded Whisper model with its tokenizer and spectrogram.
pub struct Whisper {
    pub config: WhisperConfig,
    pub(crate) model: WhisperModel,
    pub tokenizer: WhisperTokenizer,
    /// The cross-attention heads word timestamps read.
    pub alignment_heads: AlignmentHeads,
    pub(crate) mel: MelSpectrogram,
    memory: MemoryVerdict,
}

impl std::fmt::Debug for Whisper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Whisper")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// `alignment_heads` in `dir/generation_config.json` (a list of `[layer, head]`), as
/// mlx-audio's converter copies it from the Hugging Face checkpoint.
fn generation_config_heads(dir: &Path, config: &WhisperConfig) -> Result<Option<AlignmentHeads>> {
    let path = dir.join("generation_config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let bad = |message: String| RunnerError::InvalidConfig {
        path: path.clone(),
        message,
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let Some(list) = json.get("alignment_heads") else {
        return Ok(None);
    };
    let pairs: Vec<[i64; 2]> =
        serde_json::from_value(list.clone()).map_err(|e| bad(format!("alignment_heads: {e}")))?;
    let flat: Vec<i64> = pairs.into_iter().flatten().collect();
    AlignmentHeads::from_pairs(&flat, config, HeadsSource::GenerationConfig)
        .map(Some)
        .map_err(|m| bad(format!("alignment_heads: {m}")))
}

/// The memory gate's estimate for a Whisper model (docs/runner.md):
///
/// ```text
/// weights     = Σ tensor bytes (half precision counted twice when upcast)
/// kv_cache    = 4 · text_layers · text_state · (2 · text_ctx + 2 · audio_ctx) bytes
/// activations = 4 · (audio_heads · audio_ctx² + 8 · audio_ctx · audio_state
///               + 3 · n_mels · 3000) + 8 · vocab bytes
/// overhead    = 256 MiB
/// ```
pub fn estimate_memory(config: &WhisperConfig, weight_bytes: u64) -> MemoryEstimate {
    let c = |v: usize| v as u64;
    let kv_cache_bytes = 4
        * c(config.n_text_layer)
        * c(config.n_text_state)
        * (2 * c(config.n_text_ctx) + 2 * c(config.n_audio_ctx));
    let activation_bytes = 4
        * (c(config.n_audio_head) * c(config.n_audio_ctx) * c(config.n_audio_ctx)
            + 8 * c(config.n_audio_ctx) * c(config.n_audio_state)
            + 3 * c(config.n_mels) * c(mel::N_FRAMES))
        + 8 * c(config.n_vocab);
    MemoryEstimate {
        weight_bytes,
        mapped_bytes: 0,
        kv_cache_bytes,
        activation_bytes,
        overhead_bytes: OVERHEAD_BYTES,
        tokens: c(config.n_text_ctx),
    }
}

impl Whisper {
    /// Checks memory, then loads the model in `dir`.
    /// Checks memory, then loads the model in `dir`. Of the [`LoadOptions`] shared with
    /// text and vision models it reads `check_memory` and `upcast` (Whisper's CPU step
    /// chooses its own threads).
    pub fn load(dir: &Path, options: &LoadOptions) -> Result<Self> {
        let config = WhisperConfig::load(dir)?;
        // Older conversions publish `weights.npz`: read whole (it is not mapped); its
        // arrays become MLX tensors only once the gate has passed.
        let npz_path = dir.join("weights.npz");
        let npz = if !dir.join("weights.safetensors").is_file() && npz_path.is_file() {
            Some(NpzWeights::read(&npz_path)?)
        } else {
            None
        };
        let (infos, files) = match &npz {
            Some(npz) => (npz.infos(), vec![npz_path]),
            None => (weights::scan(dir)?, weights::weight_files(dir)?),
        };
        let weight_bytes = infos.iter().map(|t| t.loaded_bytes(options.upcast)).sum();
        let mut estimate = estimate_memory(&config, weight_bytes);
        // A file is resident while its tensors are copied.
        estimate.mapped_bytes = files
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .max()
            .unwrap_or(0);
        let verdict = memory::gate(estimate, options.check_memory)?;
        let tokenizer = WhisperTokenizer::new(config.is_multilingual(), config.num_languages())?;
        if tokenizer.vocab_size() != config.n_vocab {
            return Err(RunnerError::InvalidConfig {
                path: dir.join("config.json"),
                message: format!(
                    "n_vocab {} does not match Whisper's vocabulary ({})",
                    config.n_vocab,
                    tokenizer.vocab_size()
                ),
            });
        }
        let mut weights = match npz {
            Some(npz) => npz.into_weights(options.upcast)?,
            None => Weights::load(dir, options.upcast)?,
        };
        let model = WhisperModel::build(&config, &mut weights, &Parallelism::none())?;
        let alignment_heads = match &model.alignment_heads {
            Some(heads) => heads.clone(),
            None => generation_config_heads(dir, &config)?
                .unwrap_or_else(|| AlignmentHeads::default_for(&config)),
        };
        Ok(Whisper {
            mel: MelSpectrogram::new(config.n_mels),
            config,
            model,
            tokenizer,
            alignment_heads,
            memory: verdict,
        })
    }

    /// One line on what was read besides the weights, for `--verbose`.
    pub fn load_notes(&self) -> String {
        let from = match self.alignment_heads.source {
            HeadsSource::Weights => "the `alignment_heads` tensor",
            HeadsSource::GenerationConfig => "generation_config.json",
            HeadsSource::Default => "the default (every head of the last half of the decoder)",
        };
        format!(
            "{} alignment heads for word timestamps, from {from}",
            self.alignment_heads.heads.len()
        )
    }

    /// The logits `[tokens.len() × vocabulary]`, row-major, of the decoder fed `tokens`
    /// after the first 30-second window of `samples` (16 kHz mono): teacher forcing, as
    /// mlx-whisper's `model.logits(tokens, model.embed_audio(mel))`. For scoring a known
    /// transcript and for checks against the reference.
    pub fn window_logits(&self, samples: &[f32], tokens: &[u32]) -> Result<Vec<f32>> {
        let features = self.encode(&self.log_mel(samples, mel::N_FRAMES))?;
        let mut cache = self.model.decoder.new_cache(&features)?;
        let rows: Vec<i32> = (0..tokens.len() as i32).collect();
        let logits = self.model.decoder.forward(tokens, &mut cache, &rows)?;
        logits.eval()?;
        Ok(logits.as_slice::<f32>().to_vec())
    }

    /// The first 30-second window of `samples` decoded once with `options` (no
    /// fallback), as mlx-whisper's `decode(model, mel, options)`.
    pub fn decode_window(
        &self,
        samples: &[f32],
        options: &decoding::DecodeOptions,
    ) -> Result<decoding::DecodeResult> {
        let features = self.encode(&self.log_mel(samples, mel::N_FRAMES))?;
        decoding::decode(
            &self.model,
            &self.tokenizer,
            &features,
            options,
            self.config.n_text_ctx,
        )
    }

    /// What the memory gate decided.
    pub fn memory_verdict(&self) -> &MemoryVerdict {
        &self.memory
    }

    /// Log-mel frames of the first `frames` of `samples` (16 kHz mono), normalised as
    /// mlx-whisper's `log_mel_spectrogram(audio, padding=N_SAMPLES)` does, frame-major.
    pub fn log_mel(&self, samples: &[f32], frames: usize) -> Vec<f32> {
        let audio = mel::Audio {
            samples,
            offset: 0,
            total: Some(samples.len()),
        };
        let all = samples.len() / mel::HOP_LENGTH + mel::N_FRAMES;
        let mut out = self.mel.log10_frames(&audio, 0, all);
        let top = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        mel::normalize(&mut out, top);
        out.truncate(frames.min(all) * self.mel.n_mels());
        out
    }
}
