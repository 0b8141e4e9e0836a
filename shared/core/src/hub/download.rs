//! One blob: download to `blobs/<etag>.incomplete`, resume with `Range`,
//! verify, rename into place.
//!
//! - An `.incomplete` left by an earlier run is kept: its bytes are hashed
//!   again (they are not trusted blindly) and the transfer asks for the rest.
//!   A server that answers `200` instead of `206` sends the whole file: the
//!   partial file is truncated and hashing starts over.
//! - Every byte goes through the hash the Hub published: the LFS sha256, or
//!   for small files the git blob sha1 (`sha1("blob <size>\0" + content)`).
//!   A file whose size or hash is wrong is deleted, never renamed into place.
//! - The data is flushed to disk before the rename, so a crash leaves either
//!   the `.incomplete` or the whole blob.
//! - Nothing is written through a link: the partial file is opened with
//!   `O_NOFOLLOW` and kept only if it is ours alone; anything else planted
//!   at its name is replaced ([`super::nofollow`]). A finished blob is
//!   sealed (no write permission for group and others) before the rename,
//!   which marks it as verified ([`super::trust`]).

use std::cell::Cell;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::client::HubClient;
use super::nofollow::{self, Note};
use super::progress::Reporter;
use super::retry::{retry, stall_guard};
use super::HubError;

/// How a blob's content is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// LFS files: the sha256 of the content.
    Sha256(String),
    /// Regular files: the git blob id.
    GitSha1(String),
    /// Nothing known but the size.
    Size,
}

/// A file to fetch into `blobs/`.
#[derive(Debug, Clone)]
pub struct Blob {
    pub repo: String,
    pub file: String,
    pub url: String,
    pub etag: String,
    pub size: u64,
    pub check: Check,
}

impl Blob {
    pub fn incomplete_path(&self, blobs: &Path) -> PathBuf {
        blobs.join(format!("{}.incomplete", self.etag))
    }
}

pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha1(Sha1),
    None,
}

impl Hasher {
    pub(crate) fn new(check: &Check, size: u64) -> Self {
        match check {
            Check::Sha256(_) => Hasher::Sha256(Sha256::new()),
            Check::GitSha1(_) => {
                let mut h = Sha1::new();
                h.update(format!("blob {size}\0").as_bytes());
                Hasher::Sha1(h)
            }
            Check::Size => Hasher::None,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::None => {}
        }
    }

    /// `Err(reason)` when the content is not what was promised.
    pub(crate) fn verify(self, check: &Check) -> Result<(), String> {
        let (kind, got, want) = match (self, check) {
            (Hasher::Sha256(h), Check::Sha256(want)) => ("sha256", hex(&h.finalize()), want),
            (Hasher::Sha1(h), Check::GitSha1(want)) => ("git sha1", hex(&h.finalize()), want),
            _ => return Ok(()),
        };
        if got.eq_ignore_ascii_case(want) {
            Ok(())
        } else {
            Err(format!("{kind} mismatch: expected {want}, got {got}"))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fetches `blob` into `blobs/<etag>` with retries. `blobs` must be a real
/// folder (see [`nofollow::real_dir`]). `sent` counts the bytes that came
/// over the network (resumed bytes are not counted).
pub async fn fetch(
    client: &HubClient,
    blobs: &Path,
    blob: &Blob,
    reporter: &dyn Reporter,
    sent: &Cell<u64>,
    note: Note<'_>,
) -> Result<(), HubError> {
    let policy = client.config().backoff;
    retry(
        &policy,
        |_| attempt(client, blobs, blob, reporter, sent, note),
        |n, e, pause| {
            reporter.note(
                &blob.repo,
                &format!(
                    "{}: {e}; retry {n}/{} in {:.0}s",
                    blob.file,
                    policy.retries,
                    pause.as_secs_f64()
                ),
            )
        },
    )
    .await
}

async fn attempt(
    client: &HubClient,
    blobs: &Path,
    blob: &Blob,
    reporter: &dyn Reporter,
    sent: &Cell<u64>,
    note: Note<'_>,
) -> Result<(), HubError> {
    let part = blob.incomplete_path(blobs);
    let io = |e| HubError::io(&part, e);
    let mut file = nofollow::open_partial(&part, note)?;
    let mut have = file.metadata().map_err(io)?.len();
    if have > blob.size {
        file.set_len(0).map_err(io)?;
        have = 0;
    }
    let mut hasher = Hasher::new(&blob.check, blob.size);
    if have > 0 {
        let reader = file.try_clone().map_err(io)?;
        hasher = hash_prefix(reader, part.clone(), hasher, have).await?;
    }
    file.seek(SeekFrom::Start(have)).map_err(io)?;
    reporter.file_start(&blob.repo, &blob.file, have, blob.size);

    if have < blob.size {
        let what = format!("downloading {}", blob.file);
        let mut resp = client.get(&blob.url, have, &what).await?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let start = content_range_start(&resp);
                if start != Some(have) {
                    restart(&mut file, &part)?;
                    return Err(HubError::Protocol(format!(
                        "{}: asked for bytes from {have}, got a range starting at {start:?}",
                        blob.file
                    )));
                }
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                restart(&mut file, &part)?;
                return Err(HubError::Network {
                    what,
                    message: "the server refused to resume (416); starting over".into(),
                });
            }
            _ if have > 0 => {
                // The server ignored Range and sends the whole file.
                reporter.note(
                    &blob.repo,
                    &format!("{}: the server ignored Range; starting over", blob.file),
                );
                restart(&mut file, &part)?;
                have = 0;
                hasher = Hasher::new(&blob.check, blob.size);
                reporter.file_start(&blob.repo, &blob.file, 0, blob.size);
            }
            _ => {}
        }
        let timeout = client.config().timeout;
        loop {
            let chunk = stall_guard(timeout, || what.clone(), resp.chunk())
                .await?
                .map_err(|e| HubError::Network {
                    what: what.clone(),
                    message: e.to_string(),
                })?;
            let Some(chunk) = chunk else { break };
            if have + chunk.len() as u64 > blob.size {
                drop(file);
                let _ = fs::remove_file(&part);
                return Err(HubError::Verify(format!(
                    "{}: the server sent more than the {} bytes the Hub announced",
                    blob.file, blob.size
                )));
            }
            file.write_all(&chunk).map_err(io)?;
            hasher.update(&chunk);
            have += chunk.len() as u64;
            sent.set(sent.get() + chunk.len() as u64);
            reporter.file_progress(&blob.repo, &blob.file, have, blob.size);
        }
        if have < blob.size {
            return Err(HubError::Network {
                what,
                message: format!("connection closed after {have} of {} bytes", blob.size),
            });
        }
    }

    if let Err(reason) = hasher.verify(&blob.check) {
        drop(file);
        let _ = fs::remove_file(&part);
        return Err(HubError::Verify(format!("{}: {reason}", blob.file)));
    }
    nofollow::seal(&file).map_err(io)?;
    file.sync_data().map_err(io)?;
    drop(file);
    let dest = blobs.join(&blob.etag);
    fs::rename(&part, &dest).map_err(|e| HubError::io(&dest, e))?;
    Ok(())
}

fn restart(file: &mut File, part: &Path) -> Result<(), HubError> {
    file.set_len(0).map_err(|e| HubError::io(part, e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| HubError::io(part, e))?;
    Ok(())
}

fn content_range_start(resp: &reqwest::Response) -> Option<u64> {
    let value = resp.headers().get("content-range")?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// Hashes the first `len` bytes of the open partial file off the async thread.
async fn hash_prefix(
    mut f: File,
    path: PathBuf,
    mut hasher: Hasher,
    len: u64,
) -> Result<Hasher, HubError> {
    tokio::task::spawn_blocking(move || {
        f.seek(SeekFrom::Start(0))
            .map_err(|e| HubError::io(&path, e))?;
        let mut left = len;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let want = buf.len().min(left as usize);
            f.read_exact(&mut buf[..want])
                .map_err(|e| HubError::io(&path, e))?;
            hasher.update(&buf[..want]);
            left -= want as u64;
        }
        Ok(hasher)
    })
    .await
    .map_err(|e| HubError::Invalid(format!("hash task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_sha1_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        let check = Check::GitSha1("ce013625030ba8dba906f756967f9e9ca394464a".into());
        let mut h = Hasher::new(&check, 6);
        h.update(b"hel");
        h.update(b"lo\n");
        assert_eq!(h.verify(&check), Ok(()));
        let mut h = Hasher::new(&check, 6);
        h.update(b"hellO\n");
        assert!(h.verify(&check).unwrap_err().contains("git sha1 mismatch"));
    }

    #[test]
    fn sha256_is_checked() {
        let check = Check::Sha256(
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into(),
        );
        let mut h = Hasher::new(&check, 5);
        h.update(b"hello");
        assert_eq!(h.verify(&check), Ok(()));
    }
}
