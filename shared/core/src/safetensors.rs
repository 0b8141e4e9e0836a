//! Reads a `.safetensors` header and checks it against the file's length.
//!
//! Layout: 8 bytes little-endian header length `n`, `n` bytes of JSON
//! (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}`),
//! then the tensor data; offsets are relative to the end of the header.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// Headers above this size are refused (the format's own reference limit is 100 MB).
const MAX_HEADER: u64 = 100 << 20;

/// One header entry; `__metadata__` has no offsets. Other fields are skipped
/// without being built (headers of big models hold thousands of entries).
#[derive(Debug, Deserialize)]
struct TensorEntry {
    #[serde(default)]
    data_offsets: Option<(u64, u64)>,
}

/// What a header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Tensor names, sorted (empty unless asked for).
    pub tensors: Vec<String>,
    /// Bytes of tensor data the header promises (the largest end offset).
    pub data_bytes: u64,
    /// Bytes taken by the length prefix and the header.
    pub header_bytes: u64,
}

/// Reads the header of `path` and checks that the file holds every byte it
/// promises; `names` also collects the tensor names. The error is a sentence
/// for people.
pub fn check(path: &Path, names: bool) -> Result<Header, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot stat: {e}"))?
        .len();
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix)
        .map_err(|_| format!("{len} bytes is too short for a safetensors header"))?;
    let n = u64::from_le_bytes(prefix);
    if n > MAX_HEADER || 8 + n > len {
        return Err(format!(
            "header length {n} does not fit in the file's {len} bytes (truncated or not safetensors)"
        ));
    }
    let mut json = vec![0u8; n as usize];
    file.read_exact(&mut json)
        .map_err(|e| format!("cannot read header: {e}"))?;
    let (tensors, data_bytes) = if names {
        let mut de = serde_json::Deserializer::from_slice(&json);
        let (mut tensors, data_bytes) = de
            .deserialize_map(EntriesVisitor { names })
            .map_err(|e| format!("header is not valid safetensors JSON: {e}"))?;
        tensors.sort_unstable();
        (tensors, data_bytes)
    } else {
        (Vec::new(), scan_data_bytes(&json)?)
    };
    let header_bytes = 8 + n;
    if header_bytes + data_bytes > len {
        return Err(format!(
            "truncated: header promises {} bytes, file has {len}",
            header_bytes + data_bytes
        ));
    }
    Ok(Header {
        tensors,
        data_bytes,
        header_bytes,
    })
}

/// The largest `data_offsets` end in a header, found by scanning the bytes
/// instead of parsing them (a listing of 100 models reads ~4 MB of headers;
/// parsing was most of its time). A JSON string cannot hold an unescaped
/// quote, so `"data_offsets"` followed by `:` and `[` only occurs as the key.
/// The header must also be one object: `{` … `}` (safetensors pads with spaces).
fn scan_data_bytes(json: &[u8]) -> Result<u64, String> {
    const KEY: &[u8] = b"\"data_offsets\"";
    let trimmed = json.trim_ascii();
    if trimmed.first() != Some(&b'{') || trimmed.last() != Some(&b'}') {
        return Err("header is not a JSON object".into());
    }
    let mut max = 0u64;
    let mut rest = trimmed;
    while let Some(at) = rest.windows(KEY.len()).position(|w| w == KEY) {
        rest = &rest[at + KEY.len()..];
        let bad = || "header has a malformed data_offsets entry".to_string();
        let after = rest.trim_ascii_start().strip_prefix(b":").ok_or_else(bad)?;
        let after = after
            .trim_ascii_start()
            .strip_prefix(b"[")
            .ok_or_else(bad)?;
        let (begin, after) = scan_integer(after).ok_or_else(bad)?;
        let after = after
            .trim_ascii_start()
            .strip_prefix(b",")
            .ok_or_else(bad)?;
        let (end, after) = scan_integer(after).ok_or_else(bad)?;
        after
            .trim_ascii_start()
            .strip_prefix(b"]")
            .ok_or_else(bad)?;
        if begin > end {
            return Err(format!("a tensor has data_offsets [{begin}, {end}]"));
        }
        max = max.max(end);
        rest = after;
    }
    Ok(max)
}

/// A non-negative decimal integer after optional whitespace, and what follows it.
fn scan_integer(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let bytes = bytes.trim_ascii_start();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let value = std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()?;
    Some((value, &bytes[digits..]))
}

/// Walks the header's entries without building a map: the largest end
/// offset, and the names when asked for.
struct EntriesVisitor {
    names: bool,
}

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = (Vec<String>, u64);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of tensor entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        let mut data_bytes = 0;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let entry: TensorEntry = map.next_value()?;
            if key == "__metadata__" {
                continue;
            }
            let Some((begin, end)) = entry.data_offsets else {
                return Err(de::Error::custom(format!(
                    "tensor '{key}' has no data_offsets"
                )));
            };
            if begin > end {
                return Err(de::Error::custom(format!(
                    "tensor '{key}' has data_offsets [{begin}, {end}]"
                )));
            }
            data_bytes = data_bytes.max(end);
            if self.names {
                names.push(key.into_owned());
            }
        }
        Ok((names, data_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::scan_data_bytes;

    #[test]
    fn scanning_finds_the_largest_end_offset() {
        let header = br#"{"__metadata__":{"format":"mlx"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
            "b \"data_offsets\":[0,999]":{"dtype":"F32","shape":[4],"data_offsets" : [ 8 , 24 ]}}   "#;
        assert_eq!(scan_data_bytes(header), Ok(24));
        assert!(scan_data_bytes(br#"{"a":{"data_offsets":[9,1]}}"#).is_err());
        assert!(scan_data_bytes(br#"{"a":{"data_offsets":[0,"#).is_err());
        assert!(scan_data_bytes(br#"{"a":{"data_offsets":"x"}}"#).is_err());
    }
}
