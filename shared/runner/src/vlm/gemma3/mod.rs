//! Gemma 3 (`model_type` `gemma3`), in mlx-vlm's shape: [`config`], the language model
//! ([`language`], the runner's gemma3_text decoder), the SigLIP vision tower
//! ([`vision`]), the [`projector`] (average pooling to `mm_tokens_per_image`, a Gemma
//! RMS norm, a projection), the top-level [`model`] that merges image features into the
//! text embeddings, and the [`processor`] (images and prompt), kept apart from the model.

pub mod config;
pub mod language;
pub mod model;
pub mod processor;
pub mod projector;
pub mod vision;

pub use config::Gemma3Config;
pub use model::Gemma3Vlm;
pub use processor::Processor;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["gemma3"];
