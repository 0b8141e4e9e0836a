//! Safetensors weights: one file, or shards listed by `model.safetensors.index.json`.
//!
//! Files are memory mapped and each tensor is copied once into an MLX array. With
//! `upcast`, float16/bfloat16 tensors (unquantized weights, quantization scales and
//! biases) become float32 at load: MLX's CPU backend emulates half precision and is
//! 6–25× slower with it, and the conversion is exact.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{Array, Dtype};
use mlxk_core::npz::{NpyArray, NpyDtype};
use safetensors::SafeTensors;

use crate::error::{Result, RunnerError};

/// Whether half-precision floats are upcast to float32 when no one says otherwise:
/// on macOS (Metal) half precision is native and fast; elsewhere MLX runs on the CPU.
pub const DEFAULT_UPCAST: bool = !cfg!(target_os = "macos");

/// A tensor as described by a safetensors header (nothing loaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// safetensors dtype name, e.g. `F16`, `U32`.
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Bytes on disk.
    pub bytes: u64,
}

impl TensorInfo {
    /// Whether this tensor is float16 or bfloat16.
    pub fn is_half(&self) -> bool {
        self.dtype == "F16" || self.dtype == "BF16"
    }

    /// Bytes this tensor occupies once loaded, with or without the float32 upcast.
    pub fn loaded_bytes(&self, upcast: bool) -> u64 {
        if upcast && self.is_half() {
            self.bytes * 2
        } else {
            self.bytes
        }
    }
}

/// The safetensors files of a model directory, in load order.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|source| RunnerError::Io {
            path: index.clone(),
            source,
        })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| RunnerError::InvalidConfig {
                path: index.clone(),
                message: e.to_string(),
            })?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| RunnerError::InvalidConfig {
                path: index.clone(),
                message: "no `weight_map` object".into(),
            })?;
        let files: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        if files.is_empty() {
            return Err(RunnerError::NoWeights { dir: dir.into() });
        }
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let read = std::fs::read_dir(dir).map_err(|source| RunnerError::Io {
        path: dir.into(),
        source,
    })?;
    let mut all: Vec<PathBuf> = read
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    all.sort();
    let model: Vec<PathBuf> = all
        .iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("model"))
        })
        .cloned()
        .collect();
    let files = if model.is_empty() { all } else { model };
    if files.is_empty() {
        return Err(RunnerError::NoWeights { dir: dir.into() });
    }
    Ok(files)
}

/// Maps a weights file read-only. The crate's only `unsafe`: memmap2 has no safe
/// constructor, because another process could truncate or rewrite the file while it is
/// mapped. The mapping lives only while tensors are copied out of it (or, in [`scan`],
/// while the header is parsed).
#[allow(unsafe_code)]
fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|source| RunnerError::Io {
        path: path.into(),
        source,
    })?;
    // SAFETY: read-only private mapping; see above.
    unsafe { Mmap::map(&file) }.map_err(|source| RunnerError::Io {
        path: path.into(),
        source,
    })
}

/// Reads only the headers of the weights: names, dtypes, shapes, sizes.
pub fn scan(dir: &Path) -> Result<Vec<TensorInfo>> {
    let mut out = Vec::new();
    for path in weight_files(dir)? {
        let mmap = map_file(&path)?;
        let (_, meta) = SafeTensors::read_metadata(&mmap).map_err(|e| corrupt(&path, e))?;
        for (name, info) in meta.tensors() {
            out.push(TensorInfo {
                name,
                dtype: format!("{:?}", info.dtype),
                shape: info.shape.clone(),
                bytes: (info.data_offsets.1 - info.data_offsets.0) as u64,
            });
        }
    }
    Ok(out)
}

/// A NumPy archive (`weights.npz`, as older mlx-community Whisper conversions publish
/// it) read into memory, before any MLX array is made: the memory gate goes between
/// [`NpzWeights::infos`] and [`NpzWeights::into_weights`].
pub struct NpzWeights {
    arrays: Vec<NpyArray>,
}

impl NpzWeights {
    pub fn read(path: &Path) -> Result<Self> {
        let arrays = mlxk_core::npz::read_file(path)
            .map_err(|source| RunnerError::Io {
                path: path.into(),
                source,
            })?
            .map_err(|e| corrupt(path, e))?;
        Ok(NpzWeights { arrays })
    }

    /// What [`scan`] says of safetensors weights.
    pub fn infos(&self) -> Vec<TensorInfo> {
        self.arrays
            .iter()
            .map(|a| TensorInfo {
                name: a.name.clone(),
                dtype: format!("{:?}", a.dtype).to_uppercase(),
                shape: a.shape.clone(),
                bytes: a.data.len() as u64,
            })
            .collect()
    }

    /// The arrays as MLX tensors; float16 upcast to float32 when `upcast` asks, as for
    /// safetensors.
    pub fn into_weights(self, upcast: bool) -> Result<Weights> {
        let mut tensors = HashMap::with_capacity(self.arrays.len());
        for a in self.arrays {
            let shape: Vec<i32> = a.shape.iter().map(|&d| d as i32).collect();
            let array = match a.dtype {
                NpyDtype::F32 => Array::from_slice(&le(&a.data, f32::from_le_bytes), &shape),
                NpyDtype::U32 => Array::from_slice(&le(&a.data, u32::from_le_bytes), &shape),
                NpyDtype::I32 => Array::from_slice(&le(&a.data, i32::from_le_bytes), &shape),
                NpyDtype::I64 => Array::from_slice(&le(&a.data, i64::from_le_bytes), &shape),
                NpyDtype::F16 => {
                    let bits = le(&a.data, u16::from_le_bytes);
                    let v: Vec<f32> = bits.into_iter().map(f16_to_f32).collect();
                    let array = Array::from_slice(&v, &shape);
                    if upcast {
                        array
                    } else {
                        array.as_dtype(Dtype::Float16)?
                    }
                }
                NpyDtype::U8 | NpyDtype::I8 | NpyDtype::Bool => {
                    return Err(RunnerError::BadTensor {
                        name: a.name,
                        message: format!("{:?} arrays are not model weights", a.dtype),
                    })
                }
            };
            tensors.insert(a.name, array);
        }
        Ok(Weights::from_map(tensors))
    }
}

/// Little-endian values of `N` bytes each.
fn le<const N: usize, T>(data: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|c| from(c.try_into().expect("chunks of N bytes")))
        .collect()
}

/// IEEE half to single precision, exactly.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let shift = frac.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((frac << shift) & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> RunnerError {
    RunnerError::CorruptWeights {
        path: path.into(),
        message: e.to_string(),
    }
}

/// All tensors of a model, by name, taken out one by one as the model is built.
pub struct Weights {
    tensors: HashMap<String, Array>,
}

impl Weights {
    /// Loads every tensor of the model in `dir`.
    pub fn load(dir: &Path, upcast: bool) -> Result<Self> {
        let mut tensors = HashMap::new();
        for path in weight_files(dir)? {
            let mmap = map_file(&path)?;
            let st = SafeTensors::deserialize(&mmap).map_err(|e| corrupt(&path, e))?;
            for (name, view) in st.tensors() {
                let half = matches!(
                    view.dtype(),
                    safetensors::Dtype::F16 | safetensors::Dtype::BF16
                );
                let array = Array::try_from(view).map_err(|e| RunnerError::BadTensor {
                    name: name.clone(),
                    message: format!("in {}: {e}", path.display()),
                })?;
                let array = if upcast && half {
                    let a = array.as_dtype(Dtype::Float32)?;
                    a.eval()?;
                    a
                } else {
                    array
                };
                tensors.insert(name, array);
            }
        }
        Ok(Weights { tensors })
    }

    /// Builds from arrays already in memory (tests, conversions).
    pub fn from_map(tensors: HashMap<String, Array>) -> Self {
        Weights { tensors }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Shape of a tensor still held.
    pub fn shape(&self, name: &str) -> Option<Vec<i32>> {
        self.tensors.get(name).map(|a| a.shape().to_vec())
    }

    /// Removes and returns a tensor, or names it in the error when absent.
    pub fn take(&mut self, name: &str) -> Result<Array> {
        self.tensors
            .remove(name)
            .ok_or_else(|| RunnerError::MissingTensor { name: name.into() })
    }

    /// Removes and returns a tensor, checked to have the shape `want`.
    pub fn take_shaped(&mut self, name: &str, want: &[usize]) -> Result<Array> {
        let a = self.take(name)?;
        let got: Vec<usize> = a.shape().iter().map(|&d| d as usize).collect();
        if got != want {
            return Err(RunnerError::BadTensor {
                name: name.into(),
                message: format!("shape {got:?}, expected {want:?}"),
            });
        }
        Ok(a)
    }

    /// Removes and returns a Conv2d kernel of `out` filters of `k × k` over `channels`,
    /// in MLX's layout `[out, k, k, channels]` (as mlx-community files hold it), or
    /// transposed from PyTorch's `[out, channels, k, k]` (as Hugging Face's do).
    pub fn take_conv2d(
        &mut self,
        name: &str,
        out: usize,
        k: usize,
        channels: usize,
    ) -> Result<Array> {
        let raw = self.take(name)?;
        let shape: Vec<usize> = raw.shape().iter().map(|&x| x as usize).collect();
        if shape == [out, k, k, channels] {
            Ok(raw)
        } else if shape == [out, channels, k, k] {
            Ok(raw.transpose_axes(&[0, 2, 3, 1])?)
        } else {
            Err(RunnerError::BadTensor {
                name: name.into(),
                message: format!("shape {shape:?}, expected [{out}, {k}, {k}, {channels}]"),
            })
        }
    }

    /// Removes and returns a tensor that may be absent.
    pub fn take_optional(&mut self, name: &str) -> Option<Array> {
        self.tensors.remove(name)
    }

    /// Drops tensors whose names match `pred` (e.g. precomputed rotary frequencies).
    pub fn discard(&mut self, pred: impl Fn(&str) -> bool) {
        self.tensors.retain(|k, _| !pred(k));
    }

    /// Renames the tensors whose names start with `from` to start with `to` instead (a
    /// checkpoint's alternative module name, as a reference's `sanitize` maps it).
    pub fn rename_prefix(&mut self, from: &str, to: &str) {
        let moved = self.split_off(from, |rest| format!("{to}{rest}"));
        self.tensors.extend(moved.tensors);
    }

    /// Moves the tensors whose names start with `prefix` into a new set, renamed by
    /// `rename` (which receives the name without the prefix).
    pub fn split_off(&mut self, prefix: &str, rename: impl Fn(&str) -> String) -> Weights {
        let names: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        let mut tensors = HashMap::with_capacity(names.len());
        for name in names {
            let array = self.tensors.remove(&name).expect("listed above");
            tensors.insert(rename(&name[prefix.len()..]), array);
        }
        Weights { tensors }
    }

    /// Splits the fused module `{prefix}.{fused}` along its output rows into the modules
    /// `parts` (name, rows), for each tensor it has (`weight`, `scales`, `biases`, `bias`):
    /// Phi-3's `qkv_proj` and `gate_up_proj`. Affine quantization packs along the inputs,
    /// so the rows of a quantized matrix split as a dense one's do. Each part is a
    /// contiguous copy, so the CPU kernel can borrow it.
    pub fn split_rows(&mut self, prefix: &str, fused: &str, parts: &[(&str, usize)]) -> Result<()> {
        let total: usize = parts.iter().map(|(_, rows)| rows).sum();
        for suffix in ["weight", "scales", "biases", "bias"] {
            let name = format!("{prefix}.{fused}.{suffix}");
            let Some(array) = self.tensors.remove(&name) else {
                continue;
            };
            if array.shape().first().map(|&d| d as usize) != Some(total) {
                return Err(RunnerError::BadTensor {
                    name,
                    message: format!("shape {:?}, expected {total} rows", array.shape()),
                });
            }
            let mut start = 0i32;
            for (part, rows) in parts {
                let end = start + *rows as i32;
                let piece = array.index(start..end).contiguous()?;
                piece.eval()?;
                self.tensors
                    .insert(format!("{prefix}.{part}.{suffix}"), piece);
                start = end;
            }
        }
        Ok(())
    }

    /// Names of the tensors not yet taken, sorted.
    /// An error naming a tensor nothing took (`by` says who loaded the rest), like
    /// mlx-lm's strict load; `Ok` when every tensor was used.
    pub fn expect_all_used(&self, by: &str) -> Result<()> {
        let left = self.remaining();
        match left.first() {
            None => Ok(()),
            Some(name) => Err(RunnerError::BadTensor {
                name: name.clone(),
                message: format!("not used by {by} ({} unused tensors)", left.len()),
            }),
        }
    }

    pub fn remaining(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tensors.keys().cloned().collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_to_single_is_exact() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
    }
}
