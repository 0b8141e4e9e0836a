//! Test harness: isolated caches in the real Hugging Face layout, the real
//! binaries, and real fixture files.
//!
//! Every cache carries the sentinel and is removed through
//! `mlxk_core::sentinel::remove_marked`, which refuses any directory
//! without it. No test touches the user's cache: each binary runs with
//! `HF_HUB_CACHE`/`HF_HOME` pointing into its own temporary directory.

#![allow(dead_code)]

pub mod fixtures;
pub mod wire;
pub mod wire_run;
pub mod wire_vision;

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use sha1::Digest as _;

/// An isolated cache directory, deleted (guarded by the sentinel) on drop.
pub struct TestCache {
    base: PathBuf,
    hub: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestCache {
    pub fn new() -> Self {
        let base = std::env::temp_dir().join(format!(
            "mlxk-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        mlxk_core::sentinel::mark(&base).expect("create isolated cache");
        let hub = base.join("hub");
        fs::create_dir_all(&hub).unwrap();
        TestCache { base, hub }
    }

    /// The directory to use as `HF_HUB_CACHE`.
    pub fn hub(&self) -> &Path {
        &self.hub
    }

    /// A scratch directory inside the isolated area (for workspaces).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.base.join(name);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Starts a repository with one commit.
    pub fn repo(&self, name: &str) -> RepoBuilder {
        RepoBuilder {
            dir: self.hub.join(mlxk_core::cache::repo_dir_name(name)),
            commit: commit_for(name, 0),
            files: Vec::new(),
            refs: true,
        }
    }

    /// Runs a binary with this cache as its only cache.
    pub fn run(&self, bin: &str, args: &[&str]) -> Run {
        self.run_with_stdin(bin, args, b"")
    }

    pub fn run_with_stdin(&self, bin: &str, args: &[&str], stdin: &[u8]) -> Run {
        let mut cmd = self.command(bin);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {bin}: {e}"));
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        Run(child.wait_with_output().unwrap())
    }
}

impl Drop for TestCache {
    fn drop(&mut self) {
        mlxk_core::sentinel::remove_marked(&self.base).expect("remove isolated cache");
    }
}

/// A commit hash that looks like the Hub's (40 hex), stable per name.
pub fn commit_for(name: &str, n: u32) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("{name}#{n}").as_bytes());
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The etag the Hub gives a regular (non-LFS) file: git's blob sha1.
pub fn git_blob_sha1(content: &[u8]) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", content.len()).as_bytes());
    h.update(content);
    hex(&h.finalize())
}

enum Source {
    Bytes(Vec<u8>),
    /// A large real file, hard-linked (or copied) into blobs/ under its sha256.
    Lfs(PathBuf),
}

pub struct RepoBuilder {
    dir: PathBuf,
    commit: String,
    files: Vec<(String, Source)>,
    refs: bool,
}

impl RepoBuilder {
    pub fn commit(mut self, commit: &str) -> Self {
        self.commit = commit.to_string();
        self
    }

    /// A small file stored under its git sha1, as the Hub does (replacing
    /// an earlier file of the same path).
    pub fn file(mut self, rel: &str, content: impl AsRef<[u8]>) -> Self {
        self.files.retain(|(r, _)| r != rel);
        self.files
            .push((rel.to_string(), Source::Bytes(content.as_ref().to_vec())));
        self
    }

    pub fn json(self, rel: &str, value: serde_json::Value) -> Self {
        self.file(rel, serde_json::to_vec_pretty(&value).unwrap())
    }

    /// A large real file stored under its sha256, as LFS files are.
    pub fn lfs(mut self, rel: &str, path: &Path) -> Self {
        self.files.retain(|(r, _)| r != rel);
        self.files
            .push((rel.to_string(), Source::Lfs(path.to_path_buf())));
        self
    }

    /// Do not write refs/main (a download by commit hash).
    pub fn without_refs(mut self) -> Self {
        self.refs = false;
        self
    }

    /// Writes blobs, then snapshot links, then the ref: the order
    /// huggingface_hub completes a download in.
    pub fn build(self) -> Repo {
        let blobs = self.dir.join("blobs");
        let snapshot = self.dir.join("snapshots").join(&self.commit);
        fs::create_dir_all(&blobs).unwrap();
        fs::create_dir_all(&snapshot).unwrap();
        let mut links = Vec::new();
        for (rel, source) in &self.files {
            let etag = match source {
                Source::Bytes(bytes) => {
                    let etag = git_blob_sha1(bytes);
                    fs::write(blobs.join(&etag), bytes).unwrap();
                    etag
                }
                Source::Lfs(path) => {
                    let etag = fixtures::sha256_of(path);
                    let blob = blobs.join(&etag);
                    if !blob.exists() && fs::hard_link(path, &blob).is_err() {
                        fs::copy(path, &blob).unwrap();
                    }
                    etag
                }
            };
            let link = snapshot.join(rel);
            fs::create_dir_all(link.parent().unwrap()).unwrap();
            let depth = rel.matches('/').count() + 2;
            let target = format!("{}blobs/{etag}", "../".repeat(depth));
            symlink(&target, &link).unwrap();
            links.push((rel.clone(), etag));
        }
        if self.refs {
            fs::create_dir_all(self.dir.join("refs")).unwrap();
            fs::write(self.dir.join("refs/main"), &self.commit).unwrap();
        }
        Repo {
            dir: self.dir,
            commit: self.commit,
            links,
        }
    }
}

/// A repository written to a test cache, with ways to break it the way
/// real downloads break.
pub struct Repo {
    pub dir: PathBuf,
    pub commit: String,
    links: Vec<(String, String)>,
}

impl Repo {
    pub fn snapshot(&self) -> PathBuf {
        self.dir.join("snapshots").join(&self.commit)
    }

    pub fn blob_of(&self, rel: &str) -> PathBuf {
        let etag = &self
            .links
            .iter()
            .find(|(r, _)| r == rel)
            .expect("file in repo")
            .1;
        self.dir.join("blobs").join(etag)
    }

    /// Replaces the blob behind `rel` with its first `len` bytes (a private
    /// copy, so shared fixture files stay whole).
    pub fn truncate(&self, rel: &str, len: u64) {
        let blob = self.blob_of(rel);
        let mut bytes = fs::read(&blob).unwrap();
        bytes.truncate(len as usize);
        fs::remove_file(&blob).unwrap();
        fs::write(&blob, bytes).unwrap();
    }

    pub fn remove_blob(&self, rel: &str) {
        fs::remove_file(self.blob_of(rel)).unwrap();
    }

    /// Rewrites the blob behind `rel` (a private copy).
    pub fn overwrite(&self, rel: &str, content: impl AsRef<[u8]>) {
        let blob = self.blob_of(rel);
        fs::remove_file(&blob).unwrap();
        fs::write(&blob, content).unwrap();
    }

    pub fn set_ref(&self, name: &str, commit: &str) {
        fs::create_dir_all(self.dir.join("refs")).unwrap();
        fs::write(self.dir.join("refs").join(name), commit).unwrap();
    }
}

/// A finished run of a binary.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Asserts the exit status, printing both streams between rules if not.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "\n--- stdout ---\n{}\n--- stderr ---\n{}\n---",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// Held by every test that loads a model: one model in memory at a time
/// (MLX is not thread-safe across concurrent evaluation; the machine is small).
pub fn model_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

impl TestCache {
    /// A command for `bin` with this cache as its only cache, not yet started.
    pub fn command(&self, bin: &str) -> Command {
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.base.join("home"))
            .env("HF_HOME", self.base.join("hf-home"))
            .env("HF_HUB_CACHE", &self.hub);
        cmd
    }
}
