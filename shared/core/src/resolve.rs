//! Model names as users type them: `org/name`, a unique substring,
//! `name@revision` (a ref or a commit-hash prefix), or a directory path.

use std::path::{Path, PathBuf};

use crate::cache::{Cache, Repo};
use crate::error::{Error, Result};

/// What a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Cached {
        repo: Repo,
        revision: Option<String>,
    },
    /// A model directory outside the cache.
    Workspace(PathBuf),
}

/// Resolves `spec` against `cache`. Exact names win over substrings; an
/// ambiguous substring is an error listing the candidates.
pub fn resolve(cache: &Cache, spec: &str) -> Result<Target> {
    if spec.trim().is_empty() {
        return Err(Error::Validation("empty model name".into()));
    }
    if looks_like_path(spec) {
        let dir = Path::new(spec);
        return if dir.is_dir() {
            Ok(Target::Workspace(dir.to_path_buf()))
        } else {
            Err(Error::ModelNotFound(spec.to_string()))
        };
    }
    let (name, revision) = match spec.rsplit_once('@') {
        Some((n, r)) if !n.is_empty() && !r.is_empty() => (n, Some(r.to_string())),
        _ => (spec, None),
    };
    let repos = cache.repos()?;
    let pick = |repo: &Repo| Target::Cached {
        repo: repo.clone(),
        revision: revision.clone(),
    };
    if let Some(repo) = repos.iter().find(|r| r.name == name) {
        return Ok(pick(repo));
    }
    let lowered = name.to_lowercase();
    let exact: Vec<&Repo> = repos
        .iter()
        .filter(|r| {
            let full = r.name.to_lowercase();
            full == lowered || full.rsplit('/').next() == Some(lowered.as_str())
        })
        .collect();
    let candidates = if exact.is_empty() {
        repos
            .iter()
            .filter(|r| r.name.to_lowercase().contains(&lowered))
            .collect()
    } else {
        exact
    };
    match candidates.as_slice() {
        [one] => Ok(pick(one)),
        [] if Path::new(spec).is_dir() => Ok(Target::Workspace(PathBuf::from(spec))),
        [] => Err(Error::ModelNotFound(spec.to_string())),
        many => Err(Error::AmbiguousMatch {
            pattern: spec.to_string(),
            candidates: many.iter().map(|r| r.name.clone()).collect(),
        }),
    }
}

fn looks_like_path(spec: &str) -> bool {
    spec.starts_with('/')
        || spec.starts_with("./")
        || spec.starts_with("../")
        || spec == "."
        || spec.starts_with('~')
}
