//! The Qwen2.5-VL processor, kept apart from the model: how a photo becomes patches, and
//! how the prompt's `<|image_pad|>` becomes the image tokens.
//!
//! Images (mlx-vlm's numpy `Qwen3VLImageProcessor`, `qwen3_vl/processing_qwen3_vl.py`,
//! which mlx-vlm uses for Qwen2.5-VL too): [`smart_resize`] to multiples of
//! `patch_size · merge_size` (28) within `min_pixels..=max_pixels`, Pillow BICUBIC on
//! the uint8 image when the size changes (the config's `resample` is not read),
//! `× rescale_factor` and `(x − mean) / std` in float32, then [`Processor::patches`]:
//! the frame repeated `temporal_patch_size` times and cut into
//! `[grid_h · grid_w, channels · temporal · patch²]` rows, in 2×2-merge-block order.
//!
//! Prompt (mlx-vlm's `Qwen2_5_VLProcessor`): the `k`-th `<|image_pad|>` becomes
//! `t · grid_h · grid_w / merge²` of them.

use std::path::Path;

use image::RgbImage;
use serde_json::{Map, Value};

use crate::error::{Result, RunnerError};
use crate::vlm::pixels::PixelConfig;
use crate::vlm::processor_files::ProcessorFiles;
use crate::vlm::resample::{self, Filter};

pub const IMAGE_TOKEN: &str = "<|image_pad|>";
pub const END_OF_TURN: &str = "<|im_end|>";

/// Processor settings (mlx-vlm's defaults for Qwen2.5-VL where the files are silent).
#[derive(Debug, Clone)]
pub struct Processor {
    pub patch_size: usize,
    pub temporal_patch_size: usize,
    pub merge_size: usize,
    pub min_pixels: u64,
    pub max_pixels: u64,
    /// Rescale and normalisation (its `resample` is not used: always BICUBIC).
    pub pixels: PixelConfig,
}

/// One image's patches: `[grid_h · grid_w, channels · temporal · patch²]` values, row
/// after row, and its grid (`t`, `h`, `w` in patches).
#[derive(Debug, Clone)]
pub struct Patches {
    pub values: Vec<f32>,
    pub grid: [usize; 3],
}

impl Patches {
    /// Language-model tokens this image becomes.
    pub fn tokens(&self, merge_size: usize) -> usize {
        self.grid.iter().product::<usize>() / (merge_size * merge_size)
    }
}

impl Default for Processor {
    fn default() -> Self {
        Processor {
            patch_size: 14,
            temporal_patch_size: 2,
            merge_size: 2,
            min_pixels: 56 * 56,
            max_pixels: 14 * 14 * 4 * 1280,
            pixels: PixelConfig::new(Filter::Bicubic, [0.5; 3], [0.5; 3]),
        }
    }
}

impl Processor {
    /// Reads `preprocessor_config.json` with `processor_config.json`'s
    /// `image_processor` keys over it (mlx-vlm's `_qwen_vl_image_kwargs`).
    pub fn load(dir: &Path) -> Result<Self> {
        let files = ProcessorFiles::read(dir)?;
        let mut raw = Map::new();
        let mut path = files.pre_path.as_path();
        for (v, from) in files.image_settings() {
            if let Value::Object(m) = v {
                raw.extend(m.clone());
                path = from;
            }
        }
        let mut p = Processor::default();
        p.apply(&Value::Object(raw), path)?;
        Ok(p)
    }

    fn apply(&mut self, v: &Value, path: &Path) -> Result<()> {
        let bad = |message: String| RunnerError::InvalidConfig {
            path: path.into(),
            message,
        };
        let int = |key: &str| v.get(key).and_then(Value::as_u64);
        for (key, into) in [
            ("patch_size", &mut self.patch_size),
            ("temporal_patch_size", &mut self.temporal_patch_size),
            ("merge_size", &mut self.merge_size),
        ] {
            if let Some(n) = int(key) {
                *into = n as usize;
            }
        }
        if let Some(size) = v.get("size") {
            if let Some(n) = size.get("shortest_edge").and_then(Value::as_u64) {
                self.min_pixels = n;
            }
            if let Some(n) = size.get("longest_edge").and_then(Value::as_u64) {
                self.max_pixels = n;
            }
        }
        if let Some(n) = int("min_pixels") {
            self.min_pixels = n;
        }
        if let Some(n) = int("max_pixels") {
            self.max_pixels = n;
        }
        if self.patch_size == 0 || self.merge_size == 0 || self.temporal_patch_size == 0 {
            return Err(bad(
                "patch_size, merge_size and temporal_patch_size must be positive".into(),
            ));
        }
        if self.max_pixels < self.min_pixels || self.max_pixels == 0 {
            return Err(bad(format!(
                "max_pixels {} is below min_pixels {}",
                self.max_pixels, self.min_pixels
            )));
        }
        self.pixels.apply(v, path)
    }

    /// Side multiple of resized images (`patch_size · merge_size`).
    pub fn factor(&self) -> u32 {
        (self.patch_size * self.merge_size) as u32
    }

    /// The (height, width) an image of `height × width` is resized to.
    pub fn resized(&self, height: u32, width: u32) -> Result<(u32, u32)> {
        smart_resize(
            height,
            width,
            self.factor(),
            self.min_pixels,
            self.max_pixels,
        )
    }

    /// Resizes `image`, normalises it and cuts it into patches.
    pub fn patches(&self, image: &RgbImage) -> Result<Patches> {
        let (w0, h0) = image.dimensions();
        if w0 == 0 || h0 == 0 {
            return Err(RunnerError::InvalidImage("the image is empty".into()));
        }
        let (h, w) = self.resized(h0, w0)?;
        let resized;
        let frame = if (w, h) == (w0, h0) {
            image
        } else {
            resized = resample::resize(image, w, h, Filter::Bicubic);
            &resized
        };
        let (ps, tps, ms) = (self.patch_size, self.temporal_patch_size, self.merge_size);
        let (gh, gw) = (h as usize / ps, w as usize / ps);
        let values = self.normalised(frame);
        let stride = w as usize * 3;
        let row_len = 3 * tps * ps * ps;
        let mut out = Vec::with_capacity(gh * gw * row_len);
        // Rows: merge blocks raster, the patches of a block raster; values: channel,
        // time (the frame repeated), y, x.
        for bh in 0..gh / ms {
            for bw in 0..gw / ms {
                for i in 0..ms {
                    for j in 0..ms {
                        let (y0, x0) = ((bh * ms + i) * ps, (bw * ms + j) * ps);
                        for c in 0..3 {
                            for _ in 0..tps {
                                for y in y0..y0 + ps {
                                    let line = &values[y * stride..];
                                    out.extend((x0..x0 + ps).map(|x| line[x * 3 + c]));
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(Patches {
            values: out,
            grid: [1, gh, gw],
        })
    }

    /// `(v · rescale_factor − mean) / std` in float32, channels last (numpy's float32
    /// arithmetic: the factor is rounded to float32 first).
    fn normalised(&self, frame: &RgbImage) -> Vec<f32> {
        let p = &self.pixels;
        let factor = p.rescale_factor as f32;
        frame
            .as_raw()
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let ch = i % 3;
                let mut x = v as f32;
                if p.do_rescale {
                    x *= factor;
                }
                if p.do_normalize {
                    x = (x - p.image_mean[ch]) / p.image_std[ch];
                }
                x
            })
            .collect()
    }

    /// Replaces the `<|image_pad|>` markers of `text`, one per image, by each image's
    /// tokens.
    pub fn expand_prompt(&self, text: &str, images: &[Patches]) -> Result<String> {
        let found = text.matches(IMAGE_TOKEN).count();
        if found != images.len() {
            return Err(RunnerError::InvalidImage(format!(
                "the prompt has {found} image markers for {} images",
                images.len()
            )));
        }
        let mut pieces = text.split(IMAGE_TOKEN);
        let mut out = pieces.next().unwrap_or_default().to_string();
        for (piece, image) in pieces.zip(images) {
            out.push_str(&IMAGE_TOKEN.repeat(image.tokens(self.merge_size)));
            out.push_str(piece);
        }
        Ok(out)
    }
}

/// Qwen2-VL's `smart_resize` (mlx-vlm `_smart_resize_image`): sides rounded to multiples
/// of `factor` (Python's `round`, ties to even), then scaled down to at most
/// `max_pixels` or up to at least `min_pixels`, keeping the aspect ratio roughly.
/// Returns (height, width).
pub fn smart_resize(
    height: u32,
    width: u32,
    factor: u32,
    min_pixels: u64,
    max_pixels: u64,
) -> Result<(u32, u32)> {
    let (h, w, f) = (height as f64, width as f64, factor as f64);
    if height == 0 || width == 0 || h.max(w) / h.min(w) > 200.0 {
        return Err(RunnerError::InvalidImage(format!(
            "a {width}×{height} image: the aspect ratio must be below 200"
        )));
    }
    let mut h_bar = (h / f).round_ties_even() * f;
    let mut w_bar = (w / f).round_ties_even() * f;
    if h_bar * w_bar > max_pixels as f64 {
        let beta = (h * w / max_pixels as f64).sqrt();
        h_bar = f.max((h / beta / f).floor() * f);
        w_bar = f.max((w / beta / f).floor() * f);
    } else if h_bar * w_bar < min_pixels as f64 {
        let beta = (min_pixels as f64 / (h * w)).sqrt();
        h_bar = (h * beta / f).ceil() * f;
        w_bar = (w * beta / f).ceil() * f;
    }
    if h_bar < f || w_bar < f || h_bar > 65536.0 || w_bar > 65536.0 {
        return Err(RunnerError::InvalidImage(format!(
            "a {width}×{height} image resizes to {w_bar}×{h_bar}, outside {factor}..=65536"
        )));
    }
    Ok((h_bar as u32, w_bar as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 3136;
    const MAX: u64 = 100352;

    #[test]
    fn smart_resize_branches() {
        // The fixture photos (mlx-vlm's sizes): the max-pixels branch for 500×375 and
        // 480×360, rounding for the 102×205 portrait.
        assert_eq!(smart_resize(375, 500, 28, MIN, MAX).unwrap(), (252, 364));
        assert_eq!(smart_resize(360, 480, 28, MIN, MAX).unwrap(), (252, 364));
        assert_eq!(smart_resize(205, 102, 28, MIN, MAX).unwrap(), (196, 112));
        // Python's round: 42 / 28 = 1.5 → 2, 70 / 28 = 2.5 → 2 (ties to even).
        assert_eq!(smart_resize(42, 70, 28, 0, MAX).unwrap(), (56, 56));
        // The min-pixels branch: 30×30 rounds to 28×28 = 784 < 3136.
        assert_eq!(smart_resize(30, 30, 28, MIN, MAX).unwrap(), (56, 56));
        assert_eq!(smart_resize(28, 28, 28, MIN, MAX).unwrap(), (56, 56));
        // Real Qwen2.5-VL limits on a 12 MP photo.
        assert_eq!(
            smart_resize(3000, 4000, 28, 3136, 12_845_056).unwrap(),
            (2996, 4004)
        );
        assert!(smart_resize(10, 2500, 28, MIN, MAX).is_err());
        assert!(smart_resize(0, 5, 28, MIN, MAX).is_err());
    }

    #[test]
    fn patches_in_merge_block_order() {
        let p = Processor {
            min_pixels: 0,
            pixels: PixelConfig {
                do_rescale: false,
                do_normalize: false,
                ..PixelConfig::new(Filter::Bicubic, [0.0; 3], [1.0; 3])
            },
            ..Processor::default()
        };
        // 56×84: grid 4×6, kept as it is (multiples of 28).
        let img = RgbImage::from_fn(84, 56, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let out = p.patches(&img).unwrap();
        assert_eq!(out.grid, [1, 4, 6]);
        assert_eq!(out.values.len(), 24 * 1176);
        let at = |row: usize, col: usize| out.values[row * 1176 + col];
        // Rows 0–3: block (0, 0); row 1 is its patch (0, 1) → x0 = 14.
        assert_eq!(at(1, 0), 14.0);
        assert_eq!(at(1, 196 * 2), 0.0); // channel 1 (y) at y = 0
                                         // Row 6: block (0, 1), patch (1, 0) → y0 = 14, x0 = 28.
        assert_eq!((at(6, 0), at(6, 196 * 2)), (28.0, 14.0));
        // Row 12: block (1, 0), patch (0, 0) → y0 = 28; y = 3 within the patch.
        assert_eq!(at(12, 196 * 2), 28.0);
        assert_eq!(at(12, 196 * 2 + 14 * 3), 31.0);
        assert_eq!(at(13, 196 + 5), 19.0); // time 1: the frame again, x = 14 + 5
        assert_eq!(at(13, 196 * 4 + 5), 7.0); // channel 2
        assert_eq!(out.tokens(2), 6);
    }

    #[test]
    fn prompt_expansion() {
        let p = Processor::default();
        let img = |gh, gw| Patches {
            values: vec![],
            grid: [1, gh, gw],
        };
        let text = "a<|image_pad|>b<|image_pad|>c";
        let out = p.expand_prompt(text, &[img(2, 2), img(4, 2)]).unwrap();
        assert_eq!(out, format!("a{}b{}c", IMAGE_TOKEN, IMAGE_TOKEN.repeat(2)));
        assert!(p.expand_prompt(text, &[img(2, 2)]).is_err());
    }
}
