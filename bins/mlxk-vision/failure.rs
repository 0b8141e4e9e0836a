//! What stops mlxk-vision before any image is described, as NDJSON error
//! objects with a hint. (A single image's trouble is a `PhotoError`.)

use mlxk_core::ndjson::ErrorMessage;

use crate::describe::families;

pub enum Failure {
    NoModel,
    Resolve(mlxk_core::Error),
    Unhealthy {
        name: String,
        reason: String,
    },
    TextOnly {
        name: String,
    },
    Memory {
        name: String,
        size: u64,
        available: u64,
    },
    Unsupported {
        name: String,
        reason: String,
    },
}

impl Failure {
    pub fn message(&self) -> ErrorMessage {
        let (code, message, hint): (&str, String, Option<String>) = match self {
            Failure::NoModel => (
                "validation_error",
                "no model given".into(),
                Some("name one (mlxk-vision MODEL IMAGE…), or use --metadata-only".into()),
            ),
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
            Failure::Memory {
                name,
                size,
                available,
            } => (
                "insufficient_memory",
                format!(
                    "{name} ({:.1} GB) needs more than 70% of the {:.1} GB available",
                    *size as f64 / 1e9,
                    *available as f64 / 1e9
                ),
                Some("close other programs, use a smaller or more quantized model, or --force to load anyway".into()),
            ),
            Failure::Unsupported { name, reason } => (
                "unsupported_architecture",
                format!("{name} cannot run: {reason}"),
                Some(format!(
                    "vision families this build runs: {}; --metadata-only works without a model",
                    families()
                )),
            ),
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
