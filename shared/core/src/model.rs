//! Builds the `model` object for one cached repository or workspace
//! directory: detection, health and runtime compatibility together.

use std::path::Path;
use std::time::SystemTime;

use crate::cache::{self, Cache, Choice, Repo, SnapshotFile};
use crate::detect::detect;
use crate::error::{Error, Result};
use crate::evidence::Evidence;
use crate::health;
use crate::ndjson::{FileEntry, Framework, Health, Model, ModelType};
use crate::resolve::{resolve, Target};

/// What to include beyond the usual fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Detail {
    pub files: bool,
    pub config: bool,
}

/// Describes a cached repository, choosing its snapshot through
/// `revision` or `refs/main`.
pub fn describe_repo(repo: &Repo, revision: Option<&str>, detail: Detail) -> Model {
    match repo.choose(revision) {
        Choice::Found(snapshot) => {
            let files = snapshot.files().unwrap_or_default();
            let mut model = describe(
                &repo.name,
                &snapshot.path,
                files,
                Some((repo, &snapshot.commit)),
                detail,
            );
            model.hash = Some(snapshot.commit.clone());
            model.revision = snapshot.revision.clone();
            model
        }
        Choice::Missing(reason) => unhealthy_without_snapshot(repo, reason),
        Choice::UnknownRevision(rev) => {
            unhealthy_without_snapshot(repo, format!("no snapshot for revision '{rev}'"))
        }
    }
}

/// Describes a model directory outside the cache (a workspace).
pub fn describe_dir(dir: &Path, detail: Detail) -> Result<Model> {
    let files = cache::list_dir(dir)?;
    let name = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string();
    let mut model = describe(&name, dir, files, None, detail);
    model.cached = false;
    Ok(model)
}

/// Describes a folder from a list of its files (what mlxk-push will send,
/// links it does not follow left out), judged as [`describe_dir`] judges a
/// whole folder.
pub fn describe_files(dir: &Path, files: Vec<cache::SnapshotFile>, detail: Detail) -> Model {
    let name = dir.display().to_string();
    let mut model = describe(&name, dir, files, None, detail);
    model.cached = false;
    model
}

/// Resolves `spec` (as users type it) and describes what it names. A
/// revision the cache has never seen is [`Error::RevisionNotFound`], not an
/// unhealthy model: there is nothing to repair.
pub fn inspect(cache: &Cache, spec: &str, detail: Detail) -> Result<Model> {
    match resolve(cache, spec)? {
        Target::Cached { repo, revision } => {
            if let (Some(rev), Choice::UnknownRevision(_)) =
                (revision.as_deref(), repo.choose(revision.as_deref()))
            {
                return Err(Error::RevisionNotFound {
                    name: repo.name,
                    revision: rev.to_string(),
                });
            }
            Ok(describe_repo(&repo, revision.as_deref(), detail))
        }
        Target::Workspace(dir) => describe_dir(&dir, detail),
    }
}

/// Describes `name` exactly (no pattern matching), as after a pull.
pub fn inspect_repo(cache: &Cache, name: &str, revision: Option<&str>) -> Model {
    describe_repo(&cache.repo(name), revision, Detail::default())
}

/// Every healthy model of the cache that `wanted` accepts (how a tool picks
/// its default: mlxk-audio the one Whisper model, mlxk-vision the one vision
/// model).
pub fn healthy_where(cache: &Cache, wanted: impl Fn(&Model) -> bool) -> Result<Vec<Model>> {
    Ok(cache
        .repos()?
        .iter()
        .map(|r| inspect_repo(cache, &r.name, None))
        .filter(|m| m.health == Health::Healthy && wanted(m))
        .collect())
}

fn describe(
    name: &str,
    dir: &Path,
    files: Vec<SnapshotFile>,
    repo: Option<(&Repo, &str)>,
    detail: Detail,
) -> Model {
    let ev = Evidence::gather(name, files);
    let found = detect(&ev);
    let vision = found.capabilities.iter().any(|c| c == "vision");
    let problems = health::check(&ev, vision, repo);
    let runtime = health::runtime_problem(&ev, found.framework);
    let health = if problems.is_empty() {
        Health::Healthy
    } else {
        Health::Unhealthy
    };
    let reason = if problems.is_empty() {
        runtime.clone()
    } else {
        Some(problems.join("; "))
    };
    Model {
        name: name.to_string(),
        hash: None,
        size_bytes: cache::unique_size(&ev.files),
        last_modified: last_modified(dir, &ev.files),
        framework: found.framework,
        model_type: found.model_type,
        capabilities: found.capabilities,
        health,
        reason,
        runtime_compatible: problems.is_empty() && runtime.is_none(),
        runtime_reason: runtime,
        quantization: found.quantization,
        context_length: found.context_length,
        architecture: found.architecture,
        revision: None,
        path: dir.display().to_string(),
        cached: true,
        files: detail.files.then(|| {
            ev.files
                .iter()
                .map(|f| FileEntry {
                    path: f.rel.clone(),
                    size_bytes: f.size.unwrap_or(0),
                    blob: f.blob.clone(),
                })
                .collect()
        }),
        config: detail
            .config
            .then(|| ev.config.object().cloned().map(serde_json::Value::Object))
            .flatten(),
    }
}

fn unhealthy_without_snapshot(repo: &Repo, reason: String) -> Model {
    let mut problems = vec![reason];
    let incomplete = repo.incomplete_blobs();
    if !incomplete.is_empty() {
        problems.push(format!(
            "{} interrupted download(s) in blobs/ — run mlxk-pull {} to resume",
            incomplete.len(),
            repo.name
        ));
    }
    Model {
        name: repo.name.clone(),
        hash: None,
        size_bytes: 0,
        last_modified: modified(&repo.path).map(rfc3339),
        framework: Framework::Unknown,
        model_type: ModelType::Base,
        capabilities: Vec::new(),
        health: Health::Unhealthy,
        reason: Some(problems.join("; ")),
        runtime_compatible: false,
        runtime_reason: None,
        quantization: None,
        context_length: None,
        architecture: None,
        revision: None,
        path: repo.path.display().to_string(),
        cached: true,
        files: None,
        config: None,
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
}

/// Newest modification among the directory and the files it holds (for a
/// snapshot: the blobs, i.e. when each file was downloaded), UTC.
fn last_modified(dir: &Path, files: &[SnapshotFile]) -> Option<String> {
    std::iter::once(modified(dir))
        .chain(files.iter().map(|f| f.modified))
        .flatten()
        .max()
        .map(rfc3339)
}

/// RFC 3339 in UTC with a `Z`, to the second.
pub fn rfc3339(t: SystemTime) -> String {
    let t: time::OffsetDateTime = t.into();
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
