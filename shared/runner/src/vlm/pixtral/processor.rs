//! The Pixtral processor, kept apart from the model: how a photo becomes pixels, and how
//! the prompt's `[IMG]` becomes the image's tokens (mlx-vlm's `PixtralImageProcessor` and
//! `PixtralProcessor`).
//!
//! Images keep their aspect: an image larger than `size.longest_edge` (or
//! `height`×`width`) is scaled down by the larger ratio (sides floored), then each side
//! is rounded up to whole patches and the image resized to that with Pillow's
//! `resample` filter (bicubic). Pixels are rescaled in float32 (numpy's
//! `float32 array × factor`) and normalised with CLIP's mean and std; the images of a
//! prompt are padded with zeros to the largest height and width, as mlx-vlm batches them.
//!
//! Prompt: every `[IMG]` becomes, per row of image tokens, `[IMG]` × columns, rows
//! separated by `[IMG_BREAK]`, and the image closed by `[IMG_END]`. An image token is a
//! patch, or (Mistral 3) a `spatial_merge_size`² block of patches.

use std::path::Path;

use image::RgbImage;
use serde_json::Value;

use crate::error::{Result, RunnerError};
use crate::vlm::family::{Placement, Prepared, Style};
use crate::vlm::pixels::PixelConfig;
use crate::vlm::processor_files::ProcessorFiles;
use crate::vlm::resample::{self, Filter};

pub const IMAGE_TOKEN: &str = "[IMG]";
pub const IMAGE_BREAK: &str = "[IMG_BREAK]";
pub const IMAGE_END: &str = "[IMG_END]";
pub const END_OF_TURN: &str = "</s>";

/// How Pixtral's and Mistral 3's prompts are written: one `[IMG]` per image before the
/// text, encoded with the tokenizer's special tokens (as mlx-vlm encodes them), `</s>`
/// ending a turn.
pub(in crate::vlm) fn style(image_token_id: u32) -> Style {
    Style {
        image_token: (IMAGE_TOKEN, image_token_id),
        marker: IMAGE_TOKEN,
        end_of_turn: END_OF_TURN,
        placement: Placement::PartsFirst,
        adds_special_tokens: true,
    }
}

/// CLIP's normalisation, the Pixtral image processor's default.
const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Processor settings and the rules above.
#[derive(Debug, Clone)]
pub struct Processor {
    pub do_resize: bool,
    /// The largest height and width an image is scaled to.
    pub max_height: u32,
    pub max_width: u32,
    /// The patch sides are rounded to (`patch_size · spatial_merge_size` of
    /// `processor_config.json`): one image token.
    pub patch: u32,
    /// Patches along a token's side (`spatial_merge_size`).
    pub merge: usize,
    pub pixels: PixelConfig,
}

/// One image as the model sees it.
#[derive(Debug, Clone)]
pub struct Frame {
    pub image: RgbImage,
    /// Image-token rows and columns.
    pub rows: usize,
    pub cols: usize,
    /// Patches along a token's side.
    pub merge: usize,
}

impl Frame {
    /// The patch grid `[1, rows, columns]` the vision tower sees.
    pub fn patch_grid(&self) -> [usize; 3] {
        [1, self.rows * self.merge, self.cols * self.merge]
    }
}

impl Processor {
    /// Reads `preprocessor_config.json` and `processor_config.json` in `dir`; the vision
    /// tower's patches and the model's merge of them must be the processor's.
    pub fn load(dir: &Path, tower_patch: usize, merge: usize) -> Result<Self> {
        let mut pixels = PixelConfig::new(Filter::Bicubic, CLIP_MEAN, CLIP_STD);
        pixels.rescale_in_f32 = true;
        let mut p = Processor {
            do_resize: true,
            max_height: 1024,
            max_width: 1024,
            patch: 16,
            merge,
            pixels,
        };
        let files = ProcessorFiles::read(dir)?;
        for (v, path) in files.image_settings() {
            p.apply(v, path)?;
        }
        // The processor passes its own patch size (default 16) times its merge to the
        // image processor.
        let patch = files.processor_u64("patch_size").unwrap_or(16);
        let files_merge = files.processor_u64("spatial_merge_size").unwrap_or(1);
        if (patch, files_merge) != (tower_patch as u64, merge as u64) {
            return Err(RunnerError::InvalidConfig {
                path: files.proc_path,
                message: format!(
                    "patches of {patch} merged {files_merge}×{files_merge} do not fit the model's patches of {tower_patch} merged {merge}×{merge}"
                ),
            });
        }
        p.patch = (patch as usize * merge) as u32;
        Ok(p)
    }

    fn apply(&mut self, v: &Value, path: &Path) -> Result<()> {
        let bad = |message: String| RunnerError::InvalidConfig {
            path: path.into(),
            message,
        };
        if let Some(b) = v.get("do_resize").and_then(Value::as_bool) {
            self.do_resize = b;
        }
        if let Some(size) = v.get("size").filter(|s| !s.is_null()) {
            let dim = |key: &str| {
                size.get(key)
                    .and_then(Value::as_u64)
                    .filter(|&d| d > 0 && d <= 8192)
                    .map(|d| d as u32)
            };
            match (dim("longest_edge"), dim("height"), dim("width")) {
                (Some(e), _, _) => (self.max_height, self.max_width) = (e, e),
                (None, Some(h), Some(w)) => (self.max_height, self.max_width) = (h, w),
                _ => {
                    return Err(bad(
                        "`size` needs `longest_edge`, or `height` and `width`, in 1..=8192".into(),
                    ))
                }
            }
        }
        self.pixels.apply(v, path)
    }

    /// The size `(height, width)` an image of `height × width` is resized to
    /// (transformers' `get_resize_output_image_size` for Pixtral).
    pub fn resized(&self, height: u32, width: u32) -> (u32, u32) {
        let (mut h, mut w) = (height as f64, width as f64);
        let ratio = (h / self.max_height as f64).max(w / self.max_width as f64);
        if ratio > 1.0 {
            h = (h / ratio).floor();
            w = (w / ratio).floor();
        }
        let p = self.patch as i64;
        let up = |x: f64| (((x as i64 - 1).div_euclid(p)) + 1) * p;
        (up(h) as u32, up(w) as u32)
    }

    /// The frame `image` becomes.
    pub fn frame(&self, image: &RgbImage) -> Result<Frame> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(RunnerError::InvalidImage("the image is empty".into()));
        }
        let (th, tw) = if self.do_resize {
            self.resized(h, w)
        } else if h % self.patch == 0 && w % self.patch == 0 {
            (h, w)
        } else {
            return Err(RunnerError::InvalidImage(format!(
                "a {w}×{h} image is not whole patches of {}, and preprocessor_config.json turns resizing off",
                self.patch
            )));
        };
        let image = if (tw, th) == (w, h) {
            image.clone()
        } else {
            resample::resize(image, tw, th, self.pixels.resample)
        };
        let p = self.patch as usize;
        Ok(Frame {
            image,
            rows: th as usize / p,
            cols: tw as usize / p,
            merge: self.merge,
        })
    }

    /// Pixels `[frames, H, W, 3]` of `frames`, each padded with zeros (after
    /// normalising) to the largest height `H` and width `W`.
    pub fn pixels(&self, frames: &[Frame]) -> (Vec<f32>, [usize; 2]) {
        let height = frames.iter().map(|f| f.image.height()).max().unwrap_or(0) as usize;
        let width = frames.iter().map(|f| f.image.width()).max().unwrap_or(0) as usize;
        let mut out = vec![0.0f32; frames.len() * height * width * 3];
        for (i, f) in frames.iter().enumerate() {
            let values = self.pixels.pixels(std::slice::from_ref(&f.image));
            let row = f.image.width() as usize * 3;
            for (y, line) in values.chunks_exact(row).enumerate() {
                let at = ((i * height + y) * width) * 3;
                out[at..at + row].copy_from_slice(line);
            }
        }
        (out, [height, width])
    }

    /// Images → frames and padded pixels, and `text` (one `[IMG]` per image) → the
    /// prompt with each expanded.
    pub(in crate::vlm) fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        let frames = images
            .iter()
            .map(|img| self.frame(img))
            .collect::<Result<Vec<_>>>()?;
        let prompt_text = self.expand_prompt(text, &frames)?;
        let (pixels, [h, w]) = self.pixels(&frames);
        Ok(Prepared {
            prompt_text,
            grids: vec![(0, 0); frames.len()],
            frames: frames.len(),
            image_tokens: frames.iter().map(|f| f.rows * f.cols).sum(),
            pixels,
            pixel_shape: vec![frames.len() as i32, h as i32, w as i32, 3],
            patch_grids: frames.iter().map(Frame::patch_grid).collect(),
        })
    }

    /// The tokens that replace one `[IMG]` for `frame`.
    pub fn image_prompt(frame: &Frame) -> String {
        let row = IMAGE_TOKEN.repeat(frame.cols);
        let mut text = vec![row; frame.rows].join(IMAGE_BREAK);
        text.push_str(IMAGE_END);
        text
    }

    /// Replaces the `[IMG]` markers of `text`, in order, by the frames' tokens; their
    /// number must be the frames'.
    pub fn expand_prompt(&self, text: &str, frames: &[Frame]) -> Result<String> {
        let parts: Vec<&str> = text.split(IMAGE_TOKEN).collect();
        if parts.len() != frames.len() + 1 {
            return Err(RunnerError::InvalidImage(format!(
                "the prompt has {} image markers for {} images",
                parts.len() - 1,
                frames.len()
            )));
        }
        let mut out = parts[0].to_string();
        for (frame, part) in frames.iter().zip(&parts[1..]) {
            out.push_str(&Self::image_prompt(frame));
            out.push_str(part);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn processor(edge: u32) -> Processor {
        Processor {
            do_resize: true,
            max_height: edge,
            max_width: edge,
            patch: 16,
            merge: 1,
            pixels: PixelConfig::new(Filter::Bicubic, CLIP_MEAN, CLIP_STD),
        }
    }

    #[test]
    fn sizes_follow_transformers() {
        let p = processor(1024);
        // Small images are only rounded up to whole patches.
        assert_eq!(p.resized(100, 50), (112, 64));
        assert_eq!(p.resized(32, 32), (32, 32));
        // 4032×3024 → ratio 3.9375 → 768×1024.
        assert_eq!(p.resized(3024, 4032), (768, 1024));
        // Floors before rounding up: 1500×1000 → 682.66… → 682 → 688.
        assert_eq!(p.resized(1000, 1500), (688, 1024));
        assert_eq!(processor(128).resized(480, 640), (96, 128));
    }

    #[test]
    fn prompt_expansion() {
        let p = processor(64);
        let img = RgbImage::new(48, 20);
        let frame = p.frame(&img).unwrap();
        assert_eq!((frame.rows, frame.cols), (2, 3));
        assert_eq!(
            p.expand_prompt("[INST][IMG]Hi[/INST]", std::slice::from_ref(&frame))
                .unwrap(),
            "[INST][IMG][IMG][IMG][IMG_BREAK][IMG][IMG][IMG][IMG_END]Hi[/INST]"
        );
        assert!(p.expand_prompt("[IMG]", &[frame.clone(), frame]).is_err());
    }

    #[test]
    fn images_are_padded_to_the_largest() {
        let p = processor(64);
        let a = p.frame(&RgbImage::new(16, 32)).unwrap();
        let b = p.frame(&RgbImage::new(32, 16)).unwrap();
        let (values, [h, w]) = p.pixels(&[a, b]);
        assert_eq!((h, w), (32, 32));
        assert_eq!(values.len(), 2 * 32 * 32 * 3);
        // Image a: 16 wide, so the right half of each row is padding.
        assert_ne!(values[0], 0.0);
        assert_eq!(values[16 * 3], 0.0);
        // Image b: 16 high, so its lower half is padding.
        let b0 = 32 * 32 * 3;
        assert_ne!(values[b0 + 31 * 3], 0.0);
        assert_eq!(values[b0 + 16 * 32 * 3], 0.0);
    }
}
