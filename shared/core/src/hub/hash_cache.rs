//! Hashes of a workspace's files, computed once and kept beside them.
//!
//! `DIR/.cache/huggingface/mlxk-push.json` maps each path to its size,
//! modification time and hashes; a file whose size and mtime are unchanged
//! is not read again, so re-pushing a 10 GB folder costs a `stat` per file.
//! (`.cache/huggingface/` is where huggingface_hub keeps its own upload
//! state; both clients leave it out of uploads.) A file is read once for
//! both hashes: sha256 (the LFS oid) and, for files small enough to be
//! regular git blobs, the git blob sha1 (`sha1("blob <len>\0" + data)`).
//! The cache is read and written only through real folders of the workspace
//! (never through a `.cache` link), and files are read with `O_NOFOLLOW`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::workspace::LocalFile;
use super::HubError;

/// Where the cache lives inside a workspace.
pub const CACHE_FILE: &str = ".cache/huggingface/mlxk-push.json";

/// The Hub stores files up to this size as regular git blobs (unless its
/// `.gitattributes` says LFS); only those need a git sha1.
pub const REGULAR_MAX: u64 = 10 * 1024 * 1024;

/// The hashes of one file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashes {
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha1: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    size: u64,
    mtime_ns: u64,
    #[serde(flatten)]
    hashes: Hashes,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    version: u32,
    files: BTreeMap<String, Entry>,
}

/// The cache of one workspace.
#[derive(Debug)]
pub struct HashCache {
    /// The workspace.
    root: PathBuf,
    path: PathBuf,
    stored: Stored,
    dirty: bool,
    /// Files read (hashed) in this run.
    pub hashed: u64,
}

impl HashCache {
    /// Loads the cache of `dir`; a missing or unreadable one starts empty.
    pub fn load(dir: &Path) -> Self {
        let path = dir.join(CACHE_FILE);
        let real = super::nofollow::is_real_dir(dir, Path::new(".cache/huggingface"));
        let stored = real
            .then(|| super::nofollow::open_read(&path).ok())
            .flatten()
            .and_then(|mut f| {
                let mut b = Vec::new();
                f.read_to_end(&mut b).ok().map(|_| b)
            })
            .and_then(|b| serde_json::from_slice::<Stored>(&b).ok())
            .filter(|s| s.version == 1)
            .unwrap_or(Stored {
                version: 1,
                files: BTreeMap::new(),
            });
        HashCache {
            root: dir.to_path_buf(),
            path,
            stored,
            dirty: false,
            hashed: 0,
        }
    }

    /// The hashes of `file`, from the cache when its size and mtime match,
    /// else read off the async thread. `git_sha1` is there when `want_sha1`.
    pub async fn hashes(&mut self, file: &LocalFile, want_sha1: bool) -> Result<Hashes, HubError> {
        if let Some(e) = self.stored.files.get(&file.rel) {
            if e.size == file.size
                && e.mtime_ns == file.mtime_ns
                && (!want_sha1 || e.hashes.git_sha1.is_some())
            {
                return Ok(e.hashes.clone());
            }
        }
        let path = file.path.clone();
        let hashes = tokio::task::spawn_blocking(move || hash_file(&path, want_sha1))
            .await
            .map_err(|e| HubError::Invalid(format!("hash task failed: {e}")))??;
        self.hashed += 1;
        self.stored.files.insert(
            file.rel.clone(),
            Entry {
                size: file.size,
                mtime_ns: file.mtime_ns,
                hashes: hashes.clone(),
            },
        );
        self.dirty = true;
        Ok(hashes)
    }

    /// Forgets files no longer in the workspace and writes the cache
    /// (atomically). A read-only workspace just keeps no cache.
    pub fn save(&mut self, present: &[LocalFile]) -> std::io::Result<()> {
        let before = self.stored.files.len();
        self.stored
            .files
            .retain(|rel, _| present.iter().any(|f| &f.rel == rel));
        if !self.dirty && before == self.stored.files.len() {
            return Ok(());
        }
        // Real folders of the workspace only: a `.cache` link is not followed.
        let mut dir = self.root.clone();
        for part in [".cache", "huggingface"] {
            dir.push(part);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(std::io::Error::other(format!(
                        "{} is not a folder of the workspace (a link?); not written",
                        dir.display()
                    )))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::create_dir(&dir)?,
                Err(e) => return Err(e),
            }
        }
        let tmp = self
            .path
            .with_extension(format!("json.tmp{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let mut f = super::nofollow::create_new(&tmp)?;
        std::io::Write::write_all(
            &mut f,
            &serde_json::to_vec(&self.stored).expect("serializable"),
        )?;
        drop(f);
        fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        Ok(())
    }
}

/// Reads `path` once: sha256, and the git blob sha1 when asked.
pub fn hash_file(path: &Path, want_sha1: bool) -> Result<Hashes, HubError> {
    let io = |e| HubError::io(path, e);
    let mut f = super::nofollow::open_read(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut sha256 = Sha256::new();
    let mut sha1 = want_sha1.then(|| {
        let mut h = Sha1::new();
        h.update(format!("blob {len}\0").as_bytes());
        h
    });
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        if let Some(h) = sha1.as_mut() {
            h.update(&buf[..n]);
        }
        total += n as u64;
    }
    if total != len {
        return Err(HubError::Invalid(format!(
            "{} changed while it was read ({len} bytes, then {total})",
            path.display()
        )));
    }
    Ok(Hashes {
        sha256: hex(&sha256.finalize()),
        git_sha1: sha1.map(|h| hex(&h.finalize())),
    })
}

/// The git blob sha1 of the LFS pointer the Hub keeps for an object: the
/// `oid` the tree lists for an LFS file.
pub fn pointer_sha1(sha256: &str, size: u64) -> String {
    let pointer =
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n");
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", pointer.len()).as_bytes());
    h.update(pointer.as_bytes());
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_kept_until_size_or_mtime_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, b"hello\n").unwrap();
        let file = LocalFile {
            rel: "a.txt".into(),
            path: path.clone(),
            size: 6,
            mtime_ns: 1,
        };
        let mut cache = HashCache::load(dir.path());
        let h = cache.hashes(&file, true).await.unwrap();
        // `printf 'hello\n' | git hash-object --stdin` and `sha256sum`.
        assert_eq!(
            h.git_sha1.as_deref(),
            Some("ce013625030ba8dba906f756967f9e9ca394464a")
        );
        assert_eq!(
            h.sha256,
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        cache.save(std::slice::from_ref(&file)).unwrap();

        // Same size and mtime: not read again, even if the bytes changed.
        fs::write(&path, b"HELLO\n").unwrap();
        let mut cache = HashCache::load(dir.path());
        assert_eq!(cache.hashes(&file, true).await.unwrap(), h);
        assert_eq!(cache.hashed, 0);
        // Another mtime: read again.
        let moved = LocalFile {
            mtime_ns: 2,
            ..file.clone()
        };
        assert_ne!(cache.hashes(&moved, true).await.unwrap(), h);
        assert_eq!(cache.hashed, 1);
    }

    #[test]
    fn pointer_oid_is_the_git_oid_of_the_pointer() {
        // `git hash-object` of the pointer file git-lfs writes for this object.
        let sha = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
        assert_eq!(
            pointer_sha1(sha, 90_868_376),
            "d49eff1e4a6f0e3ba5069f21c6d20aad156dd2c9"
        );
    }
}
