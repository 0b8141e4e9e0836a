//! The tests' own reading of the NDJSON contract (docs/ndjson.md). These
//! types are declared here, not imported from the library, so that a change
//! to the wire format that the docs do not describe fails a test.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ListLine {
    Model(Box<Model>),
    Error(Error),
    Summary(Summary),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    pub name: String,
    pub hash: Option<String>,
    pub size_bytes: u64,
    pub last_modified: Option<String>,
    pub framework: String,
    pub model_type: String,
    pub capabilities: Vec<String>,
    pub health: String,
    pub reason: Option<String>,
    pub runtime_compatible: bool,
    pub runtime_reason: Option<String>,
    pub quantization: Option<String>,
    pub context_length: Option<u64>,
    pub architecture: Option<String>,
    pub revision: Option<String>,
    pub path: String,
    pub cached: bool,
    pub files: Option<Vec<File>>,
    pub config: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct File {
    pub path: String,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Error {
    pub code: String,
    pub line: Option<u64>,
    pub id: Option<serde_json::Value>,
    pub message: String,
    pub hint: Option<String>,
    /// The input file it belongs to (mlxk-vision).
    pub path: Option<String>,
    #[serde(default)]
    pub candidates: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    pub tool: String,
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    pub exit_code: i32,
}

/// Decodes NDJSON output line by line (ndjson-stream); any line that does
/// not decode fails the test with the line.
pub fn decode<T: for<'de> Deserialize<'de>>(stdout: &str) -> Vec<T> {
    ndjson_stream::from_iter::<T, _>(stdout.lines().map(|l| format!("{l}\n")))
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("line {} does not decode: {e}\n{stdout}", i + 1)))
        .collect()
}

/// mlxk-list's model lines and its summary (which must come last, once).
pub fn list_output(stdout: &str) -> (Vec<Model>, Vec<Error>, Summary) {
    let lines: Vec<ListLine> = decode(stdout);
    let mut models = Vec::new();
    let mut errors = Vec::new();
    let mut summary = None;
    for line in lines {
        assert!(summary.is_none(), "a line after the summary:\n{stdout}");
        match line {
            ListLine::Model(m) => models.push(*m),
            ListLine::Error(e) => errors.push(e),
            ListLine::Summary(s) => summary = Some(s),
        }
    }
    (models, errors, summary.expect("a summary line"))
}
