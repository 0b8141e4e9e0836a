//! `mlxk-pull --from DIR NAME`: a local folder into the cache through the
//! pull's own write path (how the quickstart installs the default model).

use std::fs;

use super::{listing, pull_cmd, repo_path, result, MINILM, MINILM_DIR, SAFETENSORS_SHA256};
use crate::harness::{fixtures, git_blob_sha1, Run, TestCache};

const LIST: &str = env!("CARGO_BIN_EXE_mlxk-list");

fn import(cache: &TestCache, dir: &str, name: &str) -> Run {
    Run(pull_cmd(
        cache,
        "http://127.0.0.1:9",
        &["--json", "--from", dir, name],
    )
    .output()
    .unwrap())
}

#[test]
fn a_folder_enters_the_cache_as_a_pull_writes_it() {
    let cache = TestCache::new();
    let other = crate::list::smollm2(&cache, "mlx-community/SmolLM2-135M-Instruct-4bit").build();
    let other_before = listing(&other.dir);
    let src = fixtures::minilm_dir();

    let run = import(&cache, src.to_str().unwrap(), MINILM).expect_code(0);
    let r = result(&run);
    assert_eq!(r.download_status, "success");
    assert_eq!(r.health.as_deref(), Some("healthy"));
    assert_eq!(r.files, 13, "every file copied once");
    let repo = repo_path(&cache, MINILM_DIR);
    // Weights are LFS blobs named by sha256, small files by their git blob sha1.
    assert!(repo.join("blobs").join(SAFETENSORS_SHA256).is_file());
    let config = fs::read(src.join("config.json")).unwrap();
    assert!(repo.join("blobs").join(git_blob_sha1(&config)).is_file());
    let commit = fs::read_to_string(repo.join("refs/main")).unwrap();
    let snapshot = repo.join("snapshots").join(&commit);
    assert_eq!(
        fs::read_link(snapshot.join("1_Pooling/config.json")).unwrap(),
        std::path::Path::new("../../../blobs").join(git_blob_sha1(
            &fs::read(src.join("1_Pooling/config.json")).unwrap()
        ))
    );
    assert_eq!(fs::read(snapshot.join("config.json")).unwrap(), config);
    let tree: serde_json::Value =
        serde_json::from_slice(&fs::read(repo.join(format!("trees/{commit}.json"))).unwrap())
            .unwrap();
    assert_eq!(
        tree["files"]["model.safetensors"]["lfs_sha256"],
        SAFETENSORS_SHA256
    );
    assert!(tree["files"]["config.json"].get("lfs_sha256").is_none());
    assert!(!listing(&repo).iter().any(|p| p.ends_with(".incomplete")));

    // The cache's readers see it, and nothing else in the cache changed.
    let list = cache.run(LIST, &["--health", "all-MiniLM"]).expect_code(0);
    assert!(list.stdout().contains(MINILM), "{}", list.stdout());
    assert_eq!(listing(&other.dir), other_before);

    // The same folder again: the same commit, nothing copied.
    let again = result(&import(&cache, src.to_str().unwrap(), MINILM).expect_code(0));
    assert_eq!(again.download_status, "already_exists");
    assert_eq!(
        (again.files, again.hash.as_deref()),
        (0, Some(commit.as_str()))
    );
}

#[test]
fn a_missing_folder_writes_nothing() {
    let cache = TestCache::new();
    let run = import(&cache, "/nonexistent/model", MINILM).expect_code(1);
    let r = result(&run);
    assert_eq!(r.download_status, "failed");
    assert!(r.reason.unwrap().contains("is not a directory"));
    assert!(
        listing(cache.hub()).is_empty(),
        "{:?}",
        listing(cache.hub())
    );
    let two = Run(pull_cmd(
        &cache,
        "http://127.0.0.1:9",
        &["--from", "/tmp", "a/b", "c/d"],
    )
    .output()
    .unwrap())
    .expect_code(2);
    assert!(
        two.stderr().contains("--from imports one folder"),
        "{}",
        two.stderr()
    );
}
