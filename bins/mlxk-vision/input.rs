//! Where the images come from: the arguments, or else standard input (one
//! path per line, or NDJSON `image` lines), read as they arrive.

use std::io::IsTerminal;
use std::path::PathBuf;

use mlxk_core::input::{self, Line};
use mlxk_core::ndjson::{ErrorMessage, ImageInfo};
use serde_json::Value;

/// One input: an image path, or a line that could not be understood.
pub enum Input {
    Image { path: PathBuf, line: Option<u64> },
    Bad(ErrorMessage),
}

/// The inputs in order. Standard input is read only when no image is
/// given as an argument (and it is not a terminal).
pub fn inputs(args: Vec<PathBuf>) -> Box<dyn Iterator<Item = Input>> {
    if !args.is_empty() {
        return Box::new(
            args.into_iter()
                .map(|path| Input::Image { path, line: None }),
        );
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Box::new(std::iter::empty());
    }
    Box::new(
        input::lines(stdin.lock())
            .map_while(Result::ok)
            .filter_map(from_line),
    )
}

fn from_line(line: Line) -> Option<Input> {
    let number = line.number();
    match line {
        Line::Text { text, .. } => Some(Input::Image {
            path: PathBuf::from(text.trim()),
            line: Some(number),
        }),
        Line::Malformed { error, .. } => Some(Input::Bad(bad(number, error))),
        Line::Json { value, .. } => match value.get("type").and_then(Value::as_str) {
            Some("image") | None => match serde_json::from_value::<ImageInfo>(value) {
                Ok(image) => Some(Input::Image {
                    path: PathBuf::from(image.path),
                    line: Some(number),
                }),
                Err(e) => Some(Input::Bad(bad(number, e.to_string()))),
            },
            // Other tools' lines (summaries, models, …) are not images.
            Some(_) => None,
        },
    }
}

fn bad(line: u64, why: String) -> ErrorMessage {
    ErrorMessage {
        code: "invalid_input".into(),
        message: format!("input line is not an image path or image message: {why}"),
        hint: Some("one path per line, or {\"type\":\"image\",\"path\":\"beach.jpg\"}".into()),
        line: Some(line),
        id: None,
        path: None,
        candidates: Vec::new(),
    }
}
