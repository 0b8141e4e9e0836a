//! The EXIF fields mlxk-vision passes to a model, read with kamadak-exif:
//! GPS position (signed decimal degrees, altitude in metres), the date the
//! photo was taken, camera, lens and orientation.
//!
//! Malformed EXIF never fails: what can be read is kept, and a warning says
//! what could not. Dates follow mlx-knife: the GPS UTC time first (a clock
//! the user cannot misset), else `DateTimeOriginal` with `OffsetTimeOriginal`
//! when present; never `DateTime`, which editors rewrite.

use std::io::{BufRead, Seek, SeekFrom};

use exif::{Field, In, Reader, Tag, Value};

use crate::ndjson::Gps;

/// What the EXIF block of one image says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exif {
    pub gps: Option<Gps>,
    /// ISO 8601: `2023-12-06T14:03:00Z` (GPS, UTC), `…+01:00` (with an
    /// offset) or `2023-12-06T14:03:00` (local time, zone unknown).
    pub date: Option<String>,
    /// Make and model, the make left out when the model already names it.
    pub camera: Option<String>,
    pub lens: Option<String>,
    /// 1..=8 as in the TIFF specification (1: upright).
    pub orientation: Option<u16>,
}

/// The EXIF of an image, and why part of it could not be read, if so.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExifRead {
    pub exif: Exif,
    pub warning: Option<String>,
}

/// Reads the EXIF of an image container (JPEG, TIFF, PNG (its eXIf chunk, else
/// ImageMagick's raw profile in a text chunk), WebP, HEIF).
/// An image without EXIF gives an empty result and no warning.
pub fn read<R: BufRead + Seek>(reader: &mut R) -> ExifRead {
    let mut head = [0u8; 4];
    let tiff = reader.read_exact(&mut head).is_ok() && tiff_order(&head).is_some();
    if reader.seek(SeekFrom::Start(0)).is_err() {
        return ExifRead::default();
    }
    let webp = &head == b"RIFF";
    if tiff || webp {
        let mut data = Vec::new();
        if let Err(e) = reader.read_to_end(&mut data) {
            return from_result(Err(exif::Error::Io(e)));
        }
        if webp {
            return match webp_exif(&data) {
                Some(block) => read_raw(block.to_vec()),
                None => ExifRead::default(),
            };
        }
        return read_raw(data);
    }
    let mut parser = Reader::new();
    parser.continue_on_error(true);
    let result = parser.read_from_container(reader);
    // A PNG without an eXIf chunk may hold ImageMagick's raw profile, which Pillow reads.
    if matches!(result, Err(exif::Error::NotFound(_))) && &head == b"\x89PNG" {
        if let Some(block) = super::png_text::raw_profile_exif(reader) {
            return read_raw(block);
        }
    }
    from_result(result)
}

/// Reads a raw EXIF block (a TIFF header and its IFDs).
pub fn read_raw(mut data: Vec<u8>) -> ExifRead {
    pointers_as_long(&mut data);
    let mut parser = Reader::new();
    parser.continue_on_error(true);
    from_result(parser.read_raw(data))
}

/// The `EXIF` chunk of a WebP file, without the `Exif\0\0` prefix some
/// writers (Pillow among them) put before the TIFF header, which
/// kamadak-exif does not expect.
fn webp_exif(data: &[u8]) -> Option<&[u8]> {
    if data.get(8..12)? != b"WEBP" {
        return None;
    }
    let mut at = 12usize;
    while at + 8 <= data.len() {
        let size = u32::from_le_bytes(data[at + 4..at + 8].try_into().ok()?) as usize;
        let body = data.get(at + 8..(at + 8).checked_add(size)?)?;
        if &data[at..at + 4] == b"EXIF" {
            return Some(body.strip_prefix(b"Exif\0\0").unwrap_or(body));
        }
        at = at.checked_add(8 + size + (size & 1))?;
    }
    None
}

/// Little (`II*\0`) or big (`MM\0*`) endian TIFF header: `Some(little)`.
fn tiff_order(head: &[u8]) -> Option<bool> {
    match head.get(..4)? {
        b"II*\0" => Some(true),
        b"MM\0*" => Some(false),
        _ => None,
    }
}

/// TIFF writers may type the Exif, GPS and interoperability IFD pointers
/// of IFD0 as IFD (13, TIFF-PM6) rather than LONG (4); kamadak-exif reads
/// only LONG (Pillow's FLIR `ifd_tag_type.tiff` loses its GPS otherwise).
/// Rewrites those types in place.
fn pointers_as_long(data: &mut [u8]) {
    let Some(little) = tiff_order(data) else {
        return;
    };
    let u16_at = |d: &[u8], at: usize| -> Option<u16> {
        let b: [u8; 2] = d.get(at..at + 2)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let Some(ifd) = data.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return;
    };
    let ifd = if little {
        u32::from_le_bytes(ifd)
    } else {
        u32::from_be_bytes(ifd)
    } as usize;
    let Some(count) = u16_at(data, ifd) else {
        return;
    };
    for i in 0..usize::from(count) {
        let entry = ifd + 2 + 12 * i;
        let (Some(tag), Some(kind)) = (u16_at(data, entry), u16_at(data, entry + 2)) else {
            return;
        };
        if matches!(tag, 0x8769 | 0x8825 | 0xa005) && kind == 13 {
            let long = if little {
                4u16.to_le_bytes()
            } else {
                4u16.to_be_bytes()
            };
            data[entry + 2..entry + 4].copy_from_slice(&long);
        }
    }
}

fn from_result(result: Result<exif::Exif, exif::Error>) -> ExifRead {
    let mut first_problem = None;
    let parsed = match result {
        Ok(e) => Some(e),
        Err(exif::Error::NotFound(_)) => None,
        // Not a container kamadak-exif knows (GIF, or not an image at
        // all): no EXIF to speak of; whether it is an image is decided elsewhere.
        Err(exif::Error::InvalidFormat("Unknown image format")) => None,
        Err(e) => match e.distill_partial_result(|errors| {
            first_problem = errors.first().map(ToString::to_string);
        }) {
            Ok(e) => Some(e),
            Err(e) => {
                return ExifRead {
                    exif: Exif::default(),
                    warning: Some(format!("malformed EXIF left out: {e}")),
                }
            }
        },
    };
    let Some(parsed) = parsed else {
        return ExifRead::default();
    };
    let mut warnings: Vec<String> = first_problem
        .map(|p| format!("EXIF partly malformed: {p}"))
        .into_iter()
        .collect();
    let exif = Exif {
        gps: gps(&parsed, &mut warnings),
        date: gps_date(&parsed).or_else(|| original_date(&parsed)),
        camera: camera(&parsed),
        lens: ascii(&parsed, Tag::LensModel),
        orientation: parsed
            .get_field(Tag::Orientation, In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
            .filter(|o| (1..=8).contains(o))
            .map(|o| o as u16),
    };
    ExifRead {
        exif,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
    }
}

fn field(exif: &exif::Exif, tag: Tag) -> Option<&Field> {
    exif.get_field(tag, In::PRIMARY)
}

/// The first string of an ASCII field, trimmed of NULs and blanks.
fn ascii(exif: &exif::Exif, tag: Tag) -> Option<String> {
    match &field(exif, tag)?.value {
        Value::Ascii(values) => values.iter().find_map(|v| clean(v)),
        // Some writers store strings as UNDEFINED bytes.
        Value::Undefined(bytes, _) => clean(bytes),
        _ => None,
    }
}

fn clean(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!text.is_empty()).then(|| text.to_string())
}

/// The numbers of a field: rationals, integers, or numbers written as text
/// (some writers put `"52,0,50"` in GPS fields).
fn numbers(field: &Field) -> Vec<f64> {
    match &field.value {
        Value::Rational(v) => v
            .iter()
            .map(|r| ratio(r.num as f64, r.denom as f64))
            .collect(),
        Value::SRational(v) => v
            .iter()
            .map(|r| ratio(r.num as f64, r.denom as f64))
            .collect(),
        Value::Ascii(v) => v
            .iter()
            .flat_map(|s| {
                String::from_utf8_lossy(s)
                    .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                    .filter_map(|t| t.parse::<f64>().ok())
                    .collect::<Vec<_>>()
            })
            .collect(),
        other => other
            .iter_uint()
            .map(|it| it.map(f64::from).collect())
            .unwrap_or_default(),
    }
}

fn ratio(num: f64, denom: f64) -> f64 {
    if denom == 0.0 {
        f64::NAN
    } else {
        num / denom
    }
}

/// Degrees, minutes, seconds (any of the last two may be absent).
fn degrees(field: &Field) -> Option<f64> {
    let n = numbers(field);
    if n.is_empty() || n.len() > 3 {
        return None;
    }
    let value = n[0] + n.get(1).unwrap_or(&0.0) / 60.0 + n.get(2).unwrap_or(&0.0) / 3600.0;
    value.is_finite().then_some(value)
}

fn reference(exif: &exif::Exif, tag: Tag) -> Option<u8> {
    match &field(exif, tag)?.value {
        Value::Ascii(v) => v.first()?.first().map(u8::to_ascii_uppercase),
        _ => None,
    }
}

fn gps(exif: &exif::Exif, warnings: &mut Vec<String>) -> Option<Gps> {
    let lat_field = field(exif, Tag::GPSLatitude);
    let lon_field = field(exif, Tag::GPSLongitude);
    if lat_field.is_none() && lon_field.is_none() {
        return None;
    }
    let lat = lat_field.and_then(degrees);
    let lon = lon_field.and_then(degrees);
    let (Some(lat), Some(lon)) = (lat, lon) else {
        warnings.push("GPS position unreadable, left out".into());
        return None;
    };
    if lat > 90.0 || lon > 180.0 {
        warnings.push(format!(
            "GPS position out of range ({lat}, {lon}), left out"
        ));
        return None;
    }
    let lat = if reference(exif, Tag::GPSLatitudeRef) == Some(b'S') {
        -lat
    } else {
        lat
    };
    let lon = if reference(exif, Tag::GPSLongitudeRef) == Some(b'W') {
        -lon
    } else {
        lon
    };
    let alt = field(exif, Tag::GPSAltitude)
        .and_then(|f| numbers(f).first().copied())
        .filter(|a| a.is_finite())
        .map(|a| {
            let below = field(exif, Tag::GPSAltitudeRef).and_then(|f| f.value.get_uint(0));
            if below == Some(1) {
                -a
            } else {
                a
            }
        });
    Some(Gps { lat, lon, alt })
}

/// `GPSDateStamp` + `GPSTimeStamp`, UTC.
fn gps_date(exif: &exif::Exif) -> Option<String> {
    let date = ascii(exif, Tag::GPSDateStamp)?;
    let (y, mo, d) = parse_date(&date)?;
    let time = numbers(field(exif, Tag::GPSTimeStamp)?);
    let [h, mi, s] = time.as_slice() else {
        return None;
    };
    let (h, mi, s) = (*h, *mi, s.floor());
    if !(0.0..24.0).contains(&h) || !(0.0..60.0).contains(&mi) || !(0.0..61.0).contains(&s) {
        return None;
    }
    Some(format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        h as u32, mi as u32, s as u32
    ))
}

/// `DateTimeOriginal`, with `OffsetTimeOriginal` when it is there.
fn original_date(exif: &exif::Exif) -> Option<String> {
    let text = ascii(exif, Tag::DateTimeOriginal)?;
    let (date, time) = text.split_once(' ')?;
    let (y, mo, d) = parse_date(date)?;
    let hms: Vec<u32> = time
        .trim()
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, s] = hms.as_slice() else {
        return None;
    };
    if *h > 23 || *mi > 59 || *s > 60 {
        return None;
    }
    let offset = ascii(exif, Tag::OffsetTimeOriginal)
        .filter(|o| valid_offset(o))
        .unwrap_or_default();
    Some(format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{offset}"
    ))
}

/// `YYYY:MM:DD` (or with dashes); a blank or zero date is no date.
fn parse_date(text: &str) -> Option<(u32, u32, u32)> {
    let parts: Vec<u32> = text
        .trim()
        .split([':', '-'])
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [y, mo, d] = parts.as_slice() else {
        return None;
    };
    ((1..=9999).contains(y) && (1..=12).contains(mo) && (1..=31).contains(d))
        .then_some((*y, *mo, *d))
}

/// `+HH:MM` or `-HH:MM`.
fn valid_offset(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[3] == b':'
        && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit())
}

/// Make and model as people say it: "Apple iPhone SE", "NIKON D2H" (not
/// "NIKON CORPORATION NIKON D2H"), "Canon PowerShot S40".
fn camera(exif: &exif::Exif) -> Option<String> {
    let make = ascii(exif, Tag::Make);
    let model = ascii(exif, Tag::Model);
    match (make, model) {
        (Some(make), Some(model)) => {
            let brand = make
                .split_whitespace()
                .next()
                .unwrap_or(&make)
                .to_lowercase();
            if model.to_lowercase().starts_with(&brand) {
                Some(model)
            } else {
                Some(format!("{make} {model}"))
            }
        }
        (make, model) => model.or(make),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked_before_use() {
        assert_eq!(parse_date("2003:11:23"), Some((2003, 11, 23)));
        assert_eq!(parse_date("0000:00:00"), None);
        assert_eq!(parse_date("    :  :  "), None);
        assert!(valid_offset("+01:00") && valid_offset("-09:30"));
        assert!(!valid_offset("01:00") && !valid_offset("+1:00"));
    }

    #[test]
    fn garbage_is_neither_exif_nor_an_error() {
        let read = read(&mut std::io::Cursor::new(b"GIF89a not exif".to_vec()));
        assert_eq!(read, ExifRead::default());
        let read = read_raw(b"II*\0\x08\0\0\0\xff\xff".to_vec());
        assert!(read.warning.is_some(), "{read:?}");
    }
}
