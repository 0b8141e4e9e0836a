//! Typed errors of the library. Every variant has a stable `code()` that goes
//! into NDJSON error objects and a `hint()` for people.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cache directory {} does not exist", .0.display())]
    CacheMissing(PathBuf),

    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no model matches '{0}'")]
    ModelNotFound(String),

    #[error("'{pattern}' matches {} models: {}", candidates.len(), candidates.join(", "))]
    AmbiguousMatch {
        pattern: String,
        candidates: Vec<String>,
    },

    #[error("{name} has no snapshot for revision '{revision}'")]
    RevisionNotFound { name: String, revision: String },

    #[error("{0}")]
    Validation(String),

    #[error("refusing to delete {}: it carries no {} sentinel", .0.display(), crate::sentinel::SENTINEL)]
    NoSentinel(PathBuf),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Stable machine-readable code (mlx-knife's names where it has one).
    pub fn code(&self) -> &'static str {
        match self {
            Error::CacheMissing(_) => "cache_not_found",
            Error::Io { .. } => "io_error",
            Error::ModelNotFound(_) => "model_not_found",
            Error::AmbiguousMatch { .. } => "ambiguous_match",
            Error::RevisionNotFound { .. } => "revision_not_found",
            Error::Validation(_) => "validation_error",
            Error::NoSentinel(_) => "validation_error",
        }
    }

    /// What a person can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::CacheMissing(_) => Some(
                "set HF_HUB_CACHE or HF_HOME to your Hugging Face cache, or pull a model first"
                    .into(),
            ),
            Error::ModelNotFound(_) => {
                Some("run mlxk-list to see the cached models, or mlxk-pull ORG/NAME".into())
            }
            Error::AmbiguousMatch { .. } => {
                Some("give more of the name, e.g. org/name, or name@hash".into())
            }
            Error::RevisionNotFound { name, .. } => {
                Some(format!("mlxk-list --show {name} shows the snapshot that is cached; mlxk-pull {name}@REVISION downloads another"))
            }
            _ => None,
        }
    }

    /// The candidates of an ambiguous match.
    pub fn candidates(&self) -> Vec<String> {
        match self {
            Error::AmbiguousMatch { candidates, .. } => candidates.clone(),
            _ => Vec::new(),
        }
    }

    /// This error as an NDJSON error object.
    pub fn to_message(&self) -> crate::ndjson::ErrorMessage {
        crate::ndjson::ErrorMessage {
            code: self.code().into(),
            message: self.to_string(),
            hint: self.hint(),
            line: None,
            id: None,
            path: None,
            candidates: self.candidates(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
