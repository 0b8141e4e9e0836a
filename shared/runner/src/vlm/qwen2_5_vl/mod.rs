//! Qwen2.5-VL (`model_type` `qwen2_5_vl`), in mlx-vlm's shape: [`config`], the language
//! model ([`language`], the runner's qwen2 decoder with multimodal rope positions), the
//! vision tower ([`vision`]: patch embedding, 2-D rotary, window attention, patch
//! merger), the top-level [`model`] that merges image features into the text
//! embeddings, and the [`processor`] (images and prompt), kept apart from the model.

pub mod config;
pub mod language;
pub mod model;
pub mod processor;
pub mod vision;

pub use config::Qwen25VlConfig;
pub use model::Qwen25Vl;
pub use processor::Processor;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["qwen2_5_vl"];
