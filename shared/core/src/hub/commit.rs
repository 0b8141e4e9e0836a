//! The Hub's write API around a commit (huggingface_hub's `create_repo`,
//! `create_branch`, `_fetch_upload_modes` and `_send_commit`).
//!
//! - `POST /api/repos/create` `{"name","organization","private"}`; 409: it exists;
//! - `POST /api/models/{repo}/branch/{branch}` `{"startingPoint"}`;
//! - `POST /api/models/{repo}/preupload/{rev}` with up to 256 files a call:
//!   `{"path","sample": base64 of the first 512 bytes,"size"}` → each file's
//!   `uploadMode` (`lfs` or `regular`); empty files always go regular;
//! - `POST /api/models/{repo}/commit/{rev}`, `application/x-ndjson`: a
//!   `header` line, then `file` (inline base64), `lfsFile` (an uploaded
//!   object) and `deletedFile` lines → `{"commitOid","commitUrl"}`.

use base64::Engine as _;
use percent_encoding::utf8_percent_encode;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{HubClient, SEGMENT};
use super::HubError;

/// Files a preupload call may carry (as huggingface_hub sends them).
pub const PREUPLOAD_BATCH: usize = 256;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Creates `repo` (`org/name`); `Ok(false)` when it already exists.
pub async fn create_repo(client: &HubClient, repo: &str, private: bool) -> Result<bool, HubError> {
    let (org, name) = repo
        .split_once('/')
        .ok_or_else(|| HubError::Invalid(format!("'{repo}' is not ORG/NAME")))?;
    let url = format!("{}/api/repos/create", client.config().endpoint);
    let body = json!({"name": name, "organization": org, "type": "model", "private": private});
    let what = format!("creating {repo}");
    match client
        .call(
            client
                .request(Method::POST, &url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string()),
            &what,
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(HubError::Http { status: 409, .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates `branch` of `repo` from `from` (the default branch when `None`).
pub async fn create_branch(
    client: &HubClient,
    repo: &str,
    branch: &str,
    from: Option<&str>,
) -> Result<(), HubError> {
    let url = client.model_api_url(repo, &format!("branch/{}", quote(branch)));
    let body = match from {
        Some(f) => json!({ "startingPoint": f }),
        None => json!({}),
    };
    let what = format!("creating branch {branch} of {repo}");
    client
        .call(
            client
                .request(Method::POST, &url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string()),
            &what,
        )
        .await
        .map(|_| ())
}

/// What preupload is told about a file.
#[derive(Debug, Clone)]
pub struct Sample {
    pub path: String,
    /// The first 512 bytes.
    pub sample: Vec<u8>,
    pub size: u64,
}

#[derive(Deserialize)]
struct PreuploadAnswer {
    files: Vec<PreuploadFile>,
}

#[derive(Deserialize)]
struct PreuploadFile {
    path: String,
    #[serde(rename = "uploadMode")]
    upload_mode: String,
    #[serde(default, rename = "shouldIgnore")]
    should_ignore: bool,
}

/// The server's upload mode for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mode {
    pub path: String,
    pub lfs: bool,
    /// The server's `.gitignore` leaves it out of the commit.
    pub ignored: bool,
}

/// Asks the server how each of `files` (at most [`PREUPLOAD_BATCH`]) is stored.
pub async fn preupload(
    client: &HubClient,
    repo: &str,
    revision: &str,
    files: &[Sample],
) -> Result<Vec<Mode>, HubError> {
    let url = client.model_api_url(repo, &format!("preupload/{}", quote(revision)));
    let body = json!({
        "files": files
            .iter()
            .map(|f| json!({"path": f.path, "sample": b64(&f.sample), "size": f.size}))
            .collect::<Vec<Value>>()
    });
    let what = format!("the upload modes for {repo}");
    let resp = client
        .call(
            client
                .request(Method::POST, &url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string()),
            &what,
        )
        .await?;
    let answer: PreuploadAnswer = client.body_json(resp, &what).await?;
    files
        .iter()
        .map(|f| {
            let a = answer
                .files
                .iter()
                .find(|a| a.path == f.path)
                .ok_or_else(|| {
                    HubError::Protocol(format!("preupload said nothing about {}", f.path))
                })?;
            let lfs = match a.upload_mode.as_str() {
                "lfs" => true,
                "regular" => false,
                other => {
                    return Err(HubError::Protocol(format!(
                        "{}: unknown upload mode {other:?}",
                        f.path
                    )))
                }
            };
            Ok(Mode {
                path: f.path.clone(),
                // Empty files cannot be LFS objects (storage refuses them).
                lfs: lfs && f.size > 0,
                ignored: a.should_ignore,
            })
        })
        .collect()
}

/// One operation of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A regular file, inline.
    File {
        path: String,
        content: Vec<u8>,
    },
    /// An uploaded LFS object.
    Lfs {
        path: String,
        sha256: String,
        size: u64,
    },
    Delete {
        path: String,
    },
}

/// The NDJSON body of a commit.
pub fn payload(summary: &str, description: &str, parent: Option<&str>, ops: &[Op]) -> Vec<u8> {
    let mut header = json!({"summary": summary, "description": description});
    if let Some(p) = parent {
        header["parentCommit"] = json!(p);
    }
    let mut lines = vec![json!({"key": "header", "value": header})];
    for op in ops {
        lines.push(match op {
            Op::File { path, content } => json!({"key": "file", "value": {
                "content": b64(content), "path": path, "encoding": "base64"}}),
            Op::Lfs { path, sha256, size } => json!({"key": "lfsFile", "value": {
                "path": path, "algo": "sha256", "oid": sha256, "size": size}}),
            Op::Delete { path } => json!({"key": "deletedFile", "value": {"path": path}}),
        });
    }
    let mut out = Vec::new();
    for line in lines {
        out.extend(serde_json::to_vec(&line).expect("serializable"));
        out.push(b'\n');
    }
    out
}

/// What the commit call answers.
#[derive(Debug, Clone, Deserialize)]
pub struct CommitInfo {
    #[serde(rename = "commitOid")]
    pub oid: String,
    #[serde(rename = "commitUrl", default)]
    pub url: Option<String>,
}

/// Sends a commit `body` (from [`payload`]) to `revision` of `repo`.
pub async fn commit(
    client: &HubClient,
    repo: &str,
    revision: &str,
    body: Vec<u8>,
) -> Result<CommitInfo, HubError> {
    let url = client.model_api_url(repo, &format!("commit/{}", quote(revision)));
    let what = format!("the commit to {repo}@{revision}");
    let resp = client
        .call(
            client
                .request(Method::POST, &url)
                .header(CONTENT_TYPE, "application/x-ndjson")
                .body(body),
            &what,
        )
        .await?;
    client.body_json(resp, &what).await
}

fn quote(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_payload_is_what_huggingface_hub_sends() {
        let body = payload(
            "Upload",
            "",
            Some("abc"),
            &[
                Op::File {
                    path: "config.json".into(),
                    content: b"{}".to_vec(),
                },
                Op::Lfs {
                    path: "model.safetensors".into(),
                    sha256: "s".into(),
                    size: 7,
                },
                Op::Delete {
                    path: "old.txt".into(),
                },
            ],
        );
        let lines: Vec<Value> = String::from_utf8(body)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            vec![
                json!({"key":"header","value":{"summary":"Upload","description":"","parentCommit":"abc"}}),
                json!({"key":"file","value":{"content":"e30=","path":"config.json","encoding":"base64"}}),
                json!({"key":"lfsFile","value":{"path":"model.safetensors","algo":"sha256","oid":"s","size":7}}),
                json!({"key":"deletedFile","value":{"path":"old.txt"}}),
            ]
        );
    }
}
