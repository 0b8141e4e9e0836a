//! The SmolVLM / Idefics3 processor, kept apart from the model: how a photo becomes
//! frames of pixels, and how the prompt's `<image>` becomes the image tokens.
//!
//! Images (transformers' `Idefics3ImageProcessor`/`SmolVLMImageProcessor`, PIL backend,
//! as mlx-vlm calls them), with every step switchable by `preprocessor_config.json`:
//! 1. resize so the longest edge is `size.longest_edge` (aspect kept, the other edge
//!    rounded up to even; nothing above 4096), with Pillow's `resample` filter;
//! 2. with `do_image_splitting`: resize again so both edges are multiples of
//!    `max_image_size.longest_edge` (M), cut into M×M tiles row by row, and append the
//!    whole image resized to M×M (the global image); an image of at most M×M stays one
//!    frame. Without splitting: one frame, the image resized to M×M;
//! 3. rescale (`× rescale_factor`, in float64 then float32) and normalise
//!    (`(x − mean) / std` in float32).
//!
//! Prompt (mlx-vlm's `Idefics3Processor`/`SmolVLMProcessor`): each `<image>` becomes,
//! for a split image, per tile `<fake_token_around_image><row_r_col_c>` + `<image>` ×
//! `image_seq_len`, a newline after each row, then `\n<fake_token_around_image><global-img>`,
//! `<image>` × `image_seq_len` and `<fake_token_around_image>`; for a single frame only
//! the global part without the leading newline.

use std::path::Path;

use image::RgbImage;
use serde_json::Value;

use crate::error::{Result, RunnerError};
use crate::vlm::pixels::PixelConfig;
use crate::vlm::processor_files::ProcessorFiles;
use crate::vlm::resample::{self, Filter};

/// Transformers' cap on the longest edge after the first resize.
pub const MAX_IMAGE_SIZE: u32 = 4096;
pub const IMAGE_TOKEN: &str = "<image>";
pub const FAKE_TOKEN: &str = "<fake_token_around_image>";
pub const GLOBAL_TOKEN: &str = "<global-img>";
pub const END_OF_UTTERANCE: &str = "<end_of_utterance>";

/// The image processor's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageConfig {
    pub do_resize: bool,
    pub size_longest_edge: u32,
    pub max_image_size: u32,
    pub do_image_splitting: bool,
    /// Filter, rescale and normalisation.
    pub pixels: PixelConfig,
}

impl Default for ImageConfig {
    /// transformers' class defaults.
    fn default() -> Self {
        ImageConfig {
            do_resize: true,
            size_longest_edge: 4 * 364,
            max_image_size: 364,
            do_image_splitting: true,
            pixels: PixelConfig::new(Filter::Lanczos, [0.5; 3], [0.5; 3]),
        }
    }
}

impl ImageConfig {
    /// Applies the keys of a `preprocessor_config.json` (or of `processor_config.json`'s
    /// `image_processor`) over `self`.
    fn apply(&mut self, v: &Value, path: &Path) -> Result<()> {
        let bad = |message: String| RunnerError::InvalidConfig {
            path: path.into(),
            message,
        };
        let flag = |key: &str, into: &mut bool| {
            if let Some(b) = v.get(key).and_then(Value::as_bool) {
                *into = b;
            }
        };
        flag("do_resize", &mut self.do_resize);
        flag("do_image_splitting", &mut self.do_image_splitting);
        let edge = |key: &str| -> Result<Option<u32>> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(s) => s
                    .get("longest_edge")
                    .and_then(Value::as_u64)
                    .filter(|&e| e > 0 && e <= MAX_IMAGE_SIZE as u64)
                    .map(|e| Some(e as u32))
                    .ok_or_else(|| bad(format!("`{key}` needs a `longest_edge` in 1..=4096"))),
            }
        };
        if let Some(e) = edge("size")? {
            self.size_longest_edge = e;
        }
        if let Some(e) = edge("max_image_size")? {
            self.max_image_size = e;
        }
        self.pixels.apply(v, path)
    }
}

/// One image, ready for the model.
#[derive(Debug, Clone)]
pub struct ProcessedImage {
    /// The frames in model order: tiles row by row, then the global image.
    pub frames: Vec<RgbImage>,
    /// Tile rows and columns (0 and 0 when the image is a single frame).
    pub rows: usize,
    pub cols: usize,
}

/// Processor settings and the rules above.
#[derive(Debug, Clone)]
pub struct Processor {
    pub image: ImageConfig,
    /// Image tokens per frame in the prompt.
    pub image_seq_len: usize,
}

impl Processor {
    /// Reads `preprocessor_config.json` and `processor_config.json` in `dir`;
    /// `tokens_per_frame` is what the model makes of a frame (used when the files do
    /// not say, and checked against them when they do).
    pub fn load(dir: &Path, tokens_per_frame: usize) -> Result<Self> {
        let mut image = ImageConfig::default();
        let files = ProcessorFiles::read(dir)?;
        for (v, path) in files.image_settings() {
            image.apply(v, path)?;
        }
        let image_seq_len = match files.processor_u64("image_seq_len") {
            Some(n) if n as usize != tokens_per_frame => {
                return Err(RunnerError::InvalidConfig {
                    path: files.proc_path,
                    message: format!(
                        "image_seq_len {n} does not match the {tokens_per_frame} tokens the vision tower makes per frame"
                    ),
                })
            }
            _ => tokens_per_frame,
        };
        Ok(Processor {
            image,
            image_seq_len,
        })
    }

    /// Resizes and splits `image` into frames (steps 1–2 of the module docs).
    pub fn frames(&self, image: &RgbImage) -> Result<ProcessedImage> {
        let c = &self.image;
        if image.width() == 0 || image.height() == 0 {
            return Err(RunnerError::InvalidImage("the image is empty".into()));
        }
        let filter = c.pixels.resample;
        let mut img = image.clone();
        if c.do_resize {
            let (h, w) = longest_edge_size(img.height(), img.width(), c.size_longest_edge);
            img = resample::resize(&img, w, h, filter);
        }
        let m = c.max_image_size;
        if !c.do_image_splitting {
            return Ok(ProcessedImage {
                frames: vec![resample::resize(&img, m, m, filter)],
                rows: 0,
                cols: 0,
            });
        }
        let (h, w) = multiple_size(img.height(), img.width(), m);
        if h == 0 || w == 0 {
            return Err(RunnerError::InvalidImage(format!(
                "a {}×{} image is too narrow to split into {m}×{m} tiles",
                image.width(),
                image.height()
            )));
        }
        img = resample::resize(&img, w, h, filter);
        if h <= m && w <= m {
            return Ok(ProcessedImage {
                frames: vec![img],
                rows: 0,
                cols: 0,
            });
        }
        let (rows, cols) = ((h - m) / m + 1, (w - m) / m + 1);
        let mut frames = Vec::with_capacity((rows * cols + 1) as usize);
        for r in 0..rows {
            for c in 0..cols {
                frames.push(image::imageops::crop_imm(&img, c * m, r * m, m, m).to_image());
            }
        }
        frames.push(resample::resize(&img, m, m, filter));
        Ok(ProcessedImage {
            frames,
            rows: rows as usize,
            cols: cols as usize,
        })
    }

    /// Frames → float32 pixels `[frames, M, M, 3]` (channels last), step 3.
    pub fn pixels(&self, frames: &[RgbImage]) -> Vec<f32> {
        self.image.pixels.pixels(frames)
    }

    /// The text that replaces one `<image>` in the prompt.
    pub fn image_prompt(&self, rows: usize, cols: usize) -> String {
        let tokens = IMAGE_TOKEN.repeat(self.image_seq_len);
        let global = format!("{FAKE_TOKEN}{GLOBAL_TOKEN}{tokens}{FAKE_TOKEN}");
        if rows == 0 && cols == 0 {
            return global;
        }
        let mut s = String::new();
        for r in 1..=rows {
            for c in 1..=cols {
                s.push_str(&format!("{FAKE_TOKEN}<row_{r}_col_{c}>{tokens}"));
            }
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&global);
        s
    }

    /// Replaces the `<image>` markers of `text`, in order, by the expansion of each
    /// image; their number must match.
    pub fn expand_prompt(&self, text: &str, images: &[ProcessedImage]) -> Result<String> {
        let parts: Vec<&str> = text.split(IMAGE_TOKEN).collect();
        if parts.len() - 1 != images.len() {
            return Err(RunnerError::InvalidImage(format!(
                "the prompt has {} image markers for {} images",
                parts.len() - 1,
                images.len()
            )));
        }
        let mut out = parts[0].to_string();
        for (image, rest) in images.iter().zip(&parts[1..]) {
            out.push_str(&self.image_prompt(image.rows, image.cols));
            out.push_str(rest);
        }
        Ok(out)
    }
}

/// `(height, width)` with the longest edge scaled to `max_len`, the other rounded down
/// then up to even, then capped at 4096 (transformers' `get_resize_output_image_size`).
pub fn longest_edge_size(height: u32, width: u32, max_len: u32) -> (u32, u32) {
    let (h, w) = (height as f64, width as f64);
    let aspect = w / h;
    let (mut h, mut w) = if w >= h {
        let mut nh = (max_len as f64 / aspect) as u32;
        if nh % 2 != 0 {
            nh += 1;
        }
        (nh, max_len)
    } else {
        let mut nw = (max_len as f64 * aspect) as u32;
        if nw % 2 != 0 {
            nw += 1;
        }
        (max_len, nw)
    };
    h = h.max(1);
    w = w.max(1);
    let aspect = w as f64 / h as f64;
    if w >= h && w > MAX_IMAGE_SIZE {
        w = MAX_IMAGE_SIZE;
        h = (w as f64 / aspect) as u32;
    } else if h > w && h > MAX_IMAGE_SIZE {
        h = MAX_IMAGE_SIZE;
        w = (h as f64 * aspect) as u32;
    }
    (h.max(1), w.max(1))
}

/// `(height, width)` rounded up to multiples of `m`, the short edge following the
/// aspect ratio (transformers' `resize_for_vision_encoder`).
pub fn multiple_size(height: u32, width: u32, m: u32) -> (u32, u32) {
    let (h, w) = (height as f64, width as f64);
    let aspect = w / h;
    let up = |x: f64| ((x / m as f64).ceil() as u32) * m;
    if w >= h {
        let nw = up(w);
        let nh = (nw as f64 / aspect) as u32;
        (up(nh as f64), nw)
    } else {
        let nh = up(h);
        let nw = (nh as f64 * aspect) as u32;
        (nh, up(nw as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn processor() -> Processor {
        Processor {
            image: ImageConfig {
                size_longest_edge: 2048,
                max_image_size: 512,
                ..ImageConfig::default()
            },
            image_seq_len: 2,
        }
    }

    #[test]
    fn sizes_follow_transformers() {
        // sample1.jpg (500×375) and flower.jpg (480×360) with SmolVLM-256M's sizes.
        assert_eq!(longest_edge_size(375, 500, 2048), (1536, 2048));
        assert_eq!(longest_edge_size(360, 480, 2048), (1536, 2048));
        assert_eq!(multiple_size(1536, 2048, 512), (1536, 2048));
        // Odd heights go up to even; portrait keeps the height.
        assert_eq!(longest_edge_size(1000, 333, 2048), (2048, 682));
        assert_eq!(longest_edge_size(333, 1000, 2048), (682, 2048));
        assert_eq!(multiple_size(2048, 682, 512), (2048, 1024));
        assert_eq!(longest_edge_size(10, 20000, 8000), (2, 4096));
    }

    #[test]
    fn splits_into_tiles_and_a_global_image() {
        let p = processor();
        let img = RgbImage::from_fn(500, 375, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let out = p.frames(&img).unwrap();
        assert_eq!((out.rows, out.cols), (3, 4));
        assert_eq!(out.frames.len(), 13);
        assert!(out.frames.iter().all(|f| f.dimensions() == (512, 512)));
        let px = p.pixels(&out.frames[..1]);
        assert_eq!(px.len(), 512 * 512 * 3);
        assert!(px.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn small_image_is_one_frame_without_resizing() {
        let mut p = processor();
        p.image.do_resize = false;
        let img = RgbImage::from_pixel(300, 200, image::Rgb([255, 0, 128]));
        let out = p.frames(&img).unwrap();
        assert_eq!((out.rows, out.cols, out.frames.len()), (0, 0, 1));
        assert_eq!(out.frames[0].dimensions(), (512, 512));
        let px = p.pixels(&out.frames);
        let blue = ((128.0f64 * (1.0 / 255.0)) as f32 - 0.5) / 0.5;
        assert_eq!(&px[..3], &[1.0, -1.0, blue]);
    }

    #[test]
    fn prompt_expansion() {
        let p = processor();
        let single = ProcessedImage {
            frames: vec![],
            rows: 0,
            cols: 0,
        };
        let split = ProcessedImage {
            frames: vec![],
            rows: 1,
            cols: 2,
        };
        assert_eq!(
            p.expand_prompt("A<image>B", std::slice::from_ref(&single))
                .unwrap(),
            "A<fake_token_around_image><global-img><image><image><fake_token_around_image>B"
        );
        assert_eq!(
            p.image_prompt(1, 2),
            "<fake_token_around_image><row_1_col_1><image><image>\
             <fake_token_around_image><row_1_col_2><image><image>\n\n\
             <fake_token_around_image><global-img><image><image><fake_token_around_image>"
        );
        assert!(p.expand_prompt("<image>", &[single, split]).is_err());
    }
}
