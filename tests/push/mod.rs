//! mlxk-push against tests/hub/fault_hub.py, whose upload routes are proven
//! here with the official client (`huggingface_hub.upload_folder`, Xet off,
//! then `snapshot_download`). The workspace is the real SmolLM2 fixture.

mod faults;
mod round_trip;
mod trapped;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::harness::{fixtures, Run, TestCache};
use crate::pull::servers::FaultHub;

pub const BIN: &str = env!("CARGO_BIN_EXE_mlxk-push");
pub const SECRET: &str = "hf_PushTestSecret0123456789";

/// The wire format as this test reads it (declared here to catch drift).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Msg {
    Progress {
        file: String,
        bytes: u64,
    },
    Result(PushResult),
    Error {
        code: String,
        message: String,
    },
    Summary {
        total: u64,
        ok: u64,
        failed: u64,
        exit_code: i32,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct PushResult {
    pub repo: String,
    pub status: String,
    pub commit: Option<String>,
    pub created: bool,
    pub health: String,
    pub reason: Option<String>,
    pub added: u64,
    pub changed: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub uploaded_files: u64,
    pub uploaded_bytes: u64,
    pub files: Vec<PushFile>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

/// An entry of the folder that was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PushFile {
    pub path: String,
    pub action: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub mode: Option<String>,
}

pub fn messages(run: &Run) -> Vec<Msg> {
    run.stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect()
}

/// The one result of a `--json` run.
pub fn result(run: &Run) -> PushResult {
    let all: Vec<PushResult> = messages(run)
        .into_iter()
        .filter_map(|m| match m {
            Msg::Result(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        all.len(),
        1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout(),
        run.stderr()
    );
    all[0].clone()
}

/// `mlxk-push ARGS` against `endpoint`, with the test token unless `token` is None.
pub fn push_cmd(cache: &TestCache, endpoint: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = cache.command(BIN);
    cmd.env("HF_ENDPOINT", endpoint)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = token {
        cmd.env("HF_TOKEN", t);
    }
    cmd
}

/// Runs mlxk-push and checks that the token is in none of its output.
pub fn push(cache: &TestCache, endpoint: &str, args: &[&str]) -> Run {
    let run = Run(push_cmd(cache, endpoint, Some(SECRET), args)
        .output()
        .expect("run mlxk-push"));
    no_token(&run);
    run
}

pub fn no_token(run: &Run) {
    assert!(
        !run.stdout().contains(SECRET) && !run.stderr().contains(SECRET),
        "the token was printed:\n{}\n{}",
        run.stdout(),
        run.stderr()
    );
}

/// A hub with no repositories that wants [`SECRET`] for everything.
pub fn hub() -> FaultHub {
    let hub = FaultHub::empty();
    hub.token(SECRET);
    hub
}

/// A copy of the real SmolLM2 MLX folder (the weights hard-linked when the
/// file system allows; tests only ever replace small files).
pub fn workspace(cache: &TestCache, name: &str) -> PathBuf {
    let src = fixtures::smollm2_mlx();
    let dir = cache.scratch(name);
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        let to = dir.join(entry.file_name());
        if std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    dir
}

/// Rewrites `rel` in `dir` (a new inode, so a hard-linked fixture is safe).
pub fn rewrite(dir: &Path, rel: &str, content: &[u8]) {
    let path = dir.join(rel);
    let _ = std::fs::remove_file(&path);
    std::fs::write(path, content).unwrap();
}

/// The python of the shared test venv (huggingface_hub 2.4.0).
pub fn hf_python() -> String {
    static PY: OnceLock<String> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/venv.sh"))
            .arg("test")
            .stderr(Stdio::inherit())
            .output()
            .expect("bash scripts/venv.sh test");
        assert!(out.status.success(), "scripts/venv.sh test failed");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
    .clone()
}

/// Runs a huggingface_hub snippet (Xet off) with this hub and token.
pub fn hf(cache: &TestCache, endpoint: &str, script: &str) {
    let out = cache
        .command(&hf_python())
        .env("HF_ENDPOINT", endpoint)
        .env("HF_TOKEN", SECRET)
        .env("HF_HUB_DISABLE_XET", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "huggingface_hub: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stand-in's record of a repository: path → {size, lfs, oid, sha256}.
pub fn remote(hub: &FaultHub, repo: &str, rev: &str) -> Value {
    let (status, text) = crate::pull::servers::http(
        hub.endpoint(),
        "GET",
        &format!("/_control/repo/{repo}/{rev}"),
        "",
    );
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// sha256 of every file under `dir` (relative path → hex), hidden state left out.
pub fn local_hashes(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_file() && !name.starts_with('.') {
            out.insert(name, sha256_file(&p));
        }
    }
    out
}

/// Hub requests (not the test's own control calls) of `method` since the
/// last reset whose path contains `part`.
pub fn requests(hub: &FaultHub, method: &str, part: &str) -> Vec<Value> {
    hub.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let path = r["path"].as_str().unwrap();
            r["method"] == method && path.contains(part) && !path.starts_with("/_control/")
        })
        .cloned()
        .collect()
}

/// sha256 of a file, read now (no memo: tests rewrite files).
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut h).unwrap();
    crate::harness::hex(&h.finalize())
}
