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
use mlx_rs::{Array, Dtype};
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

    /// Removes and returns a tensor that may be absent.
    pub fn take_optional(&mut self, name: &str) -> Option<Array> {
        self.tensors.remove(name)
    }

    /// Drops tensors whose names match `pred` (e.g. precomputed rotary frequencies).
    pub fn discard(&mut self, pred: impl Fn(&str) -> bool) {
        self.tensors.retain(|k, _| !pred(k));
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

    /// Names of the tensors not yet taken, sorted.
    pub fn remaining(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tensors.keys().cloned().collect();
        v.sort();
        v
    }
}
