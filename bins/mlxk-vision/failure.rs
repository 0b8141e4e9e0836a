//! What stops mlxk-vision before any image is described, as NDJSON error
//! objects with a hint. (A single image's trouble is a `PhotoError`.)

use mlxk_core::ndjson::ErrorMessage;
use mlxk_runner::RunnerError;

use crate::describe::families;

pub enum Failure {
    /// No model named and no vision model in the cache.
    NoModel,
    /// No model named and several vision models cached.
    ManyModels(Vec<String>),
    Resolve(mlxk_core::Error),
    Unhealthy {
        name: String,
        reason: String,
    },
    TextOnly {
        name: String,
    },
    Unsupported {
        name: String,
        reason: String,
    },
    /// Loading or running the model.
    Runner(RunnerError),
}

impl Failure {
    pub fn message(&self) -> ErrorMessage {
        let (code, message, hint): (&str, String, Option<String>) = match self {
            Failure::NoModel => (
                "model_not_found",
                "no model given, and no vision model in the cache".into(),
                Some(format!(
                    "mlxk-pull mlx-community/SmolVLM-256M-Instruct-4bit (or another of {}), or --metadata-only to read the EXIF alone",
                    mlxk_runner::vlm::SUPPORTED_VISION_FAMILIES.join(", ")
                )),
            ),
            Failure::ManyModels(names) => {
                return ErrorMessage {
                    code: "ambiguous_match".into(),
                    message: format!(
                        "no model given, and the cache has {} vision models",
                        names.len()
                    ),
                    hint: Some(format!(
                        "name one first: mlxk-vision MODEL IMAGE… ({})",
                        names.join(", ")
                    )),
                    line: None,
                    id: None,
                    path: None,
                    candidates: names.clone(),
                }
            }
            Failure::Resolve(e) => return e.to_message(),
            Failure::Unhealthy { name, reason } => (
                "unhealthy_model",
                format!("{name} is unhealthy: {reason}"),
                Some(format!(
                    "mlxk-list --show {name} --files; mlxk-pull {name} repairs a download"
                )),
            ),
            Failure::TextOnly { name } => (
                "validation_error",
                format!("{name} is a text-only model: mlxk-vision needs a vision model"),
                Some(format!(
                    "mlxk-run {name} runs it; mlxk-list --json shows which models have the vision capability"
                )),
            ),
            Failure::Unsupported { name, reason } => (
                "unsupported_architecture",
                format!("{name} cannot run: {reason}"),
                Some(format!(
                    "vision families this build runs: {}; --metadata-only works without a model",
                    families()
                )),
            ),
            Failure::Runner(e) => (e.code(), e.to_string(), e.hint().map(String::from)),
        };
        ErrorMessage {
            code: code.into(),
            message,
            hint,
            line: None,
            id: None,
            path: None,
            candidates: Vec::new(),
        }
    }
}
