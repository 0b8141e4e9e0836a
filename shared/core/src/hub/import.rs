//! A local folder into the cache as if it had been pulled (`mlxk-pull --from DIR`).
//!
//! The default model of the quickstart is converted locally (the Hub is out
//! of reach), and it enters the user's cache through the same write path as
//! a download: each file is copied to `blobs/<etag>.incomplete` under the
//! blob lock, hashed while it is copied, flushed and renamed; then the
//! snapshot links, `trees/<commit>.json` and `refs/<revision>` last. Only
//! the repository named is touched.
//!
//! Files are named the way the Hub would name them: weights (and any file
//! of 10 MiB or more) are LFS files whose blob is their sha256; the others
//! are regular files whose blob is their git blob sha1. The commit is a
//! sha1 over the sorted paths and their ids, so importing the same folder
//! twice gives the same snapshot (and the second time, `already_exists`).
//!
//! Only regular files inside the folder are imported ([`super::folder`]):
//! a symbolic link is followed only to a file inside the folder; one that
//! leads outside (or to a folder, a FIFO, nothing) is skipped and reported.
//! The cache is written as a pull writes it, never through a planted link.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::client::{Lfs, TreeEntry};
use super::download::Check;
use super::folder::{self, Links};
use super::hash_cache::{hash_file, hex, pointer_sha1};
use super::nofollow;
use super::progress::Reporter;
use super::trust::{trust, Trust};
use super::{layout, lock, HubError};
use crate::cache::{is_safe_relative, repo_dir_name, Cache};
use crate::ndjson::DownloadStatus;

/// Files the Hub stores in LFS whatever their size (its default `.gitattributes`).
const LFS_EXTENSIONS: &[&str] = &[
    "safetensors",
    "bin",
    "gguf",
    "npz",
    "npy",
    "pt",
    "pth",
    "ckpt",
    "h5",
    "onnx",
    "msgpack",
    "model",
    "tflite",
    "ot",
    "pkl",
    "zip",
    "gz",
    "tar",
    "zst",
];
const LFS_MIN_SIZE: u64 = 10 << 20;

/// What an import did: the commit it wrote and how many blobs it copied.
pub struct Imported {
    pub commit: String,
    pub files: u64,
    pub bytes: u64,
    pub status: DownloadStatus,
}

/// Imports `dir` as `name@revision`.
pub async fn import(
    cache: &Cache,
    dir: &Path,
    name: &str,
    revision: &str,
    reporter: &dyn Reporter,
) -> Result<Imported, HubError> {
    if !dir.is_dir() {
        return Err(HubError::Invalid(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    // Hidden names (`.git`, `.DS_Store`) stay out, but for `.gitattributes`.
    let hidden = |rel: &str| {
        let base = rel.rsplit('/').next().unwrap_or(rel);
        base.starts_with('.') && base != ".gitattributes"
    };
    let (found, skipped) = folder::walk(dir, Links::Inside, &hidden)?;
    for s in &skipped {
        reporter.note(name, &format!("{}: skipped: {}", s.path, s.reason));
    }
    let mut sources = Vec::new();
    for f in found {
        if !is_safe_relative(&f.rel) {
            return Err(HubError::UnsafePath(f.rel));
        }
        sources.push((f.rel, f.path));
    }
    if sources.is_empty() {
        return Err(HubError::Invalid(format!(
            "{} holds no files",
            dir.display()
        )));
    }
    let entries = sources
        .iter()
        .map(|(rel, path)| describe(path, rel))
        .collect::<Result<Vec<_>, _>>()?;
    let commit = commit_id(&entries);

    let repo = cache.repo(name);
    let dir_name = repo_dir_name(name);
    let noted =
        |path: &Path, message: &str| reporter.note(name, &format!("{}: {message}", path.display()));
    let note: nofollow::Note = &noted;
    let repo_real = nofollow::is_real_dir(cache.root(), Path::new(&dir_name));
    let fresh_layout = !repo_real
        || !layout::has_ref(&repo.path, revision, &commit)
        || !layout::has_tree(&repo.path, &commit);
    nofollow::real_dir(cache.root(), Path::new(&dir_name), note)?;
    let blobs = nofollow::real_dir(&repo.path, Path::new("blobs"), note)?;
    let (mut files, mut bytes) = (0, 0);
    for (entry, (_, src)) in entries.iter().zip(&sources) {
        let size = entry.content_size();
        let check = match &entry.lfs {
            Some(l) => Check::Sha256(l.oid.clone()),
            None => Check::GitSha1(entry.oid.clone()),
        };
        if trust(&repo.path, entry.etag(), size, &check, note)? == Trust::Trusted {
            continue;
        }
        let _lock = lock::acquire(cache.root(), &dir_name, entry.etag(), || {}, note).await?;
        if trust(&repo.path, entry.etag(), size, &check, note)? != Trust::Trusted {
            copy_blob(src, &blobs, entry, note)?;
            files += 1;
            bytes += size;
        }
    }
    let fresh = files > 0 || fresh_layout;
    for entry in &entries {
        layout::link(&repo.path, &commit, &entry.path, entry.etag(), note)?;
    }
    layout::write_tree(&repo.path, &commit, &entries, note)?;
    layout::write_ref(&repo.path, revision, &commit, note)?;
    let _ = layout::write_cachedir_tag(cache.root());
    Ok(Imported {
        commit,
        files,
        bytes,
        status: if fresh {
            DownloadStatus::Success
        } else {
            DownloadStatus::AlreadyExists
        },
    })
}

fn is_lfs(rel: &str, size: u64) -> bool {
    let ext = rel.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    size >= LFS_MIN_SIZE || ext.is_some_and(|e| LFS_EXTENSIONS.contains(&e.as_str()))
}

/// The tree entry the Hub would list for `path`.
fn describe(path: &Path, rel: &str) -> Result<TreeEntry, HubError> {
    let hashes = hash_file(path, true)?;
    let size = nofollow::open_read(path)
        .and_then(|f| f.metadata())
        .map_err(|e| HubError::io(path, e))?
        .len();
    let (oid, git_size, lfs) = if is_lfs(rel, size) {
        let pointer_len = format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {size}\n",
            hashes.sha256
        )
        .len() as u64;
        let oid = pointer_sha1(&hashes.sha256, size);
        let lfs = Lfs {
            oid: hashes.sha256,
            size,
        };
        (oid, pointer_len, Some(lfs))
    } else {
        (hashes.git_sha1.expect("asked for"), size, None)
    };
    Ok(TreeEntry {
        kind: "file".into(),
        path: rel.to_string(),
        oid,
        size: git_size,
        lfs,
        xet_hash: None,
    })
}

/// Copies `src` to `blobs/<etag>.incomplete`, checks that what was copied is
/// what was hashed (the folder may change in between), flushes, renames.
fn copy_blob(
    src: &Path,
    blobs: &Path,
    entry: &TreeEntry,
    note: nofollow::Note,
) -> Result<(), HubError> {
    let part: PathBuf = blobs.join(format!("{}.incomplete", entry.etag()));
    let copy = || -> Result<(), HubError> {
        let mut from = nofollow::open_read(src).map_err(|e| HubError::io(src, e))?;
        let mut to = nofollow::create_fresh(&part, note)?;
        let mut buf = vec![0u8; 1 << 20];
        let size = entry.content_size();
        let mut sha256 = Sha256::new();
        let mut sha1 = Sha1::new();
        sha1.update(format!("blob {size}\0").as_bytes());
        loop {
            let n = from.read(&mut buf).map_err(|e| HubError::io(src, e))?;
            if n == 0 {
                break;
            }
            sha256.update(&buf[..n]);
            sha1.update(&buf[..n]);
            to.write_all(&buf[..n])
                .map_err(|e| HubError::io(&part, e))?;
        }
        let got = match entry.lfs {
            Some(_) => hex(&sha256.finalize()),
            None => hex(&sha1.finalize()),
        };
        if got != entry.etag() {
            return Err(HubError::Invalid(format!(
                "{} changed while it was imported",
                src.display()
            )));
        }
        nofollow::seal(&to).map_err(|e| HubError::io(&part, e))?;
        to.sync_all().map_err(|e| HubError::io(&part, e))?;
        let dest = blobs.join(entry.etag());
        std::fs::rename(&part, &dest).map_err(|e| HubError::io(&dest, e))
    };
    copy().inspect_err(|_| {
        let _ = std::fs::remove_file(&part);
    })
}

/// A commit id for the imported tree: sha1 over its sorted paths and ids.
fn commit_id(entries: &[TreeEntry]) -> String {
    let mut h = Sha1::new();
    h.update(b"mlxk-import\n");
    for e in entries {
        h.update(e.path.as_bytes());
        h.update(b"\0");
        h.update(e.etag().as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_large_files_are_lfs() {
        assert!(is_lfs("model.safetensors", 10));
        assert!(is_lfs("sub/x.GGUF", 10));
        assert!(is_lfs("big.json", LFS_MIN_SIZE));
        assert!(!is_lfs("config.json", 100));
        assert!(!is_lfs("README", 100));
    }

    #[test]
    fn lfs_pointer_ids_match_git() {
        // A file of "hello" stored in LFS: `git lfs pointer` text, hashed as a git blob.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        std::fs::write(&path, b"hello").unwrap();
        let e = describe(&path, "w.safetensors").unwrap();
        let lfs = e.lfs.as_ref().unwrap();
        assert_eq!(
            lfs.oid,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\nsize 5\n";
        assert_eq!(e.size, pointer.len() as u64);
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"hello\n").unwrap();
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            describe(&path, "a.txt").unwrap().oid,
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
