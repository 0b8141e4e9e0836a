//! What a push sends: the local files against the remote tree.
//!
//! A file is unchanged when the remote has the same content at the same
//! path: for an LFS file the sha256 (and size) of its object, for a regular
//! file the git blob sha1. The push and `--dry-run` both take their plan
//! from here, so the dry run predicts exactly what the push sends.

use std::collections::BTreeMap;

use super::client::TreeEntry;
use super::hash_cache::{Hashes, REGULAR_MAX};
use super::workspace::LocalFile;
use crate::ndjson::{FileAction, PushFile};

/// One line of the plan.
#[derive(Debug, Clone)]
pub struct Planned {
    pub file: PushFile,
    /// The local file (absent for deletions).
    pub local: Option<(LocalFile, Hashes)>,
}

impl Planned {
    /// Content goes over the network (added or changed).
    pub fn sends(&self) -> bool {
        matches!(self.file.action, FileAction::Added | FileAction::Changed)
    }
}

/// Whether comparing `file` with `remote` needs its git blob sha1.
pub fn needs_sha1(file: &LocalFile, remote: Option<&TreeEntry>) -> bool {
    file.size <= REGULAR_MAX || remote.is_some_and(|r| r.lfs.is_none())
}

/// The same content on both sides.
pub fn same(hashes: &Hashes, size: u64, remote: &TreeEntry) -> bool {
    match &remote.lfs {
        Some(lfs) => lfs.size == size && lfs.oid.eq_ignore_ascii_case(&hashes.sha256),
        None => {
            remote.size == size
                && hashes
                    .git_sha1
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(&remote.oid))
        }
    }
}

/// The remote files by path.
pub fn remote_files(tree: &[TreeEntry]) -> BTreeMap<&str, &TreeEntry> {
    tree.iter()
        .filter(|e| e.is_file())
        .map(|e| (e.path.as_str(), e))
        .collect()
}

/// The plan, sorted by path. With `delete`, remote files that are not in
/// the folder and that `deletable` accepts are deleted (never
/// `.gitattributes`).
pub fn plan(
    local: Vec<(LocalFile, Hashes)>,
    tree: &[TreeEntry],
    delete: bool,
    deletable: impl Fn(&str) -> bool,
) -> Vec<Planned> {
    let remote = remote_files(tree);
    let mut out: Vec<Planned> = Vec::new();
    for (file, hashes) in local {
        let action = match remote.get(file.rel.as_str()) {
            None => FileAction::Added,
            Some(r) if same(&hashes, file.size, r) => FileAction::Unchanged,
            Some(_) => FileAction::Changed,
        };
        out.push(Planned {
            file: PushFile {
                path: file.rel.clone(),
                action,
                size: file.size,
                sha256: Some(hashes.sha256.clone()),
                mode: None,
            },
            local: Some((file, hashes)),
        });
    }
    if delete {
        for (path, entry) in &remote {
            if *path == ".gitattributes"
                || !deletable(path)
                || out.iter().any(|p| p.file.path == *path)
            {
                continue;
            }
            out.push(Planned {
                file: PushFile {
                    path: path.to_string(),
                    action: FileAction::Deleted,
                    size: entry.content_size(),
                    sha256: None,
                    mode: None,
                },
                local: None,
            });
        }
    }
    out.sort_by(|a, b| a.file.path.cmp(&b.file.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::client::Lfs;

    fn entry(path: &str, oid: &str, size: u64, lfs: Option<&str>) -> TreeEntry {
        TreeEntry {
            kind: "file".into(),
            path: path.into(),
            oid: oid.into(),
            size,
            lfs: lfs.map(|o| Lfs {
                oid: o.into(),
                size,
            }),
            xet_hash: None,
        }
    }

    fn local(rel: &str, size: u64, sha256: &str, sha1: &str) -> (LocalFile, Hashes) {
        (
            LocalFile {
                rel: rel.into(),
                path: rel.into(),
                size,
                mtime_ns: 0,
            },
            Hashes {
                sha256: sha256.into(),
                git_sha1: Some(sha1.into()),
            },
        )
    }

    #[test]
    fn lfs_by_sha256_regular_by_git_sha1() {
        let tree = vec![
            entry(".gitattributes", "g", 10, None),
            entry("model.safetensors", "ptr", 100, Some("s256")),
            entry("config.json", "c1", 5, None),
            entry("old.txt", "o", 3, None),
            entry("keep/notes.md", "n", 3, None),
        ];
        let plan = plan(
            vec![
                local("config.json", 5, "x", "c2"),
                local("model.safetensors", 100, "s256", "whatever"),
                local("new.json", 2, "y", "z"),
            ],
            &tree,
            true,
            |p| !p.starts_with("keep/"),
        );
        let got: Vec<(&str, FileAction)> = plan
            .iter()
            .map(|p| (p.file.path.as_str(), p.file.action))
            .collect();
        assert_eq!(
            got,
            [
                ("config.json", FileAction::Changed),
                ("model.safetensors", FileAction::Unchanged),
                ("new.json", FileAction::Added),
                ("old.txt", FileAction::Deleted),
            ]
        );
    }
}
