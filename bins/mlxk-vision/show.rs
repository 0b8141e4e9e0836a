//! What people and pipelines see: `image`, `chunk`, `error` and `summary`
//! lines with --json; a table of the images (mlx-knife's columns) and the
//! model's text otherwise, errors on stderr.

use mlxk_core::ndjson::{Chunk, Delta, ErrorMessage, ImageInfo, Summary, VisionMessage};
use mlxk_core::output::{report, Closed, Out};
use mlxk_core::photo::metadata::{table_row, TABLE_HEADER};

pub struct Show {
    out: Out,
    json: bool,
    /// The table header was printed (human --metadata-only / --check).
    header: bool,
}

impl Show {
    pub fn new(json: bool) -> Self {
        Show {
            out: Out::new(true),
            json,
            header: false,
        }
    }

    /// One image of --metadata-only or --check (`n`: its number in the run).
    pub fn image(&mut self, n: u64, info: ImageInfo) -> Result<(), Closed> {
        if self.json {
            return self.out.json(&VisionMessage::Image(info));
        }
        if !self.header {
            self.header = true;
            self.out.line(TABLE_HEADER)?;
        }
        let mut row = table_row(n as usize, &info);
        if let (Some(w), Some(h)) = (info.decoded_width, info.decoded_height) {
            row.push_str(&format!(" {w}×{h}"));
        }
        self.out.line(&row)?;
        if let Some(warning) = &info.warning {
            eprintln!("warning: {}: {warning}", info.path);
        }
        Ok(())
    }

    /// The table that opens a chunk in human mode.
    pub fn chunk_table(&mut self, images: &[ImageInfo]) -> Result<(), Closed> {
        if self.json {
            return Ok(());
        }
        self.out.line(TABLE_HEADER)?;
        for (i, info) in images.iter().enumerate() {
            self.out.line(&table_row(i + 1, info))?;
        }
        self.out.line("")
    }

    /// Generated text of chunk `index` as it comes: a `delta` line (its `id`
    /// the chunk's index) with --json.
    pub fn text(&mut self, index: u64, piece: &str) -> Result<(), Closed> {
        if self.json {
            self.out.json(&VisionMessage::Delta(Delta {
                id: Some(index.into()),
                text: piece.into(),
            }))
        } else {
            self.out.text(piece)
        }
    }

    pub fn chunk(&mut self, chunk: Chunk) -> Result<(), Closed> {
        if self.json {
            self.out.json(&VisionMessage::Chunk(chunk))
        } else {
            self.out.line("\n")
        }
    }

    pub fn error(&mut self, message: ErrorMessage) -> Result<(), Closed> {
        report(&message.message, message.hint.as_deref());
        if self.json {
            self.out.json(&VisionMessage::Error(message))?;
        }
        Ok(())
    }

    pub fn summary(&mut self, summary: Summary) -> Result<(), Closed> {
        if self.json {
            self.out.json(&VisionMessage::Summary(summary))?;
        }
        self.out.flush()
    }
}
