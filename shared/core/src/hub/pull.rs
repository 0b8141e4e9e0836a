//! One repository, from the metadata preflight to the health check.
//!
//! 1. `HF_HUB_OFFLINE`: no network; report what the cache holds.
//! 2. Preflight: repo info (the commit) and the file tree. A gated, private
//!    or missing repository stops here, before anything is written.
//! 3. Every wanted file whose blob is in place, trusted ([`super::trust`])
//!    and linked is skipped; when nothing is missing the result is
//!    `already_exists`, with no transfer. Links planted in the cache are
//!    reported and replaced, never followed ([`super::nofollow`]).
//! 4. Missing blobs are fetched (a few at a time), each under its lock.
//! 5. Snapshot links, then `trees/<commit>.json`, then `refs/<revision>`
//!    last, so a ref never names a snapshot that is not whole.
//! 6. The shared health check judges the snapshot.

use std::cell::Cell;
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};

use super::client::{HubClient, TreeEntry};
use super::download::{self, Blob, Check};
use super::filter::Filter;
use super::nofollow;
use super::progress::Reporter;
use super::retry::retry;
use super::trust::{trust_async, Trust};
use super::{layout, lock, HubError};
use crate::cache::{is_safe_relative, repo_dir_name, Cache};
use crate::ndjson::{DownloadStatus, Health, PullResult};

/// What to pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `org/name`.
    pub name: String,
    /// Branch, tag or commit; `main` when absent.
    pub revision: Option<String>,
}

impl Request {
    /// `org/name` or `org/name@revision`; `revision` (from `--revision`)
    /// applies when the spec names none.
    pub fn parse(spec: &str, revision: Option<&str>) -> Result<Self, HubError> {
        let spec = spec.trim();
        let (name, rev) = match spec.split_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (spec, revision),
        };
        if !valid_repo_id(name) {
            return Err(HubError::Invalid(format!(
                "'{name}' is not a repository name (ORG/NAME)"
            )));
        }
        if let Some(r) = rev {
            if !is_safe_relative(r) {
                return Err(HubError::Invalid(format!("'{r}' is not a revision")));
            }
        }
        Ok(Request {
            name: name.to_string(),
            revision: rev.map(str::to_string),
        })
    }

    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or("main")
    }
}

/// A Hub repository id: `name` or `org/name`, each part of letters, digits,
/// `-`, `_`, `.`, not starting or ending with `-`/`.`, no `--` or `..`.
pub fn valid_repo_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            (1..=96).contains(&p.len())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !p.starts_with(['-', '.'])
                && !p.ends_with(['-', '.'])
                && !p.contains("--")
                && !p.contains("..")
        })
}

#[derive(Debug, Clone)]
pub struct Options {
    pub filter: Filter,
    /// Files downloaded at once.
    pub jobs: usize,
}

fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

struct Outcome {
    status: DownloadStatus,
    commit: Option<String>,
    files: u64,
    reason: Option<String>,
}

/// Pulls one repository and judges it. Never panics on network input; every
/// failure ends up in the result's `download_status` and `reason`.
pub async fn pull(
    client: &HubClient,
    cache: &Cache,
    request: &Request,
    options: &Options,
    reporter: &dyn Reporter,
) -> PullResult {
    let started = Instant::now();
    let sent = Cell::new(0u64);
    let outcome = if client.config().offline {
        Ok(offline(cache, request, &options.filter))
    } else {
        client
            .bounded(online(client, cache, request, options, reporter, &sent))
            .await
    };
    judge(cache, request, outcome, started, sent.get())
}

/// Imports the local folder `dir` as `request` (`mlxk-pull --from DIR`),
/// through the same blob, link, tree and ref writes as a download, and
/// judges it like a pull.
pub async fn import(
    cache: &Cache,
    dir: &std::path::Path,
    request: &Request,
    reporter: &dyn Reporter,
) -> PullResult {
    let started = Instant::now();
    let imported =
        super::import::import(cache, dir, &request.name, request.revision(), reporter).await;
    let bytes = imported.as_ref().map_or(0, |i| i.bytes);
    let outcome = imported.map(|i| Outcome {
        status: i.status,
        commit: Some(i.commit),
        files: i.files,
        reason: None,
    });
    judge(cache, request, outcome, started, bytes)
}

/// The result of a pull or import: what happened, then the shared health check.
fn judge(
    cache: &Cache,
    request: &Request,
    outcome: Result<Outcome, HubError>,
    started: Instant,
    bytes: u64,
) -> PullResult {
    let (outcome, error) = match outcome {
        Ok(o) => (o, None),
        Err(e) => (
            Outcome {
                status: e.status(),
                commit: None,
                files: 0,
                reason: None,
            },
            Some(e),
        ),
    };
    let mut result = PullResult {
        name: request.name.clone(),
        revision: Some(request.revision().to_string()),
        hash: outcome.commit.clone(),
        download_status: outcome.status,
        files: outcome.files,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        health: None,
        reason: outcome
            .reason
            .or_else(|| error.as_ref().map(ToString::to_string)),
        hint: error.as_ref().and_then(HubError::hint),
        path: None,
    };
    let cached = matches!(
        outcome.status,
        DownloadStatus::Success | DownloadStatus::AlreadyExists
    );
    if cached {
        let model = crate::model::inspect_repo(cache, &request.name, Some(request.revision()));
        result.health = Some(model.health);
        if model.health == Health::Unhealthy {
            result.reason = model.reason;
        }
        result.path = Some(model.path);
        result.hash = result.hash.or(model.hash);
    }
    result
}

/// `HF_HUB_OFFLINE`: what the cache already holds.
fn offline(cache: &Cache, request: &Request, filter: &Filter) -> Outcome {
    let repo = cache.repo(&request.name);
    let rev = request.revision();
    let commit = if is_commit(rev) {
        Some(rev.to_ascii_lowercase())
    } else {
        repo.read_ref(rev)
    };
    let not_cached = |why: String| Outcome {
        status: DownloadStatus::Offline,
        commit: None,
        files: 0,
        reason: Some(format!("HF_HUB_OFFLINE is set and {why}")),
    };
    let Some(commit) = commit.filter(|c| repo.snapshots_dir().join(c).is_dir()) else {
        return not_cached(format!("{}@{rev} is not in the cache", request.name));
    };
    // huggingface_hub's own test: the tree listing says which files there should be.
    if let Ok(text) = std::fs::read_to_string(repo.tree_file(&commit)) {
        if let Ok(tree) = serde_json::from_str::<serde_json::Value>(&text) {
            let files = tree.get("files").and_then(|f| f.as_object());
            let missing = files
                .into_iter()
                .flatten()
                .filter(|(path, _)| filter.matches(path))
                .filter(|(path, _)| {
                    is_safe_relative(path)
                        && std::fs::metadata(repo.snapshots_dir().join(&commit).join(path)).is_err()
                })
                .count();
            if missing > 0 {
                return Outcome {
                    commit: Some(commit),
                    ..not_cached(format!(
                        "{missing} wanted files of {} are not in the cache",
                        request.name
                    ))
                };
            }
        }
    }
    Outcome {
        status: DownloadStatus::AlreadyExists,
        commit: Some(commit),
        files: 0,
        reason: None,
    }
}

async fn online(
    client: &HubClient,
    cache: &Cache,
    request: &Request,
    options: &Options,
    reporter: &dyn Reporter,
    sent: &Cell<u64>,
) -> Result<Outcome, HubError> {
    let name = &request.name;
    let rev = request.revision();
    let policy = client.config().backoff;
    let note = |n: u32, e: &HubError, pause: std::time::Duration| {
        reporter.note(
            name,
            &format!(
                "{e}; retry {n}/{} in {:.0}s",
                policy.retries,
                pause.as_secs_f64()
            ),
        )
    };

    // Preflight: nothing is written before both answers are in.
    let info = retry(&policy, |_| client.repo_info(name, rev), note).await?;
    let commit = info.sha.filter(|s| is_commit(s)).ok_or_else(|| {
        HubError::Protocol(format!("{name}@{rev}: no commit hash in the repo info"))
    })?;
    let tree = retry(&policy, |_| client.tree(name, &commit), note).await?;
    let files: Vec<&TreeEntry> = tree.iter().filter(|e| e.is_file()).collect();
    for f in &files {
        if !is_safe_relative(&f.path) || !is_safe_relative(f.etag()) || f.etag().contains('/') {
            return Err(HubError::UnsafePath(f.path.clone()));
        }
    }
    let wanted: Vec<&TreeEntry> = files
        .iter()
        .copied()
        .filter(|f| options.filter.matches(&f.path))
        .collect();
    if wanted.is_empty() {
        return Ok(Outcome {
            status: DownloadStatus::Failed,
            commit: Some(commit),
            files: 0,
            reason: Some(format!(
                "no file of {name} matches ({}); {} files in the repository",
                options.filter.describe(),
                files.len()
            )),
        });
    }

    let repo = cache.repo(name);
    let dir_name = repo_dir_name(name);
    let noted =
        |path: &Path, message: &str| reporter.note(name, &format!("{}: {message}", path.display()));
    let note: nofollow::Note = &noted;
    // Each blob is looked at once: trusted as it is, or fetched.
    let repo_real = nofollow::is_real_dir(cache.root(), Path::new(&dir_name));
    let mut trusted = HashSet::new();
    if repo_real {
        for f in &wanted {
            if !trusted.contains(f.etag())
                && trust_async(&repo.path, f.etag(), f.content_size(), &check_of(f), note).await?
                    == Trust::Trusted
            {
                trusted.insert(f.etag().to_string());
            }
        }
    }
    let missing: Vec<&TreeEntry> = wanted
        .iter()
        .copied()
        .filter(|f| {
            !(trusted.contains(f.etag())
                && layout::is_linked(&repo.path, &commit, &f.path, f.etag()))
        })
        .collect();
    let ref_ok = rev == commit || (repo_real && layout::has_ref(&repo.path, rev, &commit));
    let tree_ok = repo_real && layout::has_tree(&repo.path, &commit);
    if missing.is_empty() && ref_ok && tree_ok {
        return Ok(Outcome {
            status: DownloadStatus::AlreadyExists,
            commit: Some(commit),
            files: 0,
            reason: None,
        });
    }
    let to_fetch: Vec<&TreeEntry> = missing
        .iter()
        .copied()
        .filter(|f| !trusted.contains(f.etag()))
        .collect();
    reporter.repo_start(
        name,
        to_fetch.len(),
        to_fetch.iter().map(|f| f.content_size()).sum(),
    );
    let fetched = Cell::new(0u64);
    let trusted = &trusted;
    let job = Job {
        client,
        cache,
        repo: &repo,
        name,
        commit: &commit,
        reporter,
        note,
    };
    let results: Vec<(&TreeEntry, Result<String, HubError>)> = stream::iter(wanted.iter().copied())
        .map(|entry| {
            let (job, fetched) = (&job, &fetched);
            async move {
                let r = if trusted.contains(entry.etag()) {
                    Ok(entry.etag().to_string())
                } else {
                    fetch_file(job, entry, sent, fetched).await
                };
                (entry, r)
            }
        })
        .buffer_unordered(options.jobs.max(1))
        .collect()
        .await;

    let mut failures: Vec<(String, HubError)> = Vec::new();
    let mut etags = Vec::new();
    for (entry, r) in results {
        match r {
            Ok(etag) => etags.push((entry, etag)),
            Err(e) => failures.push((entry.path.clone(), e)),
        }
    }
    if !failures.is_empty() {
        failures.sort_by(|a, b| a.0.cmp(&b.0));
        let n = failures.len();
        let (first_path, first) = failures.swap_remove(0);
        let status = first.status();
        let reason = format!(
            "{n} of {} files failed; {first_path}: {first}",
            wanted.len()
        );
        return match status {
            DownloadStatus::Failed => Ok(Outcome {
                status,
                commit: Some(commit),
                files: fetched.get(),
                reason: Some(reason),
            }),
            _ => Err(first),
        };
    }

    // Links, then the tree listing, then the ref: last, once all is in place.
    for (entry, etag) in &etags {
        layout::link(&repo.path, &commit, &entry.path, etag, note)?;
    }
    layout::write_tree(&repo.path, &commit, &tree, note)?;
    layout::write_ref(&repo.path, rev, &commit, note)?;
    let _ = layout::write_cachedir_tag(cache.root());
    Ok(Outcome {
        status: if fetched.get() == 0 {
            DownloadStatus::AlreadyExists
        } else {
            DownloadStatus::Success
        },
        commit: Some(commit),
        files: fetched.get(),
        reason: None,
    })
}

/// How the content of a tree entry is checked.
fn check_of(entry: &TreeEntry) -> Check {
    match &entry.lfs {
        Some(lfs) => Check::Sha256(lfs.oid.clone()),
        None if entry.oid.len() == 40 => Check::GitSha1(entry.oid.clone()),
        None => Check::Size,
    }
}

/// What every file of one pull shares.
struct Job<'a> {
    client: &'a HubClient,
    cache: &'a Cache,
    repo: &'a crate::cache::Repo,
    name: &'a str,
    commit: &'a str,
    reporter: &'a dyn Reporter,
    note: nofollow::Note<'a>,
}

/// Fetches the blob of `entry` (not trusted in the cache); returns its blob name.
async fn fetch_file(
    job: &Job<'_>,
    entry: &TreeEntry,
    sent: &Cell<u64>,
    fetched: &Cell<u64>,
) -> Result<String, HubError> {
    let Job {
        client,
        cache,
        repo,
        name,
        commit,
        reporter,
        note,
    } = *job;
    let size = entry.content_size();
    let policy = client.config().backoff;
    let meta = retry(
        &policy,
        |_| client.head(name, commit, &entry.path),
        |n, e, pause| {
            reporter.note(
                name,
                &format!(
                    "{e}; retry {n}/{} in {:.0}s",
                    policy.retries,
                    pause.as_secs_f64()
                ),
            )
        },
    )
    .await?;
    let etag = meta.etag;
    if !is_safe_relative(&etag) || etag.contains('/') {
        return Err(HubError::UnsafePath(etag));
    }
    if let Some(head_size) = meta.size {
        if head_size != size {
            return Err(HubError::Protocol(format!(
                "{}: the tree says {size} bytes, the file {head_size}",
                entry.path
            )));
        }
    }
    let check = check_of(entry);
    let blob = Blob {
        repo: name.to_string(),
        file: entry.path.clone(),
        url: client.resolve_url(name, commit, &entry.path),
        etag: etag.clone(),
        size,
        check: check.clone(),
    };
    // Nothing is written before the server answered for the file.
    nofollow::real_dir(cache.root(), Path::new(&repo_dir_name(name)), note)?;
    nofollow::real_dir(&repo.path, Path::new("blobs"), note)?;
    let on_wait = || {
        reporter.note(
            name,
            &format!("{}: another download holds it; waiting", entry.path),
        )
    };
    let _lock = lock::acquire(cache.root(), &repo_dir_name(name), &etag, on_wait, note).await?;
    // Another process may have finished it while we waited.
    if trust_async(&repo.path, &etag, size, &check, note).await? == Trust::Trusted {
        return Ok(etag);
    }
    let r = download::fetch(client, &repo.blobs_dir(), &blob, reporter, sent, note).await;
    reporter.file_end(name, &entry.path, r.is_ok());
    r?;
    fetched.set(fetched.get() + 1);
    Ok(etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        for ok in ["gpt2", "mlx-community/Qwen3-0.6B-4bit", "a_b/c.d"] {
            assert!(valid_repo_id(ok), "{ok}");
        }
        for bad in [
            "", "/x", "a/b/c", "../x", "a/..", "a/-b", "a/b.", "a/b--c", "a/b c", "a\\b",
        ] {
            assert!(!valid_repo_id(bad), "{bad}");
        }
    }

    #[test]
    fn requests_parse() {
        let r = Request::parse("a/b@v1", Some("main")).unwrap();
        assert_eq!((r.name.as_str(), r.revision()), ("a/b", "v1"));
        let r = Request::parse("a/b", Some("dev")).unwrap();
        assert_eq!(r.revision(), "dev");
        assert_eq!(Request::parse("a/b", None).unwrap().revision(), "main");
        assert!(Request::parse("a/b@../x", None).is_err());
        assert!(Request::parse("not a name", None).is_err());
    }
}
