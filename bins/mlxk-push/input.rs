//! The folder to push: on the command line, else the one line of standard
//! input (plain, or NDJSON with a `path`).

use std::io::{self, IsTerminal};

use mlxk_core::input::{lines, Line};

/// The folder, or why there is none.
pub fn folder_from_stdin() -> Result<String, String> {
    if io::stdin().is_terminal() {
        return Err("no folder given".into());
    }
    let mut found: Vec<String> = Vec::new();
    for line in lines(io::stdin().lock()) {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let n = line.number();
        match line {
            Line::Text { text, .. } => found.push(text.trim().to_string()),
            Line::Json { value, .. } => {
                // Summaries, errors and progress of other tools pass by.
                if !matches!(
                    value.get("type").and_then(|t| t.as_str()),
                    None | Some("model") | Some("result")
                ) {
                    continue;
                }
                match value.get("path").and_then(|p| p.as_str()) {
                    Some(p) => found.push(p.to_string()),
                    None => return Err(format!("line {n}: an NDJSON line needs a \"path\"")),
                }
            }
            Line::Malformed { error, .. } => return Err(format!("line {n}: not JSON: {error}")),
        }
    }
    found.dedup();
    match found.len() {
        0 => Err("no folder on standard input".into()),
        1 => Ok(found.remove(0)),
        n => Err(format!("{n} folders on standard input; a push takes one")),
    }
}
