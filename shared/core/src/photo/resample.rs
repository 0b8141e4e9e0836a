//! Image resampling that reproduces Pillow's `Image.resize` bit for bit on 8-bit RGB.
//!
//! Hugging Face image processors resize through Pillow (the PIL backend of
//! transformers, which mlx-vlm uses), so the pixel values a vision model sees depend on
//! Pillow's exact arithmetic (13.0's `Resample.c`): a separable two-pass convolution
//! (horizontal first, unless the height shrinks by more than twice what the width
//! does; each pass rounds to 8 bits), the filter's support widened by the scale factor
//! when downscaling,
//! coefficients normalised in double precision, then rounded to 22-bit fixed point and
//! accumulated in 32-bit integers (Pillow's `Resample.c`, `PRECISION_BITS = 22`).
//! The `image` crate's filters differ from it by a unit here and there, so this is a
//! port of Pillow's algorithm rather than a use of `image::imageops::resize`.

use image::RgbImage;

/// Pillow's resampling filters (`Image.Resampling`), by their numeric value in
/// `preprocessor_config.json`'s `resample`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// 0: nearest neighbour is not a convolution in Pillow; not supported here.
    Lanczos,
    Bilinear,
    Bicubic,
    Box,
    Hamming,
}

impl Filter {
    /// The filter for Pillow's numeric code (`1` LANCZOS, `2` BILINEAR, `3` BICUBIC,
    /// `4` BOX, `5` HAMMING); `None` for NEAREST (0) or an unknown code.
    pub fn from_pil(code: i64) -> Option<Self> {
        match code {
            1 => Some(Filter::Lanczos),
            2 => Some(Filter::Bilinear),
            3 => Some(Filter::Bicubic),
            4 => Some(Filter::Box),
            5 => Some(Filter::Hamming),
            _ => None,
        }
    }

    fn support(self) -> f64 {
        match self {
            Filter::Lanczos => 3.0,
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Box => 0.5,
            Filter::Hamming => 1.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Hamming => {
                if x <= -1.0 || x >= 1.0 {
                    0.0
                } else if x == 0.0 {
                    1.0
                } else {
                    let px = x * std::f64::consts::PI;
                    // Pillow writes these as float literals (0.54f, 0.46f).
                    px.sin() / px * (0.54f32 as f64 + 0.46f32 as f64 * px.cos())
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let x = x * std::f64::consts::PI;
    x.sin() / x
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: the first input pixel, how many are used, and their fixed-point
/// weights (Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`).
struct Coeffs {
    bounds: Vec<(usize, usize)>,
    ksize: usize,
    weights: Vec<i32>,
}

fn precompute(in_size: usize, out_size: usize, filter: Filter) -> Coeffs {
    let (in0, in1) = (0.0f64, in_size as f64);
    let scale = (in1 - in0) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = in0 + (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C casts truncate toward zero; negative starts are clamped anyway.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = filter.weight((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * ksize..(xx + 1) * ksize];
        for x in 0..n {
            let v = if ww != 0.0 { k[x] / ww } else { k[x] };
            let scaled = v * (1u32 << PRECISION_BITS) as f64;
            row[x] = if v < 0.0 {
                (-0.5 + scaled) as i32
            } else {
                (0.5 + scaled) as i32
            };
        }
        bounds.push((xmin, n));
    }
    Coeffs {
        bounds,
        ksize,
        weights,
    }
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Horizontal pass over rows `y0..y0 + rows` of `src` (`w`×`h`, RGB) to `out_w` columns.
fn horizontal(src: &[u8], w: usize, y0: usize, rows: usize, out_w: usize, c: &Coeffs) -> Vec<u8> {
    let mut out = vec![0u8; out_w * rows * 3];
    for (yy, o) in out.chunks_exact_mut(out_w * 3).enumerate() {
        horizontal_row(&src[(y0 + yy) * w * 3..(y0 + yy + 1) * w * 3], o, c);
    }
    out
}

/// The horizontal pass of one RGB row `line` into `out` (as many pixels as `c` has).
fn horizontal_row(line: &[u8], out: &mut [u8], c: &Coeffs) {
    let half = 1i32 << (PRECISION_BITS - 1);
    for (xx, o) in out.chunks_exact_mut(3).enumerate() {
        let (xmin, n) = c.bounds[xx];
        let k = &c.weights[xx * c.ksize..xx * c.ksize + n];
        let mut ss = [half; 3];
        for (x, &kx) in k.iter().enumerate() {
            let p = &line[(xmin + x) * 3..(xmin + x) * 3 + 3];
            for ch in 0..3 {
                ss[ch] = ss[ch].wrapping_add((p[ch] as i32).wrapping_mul(kx));
            }
        }
        for ch in 0..3 {
            o[ch] = clip8(ss[ch]);
        }
    }
}

/// Vertical pass of `src` (`w` columns) to `out_h` rows; `offset` is subtracted from
/// the row bounds (the first source row `src` holds).
fn vertical(src: &[u8], w: usize, out_h: usize, offset: usize, c: &Coeffs) -> Vec<u8> {
    let mut out = vec![0u8; w * out_h * 3];
    let half = 1i32 << (PRECISION_BITS - 1);
    for yy in 0..out_h {
        let (ymin, n) = c.bounds[yy];
        let ymin = ymin - offset;
        let k = &c.weights[yy * c.ksize..yy * c.ksize + n];
        for xx in 0..w {
            let mut ss = [half; 3];
            for (y, &ky) in k.iter().enumerate() {
                let p = &src[((ymin + y) * w + xx) * 3..((ymin + y) * w + xx) * 3 + 3];
                for ch in 0..3 {
                    ss[ch] = ss[ch].wrapping_add((p[ch] as i32).wrapping_mul(ky));
                }
            }
            let o = (yy * w + xx) * 3;
            for ch in 0..3 {
                out[o + ch] = clip8(ss[ch]);
            }
        }
    }
    out
}

/// Pillow runs the vertical pass first when the height shrinks by more than twice
/// what the width does.
fn horizontal_first(w: usize, h: usize, out_w: usize, out_h: usize) -> bool {
    !(h > out_h && (h - out_h) as i64 > (w as i64 - out_w as i64) * 2)
}

/// `image.resize((width, height), filter)` as Pillow computes it (no `box`, no
/// `reducing_gap`). Sizes of zero are refused by returning the image unchanged.
pub fn resize(image: &RgbImage, width: u32, height: u32, filter: Filter) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (ow, oh) = (width as usize, height as usize);
    if ow == 0 || oh == 0 || w == 0 || h == 0 || (ow == w && oh == h) {
        return image.clone();
    }
    let horiz = precompute(w, ow, filter);
    let vert = precompute(h, oh, filter);
    let src = image.as_raw();
    let need_h = ow != w;
    let need_v = oh != h;
    let horizontal_first = horizontal_first(w, h, ow, oh);
    let pixels = if horizontal_first {
        // The horizontal pass covers only the source rows the vertical pass reads.
        let (first, rows) = if need_h {
            let first = vert.bounds[0].0;
            let (last_min, last_n) = vert.bounds[oh - 1];
            (first, last_min + last_n - first)
        } else {
            (0, h)
        };
        let tmp = if need_h {
            horizontal(src, w, first, rows, ow, &horiz)
        } else {
            src.to_vec()
        };
        if need_v {
            vertical(&tmp, ow, oh, first, &vert)
        } else {
            tmp
        }
    } else {
        let tmp = if need_v {
            vertical(src, w, oh, 0, &vert)
        } else {
            src.to_vec()
        };
        if need_h {
            horizontal(&tmp, w, 0, oh, ow, &horiz)
        } else {
            tmp
        }
    };
    let cur_w = ow;
    RgbImage::from_raw(cur_w as u32, oh as u32, pixels).expect("buffer size matches")
}

/// [`resize`] of an image that arrives a row at a time, top to bottom (as a decoder
/// gives them): the same passes in Pillow's order with the same rounding, so the
/// result is byte-identical, but besides the result only a window of rows (those one
/// output row of the vertical pass reads, a few times the scale factor) is held,
/// never the whole source or the whole intermediate image.
pub struct Resizer {
    width: usize,
    out_w: usize,
    out_h: usize,
    horizontal_first: bool,
    /// The horizontal pass; `None` when the width stays.
    horiz: Option<Coeffs>,
    /// The vertical pass; `None` when the height stays.
    vert: Option<Coeffs>,
    /// The rows the vertical pass reads, row `y` in slot `y % slots` (each `window_w`
    /// pixels: after the horizontal pass when it comes first, else source rows).
    window: Vec<u8>,
    window_w: usize,
    slots: usize,
    /// One vertical output row before its horizontal pass (vertical pass first).
    between: Vec<u8>,
    accumulator: Vec<i32>,
    received: usize,
    emitted: usize,
    out: Vec<u8>,
}

impl Resizer {
    /// A `width`×`height` RGB image to be resized to `out_width`×`out_height` with
    /// `filter` (sizes of zero count as one).
    pub fn new(width: u32, height: u32, out_width: u32, out_height: u32, filter: Filter) -> Self {
        let (w, h) = (width.max(1) as usize, height.max(1) as usize);
        let (ow, oh) = (out_width.max(1) as usize, out_height.max(1) as usize);
        let horiz = (ow != w).then(|| precompute(w, ow, filter));
        let vert = (oh != h).then(|| precompute(h, oh, filter));
        let horizontal_first = horizontal_first(w, h, ow, oh);
        let window_w = if horizontal_first { ow } else { w };
        // The vertical pass's row bounds only move down, so its widest kernel of rows
        // is all it ever needs at once.
        let slots = vert.as_ref().map_or(0, |c| {
            c.bounds.iter().map(|&(_, n)| n).max().unwrap_or(0).max(1)
        });
        let between = if horizontal_first || horiz.is_none() {
            Vec::new()
        } else {
            vec![0; w * 3]
        };
        Resizer {
            width: w,
            out_w: ow,
            out_h: oh,
            horizontal_first,
            horiz,
            window: vec![0; slots * window_w * 3],
            window_w,
            slots,
            between,
            accumulator: vec![0; if vert.is_some() { window_w * 3 } else { 0 }],
            vert,
            received: 0,
            emitted: 0,
            out: Vec::with_capacity(ow * oh * 3),
        }
    }

    /// Takes the next source row (`width` RGB pixels).
    pub fn push_row(&mut self, row: &[u8]) {
        assert_eq!(row.len(), self.width * 3, "a row of the source width");
        let Resizer {
            out_w,
            out_h,
            horizontal_first,
            horiz,
            vert,
            window,
            window_w,
            slots,
            between,
            accumulator,
            received,
            emitted,
            out,
            ..
        } = self;
        let (horiz, y) = (horiz.as_ref(), *received);
        *received += 1;
        if *emitted == *out_h {
            return;
        }
        let Some(vert) = vert else {
            // Only the horizontal pass (or none): one output row per source row.
            append_horizontal(out, *out_w, horiz, row);
            *emitted += 1;
            return;
        };
        let line = *window_w * 3;
        let slot = &mut window[(y % *slots) * line..(y % *slots + 1) * line];
        match horiz {
            Some(horiz) if *horizontal_first => horizontal_row(row, slot, horiz),
            _ => slot.copy_from_slice(row),
        }
        // Every output row whose source rows have all arrived (the last just now).
        while *emitted < *out_h {
            let (first, n) = vert.bounds[*emitted];
            if first + n > *received {
                break;
            }
            let k = &vert.weights[*emitted * vert.ksize..*emitted * vert.ksize + n];
            accumulator.fill(1 << (PRECISION_BITS - 1));
            for (y, &ky) in k.iter().enumerate() {
                let s = (first + y) % *slots;
                for (a, &p) in accumulator
                    .iter_mut()
                    .zip(&window[s * line..(s + 1) * line])
                {
                    *a = a.wrapping_add((p as i32).wrapping_mul(ky));
                }
            }
            let clipped = accumulator.iter().map(|&a| clip8(a));
            if between.is_empty() {
                out.extend(clipped);
            } else {
                between.iter_mut().zip(clipped).for_each(|(b, v)| *b = v);
                append_horizontal(out, *out_w, horiz, between);
            }
            *emitted += 1;
        }
    }

    /// The resized image, once every output row could be computed (`None` while
    /// rows are missing).
    pub fn finish(self) -> Option<RgbImage> {
        if self.emitted < self.out_h {
            return None;
        }
        RgbImage::from_raw(self.out_w as u32, self.out_h as u32, self.out)
    }
}

/// Appends `row`'s horizontal pass to `out` (`row` itself when the width stays).
fn append_horizontal(out: &mut Vec<u8>, out_w: usize, horiz: Option<&Coeffs>, row: &[u8]) {
    match horiz {
        Some(horiz) => {
            let start = out.len();
            out.resize(start + out_w * 3, 0);
            horizontal_row(row, &mut out[start..], horiz);
        }
        None => out.extend_from_slice(row),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_size_is_a_copy() {
        let img = RgbImage::from_fn(5, 4, |x, y| image::Rgb([x as u8, y as u8, 7]));
        assert_eq!(resize(&img, 5, 4, Filter::Lanczos), img);
    }

    #[test]
    fn constant_image_stays_constant() {
        // Normalised weights sum to 1 in fixed point (±rounding), so a flat colour
        // survives any resampling exactly.
        let img = RgbImage::from_pixel(37, 23, image::Rgb([200, 13, 128]));
        for (w, h) in [(100, 61), (8, 5), (37, 80), (512, 512)] {
            let out = resize(&img, w, h, Filter::Lanczos);
            assert_eq!((out.width(), out.height()), (w, h));
            assert!(out.pixels().all(|p| p.0 == [200, 13, 128]), "{w}x{h}");
        }
    }

    /// A deterministic noisy image (an LCG): every pixel differs from its neighbours.
    fn noise(w: u32, h: u32) -> RgbImage {
        let mut state = 0x2545_f491_u32;
        RgbImage::from_fn(w, h, |_, _| {
            image::Rgb([0; 3].map(|_: u8| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            }))
        })
    }

    #[test]
    fn row_by_row_is_the_whole_image_resize() {
        // Both passes horizontal first, vertical first (the height shrinks more than
        // twice the width), one pass only, enlarging, and the identity.
        let sizes = [
            (97, 61, 40, 25),
            (97, 61, 13, 7),
            (20, 300, 18, 40),
            (97, 61, 50, 61),
            (97, 61, 97, 20),
            (31, 17, 70, 40),
            (31, 17, 31, 17),
            (1, 50, 1, 3),
            (50, 1, 3, 1),
        ];
        for (w, h, ow, oh) in sizes {
            let image = noise(w, h);
            for filter in [
                Filter::Bilinear,
                Filter::Lanczos,
                Filter::Bicubic,
                Filter::Box,
            ] {
                let mut resizer = Resizer::new(w, h, ow, oh, filter);
                for row in image.as_raw().chunks_exact(w as usize * 3) {
                    resizer.push_row(row);
                }
                let streamed = resizer.finish().expect("every row pushed");
                let whole = resize(&image, ow, oh, filter);
                assert_eq!(streamed, whole, "{w}x{h} -> {ow}x{oh} {filter:?}");
            }
        }
    }

    #[test]
    fn row_by_row_needs_every_row() {
        let image = noise(40, 30);
        let mut resizer = Resizer::new(40, 30, 10, 7, Filter::Bilinear);
        for row in image.as_raw().chunks_exact(40 * 3).take(29) {
            resizer.push_row(row);
        }
        assert!(resizer.finish().is_none());
    }

    #[test]
    fn filter_codes() {
        assert_eq!(Filter::from_pil(1), Some(Filter::Lanczos));
        assert_eq!(Filter::from_pil(3), Some(Filter::Bicubic));
        assert_eq!(Filter::from_pil(0), None);
    }
}
