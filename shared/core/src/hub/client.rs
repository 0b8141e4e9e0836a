//! The Hub's HTTP protocol, as huggingface_hub speaks it.
//!
//! - `GET /api/models/{repo}/revision/{rev}`: the commit a revision names;
//! - `GET /api/models/{repo}/tree/{commit}?recursive=true`: every file with
//!   its size, git oid and, for LFS files, sha256 (paged with `Link: rel=next`);
//! - `HEAD /{repo}/resolve/{commit}/{path}`: `ETag` / `X-Linked-Etag` (the
//!   blob name), `X-Linked-Size`, `X-Repo-Commit`; redirects are not followed
//!   (the LFS CDN would hide those headers);
//! - `GET` the same URL, with `Range: bytes=N-` to resume.
//!
//! Every request goes through one dispatch ([`HubClient::send`]): the token
//! is attached by [`HubClient::token_for`] alone, which gives it only to the
//! endpoint's own origin (scheme, host and port), at every hop: API calls,
//! each page of a listing, downloads and their redirects, LFS transfers.
//! Redirects are followed here, not by the HTTP library (at most
//! [`MAX_REDIRECTS`]), so each hop is decided again. What the server
//! controls is bounded: [`MAX_JSON_BYTES`] per JSON answer, [`MAX_PAGES`]
//! and [`MAX_TREE_ENTRIES`] per listing (a page linking back to one already
//! read is a loop), and the whole run by `--deadline` ([`HubClient::bounded`]).
//!
//! Status mapping: `X-Error-Code: GatedRepo`, 401 and 403 → access denied;
//! `RepoNotFound`/`RevisionNotFound`/`EntryNotFound` and 404 → not found
//! (the Hub answers 401 `RepoNotFound` for a private repository without a
//! token, so that hint goes with it).

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, SystemTime};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, LINK, LOCATION,
    RANGE, RETRY_AFTER,
};
use reqwest::{Client, Method, Request, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;

use super::config::HubConfig;
use super::retry::{parse_retry_after, stall_guard, within};
use super::HubError;

/// Redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;
/// Pages of one listing (the Hub pages by 1000 entries or so).
pub const MAX_PAGES: usize = 1000;
/// Entries of one listing, all pages together.
pub const MAX_TREE_ENTRIES: usize = 500_000;
/// Bytes of one JSON answer (a Hub tree page is a few hundred KB).
pub const MAX_JSON_BYTES: u64 = 32 << 20;

/// Characters left alone in a path segment (as Python's `quote(safe="")`).
pub(crate) const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// As [`SEGMENT`], but keeping `/` (file paths).
const PATH: &AsciiSet = &SEGMENT.remove(b'/');

/// `GET /api/models/{repo}/revision/{rev}`, the part we use.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoInfo {
    pub sha: Option<String>,
    #[serde(default)]
    pub gated: serde_json::Value,
    #[serde(default)]
    pub private: bool,
}

/// An LFS pointer's facts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Lfs {
    pub oid: String,
    pub size: u64,
}

/// One entry of `GET /api/models/{repo}/tree/{commit}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TreeEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub oid: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub lfs: Option<Lfs>,
    #[serde(default, rename = "xetHash")]
    pub xet_hash: Option<String>,
}

impl TreeEntry {
    pub fn is_file(&self) -> bool {
        self.kind == "file"
    }

    /// The blob name huggingface_hub gives this file: the LFS sha256, else the git oid.
    pub fn etag(&self) -> &str {
        self.lfs.as_ref().map_or(&self.oid, |l| &l.oid)
    }

    /// Size of the content (not of the LFS pointer).
    pub fn content_size(&self) -> u64 {
        self.lfs.as_ref().map_or(self.size, |l| l.size)
    }
}

/// What `HEAD …/resolve/…` says about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub etag: String,
    pub size: Option<u64>,
    pub commit: Option<String>,
}

pub struct HubClient {
    http: Client,
    config: HubConfig,
    /// When `--deadline` runs out (counted from the client's creation).
    deadline: Option<tokio::time::Instant>,
}

impl HubClient {
    pub fn new(config: HubConfig) -> Result<Self, HubError> {
        let http = Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| HubError::Invalid(format!("cannot start the HTTP client: {e}")))?;
        let deadline = config.deadline.map(|d| tokio::time::Instant::now() + d);
        Ok(HubClient {
            http,
            config,
            deadline,
        })
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// The token for a request to `url`: only to the endpoint's own origin
    /// (scheme, host and port). The one place that decides it.
    pub fn token_for(&self, url: &Url) -> Option<&str> {
        let endpoint = Url::parse(&self.config.endpoint).ok()?;
        let same = url.scheme() == endpoint.scheme()
            && url.host_str().is_some()
            && url.host_str() == endpoint.host_str()
            && url.port_or_known_default() == endpoint.port_or_known_default();
        if same {
            self.config.token()
        } else {
            None
        }
    }

    /// Runs `fut` within `--deadline`, if one was given.
    pub async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, HubError>>,
    ) -> Result<T, HubError> {
        match (self.deadline, self.config.deadline) {
            (Some(at), Some(limit)) => within(at, limit, fut).await,
            _ => fut.await,
        }
    }

    /// `{endpoint}/{repo}/resolve/{commit}/{path}`.
    pub fn resolve_url(&self, repo: &str, commit: &str, path: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.config.endpoint,
            repo,
            utf8_percent_encode(commit, SEGMENT),
            utf8_percent_encode(path, PATH)
        )
    }

    /// A request to `url`; the token is added (or not) when it is sent.
    pub(crate) fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Sets `Authorization` on `req` as [`Self::token_for`] decides.
    fn authorize(&self, req: &mut Request) {
        req.headers_mut().remove(AUTHORIZATION);
        if let Some(token) = self.token_for(req.url()) {
            if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                value.set_sensitive(true);
                req.headers_mut().insert(AUTHORIZATION, value);
            }
        }
    }

    /// Sends `rb`, following redirects when `follow` (each hop authorised
    /// anew), with the stall timeout on each exchange when `guard`.
    async fn dispatch(
        &self,
        rb: RequestBuilder,
        follow: bool,
        guard: bool,
        what: &str,
    ) -> Result<Response, HubError> {
        let mut req = rb
            .build()
            .map_err(|e| HubError::Invalid(format!("{what}: {e}")))?;
        let mut hops = 0;
        loop {
            self.authorize(&mut req);
            let again = if follow { req.try_clone() } else { None };
            let exchange = self.http.execute(req);
            let resp = if guard {
                stall_guard(
                    self.config.timeout,
                    || format!("waiting for {what}"),
                    exchange,
                )
                .await?
            } else {
                exchange.await
            }
            .map_err(|e| self.network(what, &e))?;
            let status = resp.status();
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // A body that streams from a file cannot be sent again: the
            // redirect is answered as it is (and fails as an HTTP status).
            let (Some(mut next), Some(location)) = (again, location) else {
                return Ok(resp);
            };
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(HubError::Bounds(format!(
                    "{what}: more than {MAX_REDIRECTS} redirects"
                )));
            }
            let url = resp
                .url()
                .join(&location)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| HubError::Protocol(format!("{what}: a redirect to {location:?}")))?;
            let to_get = status == StatusCode::SEE_OTHER
                || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                    && next.method() == Method::POST);
            if to_get {
                *next.method_mut() = Method::GET;
                *next.body_mut() = None;
                next.headers_mut().remove(CONTENT_TYPE);
                next.headers_mut().remove(CONTENT_LENGTH);
            }
            *next.url_mut() = url;
            req = next;
        }
    }

    /// Sends `rb` (redirects followed, each exchange under the stall timeout).
    async fn send(&self, rb: RequestBuilder, what: &str) -> Result<Response, HubError> {
        self.dispatch(rb, true, true, what).await
    }

    /// A JSON answer's body, at most [`MAX_JSON_BYTES`], read under the stall timeout.
    async fn read_json_body(&self, mut resp: Response, what: &str) -> Result<Vec<u8>, HubError> {
        let too_big = |n: u64| {
            HubError::Bounds(format!(
                "{what}: a JSON answer of {n} bytes or more (at most {} MiB are read)",
                MAX_JSON_BYTES >> 20
            ))
        };
        if let Some(len) = resp.content_length().filter(|&n| n > MAX_JSON_BYTES) {
            return Err(too_big(len));
        }
        let mut body = Vec::new();
        loop {
            let chunk = stall_guard(
                self.config.timeout,
                || format!("reading {what}"),
                resp.chunk(),
            )
            .await?
            .map_err(|e| self.network(what, &e))?;
            let Some(chunk) = chunk else {
                return Ok(body);
            };
            if (body.len() + chunk.len()) as u64 > MAX_JSON_BYTES {
                return Err(too_big((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
    }

    /// `GET url` as JSON; also the headers and the final URL (after redirects).
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<(T, HeaderMap, Url), HubError> {
        let resp = self.send(self.request(Method::GET, url), what).await?;
        let resp = check(resp, what).await?;
        let headers = resp.headers().clone();
        let at = resp.url().clone();
        let body = self.read_json_body(resp, what).await?;
        let value = serde_json::from_slice(&body)
            .map_err(|e| HubError::Protocol(format!("{what}: {e}")))?;
        Ok((value, headers, at))
    }

    /// The commit `revision` names, and whether the repository is there at all.
    pub async fn repo_info(&self, repo: &str, revision: &str) -> Result<RepoInfo, HubError> {
        let url = format!(
            "{}/api/models/{}/revision/{}",
            self.config.endpoint,
            repo,
            utf8_percent_encode(revision, SEGMENT)
        );
        let what = format!("{repo}@{revision}");
        Ok(self.json(&url, &what).await?.0)
    }

    /// Every entry of the tree at `commit`, following pages (bounded: see the module doc).
    pub async fn tree(&self, repo: &str, commit: &str) -> Result<Vec<TreeEntry>, HubError> {
        let mut url = format!(
            "{}/api/models/{}/tree/{}?recursive=true",
            self.config.endpoint,
            repo,
            utf8_percent_encode(commit, SEGMENT)
        );
        let what = format!("the file list of {repo}@{commit}");
        let mut all = Vec::new();
        let mut read = HashSet::new();
        loop {
            if !read.insert(url.clone()) {
                return Err(HubError::Bounds(format!(
                    "{what}: the next page is one already read (a loop)"
                )));
            }
            if read.len() > MAX_PAGES {
                return Err(HubError::Bounds(format!(
                    "{what}: more than {MAX_PAGES} pages"
                )));
            }
            let (page, headers, at): (Vec<TreeEntry>, _, _) = self.json(&url, &what).await?;
            all.extend(page);
            if all.len() > MAX_TREE_ENTRIES {
                return Err(HubError::Bounds(format!(
                    "{what}: more than {MAX_TREE_ENTRIES} entries"
                )));
            }
            match next_link(&headers) {
                Some(next) => {
                    url = at
                        .join(&next)
                        .map_err(|_| HubError::Protocol(format!("{what}: next page {next:?}")))?
                        .to_string()
                }
                None => return Ok(all),
            }
        }
    }

    /// `HEAD` of a file: its blob name (etag), size and commit.
    pub async fn head(&self, repo: &str, commit: &str, path: &str) -> Result<FileMeta, HubError> {
        let mut url = self.resolve_url(repo, commit, path);
        let what = format!("{repo}/{path}");
        for _ in 0..5 {
            let resp = self
                .dispatch(self.request(Method::HEAD, &url), false, true, &what)
                .await?;
            let headers = resp.headers();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            if resp.status().is_redirection() {
                // The LFS redirect carries the facts; a relative redirect is a renamed repo.
                if let Some(etag) = header("x-linked-etag") {
                    return Ok(FileMeta {
                        etag: normalize_etag(&etag),
                        size: header("x-linked-size").and_then(|s| s.parse().ok()),
                        commit: header("x-repo-commit"),
                    });
                }
                match header(LOCATION.as_str()) {
                    Some(loc) if loc.starts_with('/') => {
                        url = format!("{}{}", self.config.endpoint, loc);
                        continue;
                    }
                    _ => {
                        return Err(HubError::Protocol(format!(
                            "{what}: redirect without X-Linked-Etag"
                        )))
                    }
                }
            }
            let resp = check(resp, &what).await?;
            let headers = resp.headers();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let etag = header("x-linked-etag")
                .or_else(|| header(ETAG.as_str()))
                .map(|e| normalize_etag(&e))
                .ok_or_else(|| HubError::Protocol(format!("{what}: no ETag")))?;
            let size = header("x-linked-size")
                .or_else(|| header(CONTENT_LENGTH.as_str()))
                .and_then(|s| s.parse().ok());
            return Ok(FileMeta {
                etag,
                size,
                commit: header("x-repo-commit"),
            });
        }
        Err(HubError::Protocol(format!("{what}: too many redirects")))
    }

    /// Sends `rb` and maps an unsuccessful answer to its error.
    pub(crate) async fn call(&self, rb: RequestBuilder, what: &str) -> Result<Response, HubError> {
        let resp = self.send(rb, what).await?;
        check(resp, what).await
    }

    /// As [`Self::call`] without the stall timeout around the whole
    /// exchange: for uploads, whose caller watches the body's progress.
    pub(crate) async fn call_unguarded(
        &self,
        rb: RequestBuilder,
        what: &str,
    ) -> Result<Response, HubError> {
        let resp = self.dispatch(rb, true, false, what).await?;
        check(resp, what).await
    }

    /// Reads a JSON answer (bounded, with the stall timeout).
    pub(crate) async fn body_json<T: serde::de::DeserializeOwned>(
        &self,
        resp: Response,
        what: &str,
    ) -> Result<T, HubError> {
        let body = self.read_json_body(resp, what).await?;
        serde_json::from_slice(&body).map_err(|e| HubError::Protocol(format!("{what}: {e}")))
    }

    /// `{endpoint}/api/models/{repo}/{rest}`.
    pub fn model_api_url(&self, repo: &str, rest: &str) -> String {
        format!("{}/api/models/{repo}/{rest}", self.config.endpoint)
    }

    /// `GET` a file from byte `from` on (redirects followed). The response
    /// status tells whether the server honoured the range (206) or not (200).
    pub async fn get(&self, url: &str, from: u64, what: &str) -> Result<Response, HubError> {
        let mut rb = self.request(Method::GET, url);
        if from > 0 {
            rb = rb.header(RANGE, format!("bytes={from}-"));
        }
        let resp = self.send(rb, what).await?;
        if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(resp);
        }
        check(resp, what).await
    }
}

impl HubClient {
    /// A transport error: `Unreachable` when no connection could be made
    /// (refused, unknown host: retrying will not help), else `Network`.
    fn network(&self, what: &str, e: &reqwest::Error) -> HubError {
        let mut message = e.to_string();
        let mut innermost = message.clone();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            innermost = s.to_string();
            source = s.source();
        }
        if e.is_connect() && !e.is_timeout() {
            let endpoint = e
                .url()
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|| self.config.endpoint.clone());
            let mirror = endpoint == self.config.endpoint
                && self.config.endpoint != super::config::DEFAULT_ENDPOINT;
            return HubError::Unreachable {
                endpoint,
                message: innermost,
                mirror,
            };
        }
        HubError::Network {
            what: what.to_string(),
            message,
        }
    }
}

/// Maps an unsuccessful answer to its error.
async fn check(resp: Response, what: &str) -> Result<Response, HubError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let code = resp
        .headers()
        .get("x-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| parse_retry_after(s, SystemTime::now()));
    let url = resp.url().to_string();
    Err(classify(status.as_u16(), &code, what, url, retry_after))
}

/// The error for an HTTP status and the Hub's `X-Error-Code`.
pub fn classify(
    status: u16,
    code: &str,
    what: &str,
    url: String,
    retry_after: Option<Duration>,
) -> HubError {
    let what = what.to_string();
    match (code, status) {
        ("GatedRepo", _) | ("", 401) | ("", 403) => HubError::AccessDenied { what, status },
        ("RepoNotFound" | "RevisionNotFound" | "EntryNotFound", _) | (_, 404) => {
            HubError::NotFound { what }
        }
        (_, 401 | 403) => HubError::AccessDenied { what, status },
        _ => HubError::Http {
            status,
            url,
            retry_after,
        },
    }
}

/// `W/"abc"` → `abc`.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        let c = |s, code| classify(s, code, "x", String::new(), None).status();
        use crate::ndjson::DownloadStatus::*;
        assert_eq!(c(401, "RepoNotFound"), NotFound);
        assert_eq!(c(401, "GatedRepo"), AccessDenied);
        assert_eq!(c(403, ""), AccessDenied);
        assert_eq!(c(401, ""), AccessDenied);
        assert_eq!(c(404, ""), NotFound);
        assert_eq!(c(404, "RevisionNotFound"), NotFound);
        assert_eq!(c(500, ""), Failed);
        assert!(classify(429, "", "x", String::new(), None).retryable());
        assert!(!classify(403, "", "x", String::new(), None).retryable());
    }

    #[test]
    fn etags_and_links() {
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag("\"abc\""), "abc");
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            "<https://hub/api/x?cursor=2>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://hub/api/x?cursor=2"));
    }

    #[test]
    fn urls_are_quoted() {
        let c = HubClient::new(HubConfig::from_env().with_token(None)).unwrap();
        let url = c.resolve_url("a/b", "refs/pr/1", "dir/my file.json");
        assert!(
            url.ends_with("/a/b/resolve/refs%2Fpr%2F1/dir/my%20file.json"),
            "{url}"
        );
    }
}
