//! The tests' own reading of mlxk-run's NDJSON (docs/ndjson.md).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RunLine {
    Delta {
        id: Option<serde_json::Value>,
        text: String,
    },
    Result(RunResult),
    Error(super::wire::Error),
    Summary(super::wire::Summary),
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunResult {
    pub id: Option<serde_json::Value>,
    pub model: String,
    pub text: String,
    pub finish_reason: String,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    pub prompt_tps: f64,
    pub generation_tps: f64,
    pub peak_memory_bytes: u64,
}
