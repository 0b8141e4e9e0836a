//! Reads a GGUF file's header (magic, version, metadata, tensor infos) and
//! checks that the file holds all the tensor data the header describes.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

const MAGIC: &[u8; 4] = b"GGUF";
/// Strings or arrays longer than this are taken as a corrupt header.
const MAX_LEN: u64 = 1 << 30;

/// What the header says that mlxk uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    pub version: u32,
    pub tensor_count: u64,
    pub architecture: Option<String>,
    pub name: Option<String>,
    pub context_length: Option<u64>,
    /// `general.file_type` as llama.cpp names it (e.g. `Q4_1`).
    pub file_type: Option<String>,
    pub has_chat_template: bool,
    /// Bytes the tensor data needs past the header (where the types are known).
    pub data_end: u64,
}

/// Reads and checks the header; the error is a sentence for people.
pub fn check(path: &Path) -> Result<Info, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot stat: {e}"))?
        .len();
    let mut r = Reader {
        inner: BufReader::with_capacity(1 << 16, file),
        len,
    };
    let info = r.header().map_err(|e| format!("bad GGUF header: {e}"))?;
    if info.data_end > len {
        return Err(format!(
            "truncated: tensors need {} bytes, file has {len}",
            info.data_end
        ));
    }
    Ok(info)
}

struct Reader {
    inner: BufReader<File>,
    len: u64,
}

/// A metadata value, kept only where mlxk reads it.
enum Value {
    Int(u64),
    Str(String),
    Other,
}

impl Reader {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|_| "ends inside the header".to_string())?;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }

    fn length(&mut self) -> Result<u64, String> {
        let n = self.u64()?;
        if n > MAX_LEN || n > self.len {
            return Err(format!("implausible length {n}"));
        }
        Ok(n)
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        self.inner
            .seek_relative(n as i64)
            .map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.length()?;
        let mut buf = vec![0u8; n as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|_| "ends inside a string".to_string())?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn position(&mut self) -> Result<u64, String> {
        self.inner.stream_position().map_err(|e| e.to_string())
    }

    fn value(&mut self, kind: u32, keep: bool) -> Result<Value, String> {
        let fixed = |n: u64| -> Option<u64> { Some(n) };
        let size = match kind {
            0 | 1 | 7 => fixed(1),
            2 | 3 => fixed(2),
            4..=6 => fixed(4),
            10..=12 => fixed(8),
            _ => None,
        };
        if let Some(n) = size {
            if keep && matches!(kind, 4 | 5 | 10 | 11) {
                let v = if n == 4 {
                    u64::from(self.u32()?)
                } else {
                    self.u64()?
                };
                return Ok(Value::Int(v));
            }
            self.skip(n)?;
            return Ok(Value::Other);
        }
        match kind {
            8 if keep => Ok(Value::Str(self.string()?)),
            8 => {
                let n = self.length()?;
                self.skip(n)?;
                Ok(Value::Other)
            }
            9 => {
                let item = self.u32()?;
                let count = self.length()?;
                for _ in 0..count {
                    self.value(item, false)?;
                }
                Ok(Value::Other)
            }
            other => Err(format!("unknown metadata type {other}")),
        }
    }

    fn header(&mut self) -> Result<Info, String> {
        let magic = self.bytes::<4>()?;
        if &magic != MAGIC {
            return Err("no GGUF magic".into());
        }
        let version = self.u32()?;
        if !(1..=3).contains(&version) {
            return Err(format!("unsupported version {version}"));
        }
        let (tensor_count, kv_count) = if version == 1 {
            (u64::from(self.u32()?), u64::from(self.u32()?))
        } else {
            (self.u64()?, self.u64()?)
        };
        if tensor_count > MAX_LEN || kv_count > MAX_LEN {
            return Err("implausible tensor or metadata count".into());
        }
        let mut info = Info {
            version,
            tensor_count,
            ..Info::default()
        };
        let mut alignment = 32u64;
        let mut context_lengths: Vec<(String, u64)> = Vec::new();
        for _ in 0..kv_count {
            let key = self.string()?;
            let kind = self.u32()?;
            let keep = key.starts_with("general.") || key.ends_with(".context_length");
            if key == "tokenizer.chat_template" {
                info.has_chat_template = true;
            }
            match (self.value(kind, keep)?, key.as_str()) {
                (Value::Str(s), "general.architecture") => info.architecture = Some(s),
                (Value::Str(s), "general.name") => info.name = Some(s),
                (Value::Int(v), "general.alignment") if v > 0 => alignment = v,
                (Value::Int(v), "general.file_type") => info.file_type = file_type_name(v),
                (Value::Int(v), k) if k.ends_with(".context_length") => {
                    context_lengths.push((k.trim_end_matches(".context_length").into(), v))
                }
                _ => {}
            }
        }
        info.context_length = context_lengths
            .iter()
            .find(|(arch, _)| Some(arch) == info.architecture.as_ref())
            .or(context_lengths.first())
            .map(|(_, v)| *v);
        let mut data_end = 0u64;
        for _ in 0..tensor_count {
            let _name = self.string()?;
            let dims = self.u32()?;
            if dims > 8 {
                return Err(format!("tensor with {dims} dimensions"));
            }
            let mut elements = 1u64;
            for _ in 0..dims {
                elements = elements.saturating_mul(self.u64()?);
            }
            let kind = self.u32()?;
            let offset = self.u64()?;
            if let Some((block, bytes)) = block_size(kind) {
                let size = elements.div_ceil(block).saturating_mul(bytes);
                data_end = data_end.max(offset.saturating_add(size));
            }
        }
        let start = self.position()?.div_ceil(alignment) * alignment;
        info.data_end = start + data_end;
        Ok(info)
    }
}

/// (elements per block, bytes per block) of ggml tensor types.
fn block_size(kind: u32) -> Option<(u64, u64)> {
    Some(match kind {
        0 => (1, 4),
        1 | 30 => (1, 2),
        2 | 20 => (32, 18),
        3 => (32, 20),
        6 => (32, 22),
        7 => (32, 24),
        8 => (32, 34),
        9 => (32, 36),
        10 => (256, 84),
        11 | 21 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        15 => (256, 292),
        16 => (256, 66),
        17 => (256, 74),
        18 => (256, 98),
        19 => (256, 50),
        22 => (256, 82),
        23 => (256, 136),
        24 => (1, 1),
        25 => (1, 2),
        26 => (1, 4),
        27 | 28 => (1, 8),
        29 => (256, 56),
        _ => return None,
    })
}

/// llama.cpp's `LLAMA_FTYPE_*` names for `general.file_type`.
fn file_type_name(v: u64) -> Option<String> {
    let name = match v {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        _ => return None,
    };
    Some(name.into())
}
