//! Booby-trapped caches: links planted in a cache others can write (a lab
//! Mac's shared cache, a network volume, a container mount). mlxk-pull
//! never writes through a link it did not make, trusts no blob it cannot
//! vouch for, and `--from` never copies what a link outside the folder
//! points to. Every victim lies outside the cache and must not change.

use std::os::unix::fs::{symlink, PermissionsExt};

use serde_json::Value;

use super::servers::{http, HostileHub, EVIL, EVIL_COMMIT, EVIL_DIR};
use super::*;

const PRECIOUS: &[u8] = b"precious: must never change\n";

/// (path, blob name, size) of each file the hub serves.
fn evil_files(hub: &HostileHub) -> Vec<(String, String, u64)> {
    let (status, text) = http(
        hub.endpoint(),
        "GET",
        &format!("/api/models/{EVIL}/tree/{EVIL_COMMIT}?recursive=true"),
        "",
    );
    assert_eq!(status, 200);
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    entries
        .iter()
        .map(|e| {
            let etag = e["lfs"]["oid"].as_str().or(e["oid"].as_str()).unwrap();
            let size = e["lfs"]["size"].as_u64().or(e["size"].as_u64()).unwrap();
            (
                e["path"].as_str().unwrap().to_string(),
                etag.to_string(),
                size,
            )
        })
        .collect()
}

fn blob_of(hub: &HostileHub, path: &str) -> (String, u64) {
    let (_, etag, size) = evil_files(hub)
        .into_iter()
        .find(|(p, _, _)| p == path)
        .unwrap();
    (etag, size)
}

/// A file outside the cache that an attack aims at.
fn victim(cache: &TestCache) -> PathBuf {
    let path = cache.scratch("outside").join("victim");
    std::fs::write(&path, PRECIOUS).unwrap();
    path
}

fn pull_ok(cache: &TestCache, hub: &HostileHub) -> Run {
    let run = pull(cache, hub.endpoint(), &["--json", EVIL]).expect_code(0);
    let r = result(&run);
    assert!(
        matches!(r.download_status.as_str(), "success" | "already_exists"),
        "{r:?}"
    );
    assert_eq!(r.health.as_deref(), Some("healthy"), "{r:?}");
    run
}

/// The snapshot gives the hub's bytes for every file.
fn snapshot_is_right(cache: &TestCache, hub: &HostileHub) {
    let snap = repo_path(cache, EVIL_DIR)
        .join("snapshots")
        .join(EVIL_COMMIT);
    for (path, _, size) in evil_files(hub) {
        let data = std::fs::read(snap.join(&path)).unwrap();
        assert_eq!(data.len() as u64, size, "{path}");
    }
    let config = std::fs::read_to_string(snap.join("config.json")).unwrap();
    assert!(config.contains("\"model_type\""), "{config}");
}

fn real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

#[test]
fn a_planted_incomplete_link_never_writes_its_target() {
    let hub = HostileHub::start();
    let cache = TestCache::new();
    let victim = victim(&cache);
    let blobs = repo_path(&cache, EVIL_DIR).join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    for (_, etag, _) in evil_files(&hub) {
        symlink(&victim, blobs.join(format!("{etag}.incomplete"))).unwrap();
    }
    let run = pull_ok(&cache, &hub);
    assert!(run.stderr().contains("planted"), "{}", run.stderr());
    assert_eq!(std::fs::read(&victim).unwrap(), PRECIOUS);
    snapshot_is_right(&cache, &hub);
}

#[test]
fn planted_folder_links_are_replaced_not_followed() {
    let hub = HostileHub::start();
    let cache = TestCache::new();
    let outside = cache.scratch("outside");
    let repo = repo_path(&cache, EVIL_DIR);
    std::fs::create_dir_all(repo.join("snapshots")).unwrap();
    for (name, link) in [
        ("blobs", repo.join("blobs")),
        ("snap", repo.join("snapshots").join(EVIL_COMMIT)),
        ("refs", repo.join("refs")),
        ("trees", repo.join("trees")),
    ] {
        std::fs::create_dir(outside.join(name)).unwrap();
        symlink(outside.join(name), link).unwrap();
    }
    let run = pull_ok(&cache, &hub);
    assert!(run.stderr().contains("planted"), "{}", run.stderr());
    assert!(
        listing(&outside).iter().all(|p| !p.contains('/')),
        "{:?}",
        listing(&outside)
    );
    for dir in ["blobs", "refs", "trees", "snapshots"] {
        assert!(real_dir(&repo.join(dir)), "{dir}");
    }
    assert!(real_dir(&repo.join("snapshots").join(EVIL_COMMIT)));
    snapshot_is_right(&cache, &hub);

    // The whole repository folder as a link, too.
    let cache = TestCache::new();
    let elsewhere = cache.scratch("elsewhere");
    symlink(&elsewhere, repo_path(&cache, EVIL_DIR)).unwrap();
    pull_ok(&cache, &hub);
    assert!(real_dir(&repo_path(&cache, EVIL_DIR)));
    assert!(listing(&elsewhere).is_empty());
}

#[test]
fn a_planted_blob_of_the_right_size_and_wrong_content_is_not_trusted() {
    let hub = HostileHub::start();
    let cache = TestCache::new();
    let (etag, size) = blob_of(&hub, "config.json");
    let blobs = repo_path(&cache, EVIL_DIR).join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    // As a group-writable shared cache would hold it.
    let planted = blobs.join(&etag);
    std::fs::write(&planted, vec![b'x'; size as usize]).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = pull_ok(&cache, &hub);
    assert!(
        run.stderr().contains("does not match its hash"),
        "{}",
        run.stderr()
    );
    let r = result(&run);
    assert_eq!((r.download_status.as_str(), r.files), ("success", 3));
    snapshot_is_right(&cache, &hub);

    // A hard link to a file outside, of the right size: not ours alone,
    // hashed, replaced; the file outside is untouched.
    let cache = TestCache::new();
    let victim = cache.scratch("outside").join("victim");
    std::fs::write(&victim, vec![b'y'; size as usize]).unwrap();
    let blobs = repo_path(&cache, EVIL_DIR).join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::hard_link(&victim, blobs.join(&etag)).unwrap();
    pull_ok(&cache, &hub);
    assert_eq!(std::fs::read(&victim).unwrap(), vec![b'y'; size as usize]);
    snapshot_is_right(&cache, &hub);
}

#[test]
fn a_verified_blob_is_sealed_so_a_warm_pull_reads_nothing() {
    let hub = HostileHub::start();
    let cache = TestCache::new();
    let files = evil_files(&hub);
    pull_ok(&cache, &hub);
    let blobs = repo_path(&cache, EVIL_DIR).join("blobs");
    let mode = |etag: &str| {
        std::fs::metadata(blobs.join(etag))
            .unwrap()
            .permissions()
            .mode()
    };
    for (_, etag, _) in &files {
        assert_eq!(mode(etag) & 0o022, 0, "{etag}: {:o}", mode(etag));
        // Made group-writable (a shared cache's umask): hashed once, sealed again.
        let writable = std::fs::Permissions::from_mode(0o664);
        std::fs::set_permissions(blobs.join(etag), writable).unwrap();
    }
    hub.reset();
    let r = result(&pull_ok(&cache, &hub));
    assert_eq!((r.download_status.as_str(), r.files), ("already_exists", 0));
    for (_, etag, _) in &files {
        assert_eq!(mode(etag) & 0o022, 0, "{etag}: {:o}", mode(etag));
    }
    // Two metadata requests, no file request.
    let log = hub.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log
        .iter()
        .all(|r| r["path"].as_str().unwrap().starts_with("/api/")));
}

#[test]
fn a_planted_lock_link_creates_nothing_outside() {
    let hub = HostileHub::start();
    let cache = TestCache::new();
    let outside = cache.scratch("outside");
    let locks = cache.hub().join(".locks").join(EVIL_DIR);
    std::fs::create_dir_all(&locks).unwrap();
    for (_, etag, _) in evil_files(&hub) {
        symlink(outside.join(&etag), locks.join(format!("{etag}.lock"))).unwrap();
    }
    let run = pull_ok(&cache, &hub);
    assert!(run.stderr().contains("planted"), "{}", run.stderr());
    assert!(listing(&outside).is_empty(), "{:?}", listing(&outside));
}

#[test]
fn import_never_copies_what_a_link_outside_the_folder_points_to() {
    let cache = TestCache::new();
    let secret = cache.scratch("outside").join("token");
    std::fs::write(&secret, b"hf_TheUsersRealToken\n").unwrap();
    let dir = cache.scratch("model");
    std::fs::write(dir.join("config.json"), br#"{"model_type": "llama"}"#).unwrap();
    std::fs::write(dir.join("model.safetensors"), tiny_safetensors()).unwrap();
    symlink(&secret, dir.join("notes.txt")).unwrap();
    symlink(".", dir.join("loop")).unwrap();
    symlink("config.json", dir.join("alias.json")).unwrap();
    let run = Run(cache
        .command(BIN)
        .args(["--json", "--from", dir.to_str().unwrap(), "me/model"])
        .output()
        .unwrap());
    let r = result(&run);
    assert_eq!(r.download_status, "success", "{}", run.stderr());
    let err = run.stderr();
    assert!(
        err.contains("notes.txt: skipped") && err.contains("outside the folder"),
        "{err}"
    );
    assert!(err.contains("loop: skipped"), "{err}");
    let snap = PathBuf::from(r.path.unwrap());
    assert!(!snap.join("notes.txt").exists());
    assert!(
        snap.join("alias.json").exists(),
        "a link inside the folder is followed"
    );
    let repo = repo_path(&cache, "models--me--model");
    for blob in std::fs::read_dir(repo.join("blobs")).unwrap() {
        let data = std::fs::read(blob.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&data).contains("TheUsersRealToken"));
    }
}

/// A valid safetensors file: one 4×4 f32 tensor.
fn tiny_safetensors() -> Vec<u8> {
    let mut header = br#"{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}"#.to_vec();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(0u8..64);
    out
}
