//! The Gemma 3 processor, kept apart from the model: how a photo becomes pixels, and
//! how the prompt's `<start_of_image>` becomes the image tokens.
//!
//! Images (transformers' `Gemma3ImageProcessor`, PIL backend, as mlx-vlm calls it): one
//! frame per image, resized to `size.height × size.width` (aspect not kept) with
//! Pillow's `resample` filter, then rescaled and normalised ([`PixelConfig`]).
//! Pan-and-scan crops are not supported (mlx-community's configs leave them off).
//!
//! Prompt (mlx-vlm's `Gemma3Processor`): every `<start_of_image>` becomes
//! `\n\n<start_of_image>` + `<image_soft_token>` × `image_seq_length` + `<end_of_image>\n\n`.

use std::path::Path;

use image::RgbImage;
use serde_json::Value;

use crate::error::{Result, RunnerError};
use crate::vlm::pixels::PixelConfig;
use crate::vlm::processor_files::ProcessorFiles;
use crate::vlm::resample::{self, Filter};

pub const BOI_TOKEN: &str = "<start_of_image>";
pub const IMAGE_TOKEN: &str = "<image_soft_token>";
pub const EOI_TOKEN: &str = "<end_of_image>";
pub const END_OF_TURN: &str = "<end_of_turn>";

/// Processor settings and the rules above.
#[derive(Debug, Clone)]
pub struct Processor {
    pub do_resize: bool,
    /// The frame every image is resized to.
    pub width: u32,
    pub height: u32,
    pub pixels: PixelConfig,
    /// Image tokens per image in the prompt.
    pub image_seq_length: usize,
}

impl Processor {
    /// Reads `preprocessor_config.json` and `processor_config.json` in `dir`. The
    /// vision tower takes `side × side` frames and makes `tokens_per_image` tokens of
    /// each; the files must agree with both.
    pub fn load(dir: &Path, side: u32, tokens_per_image: usize) -> Result<Self> {
        let mut p = Processor {
            do_resize: true,
            width: 224,
            height: 224,
            pixels: PixelConfig::new(Filter::Bilinear, [0.5; 3], [0.5; 3]),
            image_seq_length: tokens_per_image,
        };
        let files = ProcessorFiles::read(dir)?;
        for (v, path) in files.image_settings() {
            p.apply(v, path)?;
        }
        let bad = |path: &Path, message: String| RunnerError::InvalidConfig {
            path: path.into(),
            message,
        };
        if let Some(n) = files.processor_u64("image_seq_length") {
            if n as usize != tokens_per_image {
                return Err(bad(
                    &files.proc_path,
                    format!("image_seq_length {n} does not match the {tokens_per_image} tokens the model makes per image"),
                ));
            }
        }
        if (p.width, p.height) != (side, side) {
            return Err(bad(
                &files.pre_path,
                format!(
                    "images are resized to {}×{}, but the vision tower takes {side}×{side}",
                    p.width, p.height
                ),
            ));
        }
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
        if v.get("do_pan_and_scan").and_then(Value::as_bool) == Some(true) {
            return Err(bad(
                "pan-and-scan crops (`do_pan_and_scan`) are not supported".into(),
            ));
        }
        if let Some(size) = v.get("size").filter(|s| !s.is_null()) {
            let dim = |key: &str| {
                size.get(key)
                    .and_then(Value::as_u64)
                    .filter(|&d| d > 0 && d <= 8192)
                    .map(|d| d as u32)
            };
            match (dim("height"), dim("width")) {
                (Some(h), Some(w)) => (self.height, self.width) = (h, w),
                _ => return Err(bad("`size` needs `height` and `width` in 1..=8192".into())),
            }
        }
        self.pixels.apply(v, path)
    }

    /// The frame `image` becomes (resized unless `do_resize` is off and it already fits).
    pub fn frame(&self, image: &RgbImage) -> Result<RgbImage> {
        if image.width() == 0 || image.height() == 0 {
            return Err(RunnerError::InvalidImage("the image is empty".into()));
        }
        if image.dimensions() == (self.width, self.height) {
            return Ok(image.clone());
        }
        if !self.do_resize {
            return Err(RunnerError::InvalidImage(format!(
                "a {}×{} image needs resizing to {}×{}, which preprocessor_config.json turns off",
                image.width(),
                image.height(),
                self.width,
                self.height
            )));
        }
        Ok(resample::resize(
            image,
            self.width,
            self.height,
            self.pixels.resample,
        ))
    }

    /// The text that replaces one `<start_of_image>` in the prompt.
    pub fn image_prompt(&self) -> String {
        format!(
            "\n\n{BOI_TOKEN}{}{EOI_TOKEN}\n\n",
            IMAGE_TOKEN.repeat(self.image_seq_length)
        )
    }

    /// Replaces the `<start_of_image>` markers of `text` by the image sequence; their
    /// number must be `images`.
    pub fn expand_prompt(&self, text: &str, images: usize) -> Result<String> {
        let found = text.matches(BOI_TOKEN).count();
        if found != images {
            return Err(RunnerError::InvalidImage(format!(
                "the prompt has {found} image markers for {images} images"
            )));
        }
        Ok(text.replace(BOI_TOKEN, &self.image_prompt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn processor() -> Processor {
        Processor {
            do_resize: true,
            width: 28,
            height: 28,
            pixels: PixelConfig::new(Filter::Bilinear, [0.5; 3], [0.5; 3]),
            image_seq_length: 2,
        }
    }

    #[test]
    fn one_square_frame_per_image() {
        let p = processor();
        let img = RgbImage::from_fn(50, 30, |x, y| image::Rgb([x as u8, y as u8, 9]));
        assert_eq!(p.frame(&img).unwrap().dimensions(), (28, 28));
        let empty = RgbImage::new(0, 0);
        assert!(p.frame(&empty).is_err());
    }

    #[test]
    fn prompt_expansion() {
        let p = processor();
        assert_eq!(
            p.expand_prompt("Describe<start_of_image>", 1).unwrap(),
            "Describe\n\n<start_of_image><image_soft_token><image_soft_token><end_of_image>\n\n"
        );
        assert!(p.expand_prompt("<start_of_image>", 2).is_err());
    }
}
