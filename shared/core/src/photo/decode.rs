//! Pixels as a model should get them: RGB, EXIF orientation applied (as
//! mlx-vlm's `exif_transpose`), and no larger than a pixel budget.
//!
//! Memory stays bounded whatever the megapixels: the size is read from the
//! header first; JPEG (nearly every photo) is decoded directly at 1/2, 1/4
//! or 1/8 scale by its DCT (jpeg-decoder), so a 50-megapixel photo never
//! exists at full size in memory; other formats have no reduced decoding and
//! are refused above [`FULL_DECODE_LIMIT`] pixels before any pixel is read.

use std::io::{Cursor, Read};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageFormat, RgbImage};

use super::error::PhotoError;
use super::metadata::{open, sniff};

/// Default pixel budget of a decoded image (16 MP, 48 MB as RGB): above
/// what the vision processors of mlx-vlm's families resize to.
pub const DEFAULT_MAX_PIXELS: u64 = 16 * 1024 * 1024;

/// Largest image of a format without reduced decoding (PNG, WebP, GIF,
/// TIFF) that is decoded at all: 40 MP.
pub const FULL_DECODE_LIMIT: u64 = 40_000_000;

/// Largest JPEG (200 MP, the largest phone sensors). Decoding at reduced
/// scale keeps the pixels small, but jpeg-decoder's worker threads may queue
/// a frame's DCT coefficients (2 bytes per sample) when they fall behind the
/// entropy decoder: at most about 3 bytes per pixel for 4:2:0 photos.
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
    let mut bytes = Vec::with_capacity(size as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| PhotoError::io(path, e))?;
    let image = match format {
        ImageFormat::Jpeg => jpeg(path, &bytes, max_pixels)?,
        _ => other(path, &bytes, format)?,
    };
    drop(bytes);
    let mut image = shrink(image, max_pixels);
    if let Some(o) = orientation.and_then(|o| Orientation::from_exif(o as u8)) {
        image.apply_orientation(o);
    }
    Ok(image.into_rgb8())
}

fn too_large(path: &Path, width: u64, height: u64, limit: u64) -> PhotoError {
    PhotoError::TooLarge {
        path: path.to_path_buf(),
        width,
        height,
        limit,
    }
}

/// JPEG through jpeg-decoder, reduced by DCT scaling to about the budget.
fn jpeg(path: &Path, bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, PhotoError> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(1 << 30);
    decoder
        .read_info()
        .map_err(|e| PhotoError::invalid(path, e))?;
    let info = decoder
        .info()
        .ok_or_else(|| PhotoError::invalid(path, "no frame header"))?;
    let (w, h) = (u64::from(info.width), u64::from(info.height));
    if w * h > JPEG_LIMIT {
        return Err(too_large(path, w, h, JPEG_LIMIT));
    }
    if w * h > max_pixels {
        // The decoder picks the smallest of 1/1, 1/2 … 1/8 scale that is at
        // least as large as asked; `shrink` does the rest.
        let f = ((w * h) as f64 / max_pixels as f64).sqrt();
        let rw = ((w as f64 / f).ceil() as u16).max(1);
        let rh = ((h as f64 / f).ceil() as u16).max(1);
        decoder
            .scale(rw, rh)
            .map_err(|e| PhotoError::invalid(path, e))?;
    }
    let pixels = decoder.decode().map_err(|e| PhotoError::invalid(path, e))?;
    let info = decoder
        .info()
        .ok_or_else(|| PhotoError::invalid(path, "no frame header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            RgbImage::from_raw(w, h, pixels).map(DynamicImage::from)
        }
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::from)
        }
        jpeg_decoder::PixelFormat::L16 => {
            let wide = pixels
                .chunks_exact(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .collect();
            image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(w, h, wide)
                .map(DynamicImage::from)
        }
        jpeg_decoder::PixelFormat::CMYK32 => {
            let rgb = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = 255 - u16::from(p[3]);
                    [0, 1, 2].map(|i| ((255 - u16::from(p[i])) * k / 255) as u8)
                })
                .collect();
            RgbImage::from_raw(w, h, rgb).map(DynamicImage::from)
        }
    };
    image.ok_or_else(|| PhotoError::invalid(path, "decoded size does not match the header"))
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

/// Reduces `image` to at most `max_pixels` pixels, aspect ratio kept.
fn shrink(image: DynamicImage, max_pixels: u64) -> DynamicImage {
    let (w, h) = (u64::from(image.width()), u64::from(image.height()));
    if w * h <= max_pixels {
        return image;
    }
    let f = (max_pixels as f64 / (w * h) as f64).sqrt();
    let nw = ((w as f64 * f).floor() as u32).max(1);
    let nh = ((h as f64 * f).floor() as u32).max(1);
    image.resize_exact(nw, nh, image::imageops::FilterType::Triangle)
}
