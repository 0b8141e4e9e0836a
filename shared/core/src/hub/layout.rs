//! Writing the cache layout huggingface_hub writes (checked against
//! huggingface_hub 2.4 by the pull tests):
//!
//! - `snapshots/<commit>/<path>` → relative symlink `../../blobs/<etag>`
//!   (one more `../` per folder level);
//! - `trees/<commit>.json`: `{"format_version": 1, "files": {path: {size,
//!   blob_id, lfs_sha256?, lfs_size?}}}`, indented by one space, no newline;
//! - `refs/<revision>`: the commit, no newline (only when the revision is
//!   not the commit itself);
//! - `CACHEDIR.TAG` at the cache root.
//!
//! Every file is written under a temporary name and renamed, so a reader
//! (or a crash) never sees half of one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::client::TreeEntry;
use super::HubError;

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by huggingface_hub.\n\
# For information about cache directory tags, see:\n\
#\thttps://bford.info/cachedir/\n";

/// The target of the snapshot link for `rel`.
pub fn link_target(rel: &str, etag: &str) -> PathBuf {
    let ups = 2 + rel.matches('/').count();
    let mut target = PathBuf::new();
    for _ in 0..ups {
        target.push("..");
    }
    target.join("blobs").join(etag)
}

/// Points `snapshots/<commit>/<rel>` at `blobs/<etag>`.
pub fn link(repo_dir: &Path, commit: &str, rel: &str, etag: &str) -> Result<(), HubError> {
    let pointer = repo_dir.join("snapshots").join(commit).join(rel);
    let target = link_target(rel, etag);
    if fs::read_link(&pointer).ok().as_deref() == Some(target.as_path()) {
        return Ok(());
    }
    if let Some(dir) = pointer.parent() {
        fs::create_dir_all(dir).map_err(|e| HubError::io(dir, e))?;
    }
    match fs::symlink_metadata(&pointer) {
        Ok(m) if m.is_dir() => {
            return Err(HubError::Invalid(format!(
                "{} is a directory",
                pointer.display()
            )))
        }
        Ok(_) => fs::remove_file(&pointer).map_err(|e| HubError::io(&pointer, e))?,
        Err(_) => {}
    }
    match std::os::unix::fs::symlink(&target, &pointer) {
        Ok(()) => Ok(()),
        // Another pull made the same link in between.
        Err(e)
            if e.kind() == std::io::ErrorKind::AlreadyExists
                && fs::read_link(&pointer).ok().as_deref() == Some(target.as_path()) =>
        {
            Ok(())
        }
        Err(e) => Err(HubError::io(&pointer, e)),
    }
}

/// Whether `snapshots/<commit>/<rel>` points at a complete `blobs/<etag>` of `size` bytes.
pub fn is_linked(repo_dir: &Path, commit: &str, rel: &str, etag: &str, size: u64) -> bool {
    let pointer = repo_dir.join("snapshots").join(commit).join(rel);
    fs::read_link(&pointer).ok().as_deref() == Some(link_target(rel, etag).as_path())
        && blob_complete(repo_dir, etag, size)
}

/// Whether `blobs/<etag>` exists with `size` bytes.
pub fn blob_complete(repo_dir: &Path, etag: &str, size: u64) -> bool {
    fs::metadata(repo_dir.join("blobs").join(etag)).is_ok_and(|m| m.is_file() && m.len() == size)
}

#[derive(Serialize)]
struct TreeFile<'a> {
    size: u64,
    blob_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lfs_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lfs_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xet_hash: Option<&'a str>,
}

#[derive(Serialize)]
struct Tree<'a> {
    format_version: u32,
    files: BTreeMap<&'a str, TreeFile<'a>>,
}

/// `trees/<commit>.json`, as huggingface_hub writes it, for every file of the tree.
pub fn write_tree(repo_dir: &Path, commit: &str, entries: &[TreeEntry]) -> Result<(), HubError> {
    let tree = Tree {
        format_version: 1,
        files: entries
            .iter()
            .filter(|e| e.is_file())
            .map(|e| {
                (
                    e.path.as_str(),
                    TreeFile {
                        size: e.size,
                        blob_id: &e.oid,
                        lfs_sha256: e.lfs.as_ref().map(|l| l.oid.as_str()),
                        lfs_size: e.lfs.as_ref().map(|l| l.size),
                        xet_hash: e.xet_hash.as_deref(),
                    },
                )
            })
            .collect(),
    };
    let mut text = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut text,
        serde_json::ser::PrettyFormatter::with_indent(b" "),
    );
    tree.serialize(&mut ser)
        .map_err(|e| HubError::Invalid(format!("tree json: {e}")))?;
    let path = repo_dir.join("trees").join(format!("{commit}.json"));
    write_atomic(&path, &text)
}

/// `refs/<revision>` = `commit`, unless the revision is the commit.
pub fn write_ref(repo_dir: &Path, revision: &str, commit: &str) -> Result<(), HubError> {
    if revision == commit {
        return Ok(());
    }
    if !crate::cache::is_safe_relative(revision) {
        return Err(HubError::Invalid(format!(
            "unsafe revision name {revision:?}"
        )));
    }
    let path = repo_dir.join("refs").join(revision);
    if fs::read_to_string(&path).is_ok_and(|c| c == commit) {
        return Ok(());
    }
    write_atomic(&path, commit.as_bytes())
}

/// `CACHEDIR.TAG` at the cache root, if absent (backup tools skip the cache).
pub fn write_cachedir_tag(cache_root: &Path) -> Result<(), HubError> {
    let path = cache_root.join("CACHEDIR.TAG");
    if path.exists() {
        return Ok(());
    }
    write_atomic(&path, CACHEDIR_TAG.as_bytes())
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HubError> {
    let dir = path.parent().expect("a file path has a parent");
    fs::create_dir_all(dir).map_err(|e| HubError::io(dir, e))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        HubError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::client::Lfs;

    #[test]
    fn link_targets_climb_one_level_per_folder() {
        assert_eq!(
            link_target("config.json", "abc"),
            Path::new("../../blobs/abc")
        );
        assert_eq!(
            link_target("1_Pooling/config.json", "abc"),
            Path::new("../../../blobs/abc")
        );
    }

    #[test]
    fn links_refs_and_tree_match_huggingface_hub() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("models--a--b");
        fs::create_dir_all(repo.join("blobs")).unwrap();
        fs::write(repo.join("blobs/e1"), b"{}").unwrap();
        link(&repo, "c0", "sub/config.json", "e1").unwrap();
        link(&repo, "c0", "sub/config.json", "e1").unwrap();
        assert!(is_linked(&repo, "c0", "sub/config.json", "e1", 2));
        assert_eq!(
            fs::read(repo.join("snapshots/c0/sub/config.json")).unwrap(),
            b"{}"
        );
        write_ref(&repo, "main", "c0").unwrap();
        write_ref(&repo, "c0", "c0").unwrap();
        assert_eq!(fs::read_to_string(repo.join("refs/main")).unwrap(), "c0");
        assert!(!repo.join("refs/c0").exists());
        assert!(write_ref(&repo, "../x", "c0").is_err());
        let entries = vec![
            TreeEntry {
                kind: "file".into(),
                path: "m.safetensors".into(),
                oid: "o2".into(),
                size: 9,
                lfs: Some(Lfs {
                    oid: "s2".into(),
                    size: 9,
                }),
                xet_hash: None,
            },
            TreeEntry {
                kind: "file".into(),
                path: "a.json".into(),
                oid: "o1".into(),
                size: 2,
                lfs: None,
                xet_hash: None,
            },
            TreeEntry {
                kind: "directory".into(),
                path: "d".into(),
                oid: "o3".into(),
                size: 0,
                lfs: None,
                xet_hash: None,
            },
        ];
        write_tree(&repo, "c0", &entries).unwrap();
        let text = fs::read_to_string(repo.join("trees/c0.json")).unwrap();
        // Python: json.dump(data, f, indent=1) with sorted file names.
        let expected = "{\n \"format_version\": 1,\n \"files\": {\n  \"a.json\": {\n   \"size\": 2,\n   \"blob_id\": \"o1\"\n  },\n  \"m.safetensors\": {\n   \"size\": 9,\n   \"blob_id\": \"o2\",\n   \"lfs_sha256\": \"s2\",\n   \"lfs_size\": 9\n  }\n }\n}";
        assert_eq!(text, expected);
    }
}
