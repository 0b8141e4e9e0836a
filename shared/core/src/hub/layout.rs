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
//! (or a crash) never sees half of one. Every folder written into is made
//! real first and every temporary file created with `O_EXCL|O_NOFOLLOW`
//! ([`super::nofollow`]): a link planted in the cache is replaced, never
//! followed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::client::TreeEntry;
use super::nofollow::{self, Note};
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

/// `snapshots/<commit>/<rel>` split into its folder (relative to the repo) and name.
fn pointer_parts(commit: &str, rel: &str) -> (PathBuf, String) {
    let full = Path::new("snapshots").join(commit).join(rel);
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
    (dir, name)
}

/// Points `snapshots/<commit>/<rel>` at `blobs/<etag>`.
pub fn link(
    repo_dir: &Path,
    commit: &str,
    rel: &str,
    etag: &str,
    note: Note,
) -> Result<(), HubError> {
    let (dir, name) = pointer_parts(commit, rel);
    let pointer = nofollow::real_dir(repo_dir, &dir, note)?.join(name);
    let target = link_target(rel, etag);
    if fs::read_link(&pointer).ok().as_deref() == Some(target.as_path()) {
        return Ok(());
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

/// Whether `snapshots/<commit>/<rel>` is our link to `blobs/<etag>`, in
/// real folders (whether the blob can be trusted is [`super::trust`]'s call).
pub fn is_linked(repo_dir: &Path, commit: &str, rel: &str, etag: &str) -> bool {
    let (dir, name) = pointer_parts(commit, rel);
    nofollow::is_real_dir(repo_dir, &dir)
        && nofollow::is_real_dir(repo_dir, Path::new("blobs"))
        && fs::read_link(repo_dir.join(dir).join(name)).ok().as_deref()
            == Some(link_target(rel, etag).as_path())
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

/// Whether `refs/<revision>` is a file (in real folders) naming `commit`.
pub fn has_ref(repo_dir: &Path, revision: &str, commit: &str) -> bool {
    if !crate::cache::is_safe_relative(revision) {
        return false;
    }
    let rel = Path::new("refs").join(revision);
    let path = repo_dir.join(&rel);
    nofollow::is_real_dir(repo_dir, rel.parent().expect("refs/…"))
        && fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
        && fs::read_to_string(&path).is_ok_and(|c| c.trim() == commit)
}

/// Whether `trees/<commit>.json` is there, a file in a real folder.
pub fn has_tree(repo_dir: &Path, commit: &str) -> bool {
    nofollow::is_real_dir(repo_dir, Path::new("trees"))
        && fs::symlink_metadata(repo_dir.join("trees").join(format!("{commit}.json")))
            .is_ok_and(|m| m.is_file())
}

/// `trees/<commit>.json`, as huggingface_hub writes it, for every file of the tree.
pub fn write_tree(
    repo_dir: &Path,
    commit: &str,
    entries: &[TreeEntry],
    note: Note,
) -> Result<(), HubError> {
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
    let dir = nofollow::real_dir(repo_dir, Path::new("trees"), note)?;
    write_atomic(&dir.join(format!("{commit}.json")), &text)
}

/// `refs/<revision>` = `commit`, unless the revision is the commit.
pub fn write_ref(
    repo_dir: &Path,
    revision: &str,
    commit: &str,
    note: Note,
) -> Result<(), HubError> {
    if revision == commit {
        return Ok(());
    }
    if !crate::cache::is_safe_relative(revision) {
        return Err(HubError::Invalid(format!(
            "unsafe revision name {revision:?}"
        )));
    }
    let rel = Path::new("refs").join(revision);
    let dir = nofollow::real_dir(repo_dir, rel.parent().expect("refs/…"), note)?;
    let path = dir.join(rel.file_name().expect("a revision has a name"));
    let is_file = fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
    if is_file && fs::read_to_string(&path).is_ok_and(|c| c == commit) {
        return Ok(());
    }
    write_atomic(&path, commit.as_bytes())
}

/// `CACHEDIR.TAG` at the cache root, if absent (backup tools skip the cache).
pub fn write_cachedir_tag(cache_root: &Path) -> Result<(), HubError> {
    let path = cache_root.join("CACHEDIR.TAG");
    if fs::symlink_metadata(&path).is_ok() {
        return Ok(());
    }
    write_atomic(&path, CACHEDIR_TAG.as_bytes())
}

/// Writes `bytes` to a new temporary file next to `path` (in a folder the
/// caller made real), then renames it over `path` (a rename replaces a link
/// planted at `path` itself, never its target).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HubError> {
    let dir = path.parent().expect("a file path has a parent");
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = nofollow::create_fresh(&tmp, &nofollow::ignore)?;
    let mut write = || -> std::io::Result<()> {
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
        let quiet = &nofollow::ignore;
        link(&repo, "c0", "sub/config.json", "e1", quiet).unwrap();
        link(&repo, "c0", "sub/config.json", "e1", quiet).unwrap();
        assert!(is_linked(&repo, "c0", "sub/config.json", "e1"));
        assert_eq!(
            fs::read(repo.join("snapshots/c0/sub/config.json")).unwrap(),
            b"{}"
        );
        write_ref(&repo, "main", "c0", quiet).unwrap();
        write_ref(&repo, "c0", "c0", quiet).unwrap();
        assert_eq!(fs::read_to_string(repo.join("refs/main")).unwrap(), "c0");
        assert!(!repo.join("refs/c0").exists());
        assert!(write_ref(&repo, "../x", "c0", quiet).is_err());
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
        write_tree(&repo, "c0", &entries, quiet).unwrap();
        let text = fs::read_to_string(repo.join("trees/c0.json")).unwrap();
        // Python: json.dump(data, f, indent=1) with sorted file names.
        let expected = "{\n \"format_version\": 1,\n \"files\": {\n  \"a.json\": {\n   \"size\": 2,\n   \"blob_id\": \"o1\"\n  },\n  \"m.safetensors\": {\n   \"size\": 9,\n   \"blob_id\": \"o2\",\n   \"lfs_sha256\": \"s2\",\n   \"lfs_size\": 9\n  }\n }\n}";
        assert_eq!(text, expected);
    }

    #[test]
    fn links_planted_in_snapshots_refs_and_trees_are_replaced_not_followed() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let repo = tmp.path().join("models--a--b");
        fs::create_dir_all(repo.join("snapshots")).unwrap();
        symlink(&outside, repo.join("snapshots/c0")).unwrap();
        symlink(&outside, repo.join("refs")).unwrap();
        symlink(&outside, repo.join("trees")).unwrap();
        let seen = std::cell::Cell::new(0);
        let note = |_: &Path, _: &str| seen.set(seen.get() + 1);
        assert!(!is_linked(&repo, "c0", "config.json", "e1"));
        link(&repo, "c0", "config.json", "e1", &note).unwrap();
        write_ref(&repo, "main", "c0", &note).unwrap();
        write_tree(&repo, "c0", &[], &note).unwrap();
        assert_eq!(seen.get(), 3);
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(fs::symlink_metadata(repo.join("refs")).unwrap().is_dir());
        // A link planted at the ref's own name is replaced by the rename.
        let victim = outside.join("victim");
        fs::write(&victim, b"precious").unwrap();
        fs::remove_file(repo.join("refs/main")).unwrap();
        symlink(&victim, repo.join("refs/main")).unwrap();
        let tmp = format!("refs/.main.{}.tmp", std::process::id());
        symlink(&victim, repo.join(tmp)).unwrap();
        write_ref(&repo, "main", "c1", &note).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read_to_string(repo.join("refs/main")).unwrap(), "c1");
    }
}
