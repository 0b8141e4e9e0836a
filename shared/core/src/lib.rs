//! mlxk-core: the part of mlxk that needs no MLX.
//!
//! - [`cache`]: the Hugging Face hub cache (repos, refs, snapshots, blobs);
//! - [`resolve`]: model names as users type them;
//! - [`evidence`], [`detect`], [`health`]: what a model is and whether its
//!   files are whole ([`safetensors`] and [`gguf`] headers are read for that);
//! - [`model`]: the `model` object mlxk-list prints;
//! - [`ndjson`]: the wire types every tool speaks; [`input`] and [`output`]
//!   read and write them; [`exit`]: exit codes;
//! - [`photo`]: image metadata (EXIF) and decoding for mlxk-vision;
//! - [`sentinel`]: isolated caches that may be deleted; [`cli`]: man pages
//!   and completions.
//!
//! ```no_run
//! use mlxk_core::{cache::Cache, model};
//! let cache = Cache::from_env();
//! for repo in cache.repos().unwrap() {
//!     let m = model::describe_repo(&repo, None, model::Detail::default());
//!     println!("{} {:?} {}", m.name, m.health, m.size_bytes);
//! }
//! ```

pub mod cache;
pub mod cli;
pub mod detect;
pub mod error;
pub mod evidence;
pub mod exit;
pub mod gguf;
pub mod health;
#[cfg(feature = "hub")]
pub mod hub;
pub mod input;
pub mod model;
pub mod ndjson;
pub mod npz;
pub mod output;
pub mod photo;
pub mod resolve;
pub mod safetensors;
pub mod sampling;
pub mod sentinel;

pub use error::{Error, Result};
