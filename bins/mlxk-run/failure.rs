//! What can go wrong in mlxk-run, as NDJSON error objects with a hint.

use mlxk_core::ndjson::ErrorMessage;
use mlxk_runner::{RunnerError, SUPPORTED_ARCHITECTURES};

pub enum Failure {
    NoModel,
    NoPrompt,
    Malformed(String),
    Resolve(mlxk_core::Error),
    Unhealthy { name: String, reason: String },
    Unsupported { name: String, reason: String },
    Runner(RunnerError),
}

impl Failure {
    pub fn message(&self, line: Option<u64>, id: Option<serde_json::Value>) -> ErrorMessage {
        let (code, message, hint): (&str, String, Option<String>) = match self {
            Failure::NoModel => (
                "validation_error",
                "no model given".into(),
                Some(
                    "name it before the prompt: mlxk-run MODEL \"your question\" (mlxk-list shows the cached models), or pipe an mlxk-list --json line"
                        .into(),
                ),
            ),
            Failure::NoPrompt => (
                "empty_prompt",
                "no prompt: give one as arguments, with --prompt, or on standard input".into(),
                Some("mlxk-run MODEL \"your question\", or echo \"your question\" | mlxk-run MODEL".into()),
            ),
            Failure::Malformed(why) => (
                "invalid_input",
                format!("input line is not a valid message: {why}"),
                Some(
                    "one JSON object per line, e.g. {\"type\":\"request\",\"prompt\":\"hi\"}"
                        .into(),
                ),
            ),
            Failure::Resolve(e) => {
                let mut m = e.to_message();
                m.line = line;
                m.id = id;
                return m;
            }
            Failure::Unhealthy { name, reason } => (
                "unhealthy_model",
                format!("{name} is unhealthy: {reason}"),
                Some(format!(
                    "mlxk-list --show {name} --files; mlxk-pull {name} repairs a download"
                )),
            ),
            Failure::Unsupported { name, reason } => (
                "unsupported_architecture",
                format!("{name} cannot run: {reason}"),
                Some(format!(
                    "supported architectures: {}",
                    SUPPORTED_ARCHITECTURES.join(", ")
                )),
            ),
            Failure::Runner(e) => runner_error(e),
        };
        ErrorMessage {
            code: code.into(),
            message,
            hint,
            line,
            id,
            path: None,
            candidates: Vec::new(),
        }
    }
}

fn runner_error(e: &RunnerError) -> (&'static str, String, Option<String>) {
    (e.code(), e.to_string(), e.hint().map(String::from))
}
