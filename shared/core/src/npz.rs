//! NumPy `.npz` archives (a zip of `.npy` files), as mlx-community's older Whisper
//! conversions publish their `weights.npz` (`mx.savez`). Only what such files hold is
//! read: stored or deflated entries, zip64 sizes, little-endian C-order arrays of the
//! dtypes MLX writes. Anything else is an error naming the entry, never a panic (the
//! parser is fuzzed: fuzz/fuzz_targets/npz.rs).

use std::io::Read;

/// An array's element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyDtype {
    F32,
    F16,
    U32,
    I32,
    /// mlx-whisper's `alignment_heads` (`[layer, head]` pairs from numpy's `nonzero`).
    I64,
    U8,
    I8,
    Bool,
}

impl NpyDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyDtype::I64 => 8,
            NpyDtype::F32 | NpyDtype::U32 | NpyDtype::I32 => 4,
            NpyDtype::F16 => 2,
            NpyDtype::U8 | NpyDtype::I8 | NpyDtype::Bool => 1,
        }
    }

    fn parse(descr: &str) -> Option<Self> {
        Some(match descr {
            "<f4" => NpyDtype::F32,
            "<f2" => NpyDtype::F16,
            "<u4" => NpyDtype::U32,
            "<i4" => NpyDtype::I32,
            "<i8" => NpyDtype::I64,
            "|u1" | "<u1" => NpyDtype::U8,
            "|i1" | "<i1" => NpyDtype::I8,
            "|b1" => NpyDtype::Bool,
            _ => return None,
        })
    }
}

/// One array of the archive: its name (the entry without `.npy`), type, shape and
/// little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub name: String,
    pub dtype: NpyDtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NpzError {
    #[error("not a zip archive: {0}")]
    Zip(String),
    #[error("entry {entry}: {message}")]
    Entry { entry: String, message: String },
}

const EOCD: u32 = 0x0605_4b50;
const ZIP64_EOCD_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;
/// Larger entries than this are refused (no weights file has one).
const MAX_ENTRY: u64 = 1 << 34;

/// Every `.npy` entry of the archive in `bytes`, in the archive's order.
pub fn read(bytes: &[u8]) -> Result<Vec<NpyArray>, NpzError> {
    let zip = |m: &str| NpzError::Zip(m.to_string());
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .take(65_536 + 22)
        .find(|&i| u32_at(bytes, i) == Some(EOCD))
        .ok_or_else(|| zip("no end-of-central-directory record"))?;
    let mut count = u16_at(bytes, eocd + 10).ok_or_else(|| zip("truncated"))? as u64;
    let mut offset = u32_at(bytes, eocd + 16).ok_or_else(|| zip("truncated"))? as u64;
    if (count == 0xffff || offset == 0xffff_ffff) && eocd >= 20 {
        // Zip64: the locator just before points at the zip64 record.
        if u32_at(bytes, eocd - 20) == Some(ZIP64_EOCD_LOCATOR) {
            let at = u64_at(bytes, eocd - 12).ok_or_else(|| zip("truncated zip64 locator"))?;
            let at = usize::try_from(at).map_err(|_| zip("bad zip64 offset"))?;
            if u32_at(bytes, at) != Some(ZIP64_EOCD) {
                return Err(zip("bad zip64 record"));
            }
            count = u64_at(bytes, at + 32).ok_or_else(|| zip("truncated zip64 record"))?;
            offset = u64_at(bytes, at + 48).ok_or_else(|| zip("truncated zip64 record"))?;
        }
    }
    let mut at = usize::try_from(offset).map_err(|_| zip("bad central directory offset"))?;
    let mut out = Vec::new();
    for _ in 0..count {
        let entry = central_entry(bytes, at)?;
        at = entry.next;
        if let Some(name) = entry.name.strip_suffix(".npy") {
            let raw = entry_bytes(bytes, &entry)?;
            out.push(npy(name, &raw)?);
        }
    }
    Ok(out)
}

struct Central {
    name: String,
    method: u16,
    compressed: u64,
    size: u64,
    local: u64,
    next: usize,
}

fn central_entry(b: &[u8], at: usize) -> Result<Central, NpzError> {
    let bad = || NpzError::Zip(format!("bad central directory entry at {at}"));
    if u32_at(b, at) != Some(CENTRAL) {
        return Err(bad());
    }
    let method = u16_at(b, at + 10).ok_or_else(bad)?;
    let mut compressed = u32_at(b, at + 20).ok_or_else(bad)? as u64;
    let mut size = u32_at(b, at + 24).ok_or_else(bad)? as u64;
    let name_len = u16_at(b, at + 28).ok_or_else(bad)? as usize;
    let extra_len = u16_at(b, at + 30).ok_or_else(bad)? as usize;
    let comment_len = u16_at(b, at + 32).ok_or_else(bad)? as usize;
    let mut local = u32_at(b, at + 42).ok_or_else(bad)? as u64;
    let name = b.get(at + 46..at + 46 + name_len).ok_or_else(bad)?;
    let name = String::from_utf8_lossy(name).into_owned();
    let extra = b
        .get(at + 46 + name_len..at + 46 + name_len + extra_len)
        .ok_or_else(bad)?;
    // The zip64 extra field holds, in order, those of the three that overflowed.
    let mut e = 0;
    while e + 4 <= extra.len() {
        let (id, len) = (
            u16_at(extra, e).unwrap_or(0),
            u16_at(extra, e + 2).unwrap_or(0),
        );
        let body = extra.get(e + 4..e + 4 + len as usize).ok_or_else(bad)?;
        if id == 1 {
            let mut fields = body.chunks_exact(8).map(|c| u64_at(c, 0).unwrap_or(0));
            for v in [&mut size, &mut compressed, &mut local] {
                if *v == 0xffff_ffff {
                    *v = fields.next().ok_or_else(bad)?;
                }
            }
        }
        e += 4 + len as usize;
    }
    Ok(Central {
        name,
        method,
        compressed,
        size,
        local,
        next: at + 46 + name_len + extra_len + comment_len,
    })
}

fn entry_bytes(b: &[u8], c: &Central) -> Result<Vec<u8>, NpzError> {
    let bad = |m: &str| NpzError::Entry {
        entry: c.name.clone(),
        message: m.to_string(),
    };
    if c.size > MAX_ENTRY || c.compressed > MAX_ENTRY {
        return Err(bad("too large"));
    }
    let at = usize::try_from(c.local).map_err(|_| bad("bad offset"))?;
    if u32_at(b, at) != Some(LOCAL) {
        return Err(bad("no local header"));
    }
    let name_len = u16_at(b, at + 26).ok_or_else(|| bad("truncated"))? as usize;
    let extra_len = u16_at(b, at + 28).ok_or_else(|| bad("truncated"))? as usize;
    let start = at + 30 + name_len + extra_len;
    let data = start
        .checked_add(c.compressed as usize)
        .and_then(|end| b.get(start..end))
        .ok_or_else(|| bad("truncated data"))?;
    let raw = match c.method {
        0 => data.to_vec(),
        8 => inflate_raw(data, c.size as usize).map_err(|m| bad(&m))?,
        m => {
            return Err(bad(&format!(
                "compression method {m} (stored or deflate expected)"
            )))
        }
    };
    if raw.len() as u64 != c.size {
        return Err(bad("size does not match the directory"));
    }
    Ok(raw)
}

/// Raw deflate (zip's method 8), refusing to produce more than `size` bytes.
fn inflate_raw(data: &[u8], size: usize) -> Result<Vec<u8>, String> {
    use miniz_oxide::inflate::stream::{inflate, InflateState};
    use miniz_oxide::{DataFormat, MZFlush, MZStatus};
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut out = Vec::with_capacity(size.min(1 << 30));
    let mut buf = vec![0u8; 1 << 16];
    let mut input = data;
    loop {
        let r = inflate(&mut state, input, &mut buf, MZFlush::None);
        input = &input[r.bytes_consumed..];
        out.extend_from_slice(&buf[..r.bytes_written]);
        if out.len() > size {
            return Err("inflates past its stated size".into());
        }
        match r.status {
            Ok(MZStatus::StreamEnd) => return Ok(out),
            Ok(_) if r.bytes_consumed == 0 && r.bytes_written == 0 => {
                return Err("truncated deflate stream".into())
            }
            Ok(_) => {}
            Err(e) => return Err(format!("deflate: {e:?}")),
        }
    }
}

/// One `.npy` file: magic, version, header dict, data.
fn npy(name: &str, raw: &[u8]) -> Result<NpyArray, NpzError> {
    let bad = |m: String| NpzError::Entry {
        entry: format!("{name}.npy"),
        message: m,
    };
    if raw.get(..6) != Some(b"\x93NUMPY") {
        return Err(bad("not a .npy file".into()));
    }
    let (len, start) = match raw.get(6) {
        Some(1) => (u16_at(raw, 8).map(usize::from), 10usize),
        Some(2 | 3) => (u32_at(raw, 8).map(|v| v as usize), 12),
        v => return Err(bad(format!("unknown .npy version {v:?}"))),
    };
    let len = len.ok_or_else(|| bad("truncated header".into()))?;
    let header = raw
        .get(start..start.saturating_add(len))
        .ok_or_else(|| bad("truncated header".into()))?;
    let header = String::from_utf8_lossy(header);
    let descr = field(&header, "descr")
        .and_then(quoted)
        .ok_or_else(|| bad("no descr".into()))?;
    let dtype = NpyDtype::parse(descr).ok_or_else(|| bad(format!("dtype {descr}")))?;
    let shape = field(&header, "shape").ok_or_else(|| bad("no shape".into()))?;
    let shape: Vec<usize> = shape
        .trim_start_matches('(')
        .split(')')
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad(format!("shape {shape}"))))
        .collect::<Result<_, _>>()?;
    let elements = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad("shape overflows".into()))?;
    let data = &raw[start + len..];
    if Some(data.len()) != elements.checked_mul(dtype.size()) {
        return Err(bad(format!(
            "{} data bytes for {elements} elements of {descr}",
            data.len()
        )));
    }
    // MLX writes arrays that are column-contiguous (every 1-D one, transposed views)
    // in Fortran order.
    let fortran = field(&header, "fortran_order").is_some_and(|v| v.starts_with("True"));
    let data = if fortran {
        c_order(data, &shape, dtype.size())
    } else {
        data.to_vec()
    };
    Ok(NpyArray {
        name: name.to_string(),
        dtype,
        shape,
        data,
    })
}

/// Column-major elements of `size` bytes, reordered row-major.
fn c_order(data: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    if shape.iter().filter(|&&d| d > 1).count() <= 1 {
        return data.to_vec();
    }
    let mut strides = vec![1usize; shape.len()];
    for i in 1..shape.len() {
        strides[i] = strides[i - 1] * shape[i - 1];
    }
    let mut index = vec![0usize; shape.len()];
    let mut out = vec![0u8; data.len()];
    for dst in out.chunks_exact_mut(size) {
        let src: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        dst.copy_from_slice(&data[src * size..(src + 1) * size]);
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

/// The text after `'key':` in a .npy header dict.
fn field<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?;
    Some(rest.trim_start())
}

/// The string literal `value` starts with, without its quotes.
fn quoted(value: &str) -> Option<&str> {
    let quote = value.chars().next().filter(|&c| c == '\'' || c == '"')?;
    let rest = &value[1..];
    Some(&rest[..rest.find(quote)?])
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Reads and parses the archive at `path`.
pub fn read_file(path: &std::path::Path) -> std::io::Result<Result<Vec<NpyArray>, NpzError>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    Ok(read(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored zip of one .npy, written by hand as numpy's format defines it.
    fn archive(npy_bytes: &[u8]) -> Vec<u8> {
        let name = b"w.npy";
        let mut z = Vec::new();
        let crc = 0u32; // not checked
        z.extend(LOCAL.to_le_bytes());
        z.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend(crc.to_le_bytes());
        z.extend((npy_bytes.len() as u32).to_le_bytes());
        z.extend((npy_bytes.len() as u32).to_le_bytes());
        z.extend((name.len() as u16).to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z.extend(name);
        z.extend(npy_bytes);
        let central = z.len();
        z.extend(CENTRAL.to_le_bytes());
        z.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend(crc.to_le_bytes());
        z.extend((npy_bytes.len() as u32).to_le_bytes());
        z.extend((npy_bytes.len() as u32).to_le_bytes());
        z.extend((name.len() as u16).to_le_bytes());
        z.extend([0u8; 12]);
        z.extend(0u32.to_le_bytes());
        z.extend(name);
        let size = z.len() - central;
        z.extend(EOCD.to_le_bytes());
        z.extend([0, 0, 0, 0, 1, 0, 1, 0]);
        z.extend((size as u32).to_le_bytes());
        z.extend((central as u32).to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z
    }

    fn npy_f32(shape: &str, values: &[f32]) -> Vec<u8> {
        npy("False", shape, values)
    }

    fn npy(fortran: &str, shape: &str, values: &[f32]) -> Vec<u8> {
        let header = format!("{{'descr': '<f4', 'fortran_order': {fortran}, 'shape': {shape}, }}");
        let mut h = header.into_bytes();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(b' ');
        }
        h.push(b'\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h);
        for v in values {
            out.extend(v.to_le_bytes());
        }
        out
    }

    #[test]
    fn reads_a_stored_array() {
        let a = read(&archive(&npy_f32(
            "(2, 3)",
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        )))
        .unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].name.as_str(), a[0].dtype), ("w", NpyDtype::F32));
        assert_eq!(a[0].shape, [2, 3]);
        assert_eq!(&a[0].data[4..8], 2.0f32.to_le_bytes());
        let scalar = read(&archive(&npy_f32("()", &[7.0]))).unwrap();
        assert!(scalar[0].shape.is_empty());
    }

    #[test]
    fn fortran_order_is_reordered() {
        // [[1, 2, 3], [4, 5, 6]] stored column by column.
        let bytes = npy("True", "(2, 3)", &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let a = read(&archive(&bytes)).unwrap();
        let values: Vec<f32> = a[0]
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(values, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let good = archive(&npy_f32("(2, 3)", &[0.0; 6]));
        assert!(matches!(read(b"PK"), Err(NpzError::Zip(_))));
        assert!(read(&archive(&npy_f32("(2, 4)", &[0.0; 6]))).is_err());
        for cut in [10, 40, 60] {
            let mut bad = good.clone();
            bad.drain(cut..cut + 4);
            assert!(read(&bad).is_err(), "cut at {cut}");
        }
        // Anywhere else: an error or fewer arrays, never a panic.
        for cut in 0..good.len() - 4 {
            let mut bad = good.clone();
            bad.drain(cut..cut + 4);
            let _ = read(&bad);
            let mut flipped = good.clone();
            flipped[cut] ^= 0xff;
            let _ = read(&flipped);
        }
    }
}
