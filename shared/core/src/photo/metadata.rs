//! One image file's metadata without decoding its pixels: format and size
//! from the header, EXIF, and the ways it is shown (the prompt line a model
//! gets, the table row people read).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use image::ImageFormat;

use super::error::PhotoError;
use super::exif;
use crate::ndjson::{Gps, ImageInfo};

/// Reads what `path`'s header and EXIF say. A file that is not an image,
/// or cannot be read, is an error; malformed EXIF is only a `warning`.
pub fn inspect(path: &Path) -> Result<ImageInfo, PhotoError> {
    let file = open(path)?;
    inspect_reader(path, &mut BufReader::new(file))
}

/// [`inspect`] on an open reader; `path` names it in the result and errors.
pub fn inspect_reader<R: BufRead + Seek>(
    path: &Path,
    reader: &mut R,
) -> Result<ImageInfo, PhotoError> {
    let format = sniff(path, reader)?;
    // Pixels cut short, or a header past a broken segment, still leave the
    // EXIF worth reading (and showing before a photo is shared): a warning.
    let size = match format {
        ImageFormat::Jpeg => jpeg_size(reader).ok_or_else(|| "no frame header".to_string()),
        _ => image::ImageReader::with_format(&mut *reader, format)
            .into_dimensions()
            .map_err(|e| e.to_string()),
    };
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| PhotoError::io(path, e))?;
    let read = match format {
        ImageFormat::Gif => exif::ExifRead::default(),
        _ => exif::read(reader),
    };
    let e = read.exif;
    let mut warnings: Vec<String> = read.warning.into_iter().collect();
    let (width, height) = match size {
        Ok((w, h)) => (Some(w), Some(h)),
        Err(why) => {
            warnings.push(format!("image header unreadable: {}", why.trim_end()));
            (None, None)
        }
    };
    Ok(ImageInfo {
        path: path.to_string_lossy().into_owned(),
        file: path.file_name().map(|f| f.to_string_lossy().into_owned()),
        format: Some(format_name(format).to_string()),
        width,
        height,
        gps: e.gps,
        date: e.date,
        camera: e.camera,
        lens: e.lens,
        orientation: e.orientation,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
        ..ImageInfo::default()
    })
}

/// Width and height from a JPEG's frame header (SOFn), without decoding:
/// the markers before it are skipped by their lengths.
fn jpeg_size<R: Read + Seek>(reader: &mut R) -> Option<(u32, u32)> {
    let mut b = [0u8; 2];
    reader.read_exact(&mut b).ok()?;
    if b != [0xff, 0xd8] {
        return None;
    }
    loop {
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte).ok()?;
        if byte[0] != 0xff {
            continue;
        }
        let mut marker = 0xff;
        while marker == 0xff {
            reader.read_exact(&mut byte).ok()?;
            marker = byte[0];
        }
        if marker == 0x00 || marker == 0x01 || (0xd0..=0xd9).contains(&marker) {
            continue;
        }
        reader.read_exact(&mut b).ok()?;
        let len = u16::from_be_bytes(b);
        if len < 2 {
            return None;
        }
        if (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            let mut sof = [0u8; 5];
            reader.read_exact(&mut sof).ok()?;
            let height = u32::from(u16::from_be_bytes([sof[1], sof[2]]));
            let width = u32::from(u16::from_be_bytes([sof[3], sof[4]]));
            return (width > 0 && height > 0).then_some((width, height));
        }
        reader.seek(SeekFrom::Current(i64::from(len) - 2)).ok()?;
    }
}

/// Opens a regular, non-empty file.
pub(crate) fn open(path: &Path) -> Result<File, PhotoError> {
    let meta = std::fs::metadata(path).map_err(|e| PhotoError::io(path, e))?;
    if meta.is_dir() {
        return Err(PhotoError::Directory(path.to_path_buf()));
    }
    if meta.len() == 0 {
        return Err(PhotoError::Empty(path.to_path_buf()));
    }
    File::open(path).map_err(|e| PhotoError::io(path, e))
}

/// The format, from the file's first bytes (never its name); the reader is
/// left at the start.
pub(crate) fn sniff<R: Read + Seek>(
    path: &Path,
    reader: &mut R,
) -> Result<ImageFormat, PhotoError> {
    let mut head = [0u8; 32];
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(PhotoError::io(path, e)),
        }
    }
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| PhotoError::io(path, e))?;
    match image::guess_format(&head[..filled]) {
        Ok(
            f @ (ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Tiff),
        ) => Ok(f),
        _ => Err(PhotoError::NotAnImage(path.to_path_buf())),
    }
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
        ImageFormat::Gif => "gif",
        ImageFormat::Tiff => "tiff",
        _ => "other",
    }
}

/// What of the metadata goes into prompts and output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privacy {
    /// Leave the GPS position out.
    pub no_location: bool,
    /// Leave out GPS, date, camera and lens (size and orientation stay).
    pub no_metadata: bool,
}

impl Privacy {
    pub fn apply(self, info: &mut ImageInfo) {
        if self.no_location || self.no_metadata {
            info.gps = None;
        }
        if self.no_metadata {
            info.date = None;
            info.camera = None;
            info.lens = None;
        }
    }
}

/// `32.7900°N, 16.9200°W` (4 decimals, about 11 m, as mlx-knife).
pub fn location(gps: &Gps) -> String {
    let ns = if gps.lat >= 0.0 { 'N' } else { 'S' };
    let ew = if gps.lon >= 0.0 { 'E' } else { 'W' };
    format!("{:.4}°{ns}, {:.4}°{ew}", gps.lat.abs(), gps.lon.abs())
}

/// The day of an ISO 8601 date (`2023-12-06`).
pub fn day(date: &str) -> &str {
    date.get(..10).unwrap_or(date)
}

/// The line a model gets before the prompt, one per image of a chunk:
/// `[Image 1 | GPS: 32.7900°N, 16.9200°W | Date: 2023-12-06 | Camera: Apple iPhone SE]`.
/// Images are numbered within their chunk; the chunk's total is left out so
/// that the model does not invent images (mlx-knife's finding).
pub fn prompt_line(n: usize, info: &ImageInfo) -> String {
    let mut parts = vec![format!("Image {n}")];
    if let Some(gps) = &info.gps {
        parts.push(format!("GPS: {}", location(gps)));
    }
    if let Some(date) = &info.date {
        parts.push(format!("Date: {}", day(date)));
    }
    if let Some(camera) = &info.camera {
        parts.push(format!("Camera: {camera}"));
    }
    format!("[{}]", parts.join(" | "))
}

/// The header of the table people see: mlx-knife's columns.
pub const TABLE_HEADER: &str = "| Image | File | Location | Date | Camera |\n|---|---|---|---|---|";

/// One row of that table.
pub fn table_row(n: usize, info: &ImageInfo) -> String {
    let file = info
        .file
        .as_deref()
        .unwrap_or(&info.path)
        .replace('|', "\\|");
    let place = info.gps.as_ref().map(|g| format!("📍 {}", location(g)));
    let date = info.date.as_deref().map(|d| format!("📅 {}", day(d)));
    let camera = info.camera.as_ref().map(|c| c.replace('|', "\\|"));
    format!(
        "| {n} | {file} | {} | {} | {} |",
        place.as_deref().unwrap_or("-"),
        date.as_deref().unwrap_or("-"),
        camera.as_deref().unwrap_or("-")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_every_hemisphere() {
        let info = ImageInfo {
            path: "a/beach.jpg".into(),
            file: Some("beach.jpg".into()),
            gps: Some(Gps {
                lat: 32.79,
                lon: -16.92,
                alt: None,
            }),
            date: Some("2023-12-06T14:03:00Z".into()),
            camera: Some("Apple iPhone SE".into()),
            ..ImageInfo::default()
        };
        assert_eq!(
            prompt_line(1, &info),
            "[Image 1 | GPS: 32.7900°N, 16.9200°W | Date: 2023-12-06 | Camera: Apple iPhone SE]"
        );
        assert_eq!(
            table_row(1, &info),
            "| 1 | beach.jpg | 📍 32.7900°N, 16.9200°W | 📅 2023-12-06 | Apple iPhone SE |"
        );
        let south_east = Gps {
            lat: -33.8568,
            lon: 151.2153,
            alt: None,
        };
        assert_eq!(location(&south_east), "33.8568°S, 151.2153°E");
        let mut bare = info.clone();
        Privacy {
            no_location: false,
            no_metadata: true,
        }
        .apply(&mut bare);
        assert_eq!(prompt_line(2, &bare), "[Image 2]");
        assert_eq!(table_row(2, &bare), "| 2 | beach.jpg | - | - | - |");
    }
}
