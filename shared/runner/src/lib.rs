//! mlxk's model runner: text generation with MLX (through mlx-rs) for mlx-community
//! style checkpoints of the families in [`SUPPORTED_ARCHITECTURES`] (llama, mistral, qwen2,
//! qwen3, gemma3_text, phi3, and the mixtures of experts mixtral, qwen3_moe and gpt_oss), dense or
//! MLX affine quantized (2–8 bit, group 32/64/128, per-module overrides, MXFP4 experts);
//! vision-language models in [`vlm`] (SmolVLM / Idefics3, Gemma 3, Qwen2.5-VL, Pixtral,
//! Mistral 3, Llama 3.2 Vision, Qwen3-VL and Qwen3-VL-MoE); Whisper speech recognition in
//! [`whisper`].
//!
//! On macOS MLX runs on Metal; elsewhere on its CPU backend, where half-precision
//! weights are upcast to float32 at load (see [`weights`]).
//!
//! ```no_run
//! use std::sync::{atomic::AtomicBool, Arc};
//! use mlxk_core::ndjson::Request;
//! use mlxk_runner::{Event, LoadOptions, Runner, SamplingParams};
//!
//! # fn main() -> Result<(), mlxk_runner::RunnerError> {
//! let runner = Runner::load("/path/to/SmolLM2-135M-Instruct-4bit", &LoadOptions::default())?;
//! let request = Request {
//!     prompt: Some("What is the capital of France?".into()),
//!     ..Request::default()
//! };
//! let prompt = runner.render(&request)?;
//! let params = SamplingParams::greedy(64).with_request(&request);
//! let interrupt = Arc::new(AtomicBool::new(false));
//! for event in runner.generate(&prompt, &params, Some(interrupt))? {
//!     match event? {
//!         Event::Token { text, .. } => print!("{text}"),
//!         Event::Reasoning { .. } => {}
//!         Event::Done { text, stats } => println!("{text}\n{stats:?}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Vision-language models are in [`vlm`]: [`vlm::VisionModel`].
//!
//! MLX is not thread safe across concurrent evaluation: use one runner from one thread
//! at a time.

#![deny(unsafe_code)]
// `quant_ops` alone calls mlx-c (allowed there): mlx-rs fixes quantized ops to affine mode.

pub mod activation;
pub mod arch;
pub mod channels;
pub mod config;
pub mod cpu_decode;
pub mod cross_attention;
pub mod detokenizer;
pub mod error;
pub mod folder;
pub mod gemma3;
pub mod generate;
pub mod gpt_oss;
pub mod heap;
pub mod image_context;
pub mod interrupt;
pub mod kernel;
pub mod kv_cache;
pub mod layers;
pub mod linear;
pub mod llama;
pub mod memory;
pub mod mixtral;
pub mod mlp;
pub mod moe;
pub mod phi3;
pub mod quant;
pub mod quant_ops;
pub mod qwen2;
pub mod qwen3;
pub mod qwen3_moe;
pub mod rope;
pub mod sampler;
pub mod softmax;
pub mod template;
pub mod vlm;
pub mod weights;
pub mod whisper;

mod runner;

pub use arch::SUPPORTED_ARCHITECTURES;
pub use config::ModelConfig;
pub use error::{Result, RunnerError};
pub use generate::GenerationStats;
pub use memory::{MemoryEstimate, MemoryVerdict};
pub use runner::{Event, Generation, LoadOptions, Runner};
pub use sampler::SamplingParams;

/// Serializes MLX use within this crate's unit tests.
#[cfg(test)]
pub(crate) fn test_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
