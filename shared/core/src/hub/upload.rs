//! One push, from the workspace check to the commit.
//!
//! 1. Before any network: the name is `ORG/NAME`, the folder exists and is
//!    not in the cache, a token is there (not needed for `--check-only` or
//!    `--dry-run`), `--create` says `--private` or `--public`, and
//!    `HF_HUB_OFFLINE` is not set (unless `--check-only`).
//! 2. The workspace's health ([`super::workspace`]); an unhealthy folder
//!    sends nothing unless `--force`. `--check-only` stops here.
//! 3. The repository (created with `--create`), the branch (created from the
//!    default branch when missing), the remote tree at the branch's head.
//! 4. The plan ([`super::plan`]) from hashes kept beside the workspace
//!    ([`super::hash_cache`]). `--dry-run` stops here; no difference means
//!    `no_changes`, and no commit.
//! 5. Preupload (LFS or regular, per the server), the LFS batch and the
//!    transfers of objects the server lacks ([`super::lfs`]), then one commit
//!    with `parentCommit` = the head the plan was made against
//!    ([`super::commit`]).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};

use super::client::HubClient;
use super::commit::{self, Op, Sample, PREUPLOAD_BATCH};
use super::filter::Filter;
use super::folder::Links;
use super::hash_cache::HashCache;
use super::lfs::{self, Object, BATCH_MAX};
use super::plan::{self, needs_sha1, Planned};
use super::progress::Reporter;
use super::pull::valid_repo_id;
use super::retry::retry;
use super::workspace;
use super::HubError;
use crate::cache::is_safe_relative;
use crate::ndjson::{DownloadStatus, FileAction, Health, PushResult, PushStatus};

/// What to push where.
#[derive(Debug, Clone)]
pub struct Request {
    pub dir: PathBuf,
    /// `org/name`.
    pub repo: String,
    pub branch: String,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Create the repository when it does not exist.
    pub create: bool,
    /// `--private` (true) or `--public` (false); required with `create`.
    pub private: Option<bool>,
    pub message: Option<String>,
    pub check_only: bool,
    pub dry_run: bool,
    /// Delete remote files that are not in the folder.
    pub delete: bool,
    /// Push an unhealthy workspace anyway.
    pub force: bool,
    pub filter: Filter,
    /// LFS objects uploaded at once.
    pub jobs: usize,
    /// Follow symbolic links that lead to files inside the folder.
    pub follow_links: bool,
}

/// `ORG/NAME`, exactly (a push needs the namespace).
pub fn validate_repo(name: &str) -> Result<(), HubError> {
    if name.matches('/').count() == 1 && valid_repo_id(name) {
        Ok(())
    } else {
        Err(HubError::Invalid(format!(
            "'{name}' is not a repository name (ORG/NAME)"
        )))
    }
}

/// Runs one push. `Err` is a problem found before anything was sent (a
/// usage error); every later failure is in the result's `status`/`reason`.
pub async fn push(
    client: &HubClient,
    cache_root: &Path,
    req: &Request,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<PushResult, HubError> {
    let started = Instant::now();
    validate_repo(&req.repo)?;
    if !is_safe_relative(&req.branch) {
        return Err(HubError::Invalid(format!(
            "'{}' is not a branch",
            req.branch
        )));
    }
    if client.config().offline && !opts.check_only {
        return Err(HubError::Offline(
            "HF_HUB_OFFLINE is set and a push needs the network".into(),
        ));
    }
    let writes = !opts.check_only && !opts.dry_run;
    if writes && client.config().token().is_none() {
        return Err(HubError::Invalid(
            "no Hugging Face token (set HF_TOKEN, or log in with `hf auth login`)".into(),
        ));
    }
    if opts.create && opts.private.is_none() && !opts.check_only {
        return Err(HubError::Invalid(
            "--create needs --private (or --public to publish it for everyone)".into(),
        ));
    }
    let links = if opts.follow_links {
        Links::Inside
    } else {
        Links::Skip
    };
    let ws = workspace::scan(&req.dir, cache_root, &opts.filter, links)?;
    let mut result = PushResult {
        repo: req.repo.clone(),
        path: ws.dir.display().to_string(),
        branch: req.branch.clone(),
        status: PushStatus::Checked,
        commit: None,
        commit_url: None,
        created: false,
        health: ws.health,
        reason: ws.reason.clone(),
        added: 0,
        changed: 0,
        deleted: 0,
        unchanged: 0,
        uploaded_files: 0,
        uploaded_bytes: 0,
        seconds: 0.0,
        files: Vec::new(),
        skipped: ws.skipped.clone(),
    };
    if ws.health == Health::Unhealthy && !opts.force {
        result.status = PushStatus::Unhealthy;
    } else if !opts.check_only {
        let pushed = client
            .bounded(online(client, req, opts, &ws, reporter, &mut result))
            .await;
        if let Err(e) = pushed {
            result.status = match e.status() {
                DownloadStatus::AccessDenied => PushStatus::AccessDenied,
                DownloadStatus::NotFound => PushStatus::NotFound,
                _ => PushStatus::Failed,
            };
            result.reason = Some(e.to_string());
        }
    }
    result.seconds = started.elapsed().as_secs_f64();
    Ok(result)
}

async fn online(
    client: &HubClient,
    req: &Request,
    opts: &Options,
    ws: &workspace::Workspace,
    reporter: &dyn Reporter,
    result: &mut PushResult,
) -> Result<(), HubError> {
    let repo = req.repo.as_str();
    let branch = req.branch.as_str();
    let policy = client.config().backoff;
    let note = |n: u32, e: &HubError, pause: Duration| {
        reporter.note(
            repo,
            &format!(
                "{e}; retry {n}/{} in {:.0}s",
                policy.retries,
                pause.as_secs_f64()
            ),
        )
    };

    // The repository, then the branch.
    let exists = match retry(&policy, |_| client.repo_info(repo, "main"), note).await {
        Ok(_) => true,
        Err(HubError::NotFound { .. }) => false,
        Err(e) => return Err(e),
    };
    if !exists {
        if !opts.create {
            return Err(HubError::NotFound {
                what: format!("{repo} (add --create --private to create it)"),
            });
        }
        result.created = true;
        if !opts.dry_run {
            let private = opts.private.unwrap_or(true);
            result.created = retry(
                &policy,
                |_| commit::create_repo(client, repo, private),
                note,
            )
            .await?;
        }
    }
    let mut head = None;
    if exists || !opts.dry_run {
        head = match retry(&policy, |_| client.repo_info(repo, branch), note).await {
            Ok(info) => info.sha,
            Err(HubError::NotFound { .. }) if branch != "main" => {
                if opts.dry_run {
                    None
                } else {
                    commit::create_branch(client, repo, branch, None).await?;
                    retry(&policy, |_| client.repo_info(repo, branch), note)
                        .await?
                        .sha
                }
            }
            Err(e) => return Err(e),
        };
        if head.is_none() && !opts.dry_run {
            return Err(HubError::Protocol(format!(
                "{repo}@{branch}: no commit hash in the repo info"
            )));
        }
    }
    let tree = match &head {
        Some(c) => retry(&policy, |_| client.tree(repo, c), note).await?,
        None => Vec::new(),
    };

    // The plan, from hashes kept beside the workspace.
    let remote = plan::remote_files(&tree);
    let mut cache = HashCache::load(&ws.dir);
    let mut local = Vec::with_capacity(ws.files.len());
    for f in &ws.files {
        let want = needs_sha1(f, remote.get(f.rel.as_str()).copied());
        local.push((f.clone(), cache.hashes(f, want).await?));
    }
    if let Err(e) = cache.save(&ws.files) {
        reporter.note(
            repo,
            &format!("cannot keep the hashes in the workspace: {e}"),
        );
    }
    let mut planned = plan::plan(local, &tree, opts.delete, |p| opts.filter.matches(p));
    count(&planned, result);
    result.commit = head.clone();
    if opts.dry_run {
        result.status = PushStatus::DryRun;
        result.files = planned.into_iter().map(|p| p.file).collect();
        return Ok(());
    }
    if result.added + result.changed + result.deleted == 0 {
        result.status = PushStatus::NoChanges;
        result.files = planned.into_iter().map(|p| p.file).collect();
        return Ok(());
    }

    // Upload modes, as the server decides them.
    let samples: Vec<Sample> = planned
        .iter()
        .filter(|p| p.sends())
        .map(|p| {
            let (f, _) = p.local.as_ref().expect("sent files are local");
            Ok(Sample {
                path: f.rel.clone(),
                sample: read_prefix(&f.path, 512)?,
                size: f.size,
            })
        })
        .collect::<Result<_, HubError>>()?;
    let mut modes = BTreeMap::new();
    for chunk in samples.chunks(PREUPLOAD_BATCH) {
        for m in retry(
            &policy,
            |_| commit::preupload(client, repo, branch, chunk),
            note,
        )
        .await?
        {
            modes.insert(m.path.clone(), m);
        }
    }
    for p in planned.iter_mut().filter(|p| p.sends()) {
        let lfs = modes.get(&p.file.path).is_some_and(|m| m.lfs);
        p.file.mode = Some(if lfs { "lfs" } else { "regular" }.into());
    }

    // LFS objects the server lacks.
    let sent = Cell::new(0u64);
    let uploaded =
        upload_objects(client, repo, branch, &planned, opts.jobs, reporter, &sent).await?;

    // The commit.
    let mut ops = Vec::new();
    let mut inline_bytes = 0u64;
    let mut inline_files = 0u64;
    for p in &planned {
        if modes.get(&p.file.path).is_some_and(|m| m.ignored) {
            continue;
        }
        match (p.file.action, &p.local) {
            (FileAction::Deleted, _) => ops.push(Op::Delete {
                path: p.file.path.clone(),
            }),
            (FileAction::Added | FileAction::Changed, Some((f, h))) => {
                if p.file.mode.as_deref() == Some("lfs") {
                    ops.push(Op::Lfs {
                        path: f.rel.clone(),
                        sha256: h.sha256.clone(),
                        size: f.size,
                    });
                } else {
                    let content = read_all(&f.path)?;
                    if content.len() as u64 != f.size {
                        return Err(HubError::Invalid(format!(
                            "{} changed during the push; run it again",
                            f.rel
                        )));
                    }
                    inline_bytes += f.size;
                    inline_files += 1;
                    ops.push(Op::File {
                        path: f.rel.clone(),
                        content,
                    });
                }
            }
            _ => {}
        }
    }
    let summary = opts
        .message
        .clone()
        .unwrap_or_else(|| "Upload folder using mlxk-push".into());
    let body = commit::payload(&summary, "", head.as_deref(), &ops);
    let info = retry(
        &policy,
        |_| commit::commit(client, repo, branch, body.clone()),
        note,
    )
    .await?;
    result.status = PushStatus::Success;
    result.commit = Some(info.oid);
    result.commit_url = info.url;
    result.uploaded_files = uploaded + inline_files;
    result.uploaded_bytes = sent.get() + inline_bytes;
    result.files = planned.into_iter().map(|p| p.file).collect();
    Ok(())
}

fn count(planned: &[Planned], result: &mut PushResult) {
    for p in planned {
        match p.file.action {
            FileAction::Added => result.added += 1,
            FileAction::Changed => result.changed += 1,
            FileAction::Deleted => result.deleted += 1,
            FileAction::Unchanged => result.unchanged += 1,
        }
    }
}

/// Batches the LFS files of the plan and uploads the objects the server
/// lacks, `jobs` at a time; returns how many were uploaded.
async fn upload_objects(
    client: &HubClient,
    repo: &str,
    branch: &str,
    planned: &[Planned],
    jobs: usize,
    reporter: &dyn Reporter,
    sent: &Cell<u64>,
) -> Result<u64, HubError> {
    let mut objects: BTreeMap<String, Object> = BTreeMap::new();
    for p in planned.iter().filter(|p| p.sends()) {
        if p.file.mode.as_deref() != Some("lfs") {
            continue;
        }
        let (f, h) = p.local.as_ref().expect("sent files are local");
        objects.entry(h.sha256.clone()).or_insert_with(|| Object {
            repo: repo.to_string(),
            rel: f.rel.clone(),
            path: f.path.clone(),
            sha256: h.sha256.clone(),
            size: f.size,
        });
    }
    let policy = client.config().backoff;
    let list: Vec<(String, u64)> = objects
        .values()
        .map(|o| (o.sha256.clone(), o.size))
        .collect();
    let mut todo = Vec::new();
    for chunk in list.chunks(BATCH_MAX) {
        let answers = retry(
            &policy,
            |_| lfs::batch(client, repo, branch, chunk),
            |n, e, pause| {
                reporter.note(
                    repo,
                    &format!(
                        "{e}; retry {n}/{} in {:.0}s",
                        policy.retries,
                        pause.as_secs_f64()
                    ),
                )
            },
        )
        .await?;
        for a in answers {
            let obj = objects.get(&a.oid).ok_or_else(|| {
                HubError::Protocol(format!(
                    "LFS batch answered for an unknown object {}",
                    a.oid
                ))
            })?;
            match a.actions {
                Some(actions) if actions.upload.is_some() => todo.push((obj, actions)),
                _ => reporter.note(repo, &format!("{}: the server already has it", obj.rel)),
            }
        }
    }
    // By path: a stable order, so a re-run meets the same objects first.
    todo.sort_by(|a, b| a.0.rel.cmp(&b.0.rel));
    reporter.repo_start(repo, todo.len(), todo.iter().map(|(o, _)| o.size).sum());
    let results: Vec<Result<(), HubError>> = stream::iter(todo.iter())
        .map(|(obj, actions)| lfs::upload(client, obj, actions, reporter, sent))
        .buffered(jobs.max(1))
        .collect()
        .await;
    let n = results.len() as u64;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(n)
}

/// The first `n` bytes of a workspace file (never through a link).
fn read_prefix(path: &Path, n: u64) -> Result<Vec<u8>, HubError> {
    let mut buf = Vec::new();
    super::nofollow::open_read(path)
        .and_then(|f| f.take(n).read_to_end(&mut buf))
        .map_err(|e| HubError::io(path, e))?;
    Ok(buf)
}

/// A whole workspace file (never through a link).
fn read_all(path: &Path) -> Result<Vec<u8>, HubError> {
    let mut buf = Vec::new();
    super::nofollow::open_read(path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(|e| HubError::io(path, e))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_need_the_namespace() {
        assert!(validate_repo("me/model").is_ok());
        for bad in ["model", "a/b/c", "../x", "me/", "me/a b"] {
            assert!(validate_repo(bad).is_err(), "{bad}");
        }
    }
}
