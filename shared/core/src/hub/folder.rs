//! Walking a folder someone else may have made: only regular files inside
//! it are taken.
//!
//! A folder handed to mlxk-push (or to `mlxk-pull --from`) can hold links
//! such as `notes.txt -> ~/.cache/huggingface/token`, `a -> .` loops, FIFOs
//! that block a reader forever. Every entry is looked at with
//! `symlink_metadata`:
//!
//! - regular files are taken, real folders walked;
//! - a symbolic link is skipped with [`Links::Skip`]; with
//!   [`Links::Inside`] it is resolved and taken only if its canonical target
//!   is a regular file inside the folder. A link to a folder is never walked:
//!   one outside is outside, and one inside (`a -> .` included, so no loop
//!   can form) would only give files already taken under their own paths;
//! - anything else (FIFO, socket, device) is skipped.
//!
//! What was skipped comes back with the reason, for the plan and the check.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::HubError;
use crate::ndjson::SkippedEntry;

/// What to do with symbolic links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Never follow one (mlxk-push's default).
    Skip,
    /// Follow those whose target lies inside the folder (`--follow-links`,
    /// and `mlxk-pull --from`).
    Inside,
}

/// A regular file found in the folder.
#[derive(Debug, Clone)]
pub struct Found {
    /// Path in the folder (`/`-separated), as the entry is named.
    pub rel: String,
    /// The file to read: the entry itself, or a link's canonical target.
    pub path: PathBuf,
    pub meta: Metadata,
}

/// The files of `root` (canonicalised here) and what was skipped. `leave`
/// names entries to leave out silently (by relative path; a folder left out
/// is not walked).
pub fn walk(
    root: &Path,
    links: Links,
    leave: &dyn Fn(&str) -> bool,
) -> Result<(Vec<Found>, Vec<SkippedEntry>), HubError> {
    let root = root.canonicalize().map_err(|e| HubError::io(root, e))?;
    let mut walker = Walker {
        root: root.clone(),
        links,
        leave,
        seen: HashSet::new(),
        found: Vec::new(),
        skipped: Vec::new(),
    };
    let meta = fs::metadata(&root).map_err(|e| HubError::io(&root, e))?;
    walker.seen.insert((meta.dev(), meta.ino()));
    walker.dir(&root, "")?;
    walker.found.sort_by(|a, b| a.rel.cmp(&b.rel));
    walker.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((walker.found, walker.skipped))
}

struct Walker<'a> {
    root: PathBuf,
    links: Links,
    leave: &'a dyn Fn(&str) -> bool,
    /// Folders walked (device, inode): a bind mount cannot make a loop.
    seen: HashSet<(u64, u64)>,
    found: Vec<Found>,
    skipped: Vec<SkippedEntry>,
}

impl Walker<'_> {
    fn dir(&mut self, dir: &Path, prefix: &str) -> Result<(), HubError> {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .map_err(|e| HubError::io(dir, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| HubError::io(dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                self.skip(
                    &format!("{prefix}{}", entry.file_name().to_string_lossy()),
                    "a name that is not UTF-8",
                );
                continue;
            };
            let rel = format!("{prefix}{name}");
            if (self.leave)(&rel) {
                continue;
            }
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| HubError::io(&path, e))?;
            if meta.file_type().is_symlink() {
                self.link(&path, &rel)?;
            } else if meta.is_dir() {
                if self.seen.insert((meta.dev(), meta.ino())) {
                    self.dir(&path, &format!("{rel}/"))?;
                }
            } else if meta.is_file() {
                self.found.push(Found { rel, path, meta });
            } else {
                self.skip(&rel, "not a regular file (a FIFO, socket or device)");
            }
        }
        Ok(())
    }

    fn link(&mut self, path: &Path, rel: &str) -> Result<(), HubError> {
        if self.links == Links::Skip {
            self.skip(
                rel,
                "a symbolic link, not followed (--follow-links follows links that stay inside the folder)",
            );
            return Ok(());
        }
        let Ok(target) = path.canonicalize() else {
            self.skip(rel, "a dangling symbolic link");
            return Ok(());
        };
        if !target.starts_with(&self.root) {
            self.skip(
                rel,
                &format!(
                    "a symbolic link to {} outside the folder, never followed",
                    target.display()
                ),
            );
            return Ok(());
        }
        let meta = fs::metadata(&target).map_err(|e| HubError::io(&target, e))?;
        if meta.is_dir() {
            self.skip(
                rel,
                "a symbolic link to a folder inside the folder, not walked (its files are taken under their own paths; a loop otherwise)",
            );
        } else if meta.is_file() {
            self.found.push(Found {
                rel: rel.to_string(),
                path: target,
                meta,
            });
        } else {
            self.skip(rel, "a link to something that is not a regular file");
        }
        Ok(())
    }

    fn skip(&mut self, rel: &str, reason: &str) {
        self.skipped.push(SkippedEntry {
            path: rel.to_string(),
            reason: reason.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn names(found: &[Found]) -> Vec<&str> {
        found.iter().map(|f| f.rel.as_str()).collect()
    }

    #[test]
    fn links_out_loops_and_fifos_are_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let secret = tmp.path().join("token");
        fs::write(&secret, b"hf_secret").unwrap();
        let dir = tmp.path().join("ws");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("config.json"), b"{}").unwrap();
        fs::write(dir.join("sub/a.txt"), b"a").unwrap();
        symlink(&secret, dir.join("notes.txt")).unwrap();
        symlink(".", dir.join("loop")).unwrap();
        symlink("..", dir.join("sub/up")).unwrap();
        symlink("config.json", dir.join("alias.json")).unwrap();
        symlink("sub", dir.join("also")).unwrap();
        let fifo = dir.join("pipe");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());

        let (found, skipped) = walk(&dir, Links::Skip, &|_| false).unwrap();
        assert_eq!(names(&found), ["config.json", "sub/a.txt"]);
        let skipped: Vec<&str> = skipped.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            skipped,
            ["alias.json", "also", "loop", "notes.txt", "pipe", "sub/up"]
        );

        let (found, skipped) = walk(&dir, Links::Inside, &|_| false).unwrap();
        assert_eq!(names(&found), ["alias.json", "config.json", "sub/a.txt"]);
        let why = |p: &str| {
            skipped
                .iter()
                .find(|s| s.path == p)
                .map(|s| s.reason.clone())
                .unwrap_or_default()
        };
        assert!(why("notes.txt").contains("outside the folder"));
        for p in ["loop", "sub/up", "also"] {
            assert!(why(p).contains("a folder inside the folder"), "{p}");
        }
        assert!(why("pipe").contains("not a regular file"));
        let alias = found.iter().find(|f| f.rel == "alias.json").unwrap();
        assert_eq!(alias.path, dir.canonicalize().unwrap().join("config.json"));
    }
}
