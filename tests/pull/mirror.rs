//! Against a real mirror: olah serving git repositories of real files.

use super::servers::{hf_snapshot, manifest, olah, python_tool};
use super::*;

#[test]
fn pull_through_olah_writes_the_cache_huggingface_hub_writes() {
    let server = olah();
    let ours = TestCache::new();
    let run = pull(&ours, &server.endpoint, &["--all", "--json", MINILM]).expect_code(0);
    let r = result(&run);
    assert_eq!(r.download_status, "success");
    assert_eq!(r.hash.as_deref(), Some(MINILM_COMMIT));
    assert_eq!(r.files, 13);
    assert!(r.bytes > SAFETENSORS_SIZE, "{r:?}");
    assert_eq!(r.health.as_deref(), Some("healthy"), "{r:?}");
    assert!(r
        .path
        .as_deref()
        .unwrap()
        .ends_with(&format!("snapshots/{MINILM_COMMIT}")));
    assert!(matches!(
        messages(&run).last(),
        Some(Msg::Summary {
            total: 1,
            ok: 1,
            failed: 0,
            exit_code: 0
        })
    ));

    let reference = TestCache::new();
    hf_snapshot(&reference, &server.endpoint, MINILM);
    assert_eq!(
        manifest(&ours),
        manifest(&reference),
        "blobs, links, refs and trees differ"
    );
    assert!(ours.hub().join("CACHEDIR.TAG").is_file());

    // The official tools read ours as complete.
    let verify = python_tool(&ours, "huggingface_hub.cli.hf")
        .args(["cache", "verify", MINILM])
        .env("HF_ENDPOINT", &server.endpoint)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && text.contains("All checksums match"),
        "hf cache verify:\n{text}{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    let list = python_tool(&ours, "mlxk2.cli")
        .args(["list", "--all", "--health", "--json"])
        .env("HF_HOME", ours.hub().parent().unwrap())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap_or_else(|e| {
        panic!(
            "mlxk list --json: {e}: {}",
            String::from_utf8_lossy(&list.stdout)
        )
    });
    let models = v["data"]["models"].as_array().unwrap();
    let m = models
        .iter()
        .find(|m| m["name"] == MINILM)
        .unwrap_or_else(|| panic!("mlx-knife does not see it: {v}"));
    assert_eq!(m["hash"], MINILM_COMMIT, "{m}");
    assert_eq!(m["health"], "healthy", "{m}");
}

#[test]
fn the_mlx_default_set_leaves_out_what_mlx_does_not_read() {
    let server = olah();
    let ours = TestCache::new();
    let r = result(&pull(&ours, &server.endpoint, &["--json", MINILM]).expect_code(0));
    assert_eq!(r.download_status, "success");
    // .gitattributes is not in the MLX default set; everything else of this repo is.
    let snapshot = ours
        .hub()
        .join(MINILM_DIR)
        .join("snapshots")
        .join(MINILM_COMMIT);
    assert!(!snapshot.join(".gitattributes").exists());
    assert!(snapshot.join("1_Pooling/config.json").is_file());
    assert_eq!(r.files, 12);
}

#[test]
fn offline_mode_reports_what_is_cached_without_network() {
    let server = olah();
    let cache = TestCache::new();
    // Nothing cached: `offline`, exit 1, and the cache stays empty.
    let run = cache
        .command(BIN)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_ENDPOINT", "http://127.0.0.1:9") // would be refused if touched
        .args(["--json", MINILM])
        .output()
        .unwrap();
    let run = Run(run).expect_code(1);
    let r = result(&run);
    assert_eq!(r.download_status, "offline");
    assert!(r.reason.unwrap().contains("HF_HUB_OFFLINE"));
    assert!(listing(cache.hub()).is_empty());

    pull(&cache, &server.endpoint, &["--json", MINILM]).expect_code(0);
    let run = cache
        .command(BIN)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .args(["--json", MINILM])
        .output()
        .unwrap();
    let r = result(&Run(run).expect_code(0));
    assert_eq!(r.download_status, "already_exists");
    assert_eq!(r.hash.as_deref(), Some(MINILM_COMMIT));
    assert_eq!(r.health.as_deref(), Some("healthy"));
}
