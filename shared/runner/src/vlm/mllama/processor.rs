//! The Llama 3.2 Vision processor, kept apart from the model: how a photo becomes tiles,
//! and which images each prompt token sees (transformers' `MllamaImageProcessor`, PIL
//! backend, and mlx-vlm's `MllamaProcessor`).
//!
//! An image is fitted to the best canvas of whole tiles (`size` pixels square, at most
//! `max_image_tiles` of them; the canvas that upscales least, else downscales least,
//! then the smallest): its aspect kept, it is resized with Pillow's bilinear filter,
//! padded with black to the canvas, rescaled and normalised, and cut into tiles in
//! row-major order; the image's tiles are padded with zero tiles to `max_image_tiles`.
//! The canvas is the image's tiling, whose id (1 + its index among the tilings of at
//! most `max_image_tiles` tiles) the vision tower embeds.
//!
//! The prompt keeps one `<|image|>` per image. Each text token sees the images whose
//! `<|image|>` precedes it up to the next image's (consecutive images: up to the end),
//! the last image to the end, and of each image only its real tiles.

use std::path::Path;

use image::RgbImage;
use serde_json::Value;

use super::config::VisionConfig;
use crate::cross_attention::CrossMask;
use crate::error::{Result, RunnerError};
use crate::vlm::family::{Placement, Prepared, Style};
use crate::vlm::pixels::PixelConfig;
use crate::vlm::processor_files::ProcessorFiles;
use crate::vlm::resample::{self, Filter};

pub const IMAGE_TOKEN: &str = "<|image|>";
pub const END_OF_TURN: &str = "<|eot_id|>";

/// CLIP's normalisation, Llama 3.2 Vision's.
const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// How Llama 3.2 Vision's prompts are written: the image after the text (typed content
/// parts), encoded with the tokenizer's special tokens, `<|eot_id|>` ending a turn.
pub(in crate::vlm) fn style(image_token_id: u32) -> Style {
    Style {
        image_token: (IMAGE_TOKEN, image_token_id),
        marker: IMAGE_TOKEN,
        end_of_turn: END_OF_TURN,
        placement: Placement::PartsLast,
        adds_special_tokens: true,
    }
}

/// Processor settings.
#[derive(Debug, Clone)]
pub struct Processor {
    /// A tile's side in pixels.
    pub tile: u32,
    pub max_tiles: usize,
    /// Image features the tower makes of a tile.
    pub tokens_per_tile: usize,
    pub pixels: PixelConfig,
}

impl Processor {
    /// Reads `preprocessor_config.json` (and `processor_config.json`) in `dir`; the
    /// tiles must be the vision tower's.
    pub fn load(dir: &Path, tower: &VisionConfig) -> Result<Self> {
        let (tower_tile, tower_tiles) = (tower.image_size, tower.max_num_tiles);
        let mut p = Processor {
            tile: 224,
            max_tiles: 4,
            tokens_per_tile: tower.tokens_per_tile(),
            pixels: PixelConfig::new(Filter::Bilinear, CLIP_MEAN, CLIP_STD),
        };
        let files = ProcessorFiles::read(dir)?;
        for (v, path) in files.image_settings() {
            p.apply(v, path)?;
        }
        if (p.tile as usize, p.max_tiles) != (tower_tile, tower_tiles) {
            return Err(RunnerError::InvalidConfig {
                path: files.pre_path,
                message: format!(
                    "tiles of {} pixels, at most {}, do not fit the model's {tower_tile}-pixel tiles, at most {tower_tiles}",
                    p.tile, p.max_tiles
                ),
            });
        }
        Ok(p)
    }

    fn apply(&mut self, v: &Value, path: &Path) -> Result<()> {
        let bad = |message: String| RunnerError::InvalidConfig {
            path: path.into(),
            message,
        };
        for key in ["do_resize", "do_pad"] {
            if v.get(key).and_then(Value::as_bool) == Some(false) {
                return Err(bad(format!("the Mllama processor needs `{key}`")));
            }
        }
        if let Some(size) = v.get("size").filter(|s| !s.is_null()) {
            let dim = |key: &str| size.get(key).and_then(Value::as_u64);
            match (dim("height"), dim("width")) {
                (Some(h), Some(w)) if h == w && (1..=4096).contains(&h) => self.tile = h as u32,
                _ => return Err(bad("`size` must be a square `height` × `width`".into())),
            }
        }
        if let Some(n) = v.get("max_image_tiles").and_then(Value::as_u64) {
            if !(1..=64).contains(&n) {
                return Err(bad(format!("`max_image_tiles` {n} is not in 1..=64")));
            }
            self.max_tiles = n as usize;
        }
        self.pixels.apply(v, path)
    }

    /// The tiling of an image of `h`×`w` pixels (tile rows, tile columns) and its size
    /// on that canvas.
    pub fn fit(&self, h: u32, w: u32) -> ((usize, usize), (u32, u32)) {
        let (rows, cols) = canvas(h, w, self.max_tiles, self.tile);
        let size = fit_to_canvas(
            h,
            w,
            rows as u32 * self.tile,
            cols as u32 * self.tile,
            self.tile,
        );
        ((rows, cols), size)
    }

    /// Images → tiles (`max_tiles` per image) and the prompt unchanged (one
    /// `<|image|>` per image); `patch_grids` hold each image's `[1, rows, columns]`
    /// tiling, and the image tokens are the features the tiles become (which the
    /// cross-attention layers attend to).
    pub(in crate::vlm) fn prepare(&self, images: &[RgbImage], text: &str) -> Result<Prepared> {
        let t = self.tile;
        let mut pixels = Vec::new();
        let mut grids = Vec::with_capacity(images.len());
        for image in images {
            if image.width() == 0 || image.height() == 0 {
                return Err(RunnerError::InvalidImage("an image has no pixels".into()));
            }
            let ((rows, cols), (nh, nw)) = self.fit(image.height(), image.width());
            let resized = resample::resize(image, nw, nh, self.pixels.resample);
            let mut canvas = RgbImage::new(cols as u32 * t, rows as u32 * t);
            image::imageops::replace(&mut canvas, &resized, 0, 0);
            let tiles: Vec<RgbImage> = (0..rows)
                .flat_map(|r| (0..cols).map(move |c| (r, c)))
                .map(|(r, c)| {
                    image::imageops::crop_imm(&canvas, c as u32 * t, r as u32 * t, t, t).to_image()
                })
                .collect();
            pixels.extend(self.pixels.pixels(&tiles));
            let side = t as usize;
            pixels.resize(
                pixels.len() + (self.max_tiles - tiles.len()) * side * side * 3,
                0.0,
            );
            grids.push((rows, cols));
        }
        let frames = images.len() * self.max_tiles;
        let mut prepared = Prepared::frames(
            text.to_string(),
            grids.clone(),
            frames,
            (t, t),
            pixels,
            self.tokens_per_tile,
        );
        prepared.patch_grids = grids.iter().map(|&(r, c)| [1, r, c]).collect();
        Ok(prepared)
    }

    /// The id of a tiling `rows`×`cols` (1-based among the tilings of at most
    /// `max_tiles` tiles, as transformers numbers them).
    pub fn aspect_ratio_id(&self, rows: usize, cols: usize) -> u32 {
        tilings(self.max_tiles)
            .iter()
            .position(|&p| p == (rows, cols))
            .map_or(0, |i| i as u32 + 1)
    }

    /// Which tiles each prompt token of `ids` sees, for images of `tilings`
    /// (`[1, rows, cols]` each).
    pub fn cross_mask(
        &self,
        ids: &[u32],
        image_token: u32,
        tilings: &[[usize; 3]],
    ) -> Result<CrossMask> {
        let at: Vec<usize> = (0..ids.len()).filter(|&i| ids[i] == image_token).collect();
        if at.len() != tilings.len() {
            return Err(RunnerError::Tokenizer(format!(
                "{} image tokens in the prompt for {} images",
                at.len(),
                tilings.len()
            )));
        }
        let spans = image_spans(&at, ids.len());
        let (images, tiles) = (tilings.len(), self.max_tiles);
        let mut seen = vec![false; ids.len() * images * tiles];
        for (n, ((start, end), grid)) in spans.iter().zip(tilings).enumerate() {
            let real = (grid[1] * grid[2]).min(tiles);
            for row in *start..*end {
                let base = (row * images + n) * tiles;
                seen[base..base + real].fill(true);
            }
        }
        Ok(CrossMask {
            seen,
            rows: ids.len(),
            images,
            tiles,
            tokens_per_tile: self.tokens_per_tile,
        })
    }
}

/// The rows each image is seen from, as mlx-vlm's `get_cross_attention_token_mask`
/// computes them for image tokens at `at` in a prompt of `len` tokens.
fn image_spans(at: &[usize], len: usize) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = at
        .iter()
        .enumerate()
        .map(|(i, &start)| (start, at.get(i + 1).copied().unwrap_or(len)))
        .collect();
    // Consecutive image tokens all see what the last of them sees.
    let mut last_end = len;
    for span in spans.iter_mut().rev() {
        if span.0 + 1 == span.1 {
            span.1 = last_end;
        }
        last_end = span.1;
    }
    spans
}

/// Tilings of at most `max` tiles, in transformers' order: `(a, b)` for `a` then `b` in
/// `1..=max` with `a · b ≤ max`.
fn tilings(max: usize) -> Vec<(usize, usize)> {
    (1..=max)
        .flat_map(|a| (1..=max).map(move |b| (a, b)))
        .filter(|(a, b)| a * b <= max)
        .collect()
}

/// transformers' `get_optimal_tiled_canvas`: the tiling (rows, columns) for an image of
/// `h`×`w`.
fn canvas(h: u32, w: u32, max: usize, tile: u32) -> (usize, usize) {
    let options: Vec<((usize, usize), f64)> = tilings(max)
        .into_iter()
        .map(|(rows, cols)| {
            let scale_h = (rows as u32 * tile) as f64 / h as f64;
            let scale_w = (cols as u32 * tile) as f64 / w as f64;
            (
                (rows, cols),
                if scale_w > scale_h { scale_h } else { scale_w },
            )
        })
        .collect();
    let up = options.iter().map(|o| o.1).filter(|&s| s >= 1.0);
    let chosen = match up.clone().next() {
        Some(_) => up.fold(f64::INFINITY, f64::min),
        None => options
            .iter()
            .map(|o| o.1)
            .fold(f64::NEG_INFINITY, f64::max),
    };
    options
        .iter()
        .filter(|o| o.1 == chosen)
        .min_by_key(|((r, c), _)| r * c)
        .map(|o| o.0)
        .unwrap_or((1, 1))
}

/// transformers' `get_image_size_fit_to_canvas`: the size (height, width) of an image of
/// `h`×`w` on a canvas of `ch`×`cw`, aspect kept, no side below `tile` unless the canvas is.
fn fit_to_canvas(h: u32, w: u32, ch: u32, cw: u32, tile: u32) -> (u32, u32) {
    let target_w = w.clamp(tile, cw);
    let target_h = h.clamp(tile, ch);
    let scale_h = target_h as f64 / h as f64;
    let scale_w = target_w as f64 / w as f64;
    if scale_w < scale_h {
        let nh = ((h as f64 * scale_w).floor() as u32).max(1).min(target_h);
        (nh, target_w)
    } else {
        let nw = ((w as f64 * scale_h).floor() as u32).max(1).min(target_w);
        (target_h, nw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilings_and_canvases_are_transformers() {
        assert_eq!(
            tilings(4),
            [
                (1, 1),
                (1, 2),
                (1, 3),
                (1, 4),
                (2, 1),
                (2, 2),
                (3, 1),
                (4, 1)
            ]
        );
        // A 4:3 photo fills 2×2 tiles; a panorama a row of them; a small image one.
        assert_eq!(canvas(3000, 4000, 4, 560), (2, 2));
        assert_eq!(canvas(500, 2400, 4, 560), (1, 4));
        assert_eq!(canvas(300, 200, 4, 560), (1, 1));
        // Upscaling: the least of it (560×1120 for 300×600), then the smallest canvas.
        assert_eq!(canvas(300, 600, 4, 560), (1, 2));
        assert_eq!(fit_to_canvas(3000, 4000, 1120, 1120, 560), (840, 1120));
        assert_eq!(fit_to_canvas(300, 200, 560, 560, 560), (560, 373));
    }

    #[test]
    fn images_are_seen_from_their_token_on() {
        assert_eq!(image_spans(&[1], 5), [(1, 5)]);
        assert_eq!(image_spans(&[1, 3], 6), [(1, 3), (3, 6)]);
        // Consecutive images all see to the end.
        assert_eq!(image_spans(&[1, 2], 6), [(1, 6), (2, 6)]);
    }
}
