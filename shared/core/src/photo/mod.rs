//! Photos for mlxk-vision: metadata without decoding ([`metadata::inspect`]:
//! format, size, EXIF), and pixels decoded the way a model should get them
//! ([`decode::decode`]: orientation applied, large photos reduced while
//! decoding so memory stays bounded).
//!
//! ```no_run
//! use std::path::Path;
//! use mlxk_core::photo::{decode, metadata};
//! let info = metadata::inspect(Path::new("beach.jpg")).unwrap();
//! println!("{}", metadata::prompt_line(1, &info));
//! let rgb = decode::decode(Path::new("beach.jpg"), info.orientation, decode::DEFAULT_MAX_PIXELS).unwrap();
//! println!("{}×{}", rgb.width(), rgb.height());
//! ```

pub mod decode;
pub mod error;
pub mod exif;
pub mod metadata;
mod png;
mod png_text;
pub mod resample;

pub use error::PhotoError;
