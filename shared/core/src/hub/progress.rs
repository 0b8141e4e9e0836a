//! How a pull tells what it is doing. The library only calls this trait;
//! the binary draws indicatif bars or writes NDJSON progress with it.

/// Called from the single download task; implementations may use `Cell`s.
pub trait Reporter {
    /// A repository's plan is known: `files` to fetch, `bytes` in all.
    fn repo_start(&self, _repo: &str, _files: usize, _bytes: u64) {}
    /// A file starts (or resumes at `done` bytes).
    fn file_start(&self, _repo: &str, _file: &str, _done: u64, _total: u64) {}
    /// `done` of `total` bytes of a file are on disk.
    fn file_progress(&self, _repo: &str, _file: &str, _done: u64, _total: u64) {}
    /// A file is in place (`ok`) or given up.
    fn file_end(&self, _repo: &str, _file: &str, _ok: bool) {}
    /// A retry, a wait for a lock: something a person may want to know.
    fn note(&self, _repo: &str, _message: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Reporter for Silent {}
