//! Reads standard input line by line as mlxk tools accept it: a line that
//! starts with `{` is an NDJSON message, any other non-blank line is plain
//! text. A line that fails to parse is reported with its number, and the
//! lines after it are still read.

use std::io::BufRead;

use serde_json::Value;

/// One line of input.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A JSON object (its `type`, if any, tells what it is).
    Json { number: u64, value: Value },
    /// Plain text (not JSON).
    Text { number: u64, text: String },
    /// Looked like JSON but is not a valid object.
    Malformed { number: u64, error: String },
}

impl Line {
    pub fn number(&self) -> u64 {
        match self {
            Line::Json { number, .. }
            | Line::Text { number, .. }
            | Line::Malformed { number, .. } => *number,
        }
    }

    /// The message's `type` field, if it is a JSON object with one.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Line::Json { value, .. } => value.get("type").and_then(Value::as_str),
            _ => None,
        }
    }
}

/// Iterates the non-blank lines of `reader`. Invalid UTF-8 is replaced, not fatal.
pub fn lines<R: BufRead>(reader: R) -> impl Iterator<Item = std::io::Result<Line>> {
    let mut number = 0u64;
    reader.split(b'\n').filter_map(move |chunk| {
        number += 1;
        let bytes = match chunk {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return None;
        }
        Some(Ok(classify(number, text)))
    })
}

fn classify(number: u64, text: &str) -> Line {
    if !text.trim_start().starts_with('{') {
        return Line::Text {
            number,
            text: text.to_string(),
        };
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Line::Json { number, value },
        Ok(_) => Line::Malformed {
            number,
            error: "not a JSON object".into(),
        },
        Err(e) => Line::Malformed {
            number,
            error: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_input_keeps_going_after_a_bad_line() {
        let input = b"hello\n\n{\"type\":\"request\",\"prompt\":\"x\"}\n{broken\nlast\n";
        let lines: Vec<Line> = lines(&input[..]).map(Result::unwrap).collect();
        assert_eq!(lines.len(), 4);
        assert!(matches!(&lines[0], Line::Text { number: 1, text } if text == "hello"));
        assert_eq!(lines[1].kind(), Some("request"));
        assert_eq!(lines[1].number(), 3);
        assert!(matches!(&lines[2], Line::Malformed { number: 4, .. }));
        assert!(matches!(&lines[3], Line::Text { number: 5, .. }));
    }
}
