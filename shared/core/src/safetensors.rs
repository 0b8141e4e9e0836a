//! Reads a `.safetensors` header and checks it against the file's length.
//!
//! Layout: 8 bytes little-endian header length `n`, `n` bytes of JSON
//! (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}`),
//! then the tensor data; offsets are relative to the end of the header.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

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
    /// Tensor names, sorted.
    pub tensors: Vec<String>,
    /// Bytes of tensor data the header promises (the largest end offset).
    pub data_bytes: u64,
    /// Bytes taken by the length prefix and the header.
    pub header_bytes: u64,
}

/// Reads the header of `path` and checks that the file holds every byte it
/// promises. The error is a sentence for people.
pub fn check(path: &Path) -> Result<Header, String> {
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
    let entries: BTreeMap<String, TensorEntry> = serde_json::from_slice(&json)
        .map_err(|e| format!("header is not valid safetensors JSON: {e}"))?;
    let mut data_bytes = 0;
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        if name == "__metadata__" {
            continue;
        }
        let Some((begin, end)) = entry.data_offsets else {
            return Err(format!("tensor '{name}' has no data_offsets"));
        };
        if begin > end {
            return Err(format!("tensor '{name}' has data_offsets [{begin}, {end}]"));
        }
        data_bytes = data_bytes.max(end);
        tensors.push(name);
    }
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
