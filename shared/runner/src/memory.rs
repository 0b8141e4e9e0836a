//! The memory gate: will this model, with a KV cache for the requested number of
//! tokens, fit in the memory that is available? Decided before any weight is loaded,
//! from the safetensors headers alone. `docs/runner.md` documents the formula.
//!
//! ```text
//! need = weights + mapped + kv_cache + activations + overhead
//! weights     = Σ tensor bytes, float16/bfloat16 tensors counted twice when upcast to float32
//! mapped      = the largest weights file (mapped, and resident, while its tensors are copied)
//! kv_cache    = 2 · layers · kv_heads · head_dim · ceil(tokens / 256) · 256 · 4 bytes
//! activations = 4 · S · (S · heads + 3 · intermediate + 8 · hidden) + 8 · vocab
//!               + 2 · 4 · intermediate · hidden bytes,
//!               S = min(tokens, 2048) (one prefill chunk; the last term: quantized
//!               weights dequantized for prefill, two in flight)
//! overhead    = 24 MiB + 10 · tokenizer.json bytes (process and MLX runtime; the parsed
//!               tokenizer)
//! ```
//!
//! Measured (peak resident memory, Linux, CPU backend, a short prompt and 64 tokens):
//! SmolLM2-135M 4-bit 0.259 GB, the tiny qwen checkpoints 0.020 GB, the tiny family
//! checkpoints 0.040–0.142 GB (the last one carrying Qwen3's 11 MB tokenizer.json); the
//! estimate is within 1.5× of each (tests/run_contract.rs checks it on every fixture).

use std::path::Path;

use serde::Serialize;

use crate::config::ModelConfig;
use crate::error::{Result, RunnerError};
use crate::weights;

/// Resident memory of the process and the MLX runtime before any model (measured
/// 20 MB on Linux with the CPU backend), with some slack.
pub const OVERHEAD_BYTES: u64 = 24 << 20;
/// Parsed tokenizer per byte of `tokenizer.json` (vocabulary and merges as strings
/// and maps, and the JSON tree while it is parsed): the `tokenizers` crate's peak is
/// 10.7–12× the file on Llama 2's, SmolLM2's, Qwen3's and Gemma 3's (22, 41, 125 and
/// 355 MB); 10 keeps every fixture's estimate within 1.25× of its measured peak.
pub const TOKENIZER_FACTOR: u64 = 10;
/// Prefill chunk length (mlx-lm's `prefill_step_size`).
pub const PREFILL_STEP: usize = 2048;
/// KV cache growth step (mlx-lm's `KVCache.step`).
pub const KV_STEP: usize = 256;

/// What a model is estimated to need, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryEstimate {
    pub weight_bytes: u64,
    /// The largest weights file: its mapping is resident while its tensors are copied.
    pub mapped_bytes: u64,
    pub kv_cache_bytes: u64,
    pub activation_bytes: u64,
    pub overhead_bytes: u64,
    /// Tokens the KV cache was sized for.
    pub tokens: u64,
}

impl MemoryEstimate {
    pub fn total_bytes(&self) -> u64 {
        self.weight_bytes
            + self.mapped_bytes
            + self.kv_cache_bytes
            + self.activation_bytes
            + self.overhead_bytes
    }

    /// The estimate for `config` with weights of `weight_bytes` and `tokens` of context.
    pub fn for_config(config: &ModelConfig, weight_bytes: u64, tokens: usize) -> Self {
        let cached = tokens.div_ceil(KV_STEP) * KV_STEP;
        let kv_cache_bytes = 2
            * config.num_hidden_layers as u64
            * config.kv_heads() as u64
            * config.head_dim() as u64
            * cached as u64
            * 4;
        let s = tokens.clamp(1, PREFILL_STEP) as u64;
        let activation_bytes = 4
            * s
            * (s * config.num_attention_heads as u64
                + 3 * config.intermediate_size as u64
                + 8 * config.hidden_size as u64)
            + 8 * config.vocab_size as u64
            + 8 * config.intermediate_size as u64 * config.hidden_size as u64;
        MemoryEstimate {
            weight_bytes,
            mapped_bytes: 0,
            kv_cache_bytes,
            activation_bytes,
            overhead_bytes: OVERHEAD_BYTES,
            tokens: tokens as u64,
        }
    }
}

/// The shape of a vision tower and of the images a prompt carries, for
/// [`estimate_vision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisionShape {
    /// Vision tower hidden size, heads and MLP width.
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    /// Patches per frame, and pixels along a frame's side.
    pub patches: usize,
    pub frame_side: usize,
    /// Queries whose attention scores (over all of a frame's patches) exist at once:
    /// `patches`, or fewer when the tower takes queries in chunks.
    pub attention_rows: usize,
    /// Frames in one prompt (all its images, tiles and global images together).
    pub frames: usize,
    /// Language-model tokens per frame.
    pub tokens_per_frame: usize,
    /// Image features per frame that cross-attention layers hold as keys and values
    /// (Llama 3.2 Vision; 0 for models that merge features into the text), and those
    /// layers.
    pub cross_tokens_per_frame: usize,
    pub cross_layers: usize,
}

impl VisionShape {
    /// This shape (of one image) for `images` images.
    pub fn for_images(mut self, images: usize) -> VisionShape {
        self.frames *= images;
        self
    }

    pub fn image_tokens(&self) -> usize {
        self.frames * self.tokens_per_frame
    }

    pub fn cross_tokens(&self) -> usize {
        self.frames * self.cross_tokens_per_frame
    }

    /// Activations of encoding one frame (frames are encoded one at a time), the
    /// prompt's pixels, and its image features twice (features and merged embeddings).
    pub fn activation_bytes(&self, text_hidden: usize) -> u64 {
        let (p, d) = (self.patches as u64, self.hidden as u64);
        let rows = self.attention_rows as u64;
        let frame = 4 * p * (4 * d + self.intermediate as u64) + 4 * self.heads as u64 * rows * p;
        let pixels = 4 * self.frames as u64 * (self.frame_side * self.frame_side * 3) as u64;
        let features =
            2 * 4 * (self.image_tokens() + self.cross_tokens()) as u64 * text_hidden as u64;
        frame + pixels + features
    }
}

/// The estimate for a vision-language model: its language model's estimate (KV cache
/// and prefill) for `text_tokens` plus the image tokens, the cross-attention layers'
/// keys and values of the image features, and the vision activations; `weight_bytes`
/// covers the whole checkpoint (vision tower included).
pub fn estimate_vision(
    text: &ModelConfig,
    weight_bytes: u64,
    vision: &VisionShape,
    text_tokens: usize,
) -> MemoryEstimate {
    let tokens = text_tokens + vision.image_tokens();
    let mut e = MemoryEstimate::for_config(text, weight_bytes, tokens);
    e.kv_cache_bytes += 2
        * vision.cross_layers as u64
        * text.kv_heads() as u64
        * text.head_dim() as u64
        * vision.cross_tokens() as u64
        * 4;
    e.activation_bytes += vision.activation_bytes(text.hidden_size);
    e
}

/// Bytes the weights of the model in `dir` occupy once loaded (headers only).
pub fn weight_bytes(dir: &Path, upcast: bool) -> Result<u64> {
    Ok(weights::scan(dir)?
        .iter()
        .map(|t| t.loaded_bytes(upcast))
        .sum())
}

/// Estimates the memory the model in `dir` needs for `tokens` of context, reading only
/// `config.json` and the safetensors headers.
pub fn estimate(
    dir: &Path,
    config: &ModelConfig,
    tokens: usize,
    upcast: bool,
) -> Result<MemoryEstimate> {
    let weight_bytes = weights::scan(dir)?
        .iter()
        .map(|t| t.loaded_bytes(upcast))
        .sum();
    let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    let mapped_bytes = weights::weight_files(dir)?
        .iter()
        .map(|p| size(p))
        .max()
        .unwrap_or(0);
    let mut estimate = MemoryEstimate::for_config(config, weight_bytes, tokens);
    estimate.mapped_bytes = mapped_bytes;
    estimate.overhead_bytes += TOKENIZER_FACTOR * size(&dir.join("tokenizer.json"));
    Ok(estimate)
}

/// The gate's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum MemoryVerdict {
    Fits {
        estimate: MemoryEstimate,
        available: u64,
    },
    Insufficient {
        estimate: MemoryEstimate,
        available: u64,
    },
    /// Available memory could not be determined; loading goes ahead.
    Unknown { estimate: MemoryEstimate },
}

impl MemoryVerdict {
    pub fn fits(&self) -> bool {
        !matches!(self, MemoryVerdict::Insufficient { .. })
    }
}

impl std::fmt::Display for MemoryVerdict {
    /// The estimate part by part, and what is available (`--verbose`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (estimate, available) = match self {
            MemoryVerdict::Fits {
                estimate,
                available,
            }
            | MemoryVerdict::Insufficient {
                estimate,
                available,
            } => (estimate, Some(*available)),
            MemoryVerdict::Unknown { estimate } => (estimate, None),
        };
        let gb = |b: u64| b as f64 / 1e9;
        let available = available.map_or("unknown".into(), |a| format!("{:.3} GB", gb(a)));
        write!(
            f,
            "memory estimate: {:.3} GB for {} tokens (weights {:.3}, mapped while loading {:.3}, KV cache {:.3}, activations {:.3}, runtime {:.3}); available: {available}",
            gb(estimate.total_bytes()),
            estimate.tokens,
            gb(estimate.weight_bytes),
            gb(estimate.mapped_bytes),
            gb(estimate.kv_cache_bytes),
            gb(estimate.activation_bytes),
            gb(estimate.overhead_bytes),
        )
    }
}

/// The gate every loader passes before reading weights: compares `estimate` with the
/// memory available and, when `enforce`, refuses with
/// [`RunnerError::InsufficientMemory`] what would not fit (`--force` loads anyway).
pub fn gate(estimate: MemoryEstimate, enforce: bool) -> Result<MemoryVerdict> {
    let verdict = check(estimate, available_memory()?);
    match verdict {
        MemoryVerdict::Insufficient {
            estimate,
            available,
        } if enforce => Err(RunnerError::InsufficientMemory {
            estimate,
            available,
        }),
        verdict => Ok(verdict),
    }
}

/// Compares an estimate with what is available.
pub fn check(estimate: MemoryEstimate, available: Option<u64>) -> MemoryVerdict {
    match available {
        None => MemoryVerdict::Unknown { estimate },
        Some(available) if estimate.total_bytes() <= available => MemoryVerdict::Fits {
            estimate,
            available,
        },
        Some(available) => MemoryVerdict::Insufficient {
            estimate,
            available,
        },
    }
}

/// Environment variable capping the memory a model may use (`2G`, `512M`, bytes):
/// for machines shared with other work, and for cron jobs that must not crowd it.
pub const MEMORY_LIMIT_VAR: &str = "MLXK_MEMORY_LIMIT";

/// Memory a new model may use: what the machine has (see [`machine_memory`]),
/// capped by `MLXK_MEMORY_LIMIT` when set.
pub fn available_memory() -> Result<Option<u64>> {
    Ok(match (machine_memory(), memory_limit()?) {
        (Some(m), Some(l)) => Some(m.min(l)),
        (m, l) => m.or(l),
    })
}

/// `MLXK_MEMORY_LIMIT`, when set (an empty value counts as unset). A value that
/// is not a size is an error: a typo must not silently lift the cap.
pub fn memory_limit() -> Result<Option<u64>> {
    let value = match std::env::var(MEMORY_LIMIT_VAR) {
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => v.to_string_lossy().into_owned(),
        Ok(v) if v.trim().is_empty() => return Ok(None),
        Ok(v) => v,
    };
    parse_size(&value)
        .map(Some)
        .ok_or(RunnerError::InvalidMemoryLimit(value))
}

/// `"512M"`, `"2G"`, `"1.5GiB"`, `"1000000"` → bytes (binary units).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1u64,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    (number >= 0.0).then_some((number * scale as f64) as u64)
}

/// On Linux `MemAvailable` (capped by a cgroup v2 limit when one applies); on
/// macOS 75% of physical memory (Metal's usual working-set recommendation);
/// `None` elsewhere or when it cannot be read.
pub fn machine_memory() -> Option<u64> {
    if cfg!(target_os = "linux") {
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let available = meminfo_kib(&meminfo, "MemAvailable:")? * 1024;
        Some(match cgroup_headroom() {
            Some(headroom) => available.min(headroom),
            None => available,
        })
    } else if cfg!(target_os = "macos") {
        let out = std::process::Command::new("sysctl")
            .args(["-n", "hw.memsize"])
            .output()
            .ok()?;
        let total: u64 = String::from_utf8(out.stdout).ok()?.trim().parse().ok()?;
        Some(total / 4 * 3)
    } else {
        None
    }
}

fn meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `memory.max − memory.current` of this process's cgroup (v2), when limited.
fn cgroup_headroom() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let max: u64 = std::fs::read_to_string(dir.join("memory.max"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let current: u64 = std::fs::read_to_string(dir.join("memory.current"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(max.saturating_sub(current))
}

/// Peak resident memory of this process (`VmHWM`) on Linux; `None` elsewhere.
pub fn process_peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some(meminfo_kib(&status, "VmHWM:")? * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_cache_formula() {
        let c = ModelConfig::from_json(
            r#"{"model_type":"llama","hidden_size":576,"num_hidden_layers":30,"intermediate_size":1536,
                "num_attention_heads":9,"num_key_value_heads":3,"vocab_size":49152}"#,
        )
        .unwrap();
        let e = MemoryEstimate::for_config(&c, 1000, 2048);
        assert_eq!(e.kv_cache_bytes, 2 * 30 * 3 * 64 * 2048 * 4);
        assert_eq!(e.weight_bytes, 1000);
        assert!(check(e, Some(e.total_bytes())).fits());
        assert!(!check(e, Some(e.total_bytes() - 1)).fits());
        assert!(check(e, None).fits());
    }

    #[test]
    fn vision_formula() {
        let c = ModelConfig::from_json(
            r#"{"model_type":"llama","hidden_size":576,"num_hidden_layers":30,"intermediate_size":1536,
                "num_attention_heads":9,"num_key_value_heads":3,"vocab_size":49280}"#,
        )
        .unwrap();
        // SmolVLM-256M: 17 frames of 512², 64 tokens each.
        let v = VisionShape {
            hidden: 768,
            heads: 12,
            intermediate: 3072,
            patches: 1024,
            frame_side: 512,
            attention_rows: 1024,
            frames: 17,
            tokens_per_frame: 64,
            cross_tokens_per_frame: 0,
            cross_layers: 0,
        };
        let e = estimate_vision(&c, 1000, &v, 512);
        assert_eq!(e.tokens, 512 + 17 * 64);
        assert_eq!(e.kv_cache_bytes, 2 * 30 * 3 * 64 * 1792 * 4);
        let text_only = MemoryEstimate::for_config(&c, 1000, 512 + 17 * 64);
        let vision =
            4 * 1024 * (12 * 1024 + 4 * 768 + 3072) + 4 * 17 * 512 * 512 * 3 + 8 * 17 * 64 * 576;
        assert_eq!(e.activation_bytes, text_only.activation_bytes + vision);
    }

    #[test]
    fn reads_available_memory_here() {
        if cfg!(target_os = "linux") {
            assert!(machine_memory().unwrap() > 0);
            assert!(process_peak_memory().unwrap() > 0);
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("12 MB"), Some(12 << 20));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5X"), None);
    }
}
