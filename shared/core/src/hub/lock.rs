//! Per-blob file locks, where huggingface_hub takes them:
//! `$HF_HUB_CACHE/.locks/models--org--name/<etag>.lock` (an exclusive
//! `flock`). Two pulls of the same repository, or mlxk-pull next to
//! `hf download`, never write the same `.incomplete` at once: the second
//! waits, then finds the blob in place.
//!
//! The `.locks` folders are made real (a planted link is replaced) and the
//! lock file is opened with `O_NOFOLLOW`: creating a lock never creates or
//! touches a file elsewhere.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::nofollow::{self, Note};
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

/// Takes the lock of `etag` in `repo_dir_name`, waiting for another
/// process if it holds it; `on_wait` is called once before waiting.
pub async fn acquire(
    cache_root: &Path,
    repo_dir_name: &str,
    etag: &str,
    on_wait: impl FnOnce(),
    note: Note<'_>,
) -> Result<BlobLock, HubError> {
    let rel = Path::new(".locks").join(repo_dir_name);
    nofollow::real_dir(cache_root, &rel, note)?;
    let path = lock_path(cache_root, repo_dir_name, etag);
    let open = || {
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
    };
    let file = match open() {
        Err(e) if nofollow::is_link_error(&e) => {
            note(
                &path,
                "a symbolic link planted where a lock belongs; replaced",
            );
            std::fs::remove_file(&path).map_err(|e| HubError::io(&path, e))?;
            open()
        }
        r => r,
    }
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
        let root = tmp.path().to_path_buf();
        let first = acquire(
            &root,
            "models--a--b",
            "abc",
            || panic!("must not wait"),
            &nofollow::ignore,
        )
        .await
        .unwrap();
        let waited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = waited.clone();
        let second = acquire(
            &root,
            "models--a--b",
            "abc",
            move || w.store(true, std::sync::atomic::Ordering::SeqCst),
            &nofollow::ignore,
        );
        let release = async move {
            tokio::task::yield_now().await;
            drop(first);
        };
        let (second, ()) = tokio::join!(second, release);
        second.unwrap();
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_planted_lock_link_creates_nothing_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        let dir = tmp.path().join(".locks/models--a--b");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("abc.lock")).unwrap();
        let lock = acquire(tmp.path(), "models--a--b", "abc", || {}, &nofollow::ignore)
            .await
            .unwrap();
        drop(lock);
        assert!(!target.exists(), "the dangling link's target was created");
    }
}
