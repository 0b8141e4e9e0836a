//! The folder a push publishes: which files go, and whether it is whole.
//!
//! - Files are every regular file under the folder ([`super::folder`]: a
//!   symbolic link is skipped, or with `--follow-links` taken only when it
//!   leads to a file inside the folder; FIFOs and devices are skipped; what
//!   was skipped is listed), except `.git/` and `.cache/huggingface/` (where
//!   huggingface_hub and mlxk-push keep their state), those `.hfignore`
//!   names, and those the `--include` / `--exclude` globs leave out.
//! - A skipped link named like a weight or a config (which the health rules
//!   would have read through the link) makes the folder unhealthy: what is
//!   pushed must be what was judged.
//! - `.hfignore` holds one glob a line (`#` comments): a pattern without `/`
//!   matches a name at any depth, a trailing `/` means a whole folder, a
//!   leading `/` anchors at the top.
//! - A folder inside the Hugging Face cache is refused: snapshots are
//!   symlink farms that belong to the cache, not workspaces.
//! - Health: the shared rules ([`crate::health`], as mlxk-list judges a
//!   workspace) plus zero-byte files and leftovers of interrupted writes.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::filter::Filter;
use super::folder::{self, Links};
use super::HubError;
use crate::cache::SnapshotFile;
use crate::model::{describe_files, Detail};
use crate::ndjson::{Health, SkippedEntry};

/// Paths never pushed: VCS and client state.
const ALWAYS_IGNORED: &[&str] = &[".git/**", ".git", ".cache/huggingface/**", "**/.git/**"];

/// One local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Path in the repository (`/`-separated).
    pub rel: String,
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (the hash cache key).
    pub mtime_ns: u64,
}

/// The files of a workspace and its verdict.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub dir: PathBuf,
    pub files: Vec<LocalFile>,
    pub health: Health,
    /// The problems, `; `-joined; absent when healthy.
    pub reason: Option<String>,
    /// Entries not taken (links, FIFOs, devices), with the reason.
    pub skipped: Vec<SkippedEntry>,
}

/// Scans `dir` (which must exist and lie outside `cache_root`) and judges it.
pub fn scan(
    dir: &Path,
    cache_root: &Path,
    filter: &Filter,
    links: Links,
) -> Result<Workspace, HubError> {
    let meta = fs::metadata(dir).map_err(|e| HubError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(HubError::Invalid(format!(
            "{} is not a folder",
            dir.display()
        )));
    }
    let dir = dir.canonicalize().map_err(|e| HubError::io(dir, e))?;
    if inside_cache(&dir, cache_root) {
        return Err(HubError::Invalid(format!(
            "{} is inside the Hugging Face cache; the cache is not a workspace (copy the model out first, e.g. cp -rL)",
            dir.display()
        )));
    }
    let ignore = hfignore(&dir)?;
    let always = build(ALWAYS_IGNORED.iter().map(|s| s.to_string()))?;
    let state = |rel: &str| rel == ".git" || always.is_match(rel);
    let (found, mut skipped) = folder::walk(&dir, links, &state)?;
    let pushed =
        |rel: &str| !ignore.as_ref().is_some_and(|g| g.is_match(rel)) && filter.matches(rel);
    skipped.retain(|s| pushed(&s.path));
    // The health rules judge the folder's files as they will be read: links
    // not followed are not there (hidden folders are left out, as for any folder).
    let judged: Vec<SnapshotFile> = found
        .iter()
        .filter(|f| !f.rel.split('/').rev().skip(1).any(|d| d.starts_with('.')))
        .map(|f| SnapshotFile {
            rel: f.rel.clone(),
            path: f.path.clone(),
            blob: None,
            size: Some(f.meta.len()),
            modified: f.meta.modified().ok(),
        })
        .collect();
    let mut files: Vec<LocalFile> = found
        .into_iter()
        .filter(|f| pushed(&f.rel))
        .map(|f| LocalFile {
            mtime_ns: f
                .meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as u64),
            size: f.meta.len(),
            rel: f.rel,
            path: f.path,
        })
        .collect();
    files.sort_by(|a, b| a.rel.cmp(&b.rel));

    let mut problems = Vec::new();
    let model = describe_files(&dir, judged, Detail::default());
    if model.health == Health::Unhealthy {
        problems.extend(model.reason.clone());
    }
    let empty: Vec<&str> = files
        .iter()
        .filter(|f| f.size == 0)
        .map(|f| f.rel.as_str())
        .collect();
    if !empty.is_empty() {
        problems.push(format!("zero-byte files: {}", empty.join(", ")));
    }
    let leftovers: Vec<&str> = files
        .iter()
        .map(|f| f.rel.as_str())
        .filter(|rel| {
            let base = rel.rsplit('/').next().unwrap_or(rel);
            base.ends_with(".incomplete") || base.ends_with(".tmp") || base.ends_with(".part")
        })
        .filter(|rel| !model.reason.as_deref().unwrap_or("").contains(rel))
        .collect();
    if !leftovers.is_empty() {
        problems.push(format!(
            "leftovers of interrupted writes: {}",
            leftovers.join(", ")
        ));
    }
    let judged: Vec<&str> = skipped
        .iter()
        .map(|s| s.path.as_str())
        .filter(|p| judged_by_health(p))
        .collect();
    if !judged.is_empty() {
        problems.push(format!(
            "model files that would not be pushed (links not followed): {}; copy them into the folder, or --follow-links for links inside it",
            judged.join(", ")
        ));
    }
    if files.is_empty() {
        problems.push("no file to push (check .hfignore, --include and --exclude)".into());
    }
    Ok(Workspace {
        dir,
        files,
        health: if problems.is_empty() {
            Health::Healthy
        } else {
            Health::Unhealthy
        },
        reason: (!problems.is_empty()).then(|| problems.join("; ")),
        skipped,
    })
}

/// Files the health rules read: weights, configs, indexes, tokenizers.
fn judged_by_health(rel: &str) -> bool {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    [".safetensors", ".gguf", ".bin", ".npz", ".json", ".model"]
        .iter()
        .any(|ext| base.ends_with(ext))
}

/// Whether `dir` (canonical) lies in the hub cache at `cache_root`, or in
/// any `models--org--name` folder of a cache.
pub fn inside_cache(dir: &Path, cache_root: &Path) -> bool {
    if let Ok(root) = cache_root.canonicalize() {
        if dir.starts_with(&root) {
            return true;
        }
    }
    let parts: Vec<String> = dir
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.windows(2).any(|w| {
        ["models--", "datasets--", "spaces--"]
            .iter()
            .any(|p| w[0].starts_with(p))
            && matches!(w[1].as_str(), "snapshots" | "blobs" | "refs")
    })
}

/// `.hfignore` as a glob set, or `None` when there is none.
fn hfignore(dir: &Path) -> Result<Option<GlobSet>, HubError> {
    let path = dir.join(".hfignore");
    // Read only when it is a file of the folder itself, not through a link.
    if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(None);
    };
    let patterns = parse_hfignore(&text);
    if patterns.is_empty() {
        return Ok(None);
    }
    build(patterns.into_iter()).map(Some)
}

/// gitignore-style lines → globs over whole relative paths.
pub fn parse_hfignore(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (anchored, rest) = match line.strip_prefix('/') {
            Some(r) => (true, r),
            None => (line.trim_end_matches('/').contains('/'), line),
        };
        let base = rest.trim_end_matches('/');
        let prefix = if anchored { "" } else { "**/" };
        out.push(format!("{prefix}{base}"));
        out.push(format!("{prefix}{base}/**"));
    }
    out
}

fn build(patterns: impl Iterator<Item = String>) -> Result<GlobSet, HubError> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(&p)
            .literal_separator(true)
            .build()
            .map_err(|e| HubError::Invalid(format!("bad pattern {p:?}: {e}")))?;
        set.add(glob);
    }
    set.build()
        .map_err(|e| HubError::Invalid(format!("bad patterns: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hfignore_patterns_follow_gitignore() {
        let set =
            build(parse_hfignore("# notes\n*.log\n/draft/\nrun/tmp\n\n").into_iter()).unwrap();
        for yes in ["a.log", "x/y/a.log", "draft/w.bin", "run/tmp", "run/tmp/x"] {
            assert!(set.is_match(yes), "{yes}");
        }
        for no in ["a.log.txt", "x/draft/w.bin", "config.json", "x/run/tmp"] {
            assert!(!set.is_match(no), "{no}");
        }
    }

    #[test]
    fn snapshots_are_not_workspaces() {
        let nowhere = Path::new("/nonexistent-cache");
        assert!(inside_cache(
            Path::new("/home/u/.cache/huggingface/hub/models--a--b/snapshots/abc"),
            nowhere
        ));
        assert!(!inside_cache(Path::new("/home/u/models/b"), nowhere));
    }
}
