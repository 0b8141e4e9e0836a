//! Whether a blob already in the cache can be used without downloading it.
//!
//! A blob's name is its hash, but a name is not proof: in a cache others can
//! write, `blobs/<etag>` may hold anything of the right size. So a blob is
//! trusted without reading it only when nobody but us could have written it
//! ([`nofollow::ours_alone`]: a regular file, one link, ours, writable by
//! nobody else; every blob a pull or import of ours writes is made so).
//! Any other blob is hashed once: if the content matches, it is sealed
//! (group and other write permission taken away, when it is ours) so the
//! next run trusts it at the cost of a `stat`; if it does not, it is
//! reported and removed, and downloaded again.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::download::{Check, Hasher};
use super::nofollow::{self, Note};
use super::HubError;

/// What was found at `blobs/<etag>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// In place and proven (or only we could have written it).
    Trusted,
    /// Nothing usable there: absent, the wrong size, or removed as wrong.
    Missing,
}

/// Looks at `repo_dir/blobs/<etag>` (which should hold `size` bytes that
/// pass `check`), hashing it when it is not ours alone. Blocking: call it
/// off the async thread when the blob may be large ([`trust_async`]).
pub fn trust(
    repo_dir: &Path,
    etag: &str,
    size: u64,
    check: &Check,
    note: Note,
) -> Result<Trust, HubError> {
    if !nofollow::is_real_dir(repo_dir, Path::new("blobs")) {
        return Ok(Trust::Missing);
    }
    let path = repo_dir.join("blobs").join(etag);
    let Ok(meta) = fs::symlink_metadata(&path) else {
        return Ok(Trust::Missing);
    };
    if meta.file_type().is_symlink() || !meta.is_file() || meta.len() != size {
        if meta.file_type().is_symlink() {
            note(
                &path,
                "a symbolic link planted where a blob belongs; replaced",
            );
            let _ = fs::remove_file(&path);
        }
        return Ok(Trust::Missing);
    }
    if nofollow::ours_alone(&meta) || matches!(check, Check::Size) {
        return Ok(Trust::Trusted);
    }
    let mut file = match nofollow::open_read(&path) {
        Ok(f) => f,
        Err(_) => return Ok(Trust::Missing),
    };
    let mut hasher = Hasher::new(check, size);
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| HubError::io(&path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    if read == size && hasher.verify(check).is_ok() {
        // Ours: seal it, so the next run need not read it again. Another
        // user's blob cannot be sealed by us and is read on every pull.
        if meta.uid() == nofollow::euid() && meta.nlink() == 1 {
            let _ = nofollow::seal(&file);
        }
        return Ok(Trust::Trusted);
    }
    drop(file);
    note(
        &path,
        "a blob whose content does not match its hash (planted or damaged); replaced",
    );
    fs::remove_file(&path).map_err(|e| HubError::io(&path, e))?;
    Ok(Trust::Missing)
}

/// [`trust`] on the blocking pool; notes are collected and told afterwards.
pub async fn trust_async(
    repo_dir: &Path,
    etag: &str,
    size: u64,
    check: &Check,
    note: Note<'_>,
) -> Result<Trust, HubError> {
    let (dir, etag_owned, check_owned) = (repo_dir.to_path_buf(), etag.to_string(), check.clone());
    let (trust, notes) = tokio::task::spawn_blocking(move || {
        let notes = std::cell::RefCell::new(Vec::<(PathBuf, String)>::new());
        let collect = |p: &Path, m: &str| notes.borrow_mut().push((p.to_path_buf(), m.to_string()));
        let r = trust(&dir, &etag_owned, size, &check_owned, &collect);
        (r, notes.into_inner())
    })
    .await
    .map_err(|e| HubError::Invalid(format!("hash task failed: {e}")))?;
    for (path, message) in notes {
        note(&path, &message);
    }
    trust
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    // `printf 'hello\n' | git hash-object --stdin`
    const HELLO: &str = "ce013625030ba8dba906f756967f9e9ca394464a";

    #[test]
    fn a_blob_of_the_right_size_and_wrong_content_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = tmp.path().join("blobs");
        fs::create_dir(&blobs).unwrap();
        let path = blobs.join(HELLO);
        fs::write(&path, b"HELLO\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
        let check = Check::GitSha1(HELLO.into());
        let seen = std::cell::Cell::new(0);
        let note = |_: &Path, _: &str| seen.set(seen.get() + 1);
        assert_eq!(
            trust(tmp.path(), HELLO, 6, &check, &note).unwrap(),
            Trust::Missing
        );
        assert_eq!(seen.get(), 1);
        assert!(!path.exists());

        // The right content, group-writable: hashed once, then sealed.
        fs::write(&path, b"hello\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
        assert_eq!(
            trust(tmp.path(), HELLO, 6, &check, &note).unwrap(),
            Trust::Trusted
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o022, 0, "{mode:o}");
        assert!(nofollow::ours_alone(&fs::symlink_metadata(&path).unwrap()));
        assert_eq!(seen.get(), 1);
    }

    #[test]
    fn a_linked_blob_or_blobs_folder_is_not_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join(HELLO), b"hello\n").unwrap();
        let repo = tmp.path().join("repo");
        fs::create_dir(&repo).unwrap();
        std::os::unix::fs::symlink(&outside, repo.join("blobs")).unwrap();
        let check = Check::GitSha1(HELLO.into());
        let t = trust(&repo, HELLO, 6, &check, &nofollow::ignore).unwrap();
        assert_eq!(t, Trust::Missing);
        fs::remove_file(repo.join("blobs")).unwrap();
        fs::create_dir(repo.join("blobs")).unwrap();
        std::os::unix::fs::symlink(outside.join(HELLO), repo.join("blobs").join(HELLO)).unwrap();
        let t = trust(&repo, HELLO, 6, &check, &nofollow::ignore).unwrap();
        assert_eq!(t, Trust::Missing);
        assert!(
            outside.join(HELLO).exists(),
            "the link's target is left alone"
        );
    }
}
