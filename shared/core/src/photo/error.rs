//! Why one image could not be read. Each is an error for that image only:
//! the batch goes on.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is a directory, not an image", .0.display())]
    Directory(PathBuf),

    #[error("{} is empty", .0.display())]
    Empty(PathBuf),

    #[error("{} is not an image mlxk-vision reads (JPEG, PNG, WebP, GIF, TIFF)", .0.display())]
    NotAnImage(PathBuf),

    #[error("{} cannot be decoded: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },

    #[error("{} is too large: {width}×{height} pixels, over the {limit}-pixel limit for its format", path.display())]
    TooLarge {
        path: PathBuf,
        width: u64,
        height: u64,
        limit: u64,
    },
}

impl PhotoError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        PhotoError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn invalid(path: &Path, reason: impl std::fmt::Display) -> Self {
        PhotoError::Invalid {
            path: path.to_path_buf(),
            reason: reason.to_string().trim_end().to_string(),
        }
    }

    /// Stable code for NDJSON error objects.
    pub fn code(&self) -> &'static str {
        match self {
            PhotoError::Io { .. } | PhotoError::Directory(_) => "io_error",
            PhotoError::Empty(_) | PhotoError::NotAnImage(_) | PhotoError::Invalid { .. } => {
                "invalid_image"
            }
            PhotoError::TooLarge { .. } => "image_too_large",
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PhotoError::Directory(_) => {
                Some("pass the files: find DIR -name '*.jpg' | mlxk-vision …".into())
            }
            PhotoError::Invalid { .. } | PhotoError::Empty(_) => {
                Some("the file may be truncated or damaged; the other images go on".into())
            }
            PhotoError::TooLarge { .. } => {
                Some("convert it to JPEG (decoded at reduced size) or downscale it first".into())
            }
            _ => None,
        }
    }

    /// This error as an NDJSON error object for `path`.
    pub fn to_message(&self) -> crate::ndjson::ErrorMessage {
        let path = match self {
            PhotoError::Io { path, .. }
            | PhotoError::Directory(path)
            | PhotoError::Empty(path)
            | PhotoError::NotAnImage(path)
            | PhotoError::Invalid { path, .. }
            | PhotoError::TooLarge { path, .. } => path,
        };
        crate::ndjson::ErrorMessage {
            code: self.code().into(),
            message: self.to_string(),
            hint: self.hint(),
            line: None,
            id: None,
            path: Some(path.to_string_lossy().into_owned()),
            candidates: Vec::new(),
        }
    }
}
