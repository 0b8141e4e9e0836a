//! Writing to stdout the way pipelines expect: one flushed line per NDJSON
//! message, and a reader that closes the pipe ends the program quietly.

use std::io::{self, Write};

use serde::Serialize;

/// Stdout went away (the reader closed the pipe): stop quietly, exit 0.
#[derive(Debug)]
pub struct Closed;

/// Line-oriented stdout.
pub struct Out {
    inner: io::BufWriter<io::Stdout>,
    /// Flush after every line (NDJSON consumers read as lines arrive).
    flush_lines: bool,
}

impl Out {
    pub fn new(flush_lines: bool) -> Self {
        Out {
            inner: io::BufWriter::new(io::stdout()),
            flush_lines,
        }
    }

    /// Writes `value` as one JSON line.
    pub fn json<T: Serialize>(&mut self, value: &T) -> Result<(), Closed> {
        let line = serde_json::to_string(value).expect("wire types serialize");
        self.line(&line)
    }

    /// Writes one line of text.
    pub fn line(&mut self, text: &str) -> Result<(), Closed> {
        self.write(text.as_bytes())?;
        self.write(b"\n")?;
        if self.flush_lines {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes text as is (streamed generation).
    pub fn text(&mut self, text: &str) -> Result<(), Closed> {
        self.write(text.as_bytes())?;
        self.flush()
    }

    pub fn flush(&mut self) -> Result<(), Closed> {
        self.inner.flush().map_err(|_| Closed)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Closed> {
        // Any write error on stdout means nobody reads what we print: a
        // closed pipe (EPIPE) is the common case and ends quietly.
        self.inner.write_all(bytes).map_err(|_| Closed)
    }
}

/// Prints `error: …` and `hint: …` lines on stderr for people.
pub fn report(message: &str, hint: Option<&str>) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "error: {message}");
    if let Some(hint) = hint {
        let _ = writeln!(err, "hint: {hint}");
    }
}
