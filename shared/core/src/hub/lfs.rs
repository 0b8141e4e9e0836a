//! Git LFS uploads, as huggingface_hub does them with Xet off.
//!
//! 1. `POST /{repo}.git/info/lfs/objects/batch` (`application/vnd.git-lfs+json`)
//!    with the objects' sha256 and size: an object without `actions` is
//!    already stored and is skipped (this is what makes a re-run resume).
//! 2. `basic`: one `PUT` of the bytes to `actions.upload.href`.
//!    `multipart`: `header.chunk_size` and part URLs under keys `00001`…;
//!    each slice is `PUT` (retried on its own), its `ETag` kept, then
//!    `POST href` `{"oid","parts":[{"partNumber","etag"}]}` completes it.
//! 3. `POST actions.verify.href` `{"oid","size"}` when offered.
//!
//! Bodies stream from the file (1 MiB at a time, with `Content-Length`, as
//! storage requires), so memory stays flat whatever the file size. The
//! storage URLs never see the token; only URLs on the Hub's own origin do
//! ([`HubClient::token_for`] decides, for every request). A
//! transfer fails as stalled when no byte moves for the timeout.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, Stream};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use reqwest::{Body, Method};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::client::HubClient;
use super::progress::Reporter;
use super::retry::retry;
use super::HubError;

const LFS_JSON: &str = "application/vnd.git-lfs+json";
const CHUNK: u64 = 1 << 20;
/// Objects a batch call may carry.
pub const BATCH_MAX: usize = 256;

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub href: String,
    #[serde(default)]
    pub header: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Actions {
    pub upload: Option<Action>,
    pub verify: Option<Action>,
}

#[derive(Debug, Clone, Deserialize)]
struct BatchError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// The server's answer for one object.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchObject {
    pub oid: String,
    pub size: u64,
    #[serde(default)]
    pub actions: Option<Actions>,
    #[serde(default)]
    error: Option<BatchError>,
}

#[derive(Deserialize)]
struct BatchAnswer {
    objects: Vec<BatchObject>,
}

/// Asks where to upload `objects` (sha256, size), at most [`BATCH_MAX`].
pub async fn batch(
    client: &HubClient,
    repo: &str,
    revision: &str,
    objects: &[(String, u64)],
) -> Result<Vec<BatchObject>, HubError> {
    let url = format!(
        "{}/{repo}.git/info/lfs/objects/batch",
        client.config().endpoint
    );
    let body = json!({
        "operation": "upload",
        "transfers": ["basic", "multipart"],
        "objects": objects.iter().map(|(oid, size)| json!({"oid": oid, "size": size})).collect::<Vec<_>>(),
        "hash_algo": "sha256",
        "ref": {"name": revision},
    });
    let what = format!("the LFS batch for {repo}");
    let rb = client
        .request(Method::POST, &url)
        .header(ACCEPT, LFS_JSON)
        .header(CONTENT_TYPE, LFS_JSON)
        .body(body.to_string());
    let resp = client.call(rb, &what).await?;
    let answer: BatchAnswer = client.body_json(resp, &what).await?;
    if let Some(bad) = answer.objects.iter().find(|o| o.error.is_some()) {
        let e = bad.error.as_ref().expect("checked");
        return Err(HubError::Protocol(format!(
            "LFS batch refused object {}: {} (code {})",
            bad.oid, e.message, e.code
        )));
    }
    Ok(answer.objects)
}

/// A local file to store as an LFS object.
#[derive(Debug, Clone)]
pub struct Object {
    pub repo: String,
    /// Path in the repository (for progress and messages).
    pub rel: String,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// Uploads `obj` as `actions` say (basic or multipart), then verifies it.
/// `sent` counts the content bytes that were accepted by storage.
pub async fn upload(
    client: &HubClient,
    obj: &Object,
    actions: &Actions,
    reporter: &dyn Reporter,
    sent: &Cell<u64>,
) -> Result<(), HubError> {
    let upload = actions
        .upload
        .as_ref()
        .ok_or_else(|| HubError::Protocol(format!("{}: LFS actions without an upload", obj.rel)))?;
    reporter.file_start(&obj.repo, &obj.rel, 0, obj.size);
    let done = Cell::new(0u64);
    let r = match chunk_size(upload)? {
        Some(chunk) => multipart(client, obj, upload, chunk, reporter, &done).await,
        None => {
            let what = format!("uploading {}", obj.rel);
            put_range(
                client,
                obj,
                &upload.href,
                0,
                obj.size,
                &what,
                reporter,
                &done,
            )
            .await
            .map(|_| ())
        }
    };
    sent.set(sent.get() + done.get());
    let r = match (r, &actions.verify) {
        (Ok(()), Some(verify)) => verify_object(client, obj, verify).await,
        (r, _) => r,
    };
    reporter.file_end(&obj.repo, &obj.rel, r.is_ok());
    r
}

fn chunk_size(upload: &Action) -> Result<Option<u64>, HubError> {
    match upload.header.get("chunk_size") {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|&n| n > 0)
            .map(Some)
            .ok_or_else(|| HubError::Protocol(format!("bad LFS chunk_size {v}"))),
    }
}

async fn multipart(
    client: &HubClient,
    obj: &Object,
    upload: &Action,
    chunk: u64,
    reporter: &dyn Reporter,
    done: &Cell<u64>,
) -> Result<(), HubError> {
    let mut parts: Vec<(u32, &str)> = upload
        .header
        .iter()
        .filter(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?)))
        .collect();
    parts.sort();
    let expected = obj.size.div_ceil(chunk);
    if parts.len() as u64 != expected
        || parts
            .iter()
            .enumerate()
            .any(|(i, (n, _))| *n as usize != i + 1)
    {
        return Err(HubError::Protocol(format!(
            "{}: {} part URLs for {expected} parts of {chunk} bytes",
            obj.rel,
            parts.len()
        )));
    }
    let mut etags = Vec::new();
    for (n, url) in parts {
        let offset = (n as u64 - 1) * chunk;
        let len = chunk.min(obj.size - offset);
        let what = format!("uploading {} (part {n} of {expected})", obj.rel);
        let headers = put_range(client, obj, url, offset, len, &what, reporter, done).await?;
        let etag = headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| HubError::Protocol(format!("{what}: no ETag in the answer")))?;
        etags.push(json!({"partNumber": n, "etag": etag}));
    }
    let body = json!({"oid": obj.sha256, "parts": etags}).to_string();
    let what = format!("completing the upload of {}", obj.rel);
    let policy = client.config().backoff;
    retry(
        &policy,
        |_| {
            let rb = request(client, &upload.href)
                .header(ACCEPT, LFS_JSON)
                .header(CONTENT_TYPE, LFS_JSON)
                .body(body.clone());
            client.call(rb, &what)
        },
        |n, e, pause| note(reporter, obj, n, policy.retries, e, pause),
    )
    .await
    .map(|_| ())
}

async fn verify_object(client: &HubClient, obj: &Object, verify: &Action) -> Result<(), HubError> {
    let body = json!({"oid": obj.sha256, "size": obj.size}).to_string();
    let what = format!("verifying {}", obj.rel);
    let policy = client.config().backoff;
    retry(
        &policy,
        |_| {
            let rb = request(client, &verify.href)
                .header(ACCEPT, LFS_JSON)
                .header(CONTENT_TYPE, LFS_JSON)
                .body(body.clone());
            client.call(rb, &what)
        },
        |_, _, _| {},
    )
    .await
    .map(|_| ())
}

/// A POST to `url` (the token goes only to the Hub's own origin:
/// [`HubClient::token_for`]).
fn request(client: &HubClient, url: &str) -> reqwest::RequestBuilder {
    client.request(Method::POST, url)
}

fn note(
    reporter: &dyn Reporter,
    obj: &Object,
    n: u32,
    retries: u32,
    e: &HubError,
    pause: Duration,
) {
    reporter.note(
        &obj.repo,
        &format!("{e}; retry {n}/{retries} in {:.0}s", pause.as_secs_f64()),
    );
}

/// PUTs bytes `offset..offset+len` of the object's file to `url`, retried;
/// `done` grows by `len` once storage accepted them.
#[allow(clippy::too_many_arguments)]
async fn put_range(
    client: &HubClient,
    obj: &Object,
    url: &str,
    offset: u64,
    len: u64,
    what: &str,
    reporter: &dyn Reporter,
    done: &Cell<u64>,
) -> Result<HeaderMap, HubError> {
    let policy = client.config().backoff;
    let headers = retry(
        &policy,
        |_| put_once(client, obj, url, offset, len, what, reporter, done.get()),
        |n, e, pause| note(reporter, obj, n, policy.retries, e, pause),
    )
    .await?;
    done.set(done.get() + len);
    reporter.file_progress(&obj.repo, &obj.rel, done.get(), obj.size);
    Ok(headers)
}

#[allow(clippy::too_many_arguments)]
async fn put_once(
    client: &HubClient,
    obj: &Object,
    url: &str,
    offset: u64,
    len: u64,
    what: &str,
    reporter: &dyn Reporter,
    before: u64,
) -> Result<HeaderMap, HubError> {
    let counter = Arc::new(AtomicU64::new(0));
    let body = Body::wrap_stream(file_stream(obj.path.clone(), offset, len, counter.clone()));
    let rb = client
        .request(Method::PUT, url)
        .header(CONTENT_LENGTH, len)
        .body(body);
    let exchange = client.call_unguarded(rb, what);
    let resp = watch(exchange, &counter, client.config().timeout, what, |n| {
        reporter.file_progress(&obj.repo, &obj.rel, before + n, obj.size)
    })
    .await?;
    Ok(resp.headers().clone())
}

/// Drives `exchange`, telling `progress` how many body bytes went out; fails
/// as stalled when the count does not move for `timeout`.
pub async fn watch<T>(
    exchange: impl std::future::Future<Output = Result<T, HubError>>,
    counter: &AtomicU64,
    timeout: Duration,
    what: &str,
    progress: impl Fn(u64),
) -> Result<T, HubError> {
    tokio::pin!(exchange);
    let tick = Duration::from_millis(250).min(timeout);
    let mut last = (counter.load(Ordering::Relaxed), tokio::time::Instant::now());
    loop {
        tokio::select! {
            r = &mut exchange => return r,
            _ = tokio::time::sleep(tick) => {
                let now = counter.load(Ordering::Relaxed);
                if now != last.0 {
                    last = (now, tokio::time::Instant::now());
                    progress(now);
                } else if last.1.elapsed() >= timeout {
                    return Err(HubError::Stalled { what: what.to_string(), after: timeout });
                }
            }
        }
    }
}

/// `len` bytes of `path` from `offset`, 1 MiB at a time, counted into `counter`.
fn file_stream(
    path: PathBuf,
    offset: u64,
    len: u64,
    counter: Arc<AtomicU64>,
) -> impl Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    struct Reader {
        file: Option<tokio::fs::File>,
        path: PathBuf,
        offset: u64,
        left: u64,
        counter: Arc<AtomicU64>,
    }
    let start = Reader {
        file: None,
        path,
        offset,
        left: len,
        counter,
    };
    stream::unfold(start, |mut r| async move {
        if r.left == 0 {
            return None;
        }
        if r.file.is_none() {
            match open_at(&r.path, r.offset).await {
                Ok(f) => r.file = Some(f),
                Err(e) => {
                    r.left = 0;
                    return Some((Err(e), r));
                }
            }
        }
        let want = r.left.min(CHUNK) as usize;
        let mut buf = vec![0u8; want];
        let file = r.file.as_mut().expect("opened above");
        match file.read_exact(&mut buf).await {
            Ok(_) => {
                r.left -= want as u64;
                r.counter.fetch_add(want as u64, Ordering::Relaxed);
                Some((Ok(buf), r))
            }
            Err(e) => {
                r.left = 0;
                Some((Err(e), r))
            }
        }
    })
}

async fn open_at(path: &Path, offset: u64) -> std::io::Result<tokio::fs::File> {
    let mut f = tokio::fs::File::from_std(super::nofollow::open_read(path)?);
    f.seek(std::io::SeekFrom::Start(offset)).await?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_upload_that_stops_moving_stalls_after_the_timeout() {
        let start = tokio::time::Instant::now();
        let counter = AtomicU64::new(0);
        let r: Result<(), _> = watch(
            std::future::pending(),
            &counter,
            Duration::from_secs(30),
            "uploading x",
            |_| {},
        )
        .await;
        assert!(matches!(r, Err(HubError::Stalled { .. })), "{r:?}");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_moving_upload_never_stalls() {
        // 100 s in all, a chunk every 20 s: never 30 s without progress.
        let counter = Arc::new(AtomicU64::new(0));
        let c = counter.clone();
        let exchange = async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                c.fetch_add(1 << 20, Ordering::Relaxed);
            }
            Ok::<_, HubError>(42)
        };
        let seen = Cell::new(0u64);
        let r = watch(exchange, &counter, Duration::from_secs(30), "x", |n| {
            seen.set(n)
        })
        .await;
        assert_eq!(r.unwrap(), 42);
        assert!(seen.get() >= 4 << 20, "{}", seen.get());
    }

    #[tokio::test]
    async fn the_stream_yields_exactly_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let counter = Arc::new(AtomicU64::new(0));
        let chunks: Vec<Vec<u8>> = futures_util::StreamExt::collect::<Vec<_>>(file_stream(
            path,
            1_000_001,
            1_500_000,
            counter.clone(),
        ))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        assert_eq!(chunks.concat(), &data[1_000_001..2_500_001]);
        assert_eq!(counter.load(Ordering::Relaxed), 1_500_000);
    }
}
