//! Against tests/hub/fault_hub.py: the same repositories, served badly on purpose.

use serde_json::json;

use super::servers::{hf_snapshot, manifest, olah, FaultHub};
use super::*;

const ST: &str = "model.safetensors";

fn blob(cache: &TestCache, etag: &str) -> PathBuf {
    repo_path(cache, MINILM_DIR).join("blobs").join(etag)
}

fn incomplete(cache: &TestCache) -> PathBuf {
    blob(cache, &format!("{SAFETENSORS_SHA256}.incomplete"))
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut h).unwrap();
    crate::harness::hex(&h.finalize())
}

#[test]
fn the_fault_server_is_honest_when_asked_to_be() {
    let hub = FaultHub::start();
    let mirror = olah();
    let from_hub = TestCache::new();
    let from_olah = TestCache::new();
    hf_snapshot(&from_hub, hub.endpoint(), MINILM);
    hf_snapshot(&from_olah, &mirror.endpoint, MINILM);
    assert_eq!(manifest(&from_hub), manifest(&from_olah));
    // And ours agrees with both.
    let ours = TestCache::new();
    pull(&ours, hub.endpoint(), &["--all", MINILM]).expect_code(0);
    assert_eq!(manifest(&ours), manifest(&from_hub));
}

/// Starts a pull whose safetensors transfer stops after `at` bytes and
/// waits until exactly those bytes are on disk.
fn pull_held_at(hub: &FaultHub, cache: &TestCache, at: u64, args: &[&str]) -> std::process::Child {
    hub.fault(json!({"path": ST, "mode": "hold", "after": at, "times": 1}));
    let child = pull_cmd(cache, hub.endpoint(), args).spawn().unwrap();
    wait_for("the held transfer to reach the disk", || {
        size(&incomplete(cache)) == at
    });
    child
}

#[test]
fn a_pull_killed_halfway_resumes_without_resending_and_ends_byte_identical() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    let at = 40_000_000;
    let mut child = pull_held_at(&hub, &cache, at, &["--json", "--all", MINILM]);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    hub.release();
    assert!(
        !blob(&cache, SAFETENSORS_SHA256).exists(),
        "a partial file was renamed into place"
    );
    assert!(
        !repo_path(&cache, MINILM_DIR).join("refs/main").exists(),
        "refs written before the snapshot was whole"
    );
    hub.reset();

    let run = pull(&cache, hub.endpoint(), &["--json", "--all", MINILM]).expect_code(0);
    let r = result(&run);
    assert_eq!(r.download_status, "success");
    assert_eq!(
        hub.sent(ST),
        SAFETENSORS_SIZE - at,
        "re-sent bytes it already had"
    );
    let gets = hub.requests("GET", ST);
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0]["range"], format!("bytes={at}-"));
    assert_eq!(gets[0]["status"], 206);
    assert_eq!(
        sha256_file(&blob(&cache, SAFETENSORS_SHA256)),
        SAFETENSORS_SHA256
    );
    assert!(!incomplete(&cache).exists());

    let reference = TestCache::new();
    hf_snapshot(&reference, hub.endpoint(), MINILM);
    assert_eq!(manifest(&cache), manifest(&reference));
}

#[test]
fn a_server_that_ignores_range_means_starting_over_correctly() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    let mut child = pull_held_at(&hub, &cache, 10_000_000, &[MINILM]);
    child.kill().unwrap();
    child.wait().unwrap();
    hub.release();
    hub.reset();
    hub.fault(json!({"path": ST, "mode": "ignore_range"}));
    let run = pull(&cache, hub.endpoint(), &["--json", MINILM]).expect_code(0);
    assert_eq!(result(&run).download_status, "success");
    assert!(run.stderr().contains("ignored Range"), "{}", run.stderr());
    assert_eq!(hub.sent(ST), SAFETENSORS_SIZE);
    assert_eq!(
        sha256_file(&blob(&cache, SAFETENSORS_SHA256)),
        SAFETENSORS_SHA256
    );
}

#[test]
fn a_dropped_connection_is_resumed_in_the_same_run() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    hub.fault(json!({"path": ST, "mode": "drop", "after": 25_000_000, "times": 1}));
    let run = pull(&cache, hub.endpoint(), &["--json", MINILM]).expect_code(0);
    assert_eq!(result(&run).download_status, "success");
    let gets = hub.requests("GET", ST);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[1]["range"], "bytes=25000000-");
    assert_eq!(hub.sent(ST), SAFETENSORS_SIZE);
    assert_eq!(
        sha256_file(&blob(&cache, SAFETENSORS_SHA256)),
        SAFETENSORS_SHA256
    );
}

#[test]
fn a_corrupted_transfer_is_never_renamed_into_place() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    hub.fault(json!({"path": ST, "mode": "corrupt", "after": 1234567}));
    let run = pull(
        &cache,
        hub.endpoint(),
        &["--json", "--retries", "1", MINILM],
    )
    .expect_code(1);
    let r = result(&run);
    assert_eq!(r.download_status, "failed");
    let reason = r.reason.unwrap();
    assert!(reason.contains("sha256 mismatch"), "{reason}");
    assert_eq!(
        hub.requests("GET", ST).len(),
        2,
        "verified once, retried once"
    );
    assert!(!blob(&cache, SAFETENSORS_SHA256).exists());
    assert!(
        !incomplete(&cache).exists(),
        "a corrupt partial file would poison the resume"
    );
    let repo = repo_path(&cache, MINILM_DIR);
    assert!(!repo.join("snapshots").exists() && !repo.join("refs").exists());

    // A small (non-LFS) file is checked against its git blob id; one bad transfer is retried.
    hub.reset();
    let cache = TestCache::new();
    hub.fault(json!({"path": "config.json", "mode": "corrupt", "after": 10, "times": 1}));
    let run = pull(&cache, hub.endpoint(), &["--json", MINILM]).expect_code(0);
    assert_eq!(result(&run).download_status, "success");
    assert!(
        run.stderr().contains("git sha1 mismatch"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        hub.requests("GET", &format!("{MINILM_COMMIT}/config.json"))
            .len(),
        2
    );
}

#[test]
fn access_errors_fail_fast_and_leave_the_cache_as_it_was() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    std::fs::create_dir_all(cache.hub()).unwrap();
    let before = listing(cache.hub());
    for (fault, status) in [
        (
            json!({"path": MINILM, "mode": "api_status", "status": 401}),
            "access_denied",
        ),
        (
            json!({"path": MINILM, "mode": "api_status", "status": 403}),
            "access_denied",
        ),
        (
            json!({"path": MINILM, "mode": "api_status", "status": 404}),
            "not_found",
        ),
        (
            json!({"path": "*", "mode": "status", "status": 403}),
            "access_denied",
        ),
    ] {
        hub.reset();
        hub.fault(fault.clone());
        let run = pull(&cache, hub.endpoint(), &["--json", MINILM]).expect_code(1);
        assert_eq!(result(&run).download_status, status, "{fault}");
        assert!(
            hub.requests("GET", ST).is_empty(),
            "{fault}: downloaded anyway"
        );
        assert_eq!(listing(cache.hub()), before, "{fault}: the cache changed");
    }
    hub.reset();
    let run = pull(&cache, hub.endpoint(), &["--json", "nobody/nothing"]).expect_code(1);
    assert_eq!(result(&run).download_status, "not_found");
    assert_eq!(listing(cache.hub()), before);
}

#[test]
fn a_private_repo_needs_the_token_which_is_never_printed() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    let secret = "hf_TestSecretToken123";
    hub.token(secret);
    let run = pull(&cache, hub.endpoint(), &["--json", CONFIGS]).expect_code(1);
    assert_eq!(result(&run).download_status, "not_found");
    let run = Run(pull_cmd(&cache, hub.endpoint(), &["--json", CONFIGS])
        .env("HF_TOKEN", secret)
        .output()
        .unwrap());
    let r = result(&run);
    assert_eq!(r.download_status, "success");
    // Real files, no weights: pulled, and the health check says why it is not whole.
    assert_eq!(r.health.as_deref(), Some("unhealthy"));
    assert!(r.reason.unwrap().contains("weight"));
    assert_eq!(run.code(), 1);
    assert!(!run.stdout().contains(secret) && !run.stderr().contains(secret));
}

#[test]
fn rate_limits_and_server_errors_are_retried() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    hub.fault(json!({"path": MINILM, "mode": "api_status", "status": 429, "times": 1}));
    hub.fault(json!({"path": "config.json", "mode": "status", "status": 500, "times": 1}));
    let run = pull(&cache, hub.endpoint(), &["--json", MINILM]).expect_code(0);
    assert_eq!(result(&run).download_status, "success");
    assert!(
        run.stderr().contains("HTTP 429") && run.stderr().contains("HTTP 500"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_stalled_server_times_out_with_a_clear_message() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    hub.fault(json!({"path": ST, "mode": "hold", "after": 1_000_000}));
    let child = pull_cmd(
        &cache,
        hub.endpoint(),
        &["--timeout", "1", "--retries", "0", MINILM],
    )
    .spawn()
    .unwrap();
    let run = wait_child(child, "the stalled pull").expect_code(1);
    assert!(
        run.stderr().contains("no data from the server for 1s") && run.stderr().contains("stalled"),
        "{}",
        run.stderr()
    );
    // What arrived is kept for the next run.
    assert_eq!(size(&incomplete(&cache)), 1_000_000);
}

#[test]
fn ctrl_c_leaves_only_the_incomplete_file() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    let child = pull_held_at(&hub, &cache, 5_000_000, &[MINILM]);
    // SAFETY: signals the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = wait_child(child, "the interrupted pull").expect_code(130);
    assert!(run.stderr().contains("interrupted"), "{}", run.stderr());
    assert!(!blob(&cache, SAFETENSORS_SHA256).exists());
    assert_eq!(size(&incomplete(&cache)), 5_000_000);
}

#[test]
fn two_pulls_of_one_repo_at_once_share_the_work() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    let first = pull_held_at(&hub, &cache, 30_000_000, &["--json", MINILM]);
    let second = pull_cmd(&cache, hub.endpoint(), &["--json", MINILM])
        .spawn()
        .unwrap();
    wait_for("the second pull to wait for the lock", || {
        hub.requests("HEAD", ST).len() >= 2
    });
    hub.release();
    let a = wait_child(first, "first pull").expect_code(0);
    let b = wait_child(second, "second pull").expect_code(0);
    for run in [&a, &b] {
        assert!(matches!(
            result(run).download_status.as_str(),
            "success" | "already_exists"
        ));
    }
    // The held connection ended at 30 MB; whoever finished sent only the rest.
    assert_eq!(hub.sent(ST), SAFETENSORS_SIZE);
    assert_eq!(
        sha256_file(&blob(&cache, SAFETENSORS_SHA256)),
        SAFETENSORS_SHA256
    );
    let reference = TestCache::new();
    pull(&reference, hub.endpoint(), &[MINILM]).expect_code(0);
    assert_eq!(manifest(&cache), manifest(&reference));
}

#[test]
fn a_complete_repo_is_already_there_without_transfer() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    pull(&cache, hub.endpoint(), &[MINILM]).expect_code(0);
    hub.reset();
    let r = result(&pull(&cache, hub.endpoint(), &["--json", MINILM]).expect_code(0));
    assert_eq!(
        (r.download_status.as_str(), r.files, r.bytes),
        ("already_exists", 0, 0)
    );
    let stats = hub.stats();
    let requests = stats["requests"].as_array().unwrap();
    let hub_requests: Vec<_> = requests
        .iter()
        .filter(|q| !q["path"].as_str().unwrap().starts_with("/_control/"))
        .collect();
    assert_eq!(hub_requests.len(), 2, "{hub_requests:?}");
    assert!(
        hub_requests
            .iter()
            .all(|q| q["path"].as_str().unwrap().starts_with("/api/")),
        "{hub_requests:?}"
    );
}

#[test]
fn file_names_that_escape_the_cache_are_refused() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    hub.fault(json!({"path": MINILM, "mode": "tree_extra", "entry":
        {"type": "file", "oid": "0123456789012345678901234567890123456789", "size": 3, "path": "../../evil.json"}}));
    let run = pull(&cache, hub.endpoint(), &["--json", "--all", MINILM]).expect_code(1);
    let r = result(&run);
    assert_eq!(r.download_status, "failed");
    assert!(r.reason.unwrap().contains("unsafe file name"));
    assert!(listing(cache.hub()).is_empty());
}

#[test]
fn names_come_from_stdin_as_lines_or_ndjson() {
    let hub = FaultHub::start();
    let cache = TestCache::new();
    let input = format!(
        "{CONFIGS}\n{{\"type\":\"model\",\"name\":\"{MINILM}\"}}\n{{\"type\":\"summary\",\"total\":2}}\nnot a repo name\n"
    );
    let mut cmd = pull_cmd(&cache, hub.endpoint(), &["--json", "--include", "*.json"]);
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let run = wait_child(child, "stdin pull").expect_code(1);
    let msgs = messages(&run);
    let names: Vec<&str> = msgs
        .iter()
        .filter_map(|m| match m {
            Msg::Result(r) => Some(r.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, [CONFIGS, MINILM]);
    assert!(msgs.iter().any(
        |m| matches!(m, Msg::Error { line: Some(4), code, message } if code == "validation_error" && message.contains("not a repo"))
    ));
    assert!(matches!(msgs.last(), Some(Msg::Summary { total: 3, failed, .. }) if *failed >= 1));
    assert!(msgs.iter().any(|m| matches!(m,
        Msg::Progress { repo, file, bytes, total_bytes: Some(total) }
            if repo == MINILM && file == "tokenizer.json" && bytes == total)));
}

#[test]
fn usage_errors_exit_2_and_a_closed_pipe_ends_quietly() {
    let cache = TestCache::new();
    let run = Run(cache
        .command(BIN)
        .arg("--include")
        .arg("[")
        .arg("a/b")
        .output()
        .unwrap());
    run.expect_code(2);
    let run = Run(cache
        .command(BIN)
        .args(["--timeout", "0", "a/b"])
        .output()
        .unwrap());
    run.expect_code(2);
    let hub = FaultHub::start();
    let mut child = pull_cmd(&cache, hub.endpoint(), &["--json", CONFIGS, CONFIGS])
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away
    let run = wait_child(child, "pull into a closed pipe");
    assert_eq!(run.code(), 0, "{}", run.stderr());
}
