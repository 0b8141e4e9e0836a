//! Isolated caches carry a sentinel file; deleting a cache tree is refused
//! unless the sentinel is there. Tests build every cache through `mark` and
//! remove it through `remove_marked`, so no code path can delete a user's cache.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// Name of the sentinel file at the root of an isolated cache.
pub const SENTINEL: &str = ".mlxk-isolated-cache";

/// Creates `dir` if needed and marks it as an isolated cache.
pub fn mark(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let file = dir.join(SENTINEL);
    fs::write(&file, b"isolated mlxk cache; safe to delete\n").map_err(|e| Error::io(file, e))
}

/// Whether `dir` carries the sentinel.
pub fn is_marked(dir: &Path) -> bool {
    dir.join(SENTINEL).is_file()
}

/// Deletes `dir` recursively, but only when it carries the sentinel.
pub fn remove_marked(dir: &Path) -> Result<()> {
    if !is_marked(dir) {
        return Err(Error::NoSentinel(dir.to_path_buf()));
    }
    fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unmarked_directory_and_keeps_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        fs::create_dir_all(dir.join("models--a--b")).unwrap();
        let err = remove_marked(&dir).unwrap_err();
        assert!(matches!(err, Error::NoSentinel(_)));
        assert!(dir.join("models--a--b").is_dir());
    }

    #[test]
    fn removes_marked_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        mark(&dir).unwrap();
        fs::create_dir_all(dir.join("models--a--b")).unwrap();
        remove_marked(&dir).unwrap();
        assert!(!dir.exists());
    }
}
