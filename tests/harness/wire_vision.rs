//! The tests' own reading of mlxk-vision's NDJSON (docs/ndjson.md).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum VisionLine {
    Image(Image),
    Delta { id: u64, text: String },
    Chunk(Chunk),
    Error(super::wire::Error),
    Summary(super::wire::Summary),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Gps {
    pub lat: f64,
    pub lon: f64,
    pub alt: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    pub n: Option<u64>,
    pub path: String,
    pub file: Option<String>,
    pub format: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub gps: Option<Gps>,
    pub date: Option<String>,
    pub camera: Option<String>,
    pub lens: Option<String>,
    pub orientation: Option<u16>,
    pub decoded_width: Option<u32>,
    pub decoded_height: Option<u32>,
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chunk {
    pub index: u64,
    pub images: Vec<Image>,
    pub model: String,
    pub text: String,
    pub finish_reason: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub generated_tokens: Option<u64>,
}

/// mlxk-vision's output, the summary last and once.
pub struct Stream {
    pub images: Vec<Image>,
    pub chunks: Vec<Chunk>,
    /// Each delta's chunk index and text, in order.
    pub deltas: Vec<(u64, String)>,
    pub errors: Vec<super::wire::Error>,
    pub summary: super::wire::Summary,
}

pub fn stream(stdout: &str) -> Stream {
    let (mut images, mut chunks, mut deltas, mut errors, mut summary) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), None);
    for line in super::wire::decode::<VisionLine>(stdout) {
        assert!(summary.is_none(), "a line after the summary:\n{stdout}");
        match line {
            VisionLine::Image(i) => images.push(i),
            VisionLine::Chunk(c) => chunks.push(c),
            VisionLine::Delta { id, text } => deltas.push((id, text)),
            VisionLine::Error(e) => errors.push(e),
            VisionLine::Summary(s) => summary = Some(s),
        }
    }
    let summary = summary.unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    Stream {
        images,
        chunks,
        deltas,
        errors,
        summary,
    }
}
