//! What to pull: the names on the command line, else those on standard input.

use std::io::{self, IsTerminal};

use mlxk_core::hub::pull::Request;
use mlxk_core::input::{lines, Line};
use mlxk_core::ndjson::ErrorMessage;

/// A request, or why a line could not be one.
pub enum Item {
    Pull(Request),
    Bad(ErrorMessage),
}

/// `None` when there are no names and stdin is a terminal or holds nothing
/// (a usage error either way).
pub fn requests(names: &[String], revision: Option<&str>) -> Option<Vec<Item>> {
    if !names.is_empty() {
        return Some(names.iter().map(|n| parse(n, revision, None)).collect());
    }
    if io::stdin().is_terminal() {
        return None;
    }
    let mut items = Vec::new();
    let mut read_any = false;
    for line in lines(io::stdin().lock()) {
        read_any = true;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                items.push(Item::Bad(error(
                    "io_error",
                    format!("reading stdin: {e}"),
                    None,
                )));
                break;
            }
        };
        let number = Some(line.number());
        match line {
            Line::Text { text, .. } => items.push(parse(text.trim(), revision, number)),
            Line::Json { value, .. } => {
                // Summaries, errors and progress of other tools pass by.
                if !matches!(
                    value.get("type").and_then(|t| t.as_str()),
                    None | Some("model")
                ) {
                    continue;
                }
                match value.get("name").and_then(|n| n.as_str()) {
                    Some(name) => {
                        let rev = value.get("revision").and_then(|r| r.as_str()).or(revision);
                        items.push(parse(name, rev, number))
                    }
                    None => items.push(Item::Bad(error(
                        "validation_error",
                        "an NDJSON line needs a \"name\"".into(),
                        number,
                    ))),
                }
            }
            Line::Malformed { error: e, .. } => items.push(Item::Bad(error(
                "validation_error",
                format!("not JSON: {e}"),
                number,
            ))),
        }
    }
    read_any.then_some(items)
}

fn parse(spec: &str, revision: Option<&str>, line: Option<u64>) -> Item {
    match Request::parse(spec, revision) {
        Ok(r) => Item::Pull(r),
        Err(e) => Item::Bad(error("validation_error", e.to_string(), line)),
    }
}

fn error(code: &str, message: String, line: Option<u64>) -> ErrorMessage {
    ErrorMessage {
        code: code.into(),
        message,
        hint: None,
        line,
        id: None,
        path: None,
        candidates: Vec::new(),
    }
}
