//! The Hugging Face hub cache on disk.
//!
//! ```text
//! $HF_HUB_CACHE/models--{org}--{name}/
//!     blobs/{etag}                  file contents (sha256 for LFS files, git sha1 otherwise)
//!     blobs/{etag}.incomplete       a download in progress or interrupted
//!     snapshots/{commit}/{path}     relative symlinks into blobs/
//!     refs/{branch}                 the commit a branch pointed at when pulled
//!     trees/{commit}.json           (recent huggingface_hub) sizes and hashes per file
//! ```
//!
//! A snapshot is chosen through `refs/main` (or the revision asked for), never
//! by modification time.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The root of a hub cache (the directory holding `models--*`).
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Resolves the cache as huggingface_hub does: `HF_HUB_CACHE`, else
    /// `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, where `HF_HOME` defaults
    /// to `$XDG_CACHE_HOME/huggingface`, then `~/.cache/huggingface`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let root = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(|p| expand_home(Path::new(&p)))
            .unwrap_or_else(|| {
                let home = var("HF_HOME")
                    .map(|p| expand_home(Path::new(&p)))
                    .unwrap_or_else(|| {
                        let xdg = var("XDG_CACHE_HOME")
                            .map(PathBuf::from)
                            .unwrap_or_else(|| home_dir().join(".cache"));
                        xdg.join("huggingface")
                    });
                home.join("hub")
            });
        Cache { root }
    }

    /// A cache at an explicit directory.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    /// The directory a tool's `--cache-dir` names, else the environment's cache.
    pub fn given_or_env(dir: Option<&std::path::Path>) -> Self {
        dir.map_or_else(Cache::from_env, Cache::at)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Fails with a clear error when the cache directory does not exist.
    pub fn ensure_exists(&self) -> Result<()> {
        match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Error::Validation(format!(
                "{} is not a directory",
                self.root.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::CacheMissing(self.root.clone()))
            }
            Err(e) => Err(Error::io(&self.root, e)),
        }
    }

    /// Every model repository in the cache, sorted by name.
    pub fn repos(&self) -> Result<Vec<Repo>> {
        self.ensure_exists()?;
        let entries = fs::read_dir(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let mut repos: Vec<Repo> = entries
            .flatten()
            .filter_map(|entry| {
                let dir = entry.file_name();
                let name = repo_name_from_dir(dir.to_str()?)?;
                Some(Repo {
                    name,
                    path: entry.path(),
                })
            })
            .collect();
        repos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(repos)
    }

    /// The repository directory a name would live in (it may not exist).
    pub fn repo(&self, name: &str) -> Repo {
        Repo {
            name: name.to_string(),
            path: self.root.join(repo_dir_name(name)),
        }
    }
}

/// `org/name` → `models--org--name`.
pub fn repo_dir_name(name: &str) -> String {
    format!("models--{}", name.replace('/', "--"))
}

/// `models--org--name` → `org/name`; `None` for anything that is not a model repo.
pub fn repo_name_from_dir(dir: &str) -> Option<String> {
    let rest = dir.strip_prefix("models--")?;
    if rest.is_empty() {
        return None;
    }
    Some(match rest.split_once("--") {
        Some((org, name)) => format!("{org}/{name}"),
        None => rest.to_string(),
    })
}

/// One `models--org--name` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub name: String,
    pub path: PathBuf,
}

/// How a snapshot was chosen, or why none could be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Found(Snapshot),
    /// No snapshot fits; the reason is for people.
    Missing(String),
    /// The revision asked for names no ref and no snapshot of this repository
    /// (not a broken download: a name the cache has never seen).
    UnknownRevision(String),
}

/// One `snapshots/{commit}` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub commit: String,
    /// The ref it was chosen through (`main`), if any.
    pub revision: Option<String>,
    pub path: PathBuf,
}

impl Repo {
    pub fn blobs_dir(&self) -> PathBuf {
        self.path.join("blobs")
    }

    pub fn snapshots_dir(&self) -> PathBuf {
        self.path.join("snapshots")
    }

    /// The commit a ref names (`refs/main`), trimmed; `None` if absent.
    pub fn read_ref(&self, name: &str) -> Option<String> {
        if !is_safe_relative(name) {
            return None;
        }
        let text = fs::read_to_string(self.path.join("refs").join(name)).ok()?;
        let commit = text.trim();
        (!commit.is_empty()).then(|| commit.to_string())
    }

    /// Commit hashes that have a snapshot directory, sorted.
    pub fn snapshot_commits(&self) -> Vec<String> {
        let mut commits: Vec<String> = fs::read_dir(self.snapshots_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        commits.sort();
        commits
    }

    /// Chooses the snapshot for `revision` (a ref name or a commit-hash
    /// prefix), or for `refs/main` when none is asked for. With no ref and a
    /// single snapshot, that snapshot is the only honest choice.
    pub fn choose(&self, revision: Option<&str>) -> Choice {
        let commits = self.snapshot_commits();
        let snapshot = |commit: &str, revision: Option<&str>| Snapshot {
            commit: commit.to_string(),
            revision: revision.map(str::to_string),
            path: self.snapshots_dir().join(commit),
        };
        if let Some(rev) = revision {
            if let Some(commit) = self.read_ref(rev) {
                return if commits.contains(&commit) {
                    Choice::Found(snapshot(&commit, Some(rev)))
                } else {
                    Choice::Missing(format!(
                        "refs/{rev} names commit {commit}, which has no snapshot (interrupted download?)"
                    ))
                };
            }
            let lowered = rev.to_ascii_lowercase();
            let matches: Vec<&String> =
                commits.iter().filter(|c| c.starts_with(&lowered)).collect();
            return match matches.as_slice() {
                [one] => Choice::Found(snapshot(one, None)),
                [] => Choice::UnknownRevision(rev.to_string()),
                many => Choice::Missing(format!(
                    "revision '{rev}' matches {} snapshots; give more of the hash",
                    many.len()
                )),
            };
        }
        match self.read_ref("main") {
            Some(commit) if commits.contains(&commit) => {
                Choice::Found(snapshot(&commit, Some("main")))
            }
            Some(commit) => Choice::Missing(format!(
                "refs/main names commit {commit}, which has no snapshot (interrupted download?)"
            )),
            None => match commits.as_slice() {
                [one] => Choice::Found(snapshot(one, None)),
                [] => Choice::Missing("no snapshot downloaded".into()),
                many => Choice::Missing(format!(
                    "no refs/main and {} snapshots; choose one with NAME@HASH",
                    many.len()
                )),
            },
        }
    }

    /// Leftover `blobs/*.incomplete` files: interrupted or running downloads.
    pub fn incomplete_blobs(&self) -> Vec<(String, u64)> {
        let mut found: Vec<(String, u64)> = fs::read_dir(self.blobs_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.ends_with(".incomplete")
                    .then(|| (name, e.metadata().map(|m| m.len()).unwrap_or(0)))
            })
            .collect();
        found.sort();
        found
    }

    /// `trees/{commit}.json`, if huggingface_hub wrote one.
    pub fn tree_file(&self, commit: &str) -> PathBuf {
        self.path.join("trees").join(format!("{commit}.json"))
    }
}

/// One entry of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// Path inside the snapshot, with `/` separators.
    pub rel: String,
    /// Full path of the entry (the symlink, or the file itself).
    pub path: PathBuf,
    /// The blob a symlink points at (its file name), if it is a link.
    pub blob: Option<String>,
    /// Size of the target; `None` when the link dangles or cannot be read.
    pub size: Option<u64>,
    /// When the target (the blob) was last written.
    pub modified: Option<std::time::SystemTime>,
}

impl Snapshot {
    /// All files of the snapshot, recursively, sorted by path.
    pub fn files(&self) -> Result<Vec<SnapshotFile>> {
        let mut out = Vec::new();
        walk(&self.path, "", &mut out)?;
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }
}

/// Lists a plain directory (a workspace) the same way as a snapshot.
pub fn list_dir(dir: &Path) -> Result<Vec<SnapshotFile>> {
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<SnapshotFile>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            if !name.starts_with('.') {
                walk(&path, &rel, out)?;
            }
            continue;
        }
        let blob = if kind.is_symlink() {
            fs::read_link(&path)
                .ok()
                .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
        } else {
            None
        };
        let target = fs::metadata(&path).ok().filter(|m| m.is_file());
        out.push(SnapshotFile {
            rel,
            path,
            blob,
            size: target.as_ref().map(|m| m.len()),
            modified: target.and_then(|m| m.modified().ok()),
        });
    }
    Ok(())
}

/// Bytes on disk for these files, each blob counted once.
pub fn unique_size(files: &[SnapshotFile]) -> u64 {
    let mut seen = std::collections::HashSet::new();
    files
        .iter()
        .filter(|f| f.blob.as_ref().map_or(true, |b| seen.insert(b.clone())))
        .filter_map(|f| f.size)
        .sum()
}

/// A relative path with no `..`, no root and no empty parts: safe to join
/// under a directory. Names that come from the network must pass this.
pub fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn expand_home(path: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => home_dir().join(rest),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_dir_names_round_trip() {
        assert_eq!(
            repo_dir_name("mlx-community/Qwen3-4B"),
            "models--mlx-community--Qwen3-4B"
        );
        assert_eq!(
            repo_name_from_dir("models--mlx-community--Qwen3-4B").as_deref(),
            Some("mlx-community/Qwen3-4B")
        );
        assert_eq!(repo_name_from_dir("models--gpt2").as_deref(), Some("gpt2"));
        assert_eq!(repo_name_from_dir("datasets--a--b"), None);
        assert_eq!(repo_name_from_dir("models--"), None);
    }

    #[test]
    fn safe_relative_paths() {
        assert!(is_safe_relative("model.safetensors"));
        assert!(is_safe_relative("sub/dir/file.json"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
        ] {
            assert!(!is_safe_relative(bad), "{bad}");
        }
    }
}
