//! PNG decoded a row at a time, straight from its reader, to the pixels Pillow's
//! `Image.open(p).convert("RGB")` gives, and reduced to the pixel budget as the rows
//! arrive ([`Resizer`]): besides the result, memory holds a couple of rows of the
//! file's own depth and the few rows the vertical pass of the resize reads, whatever
//! the megapixels or the bit depth.
//!
//! An interlaced (Adam7) PNG cannot be given row by row: its first rows are complete
//! only after the last pass. Its passes are converted to 8-bit RGB as they arrive and
//! spread into one full-size RGB frame (3 bytes a pixel, 120 MB at
//! [`FULL_DECODE_LIMIT`]: never the file's 16-bit samples or its alpha), which is then
//! resized the same way.
//!
//! Pillow's conversions, measured with Pillow 13 on PNGs of every colour type and
//! depth: 16-bit samples keep their high byte (RGB, RGBA, gray+alpha), except 16-bit
//! gray without alpha, which Pillow opens as `I;16` and converts by clipping the value
//! to 255 (so 256 and above are white); 1-, 2- and 4-bit gray is scaled to 0..=255;
//! palette indices past the palette are black; alpha, and transparency from `tRNS`,
//! are dropped, not composited.

use std::io::{BufRead, Seek};
use std::path::Path;

use ::png::{BitDepth, ColorType, DecodingError, InterlaceInfo, Transformations};
use image::RgbImage;

use super::decode::{budget_size, too_large, FULL_DECODE_LIMIT};
use super::error::PhotoError;
use super::resample::{Filter, Resizer};

/// Decodes the PNG that `reader` holds to RGB, reduced to at most `max_pixels` pixels
/// with Pillow's bilinear filter; refused above [`FULL_DECODE_LIMIT`] pixels before
/// any pixel is read (`path` names the file in errors).
pub(super) fn decode<R: BufRead + Seek>(
    path: &Path,
    reader: R,
    max_pixels: u64,
) -> Result<RgbImage, PhotoError> {
    let short = || PhotoError::invalid(path, "fewer PNG rows than its header says");
    let error = |e: DecodingError| match e {
        DecodingError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            PhotoError::invalid(path, "the PNG data is truncated")
        }
        DecodingError::IoError(e) => PhotoError::io(path, e),
        e => PhotoError::invalid(path, e),
    };
    // The decoder's own buffers (a row or two, metadata chunks): at most a few rows of
    // the widest image allowed, 16-bit RGBA.
    let limits = ::png::Limits {
        bytes: FULL_DECODE_LIMIT as usize * 8,
    };
    let mut decoder = ::png::Decoder::new_with_limits(reader, limits);
    decoder.set_ignore_text_chunk(true);
    let header = decoder.read_header_info().map_err(error)?;
    let (w, h) = (header.width, header.height);
    if u64::from(w) * u64::from(h) > FULL_DECODE_LIMIT {
        return Err(too_large(path, w.into(), h.into(), FULL_DECODE_LIMIT));
    }
    let gray16 = header.color_type == ColorType::Grayscale && header.bit_depth == BitDepth::Sixteen;
    // Palettes to RGB(A), gray under 8 bits scaled to 8, tRNS as an alpha sample.
    decoder.set_transformations(Transformations::EXPAND);
    let mut png = decoder.read_info().map_err(error)?;
    let to_rgb = ToRgb::new(png.output_color_type(), gray16);
    let (nw, nh) = budget_size(w, h, max_pixels);
    let mut resizer = Resizer::new(w, h, nw, nh, Filter::Bilinear);
    let mut rgb = vec![0u8; w as usize * 3];
    // Rows are read up to the last one the header promises and no further: like
    // Pillow, a file cut after its pixel data (no IEND, part of the last CRC) is whole.
    if png.info().interlaced {
        let mut frame = vec![0u8; w as usize * h as usize * 3];
        for _ in 0..adam7_rows(w, h) {
            let row = png
                .next_interlaced_row()
                .map_err(error)?
                .ok_or_else(short)?;
            let pixels = to_rgb.row(row.data(), &mut rgb);
            if let InterlaceInfo::Adam7(pass) = row.interlace() {
                ::png::expand_interlaced_row(&mut frame, w as usize * 3, pixels, pass, 24);
            }
        }
        frame
            .chunks_exact(w as usize * 3)
            .for_each(|row| resizer.push_row(row));
    } else {
        for _ in 0..h {
            let row = png.next_row().map_err(error)?.ok_or_else(short)?;
            resizer.push_row(to_rgb.row(row.data(), &mut rgb));
        }
    }
    resizer.finish().ok_or_else(short)
}

/// How many rows the seven passes of an interlaced `w`×`h` image have (passes with
/// no pixel have no rows).
fn adam7_rows(w: u32, h: u32) -> u32 {
    // (first column, first row, row step) of each pass: a pass has rows when its
    // first column and first row are inside the image.
    const PASSES: [(u32, u32, u32); 7] = [
        (0, 0, 8),
        (4, 0, 8),
        (0, 4, 8),
        (2, 0, 4),
        (0, 2, 4),
        (1, 0, 2),
        (0, 1, 2),
    ];
    PASSES
        .iter()
        .filter(|&&(x0, y0, _)| x0 < w && y0 < h)
        .map(|&(_, y0, dy)| (h - y0).div_ceil(dy))
        .sum()
}

/// How a decoded row's samples become RGB, as Pillow's `convert("RGB")` makes them
/// from the mode it opens the PNG in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToRgb {
    /// Gray (Pillow's `1`, `L`, `LA`): the first byte of each `step`-byte pixel (the
    /// high byte of a 16-bit sample) as R, G and B.
    Gray { step: usize },
    /// 16-bit gray (Pillow's `I;16`): the value clipped to 255.
    Gray16 { step: usize },
    /// RGB(A): the bytes at 0, `sample` and 2·`sample` of each `step`-byte pixel (the
    /// high bytes of 16-bit samples; alpha after them unread).
    Rgb { step: usize, sample: usize },
}

impl ToRgb {
    /// For rows of `output` (colour type and depth after the decoder's expansion);
    /// `gray16` when the file is 16-bit gray.
    fn new((color, depth): (ColorType, BitDepth), gray16: bool) -> Self {
        let sample = if depth == BitDepth::Sixteen { 2 } else { 1 };
        let step = color.samples() * sample;
        match color {
            ColorType::Grayscale | ColorType::GrayscaleAlpha if gray16 => ToRgb::Gray16 { step },
            // Palettes are expanded to RGB(A) before this: `Indexed` does not occur.
            ColorType::Grayscale | ColorType::GrayscaleAlpha | ColorType::Indexed => {
                ToRgb::Gray { step }
            }
            ColorType::Rgb | ColorType::Rgba => ToRgb::Rgb { step, sample },
        }
    }

    /// Converts `row` into the start of `out`, and returns that part of it.
    fn row<'a>(self, row: &[u8], out: &'a mut [u8]) -> &'a [u8] {
        let step = match self {
            ToRgb::Gray { step } | ToRgb::Gray16 { step } | ToRgb::Rgb { step, .. } => step,
        };
        let pixels = (row.len() / step).min(out.len() / 3);
        let out = &mut out[..pixels * 3];
        let pairs = out.chunks_exact_mut(3).zip(row.chunks_exact(step));
        match self {
            ToRgb::Gray { .. } => pairs.for_each(|(o, p)| o.fill(p[0])),
            ToRgb::Gray16 { .. } => pairs.for_each(|(o, p)| {
                o.fill(u16::from_be_bytes([p[0], p[1]]).min(255) as u8);
            }),
            ToRgb::Rgb { sample, .. } => pairs.for_each(|(o, p)| {
                o.copy_from_slice(&[p[0], p[sample], p[2 * sample]]);
            }),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use ::png::{Encoder, Info};

    use super::*;
    use crate::photo::resample::resize;

    /// A PNG of `w`×`h` `color` samples at `depth` (`data`: the rows, packed, big-endian),
    /// with a palette and `tRNS` when given.
    fn encode(
        (w, h): (u32, u32),
        (color, depth): (ColorType, BitDepth),
        palette: Option<&[u8]>,
        trns: Option<&[u8]>,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out, w, h);
        e.set_color(color);
        e.set_depth(depth);
        if let Some(p) = palette {
            e.set_palette(p.to_vec());
        }
        if let Some(t) = trns {
            e.set_trns(t.to_vec());
        }
        let mut writer = e.write_header().unwrap();
        writer.write_image_data(data).unwrap();
        writer.finish().unwrap();
        out
    }

    /// The same pixels as an interlaced (Adam7) PNG, for byte-sized pixels of `bpp`
    /// bytes: each pass's rows, unfiltered, deflated into one IDAT.
    fn interlaced(
        w: u32,
        h: u32,
        format: (ColorType, BitDepth),
        bpp: usize,
        data: &[u8],
    ) -> Vec<u8> {
        const PASSES: [(usize, usize, usize, usize); 7] = [
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        ];
        let (w, h) = (w as usize, h as usize);
        let mut raw = Vec::new();
        for (x0, y0, dx, dy) in PASSES {
            if x0 >= w || y0 >= h {
                continue;
            }
            for y in (y0..h).step_by(dy) {
                raw.push(0);
                for x in (x0..w).step_by(dx) {
                    raw.extend_from_slice(&data[(y * w + x) * bpp..(y * w + x + 1) * bpp]);
                }
            }
        }
        let mut info = Info::with_size(w as u32, h as u32);
        (info.color_type, info.bit_depth, info.interlaced) = (format.0, format.1, true);
        let mut out = Vec::new();
        let mut writer = Encoder::with_info(&mut out, info)
            .unwrap()
            .write_header()
            .unwrap();
        let idat = miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6);
        writer.write_chunk(::png::chunk::IDAT, &idat).unwrap();
        writer.finish().unwrap();
        out
    }

    fn rgb(png: &[u8], max_pixels: u64) -> Result<RgbImage, PhotoError> {
        decode(Path::new("t.png"), Cursor::new(png), max_pixels)
    }

    /// `values` as gray pixels, each repeated in R, G and B.
    fn gray(values: &[u8]) -> Vec<u8> {
        values.iter().flat_map(|&v| [v; 3]).collect()
    }

    /// Deterministic noise (an LCG).
    fn noise(n: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_u32;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect()
    }

    const MAX: u64 = u64::MAX;

    // The expected values below are Pillow 13's `Image.open(p).convert("RGB").tobytes()`
    // of PNGs with the same header, palette, tRNS and samples.

    #[test]
    fn sixteen_bit_gray_is_clipped_as_pillows_i16() {
        let values: [u16; 10] = [
            0, 1, 255, 256, 0x1234, 0x7fff, 0x8000, 0xabcd, 0xff00, 0xffff,
        ];
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        let want = gray(&[0, 1, 255, 255, 255, 255, 255, 255, 255, 255]);
        let format = (ColorType::Grayscale, BitDepth::Sixteen);
        let plain = encode((10, 1), format, None, None, &data);
        assert_eq!(rgb(&plain, MAX).unwrap().into_raw(), want);
        // tRNS (an alpha sample after expansion) changes nothing.
        let trns = encode((10, 1), format, None, Some(&[0x12, 0x34]), &data);
        assert_eq!(rgb(&trns, MAX).unwrap().into_raw(), want);
    }

    #[test]
    fn other_sixteen_bit_samples_keep_their_high_byte() {
        let samples = |v: &[u16]| v.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>();
        let rgb16 = samples(&[0x1234, 0xabcd, 0x00ff, 0xff00, 0x8080, 0x7f7f]);
        let png = encode(
            (2, 1),
            (ColorType::Rgb, BitDepth::Sixteen),
            None,
            None,
            &rgb16,
        );
        assert_eq!(
            rgb(&png, MAX).unwrap().into_raw(),
            [18, 171, 0, 255, 128, 127]
        );
        let rgba16 = samples(&[0x1234, 0xabcd, 0x00ff, 1, 0xff00, 0x8080, 0x7f7f, 0xffff]);
        let png = encode(
            (2, 1),
            (ColorType::Rgba, BitDepth::Sixteen),
            None,
            None,
            &rgba16,
        );
        assert_eq!(
            rgb(&png, MAX).unwrap().into_raw(),
            [18, 171, 0, 255, 128, 127]
        );
        let la16 = samples(&[0x1234, 0xabcd, 0xff80, 1]);
        let png = encode(
            (2, 1),
            (ColorType::GrayscaleAlpha, BitDepth::Sixteen),
            None,
            None,
            &la16,
        );
        assert_eq!(rgb(&png, MAX).unwrap().into_raw(), gray(&[18, 255]));
    }

    #[test]
    fn alpha_and_transparency_are_dropped() {
        let eight = |c| (c, BitDepth::Eight);
        let png = encode(
            (2, 1),
            eight(ColorType::GrayscaleAlpha),
            None,
            None,
            &[10, 0, 200, 128],
        );
        assert_eq!(rgb(&png, MAX).unwrap().into_raw(), gray(&[10, 200]));
        let rgba = [10, 20, 30, 0, 200, 100, 50, 128];
        let png = encode((2, 1), eight(ColorType::Rgba), None, None, &rgba);
        assert_eq!(
            rgb(&png, MAX).unwrap().into_raw(),
            [10, 20, 30, 200, 100, 50]
        );
        let pixels = [10, 20, 30, 200, 100, 50];
        let png = encode(
            (2, 1),
            eight(ColorType::Rgb),
            None,
            Some(&[0, 10, 0, 20, 0, 30]),
            &pixels,
        );
        assert_eq!(rgb(&png, MAX).unwrap().into_raw(), pixels);
        let png = encode(
            (3, 1),
            eight(ColorType::Grayscale),
            None,
            Some(&[0, 20]),
            &[10, 20, 30],
        );
        assert_eq!(rgb(&png, MAX).unwrap().into_raw(), gray(&[10, 20, 30]));
    }

    #[test]
    fn low_bit_gray_is_scaled_to_eight_bits() {
        let bytes = [0b0001_1011, 0b1110_0100];
        let cases: [(BitDepth, u32, &[u8]); 3] = [
            (
                BitDepth::One,
                16,
                &[
                    0, 0, 0, 255, 255, 0, 255, 255, 255, 255, 255, 0, 0, 255, 0, 0,
                ],
            ),
            (BitDepth::Two, 8, &[0, 85, 170, 255, 255, 170, 85, 0]),
            (BitDepth::Four, 4, &[17, 187, 238, 68]),
        ];
        for (depth, w, want) in cases {
            for trns in [None, Some(&[0u8, 1][..])] {
                let png = encode((w, 1), (ColorType::Grayscale, depth), None, trns, &bytes);
                assert_eq!(rgb(&png, MAX).unwrap().into_raw(), gray(want), "{depth:?}");
            }
        }
    }

    #[test]
    fn palette_indices_past_the_palette_are_black() {
        let palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7];
        let (red, green, blue, other, black) =
            ([255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 8, 7], [0; 3]);
        let packed = [0b0001_1011, 0b0010_0111];
        let two = [red, green, blue, other, red, blue, green, other];
        let cases = [
            (BitDepth::Two, 8, &packed[..], &two[..]),
            (BitDepth::Four, 4, &packed, &[green, black, blue, black]),
            (
                BitDepth::Eight,
                4,
                &[0, 3, 4, 200],
                &[red, other, black, black],
            ),
        ];
        for (depth, w, data, want) in cases {
            let want: Vec<u8> = want.concat();
            for trns in [None, Some(&[0u8, 128][..])] {
                let png = encode(
                    (w, 1),
                    (ColorType::Indexed, depth),
                    Some(&palette),
                    trns,
                    data,
                );
                assert_eq!(
                    rgb(&png, MAX).unwrap().into_raw(),
                    want,
                    "{depth:?} {trns:?}"
                );
            }
        }
    }

    #[test]
    fn over_the_budget_rows_are_resized_as_they_arrive() {
        // The streamed resize equals Pillow's resize (resample::resize) of the whole
        // image: both passes horizontal first, and vertical first for a tall image.
        for ((w, h), budget) in [((97, 61), 1000), ((20, 300), 500), ((64, 64), 4095)] {
            let rgb16 = noise(w as usize * h as usize * 6);
            let png = encode(
                (w, h),
                (ColorType::Rgb, BitDepth::Sixteen),
                None,
                None,
                &rgb16,
            );
            let whole = rgb(&png, MAX).unwrap();
            let high: Vec<u8> = rgb16.iter().step_by(2).copied().collect();
            assert_eq!(whole.as_raw(), &high);
            let (nw, nh) = budget_size(w, h, budget);
            assert!(u64::from(nw * nh) <= budget && (nw, nh) != (w, h));
            let reduced = rgb(&png, budget).unwrap();
            assert_eq!(reduced, resize(&whole, nw, nh, Filter::Bilinear), "{w}x{h}");
        }
    }

    #[test]
    fn interlaced_gives_the_same_pixels() {
        for (w, h) in [(1, 1), (2, 2), (5, 1), (1, 9), (3, 5), (13, 9), (40, 33)] {
            let n = w as usize * h as usize;
            let rgb8 = noise(n * 3);
            let format = (ColorType::Rgb, BitDepth::Eight);
            let plain = encode((w, h), format, None, None, &rgb8);
            let adam7 = interlaced(w, h, format, 3, &rgb8);
            assert_eq!(
                rgb(&adam7, MAX).unwrap(),
                rgb(&plain, MAX).unwrap(),
                "{w}x{h}"
            );
            let budget = (n as u64 / 3).max(1);
            assert_eq!(
                rgb(&adam7, budget).unwrap(),
                rgb(&plain, budget).unwrap(),
                "{w}x{h}"
            );
            // 16-bit gray, converted per pass (clipped as Pillow's I;16).
            let g16 = noise(n * 2);
            let format = (ColorType::Grayscale, BitDepth::Sixteen);
            let plain = encode((w, h), format, None, None, &g16);
            let adam7 = interlaced(w, h, format, 2, &g16);
            assert_eq!(
                rgb(&adam7, MAX).unwrap(),
                rgb(&plain, MAX).unwrap(),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn truncated_or_damaged_files_are_invalid() {
        let data = noise(30 * 20 * 4);
        let png = encode(
            (30, 20),
            (ColorType::Rgba, BitDepth::Eight),
            None,
            None,
            &data,
        );
        let iend = png.len() - 12;
        // Any cut before the end of the pixel data; after it, the pixels are all there.
        for end in (0..iend - 30).step_by(7) {
            let e = rgb(&png[..end], MAX).unwrap_err();
            assert_eq!(e.code(), "invalid_image", "cut at {end}: {e}");
        }
        // As Pillow: cut after its pixel data (no IEND, part of the last CRC), a PNG is
        // whole; cut inside, it is truncated.
        let whole = rgb(&png, MAX).unwrap();
        for cut in [0, 2, 4] {
            assert_eq!(rgb(&png[..iend - cut], MAX).unwrap(), whole, "{cut}");
        }
        // Any byte damaged: an error or some pixels, never a panic.
        for at in (0..png.len()).step_by(3) {
            let mut damaged = png.clone();
            damaged[at] ^= 0x55;
            if let Err(e) = rgb(&damaged, MAX) {
                assert!(
                    ["invalid_image", "image_too_large"].contains(&e.code()),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn too_large_is_refused_from_the_header() {
        // A header of 8000×6000 (48 MP) and no pixel data at all.
        let mut out = Vec::new();
        Encoder::new(&mut out, 8000, 6000)
            .write_header()
            .unwrap()
            .finish()
            .unwrap();
        match rgb(&out, MAX) {
            Err(PhotoError::TooLarge {
                width,
                height,
                limit,
                ..
            }) => {
                assert_eq!((width, height, limit), (8000, 6000, FULL_DECODE_LIMIT));
            }
            other => panic!("{other:?}"),
        }
        // Within the limit, the missing pixel data is an invalid file.
        let mut out = Vec::new();
        Encoder::new(&mut out, 4000, 3000)
            .write_header()
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(rgb(&out, MAX).unwrap_err().code(), "invalid_image");
    }
}
