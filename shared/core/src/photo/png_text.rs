//! EXIF that ImageMagick writes into a PNG's text chunks ("Raw profile type exif", or
//! "Raw profile type APP1"), where Pillow finds it too when a PNG has no `eXIf` chunk:
//! a text of `\n<name>\n<length>\n` and then the bytes in hexadecimal, in lines. The
//! chunks are walked by their lengths, every other chunk skipped unread, and a text is
//! read only up to [`MAX_TEXT`] bytes (inflated too), so a large PNG costs a few seeks.

use std::io::{Read, Seek, SeekFrom};

/// Largest text chunk read, and largest inflated text (bytes).
const MAX_TEXT: usize = 4 << 20;

const KEYWORDS: [&[u8]; 2] = [b"Raw profile type exif", b"Raw profile type APP1"];

/// The EXIF block (from its TIFF header on) of ImageMagick's raw profile in the PNG
/// `reader` holds, if any.
pub fn raw_profile_exif<R: Read + Seek>(reader: &mut R) -> Option<Vec<u8>> {
    reader.seek(SeekFrom::Start(0)).ok()?;
    let mut signature = [0u8; 8];
    reader.read_exact(&mut signature).ok()?;
    if &signature != b"\x89PNG\r\n\x1a\n" {
        return None;
    }
    loop {
        let mut head = [0u8; 8];
        reader.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes(head[..4].try_into().ok()?) as usize;
        let kind = &head[4..];
        if kind == b"IEND" {
            return None;
        }
        let text = matches!(kind, b"tEXt" | b"zTXt" | b"iTXt") && len <= MAX_TEXT;
        if !text {
            reader.seek(SeekFrom::Current(len as i64 + 4)).ok()?;
            continue;
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).ok()?;
        reader.seek(SeekFrom::Current(4)).ok()?;
        if let Some(exif) = text_chunk(kind, &body).and_then(|t| hex_profile(&t)) {
            return Some(exif);
        }
    }
}

/// The text of a raw-profile chunk (`kind` tEXt, zTXt or iTXt), if it is one.
fn text_chunk(kind: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let nul = body.iter().position(|&b| b == 0)?;
    if !KEYWORDS.contains(&&body[..nul]) {
        return None;
    }
    let rest = &body[nul + 1..];
    match kind {
        b"tEXt" => Some(rest.to_vec()),
        // Compression method 0 (zlib), then the compressed text.
        b"zTXt" => inflate(rest.strip_prefix(&[0])?),
        _ => {
            // iTXt: compressed flag, method, language tag\0, translated keyword\0, text.
            let (&flag, rest) = rest.split_first()?;
            let rest = rest.get(1..)?;
            let lang = rest.iter().position(|&b| b == 0)?;
            let rest = &rest[lang + 1..];
            let translated = rest.iter().position(|&b| b == 0)?;
            let text = &rest[translated + 1..];
            match flag {
                0 => Some(text.to_vec()),
                _ => inflate(text),
            }
        }
    }
}

fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, MAX_TEXT).ok()
}

/// Pillow's reading of a raw profile: the lines after the third (`""`, the name, the
/// length) joined, as hexadecimal (`bytes.fromhex`, whitespace allowed); an `Exif\0\0`
/// prefix dropped.
fn hex_profile(text: &[u8]) -> Option<Vec<u8>> {
    let mut lines = text.split(|&b| b == b'\n');
    for _ in 0..3 {
        lines.next()?;
    }
    let digits: Vec<u8> = lines
        .flatten()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if digits.is_empty() || digits.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bytes = digits
        .chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect::<Option<Vec<u8>>>()?;
    Some(match bytes.strip_prefix(b"Exif\0\0") {
        Some(tiff) => tiff.to_vec(),
        None => bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn chunk(kind: &[u8], body: &[u8]) -> Vec<u8> {
        let mut c = (body.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(body);
        c.extend([0, 0, 0, 0]); // CRC, not checked
        c
    }

    fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut p = b"\x89PNG\r\n\x1a\n".to_vec();
        p.extend(chunk(b"IHDR", &[0; 13]));
        for c in chunks {
            p.extend(c);
        }
        p.extend(chunk(b"IEND", b""));
        p
    }

    /// An EXIF block with Orientation 3, as ImageMagick writes the profile: the
    /// `Exif\0\0` header, then hexadecimal in lines of 72 digits.
    fn profile() -> (Vec<u8>, Vec<u8>) {
        let tiff = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x03\0\0\0\0\0\0".to_vec();
        let mut block = b"Exif\0\0".to_vec();
        block.extend(&tiff);
        let hex: String = block.iter().map(|b| format!("{b:02x}")).collect();
        let lines: Vec<&str> = hex
            .as_bytes()
            .chunks(72)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let text = format!("\nexif\n{:8}\n{}\n", block.len(), lines.join("\n"));
        (text.into_bytes(), tiff)
    }

    #[test]
    fn reads_the_profile_from_every_text_chunk_kind() {
        let (text, tiff) = profile();
        let mut body = b"Raw profile type exif\0".to_vec();
        body.extend(&text);
        let plain = chunk(b"tEXt", &body);
        let mut z = b"Raw profile type exif\0\0".to_vec();
        z.extend(miniz_oxide::deflate::compress_to_vec_zlib(&text, 6));
        let compressed = chunk(b"zTXt", &z);
        let mut i = b"Raw profile type APP1\0\x01\0en\0\0".to_vec();
        i.extend(miniz_oxide::deflate::compress_to_vec_zlib(&text, 6));
        let international = chunk(b"iTXt", &i);
        let other = chunk(b"tEXt", b"Comment\0hello");
        for c in [plain, compressed, international] {
            let file = png(&[other.clone(), chunk(b"IDAT", &[1, 2, 3]), c]);
            assert_eq!(raw_profile_exif(&mut Cursor::new(file)), Some(tiff.clone()));
        }
        let file = png(&[other]);
        assert_eq!(raw_profile_exif(&mut Cursor::new(file)), None);
    }

    #[test]
    fn broken_profiles_and_files_give_nothing() {
        let bad = chunk(b"tEXt", b"Raw profile type exif\0\nexif\n   4\nzz11\n");
        assert_eq!(raw_profile_exif(&mut Cursor::new(png(&[bad]))), None);
        let odd = chunk(b"tEXt", b"Raw profile type exif\0\nexif\n   4\nabc\n");
        assert_eq!(raw_profile_exif(&mut Cursor::new(png(&[odd]))), None);
        let mut cut = png(&[]);
        cut.truncate(20);
        assert_eq!(raw_profile_exif(&mut Cursor::new(cut)), None);
        assert_eq!(raw_profile_exif(&mut Cursor::new(b"GIF89a".to_vec())), None);
    }
}
