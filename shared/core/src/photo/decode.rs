//! Pixels as a model should get them: RGB, EXIF orientation applied (as
//! mlx-vlm's `exif_transpose`), and no larger than a pixel budget.
//!
//! Memory stays bounded whatever the megapixels: the size is read from the
//! header first; JPEG (nearly every photo) is decoded by libjpeg-turbo's
//! decoder directly at the largest `M/8` scale of its DCT within the budget,
//! so a 50-megapixel photo never exists at full size in memory, and within the
//! budget the pixels are Pillow's (the same decoder). PNG is read from the file
//! a row at a time and resized as its rows arrive (`photo/png.rs`), with
//! Pillow's pixels. The other formats (WebP, GIF, TIFF) are decoded whole. PNG
//! and the others are refused above [`FULL_DECODE_LIMIT`] pixels before any
//! pixel is read.

use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use image::metadata::Orientation;
use image::{DynamicImage, GenericImageView, ImageFormat, RgbImage};

use super::error::PhotoError;
use super::metadata::{open, sniff};
use super::{png, resample};

/// Default pixel budget of a decoded image (16 MP, 48 MB as RGB): above
/// what the vision processors of mlx-vlm's families resize to.
pub const DEFAULT_MAX_PIXELS: u64 = 16 * 1024 * 1024;

/// Largest image of a format without reduced decoding (PNG, WebP, GIF,
/// TIFF) that is decoded at all: 40 MP. A PNG is never held whole at that
/// size (it is resized row by row) unless interlaced (then 120 MB of RGB).
pub const FULL_DECODE_LIMIT: u64 = 40_000_000;

/// Largest JPEG (200 MP, the largest phone sensors). Decoding at reduced
/// scale keeps the pixels small; a baseline JPEG is decoded a few rows of
/// blocks at a time, a progressive one holds its DCT coefficients (2 bytes
/// per sample: 3 bytes per pixel for 4:2:0) until its last scan.
pub const JPEG_LIMIT: u64 = 200_000_000;

/// Largest file read (bytes).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Decodes `path` to RGB with `orientation` (EXIF 1..=8) applied, reduced to
/// at most `max_pixels` pixels (aspect ratio kept).
pub fn decode(
    path: &Path,
    orientation: Option<u16>,
    max_pixels: u64,
) -> Result<RgbImage, PhotoError> {
    let max_pixels = max_pixels.max(1);
    let mut file = open(path)?;
    let format = sniff(path, &mut file)?;
    let size = file.metadata().map_err(|e| PhotoError::io(path, e))?.len();
    if size > MAX_FILE_BYTES {
        return Err(PhotoError::invalid(
            path,
            format!("{size} bytes, over the {MAX_FILE_BYTES}-byte limit"),
        ));
    }
    if format == ImageFormat::Png {
        let image = png::decode(path, BufReader::new(file), max_pixels)?;
        return Ok(orient(image.into(), orientation));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| PhotoError::io(path, e))?;
    decode_bytes(path, &bytes, format, orientation, max_pixels)
}

/// [`decode`] of a file's `bytes` in `format` (`path` names it in errors).
pub fn decode_bytes(
    path: &Path,
    bytes: &[u8],
    format: ImageFormat,
    orientation: Option<u16>,
    max_pixels: u64,
) -> Result<RgbImage, PhotoError> {
    let max_pixels = max_pixels.max(1);
    let image = match format {
        ImageFormat::Jpeg => shrink(jpeg(path, bytes, max_pixels)?, max_pixels),
        ImageFormat::Png => png::decode(path, Cursor::new(bytes), max_pixels)?.into(),
        _ => shrink(other(path, bytes, format)?, max_pixels),
    };
    Ok(orient(image, orientation))
}

/// `image` as RGB with EXIF `orientation` (1..=8) applied.
fn orient(mut image: DynamicImage, orientation: Option<u16>) -> RgbImage {
    if let Some(o) = orientation.and_then(|o| Orientation::from_exif(o as u8)) {
        image.apply_orientation(o);
    }
    image.into_rgb8()
}

pub(super) fn too_large(path: &Path, width: u64, height: u64, limit: u64) -> PhotoError {
    PhotoError::TooLarge {
        path: path.to_path_buf(),
        width,
        height,
        limit,
    }
}

/// JPEG through libjpeg-turbo's decoder (mozjpeg's build of it, the decoder Pillow
/// uses: the same pixels), scaled by its DCT to the largest `M/8` (M = 1..=8) within
/// the budget, so the image never exists larger than that in memory.
fn jpeg(path: &Path, bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, PhotoError> {
    let ran_out = AtomicBool::new(false);
    let source = Strict {
        rest: bytes,
        ran_out: &ran_out,
    };
    let decoded = std::panic::catch_unwind(|| jpeg_scaled(source, max_pixels));
    if ran_out.load(Ordering::Relaxed) {
        // libjpeg would pad a truncated file with gray; Pillow refuses it.
        return Err(PhotoError::invalid(path, "the JPEG data is truncated"));
    }
    match decoded {
        Ok(result) => result.map_err(|e| match e {
            JpegError::TooLarge(w, h) => too_large(path, w, h, JPEG_LIMIT),
            JpegError::Invalid(message) => PhotoError::invalid(path, message),
        }),
        // libjpeg reports a corrupt stream by unwinding out of its error handler.
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(|m| m.trim_start_matches("libjpeg fatal error: ").to_string())
                .unwrap_or_else(|| "corrupt JPEG data".into());
            Err(PhotoError::invalid(path, message))
        }
    }
}

/// The file's bytes for libjpeg, failing (instead of ending, which libjpeg answers by
/// faking an end-of-image marker) when it asks for more than there is.
struct Strict<'a> {
    rest: &'a [u8],
    ran_out: &'a AtomicBool,
}

impl Read for Strict<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.fill_buf()?.len().min(buf.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Strict<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.rest.is_empty() {
            self.ran_out.store(true, Ordering::Relaxed);
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "truncated",
            ));
        }
        Ok(self.rest)
    }

    fn consume(&mut self, n: usize) {
        self.rest = &self.rest[n.min(self.rest.len())..];
    }
}

enum JpegError {
    TooLarge(u64, u64),
    Invalid(String),
}

impl From<std::io::Error> for JpegError {
    fn from(e: std::io::Error) -> Self {
        JpegError::Invalid(e.to_string())
    }
}

/// The largest `M` of 1..=8 whose `M/8` scale of a `w × h` image (sides rounded up,
/// as libjpeg computes them) stays within `max_pixels`; 1 when none does.
fn jpeg_scale(w: u64, h: u64, max_pixels: u64) -> u8 {
    (1..=8u8)
        .rev()
        .find(|&m| (w * u64::from(m)).div_ceil(8) * (h * u64::from(m)).div_ceil(8) <= max_pixels)
        .unwrap_or(1)
}

fn jpeg_scaled(source: Strict<'_>, max_pixels: u64) -> Result<DynamicImage, JpegError> {
    let mut decoder =
        mozjpeg::Decompress::with_markers(&[mozjpeg::Marker::APP(14)]).from_reader(source)?;
    let (w, h) = (decoder.width() as u64, decoder.height() as u64);
    if w * h > JPEG_LIMIT {
        return Err(JpegError::TooLarge(w, h));
    }
    // Adobe's CMYK JPEGs store inverted values (Pillow's `CMYK;I`).
    let adobe = decoder
        .markers()
        .any(|m| m.marker == mozjpeg::Marker::APP(14) && m.data.starts_with(b"Adobe"));
    decoder.scale(jpeg_scale(w, h, max_pixels));
    let image = match decoder.image()? {
        mozjpeg::decompress::Format::RGB(mut d) => {
            let (w, h) = (d.width() as u32, d.height() as u32);
            let pixels = d.read_scanlines::<u8>()?;
            d.finish()?;
            RgbImage::from_raw(w, h, pixels).map(DynamicImage::from)
        }
        mozjpeg::decompress::Format::Gray(mut d) => {
            let (w, h) = (d.width() as u32, d.height() as u32);
            let pixels = d.read_scanlines::<u8>()?;
            d.finish()?;
            image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::from)
        }
        mozjpeg::decompress::Format::CMYK(mut d) => {
            let (w, h) = (d.width() as u32, d.height() as u32);
            let cmyk = d.read_scanlines::<u8>()?;
            d.finish()?;
            RgbImage::from_raw(w, h, cmyk_to_rgb(&cmyk, adobe)).map(DynamicImage::from)
        }
    };
    image.ok_or_else(|| JpegError::Invalid("decoded size does not match the header".into()))
}

/// CMYK → RGB as Pillow converts it (`cmyk2rgb`: `(255 − k) − c · (255 − k) / 255`,
/// rounded), the values inverted first when an Adobe marker says they are stored so.
fn cmyk_to_rgb(cmyk: &[u8], inverted: bool) -> Vec<u8> {
    let muldiv255 = |a: u32, b: u32| {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    };
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            let p = if inverted {
                [255 - p[0], 255 - p[1], 255 - p[2], 255 - p[3]]
            } else {
                [p[0], p[1], p[2], p[3]]
            };
            let nk = 255 - u32::from(p[3]);
            [0, 1, 2].map(|i| (nk - muldiv255(u32::from(p[i]), nk)) as u8)
        })
        .collect()
}

/// The other formats, refused above [`FULL_DECODE_LIMIT`] before decoding.
fn other(path: &Path, bytes: &[u8], format: ImageFormat) -> Result<DynamicImage, PhotoError> {
    let reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| PhotoError::invalid(path, e))?;
    let (w, h) = (u64::from(w), u64::from(h));
    if w * h > FULL_DECODE_LIMIT {
        return Err(too_large(path, w, h, FULL_DECODE_LIMIT));
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(FULL_DECODE_LIMIT * 16);
    reader.limits(limits);
    reader.decode().map_err(|e| PhotoError::invalid(path, e))
}

/// Reduces `image` to at most `max_pixels` pixels, aspect ratio kept, with Pillow's
/// bilinear filter (8-bit integer passes: no float copy of the image).
fn shrink(image: DynamicImage, max_pixels: u64) -> DynamicImage {
    let (nw, nh) = budget_size(image.width(), image.height(), max_pixels);
    if (nw, nh) == image.dimensions() {
        return image;
    }
    let rgb = image.into_rgb8();
    DynamicImage::from(resample::resize(&rgb, nw, nh, resample::Filter::Bilinear))
}

/// The size a `w`×`h` image is reduced to within `max_pixels` pixels, aspect ratio
/// kept (its own size when it fits).
pub(super) fn budget_size(w: u32, h: u32, max_pixels: u64) -> (u32, u32) {
    let (w64, h64) = (u64::from(w), u64::from(h));
    if w64 * h64 <= max_pixels {
        return (w, h);
    }
    let f = (max_pixels as f64 / (w64 * h64) as f64).sqrt();
    let nw = ((w as f64 * f).floor() as u32).max(1);
    let nh = ((h as f64 * f).floor() as u32).max(1);
    (nw, nh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_scale_stays_within_the_budget() {
        // 50 MP (8660×5773) in 16 MiP: 4/8 gives 12.5 MP, 5/8 would give 19.5 MP.
        assert_eq!(jpeg_scale(8660, 5773, DEFAULT_MAX_PIXELS), 4);
        // Within the budget: full size.
        assert_eq!(jpeg_scale(4032, 3024, DEFAULT_MAX_PIXELS), 8);
        // Sides are rounded up: 9×9 at 1/8 is 2×2 = 4 pixels.
        assert_eq!(jpeg_scale(9, 9, 4), 1);
        assert_eq!(jpeg_scale(9, 9, 3), 1);
        // 200 MP in 1 MP: nothing fits, the smallest scale.
        assert_eq!(jpeg_scale(16320, 12240, 1_000_000), 1);
    }

    #[test]
    fn cmyk_as_pillow_converts_it() {
        // Pillow: Image.new("CMYK", (1, 1), (c, m, y, k)).convert("RGB").
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 0], false), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 0, 0, 0], false), [0, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[100, 50, 200, 30], false), [137, 181, 49]);
        // Adobe's inverted storage of the same colour.
        assert_eq!(cmyk_to_rgb(&[155, 205, 55, 225], true), [137, 181, 49]);
    }
}
