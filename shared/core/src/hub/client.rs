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
//! Status mapping: `X-Error-Code: GatedRepo`, 401 and 403 → access denied;
//! `RepoNotFound`/`RevisionNotFound`/`EntryNotFound` and 404 → not found
//! (the Hub answers 401 `RepoNotFound` for a private repository without a
//! token, so that hint goes with it).

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{
    HeaderMap, AUTHORIZATION, CONTENT_LENGTH, ETAG, LINK, LOCATION, RANGE, RETRY_AFTER,
};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;

use super::config::HubConfig;
use super::retry::stall_guard;
use super::HubError;

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
    head: Client,
    config: HubConfig,
}

impl HubClient {
    pub fn new(config: HubConfig) -> Result<Self, HubError> {
        let build = |redirects: reqwest::redirect::Policy| {
            Client::builder()
                .user_agent(concat!("mlxk-pull/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(config.timeout)
                .redirect(redirects)
                .build()
                .map_err(|e| HubError::Invalid(format!("cannot start the HTTP client: {e}")))
        };
        Ok(HubClient {
            http: build(reqwest::redirect::Policy::limited(10))?,
            head: build(reqwest::redirect::Policy::none())?,
            config,
        })
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
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

    fn request(&self, client: &Client, method: Method, url: &str) -> RequestBuilder {
        let rb = client.request(method, url);
        match self.config.token() {
            Some(token) => rb.header(AUTHORIZATION, format!("Bearer {token}")),
            None => rb,
        }
    }

    async fn send(&self, rb: RequestBuilder, what: &str) -> Result<Response, HubError> {
        let timeout = self.config.timeout;
        stall_guard(timeout, || format!("waiting for {what}"), rb.send())
            .await?
            .map_err(|e| self.network(what, &e))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<(T, HeaderMap), HubError> {
        let resp = self
            .send(self.request(&self.http, Method::GET, url), what)
            .await?;
        let resp = check(resp, what).await?;
        let headers = resp.headers().clone();
        let body = stall_guard(
            self.config.timeout,
            || format!("reading {what}"),
            resp.bytes(),
        )
        .await?
        .map_err(|e| self.network(what, &e))?;
        let value = serde_json::from_slice(&body)
            .map_err(|e| HubError::Protocol(format!("{what}: {e}")))?;
        Ok((value, headers))
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

    /// Every entry of the tree at `commit`, following pages.
    pub async fn tree(&self, repo: &str, commit: &str) -> Result<Vec<TreeEntry>, HubError> {
        let mut url = format!(
            "{}/api/models/{}/tree/{}?recursive=true",
            self.config.endpoint,
            repo,
            utf8_percent_encode(commit, SEGMENT)
        );
        let what = format!("the file list of {repo}@{commit}");
        let mut all = Vec::new();
        loop {
            let (page, headers): (Vec<TreeEntry>, _) = self.json(&url, &what).await?;
            all.extend(page);
            match next_link(&headers) {
                Some(next) => url = next,
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
                .send(self.request(&self.head, Method::HEAD, &url), &what)
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

    /// A request to the Hub, with the token when there is one.
    pub(crate) fn hub_request(&self, method: Method, url: &str) -> RequestBuilder {
        self.request(&self.http, method, url)
    }

    /// A request without the token, for the storage URLs the Hub hands out
    /// (presigned; they must never see the token).
    pub(crate) fn bare_request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
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
        let resp = rb.send().await.map_err(|e| self.network(what, &e))?;
        check(resp, what).await
    }

    /// Reads a JSON answer (with the stall timeout).
    pub(crate) async fn body_json<T: serde::de::DeserializeOwned>(
        &self,
        resp: Response,
        what: &str,
    ) -> Result<T, HubError> {
        let body = stall_guard(
            self.config.timeout,
            || format!("reading {what}"),
            resp.bytes(),
        )
        .await?
        .map_err(|e| self.network(what, &e))?;
        serde_json::from_slice(&body).map_err(|e| HubError::Protocol(format!("{what}: {e}")))
    }

    /// `{endpoint}/api/models/{repo}/{rest}`.
    pub fn model_api_url(&self, repo: &str, rest: &str) -> String {
        format!("{}/api/models/{repo}/{rest}", self.config.endpoint)
    }

    /// Whether `url` is on the Hub itself (scheme, host and port of the
    /// endpoint): only such URLs may see the token.
    pub fn is_hub_url(&self, url: &str) -> bool {
        let origin = |u: &str| -> Option<String> {
            let u = reqwest::Url::parse(u).ok()?;
            Some(format!(
                "{}://{}:{}",
                u.scheme(),
                u.host_str()?,
                u.port_or_known_default()?
            ))
        };
        origin(url).is_some() && origin(url) == origin(&self.config.endpoint)
    }

    /// `GET` a file from byte `from` on (redirects followed). The response
    /// status tells whether the server honoured the range (206) or not (200).
    pub async fn get(&self, url: &str, from: u64, what: &str) -> Result<Response, HubError> {
        let mut rb = self.request(&self.http, Method::GET, url);
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
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
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
