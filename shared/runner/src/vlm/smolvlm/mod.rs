//! SmolVLM / SmolVLM2 and Idefics3 (`model_type` `smolvlm`, `idefics3`), in mlx-vlm's
//! shape: [`config`], the language model ([`language`], the runner's llama decoder),
//! the vision tower ([`vision`]), the [`connector`], the top-level [`model`] that merges
//! image features into the text embeddings, and the [`processor`] (images and prompt),
//! kept apart from the model.

pub mod config;
pub mod connector;
pub mod language;
pub mod model;
pub mod processor;
pub mod vision;

pub use config::SmolVlmConfig;
pub use model::SmolVlm;
pub use processor::Processor;

/// `model_type` values of this family.
pub const MODEL_TYPES: &[&str] = &["smolvlm", "idefics3"];
