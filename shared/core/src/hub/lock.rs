//! Per-blob file locks, where huggingface_hub takes them:
//! `$HF_HUB_CACHE/.locks/models--org--name/<etag>.lock` (an exclusive
//! `flock`). Two pulls of the same repository, or mlxk-pull next to
//! `hf download`, never write the same `.incomplete` at once: the second
//! waits, then finds the blob in place.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::HubError;

/// Held until dropped.
#[derive(Debug)]
pub struct BlobLock {
    _file: File,
}

/// The lock file for `etag` of the repo directory `repo_dir_name`.
pub fn lock_path(cache_root: &Path, repo_dir_name: &str, etag: &str) -> PathBuf {
    cache_root
        .join(".locks")
        .join(repo_dir_name)
        .join(format!("{etag}.lock"))
}

/// Takes the lock, waiting for another process if it holds it;
/// `on_wait` is called once before waiting.
pub async fn acquire(path: PathBuf, on_wait: impl FnOnce()) -> Result<BlobLock, HubError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| HubError::io(dir, e))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| HubError::io(&path, e))?;
    match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => return Ok(BlobLock { _file: file }),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => on_wait(),
        Err(e) => return Err(HubError::io(&path, e)),
    }
    tokio::task::spawn_blocking(move || {
        flock(&file, libc::LOCK_EX).map_err(|e| HubError::io(&path, e))?;
        Ok(BlobLock { _file: file })
    })
    .await
    .map_err(|e| HubError::Invalid(format!("lock task failed: {e}")))?
}

/// `flock(2)`, as Python's `filelock` uses on Unix (std's `File::lock` is newer than our MSRV).
fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a file descriptor we own, for the file's lifetime.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_taker_waits_for_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let path = lock_path(tmp.path(), "models--a--b", "abc");
        let first = acquire(path.clone(), || panic!("must not wait"))
            .await
            .unwrap();
        let waited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = waited.clone();
        let second = tokio::spawn(acquire(path, move || {
            w.store(true, std::sync::atomic::Ordering::SeqCst)
        }));
        tokio::task::yield_now().await;
        drop(first);
        second.await.unwrap().unwrap();
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
    }
}
