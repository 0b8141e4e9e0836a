//! Which audio to transcribe: the file arguments, or paths read from standard
//! input (plain lines or NDJSON `audio` lines; other mlxk messages are ignored).

use std::io::IsTerminal;

use mlxk_core::input::{self, Line};
use serde_json::Value;

/// One thing to transcribe, or an input line that could not be understood.
pub enum Item {
    /// A path as given (`-`: the audio bytes on standard input).
    File {
        name: String,
        line: Option<u64>,
    },
    Malformed {
        line: u64,
        why: String,
    },
}

/// The items in order, read lazily from standard input when no file is named (a
/// pipeline's first file is transcribed while the rest are still being listed).
pub fn items(files: &[String]) -> Box<dyn Iterator<Item = Item>> {
    if !files.is_empty() {
        let files: Vec<Item> = files
            .iter()
            .map(|f| Item::File {
                name: f.clone(),
                line: None,
            })
            .collect();
        return Box::new(files.into_iter());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Box::new(std::iter::empty());
    }
    let lines = input::lines(std::io::BufReader::new(stdin));
    Box::new(lines.map_while(|l| l.ok()).filter_map(item))
}

fn item(line: Line) -> Option<Item> {
    let number = line.number();
    match line {
        Line::Text { text, .. } => Some(Item::File {
            name: text.trim().to_string(),
            line: Some(number),
        }),
        Line::Malformed { error, .. } => Some(Item::Malformed {
            line: number,
            why: error,
        }),
        Line::Json { value, .. } => match value.get("type").and_then(Value::as_str) {
            Some("audio") | None => Some(match value.get("path").and_then(Value::as_str) {
                Some(path) => Item::File {
                    name: path.to_string(),
                    line: Some(number),
                },
                None => Item::Malformed {
                    line: number,
                    why: "an audio line needs a \"path\"".into(),
                },
            }),
            // Other tools' messages (models, summaries, ...) are not audio.
            Some(_) => None,
        },
    }
}
