//! A hostile Hub (tests/hub/hostile_hub.py) against mlxk-pull, with a token
//! in HF_TOKEN: the token reaches no other origin (the foreign server logs
//! the headers it gets), and everything the server controls is bounded.

use serde_json::json;

use super::servers::{HostileHub, EVIL, EVIL_DIR};
use super::*;

const TOKEN: &str = "hf_HostileHubTestToken0123456789";

fn evil_cmd(cache: &TestCache, hub: &HostileHub, args: &[&str]) -> Command {
    let mut cmd = pull_cmd(cache, hub.endpoint(), args);
    cmd.env("HF_TOKEN", TOKEN);
    cmd
}

fn no_token(run: &Run) {
    assert!(
        !run.stdout().contains(TOKEN) && !run.stderr().contains(TOKEN),
        "the token was printed"
    );
}

fn pull_evil(cache: &TestCache, hub: &HostileHub, args: &[&str]) -> Run {
    let run = wait_child(
        evil_cmd(cache, hub, args).spawn().unwrap(),
        "the pull from the hostile hub",
    );
    no_token(&run);
    run
}

/// Requests the hub got whose path contains `part`.
fn asked(hub: &HostileHub, part: &str) -> Vec<serde_json::Value> {
    hub.log()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().contains(part))
        .collect()
}

/// The endpoint's own requests all carried the token and our User-Agent.
fn own_requests_are_ours(hub: &HostileHub) {
    for r in hub.log() {
        assert_eq!(r["authorization"], format!("Bearer {TOKEN}"), "{r}");
        assert!(
            r["user_agent"].as_str().unwrap().starts_with("mlxk-pull/"),
            "{r}"
        );
    }
}

#[test]
fn the_token_never_follows_pagination_to_another_origin() {
    let hub = HostileHub::start();
    let foreign = HostileHub::start();
    hub.attack(json!({"name": "next_foreign", "foreign": foreign.endpoint()}));
    let cache = TestCache::new();
    let run = pull_evil(&cache, &hub, &["--json", "--all", EVIL]).expect_code(0);
    assert_eq!(result(&run).download_status, "success");
    // The second page came from the other origin, without the token.
    assert_eq!(asked(&foreign, "page=2").len(), 1);
    foreign.saw_no_token();
    own_requests_are_ours(&hub);
    let snapshot = repo_path(&cache, EVIL_DIR).join("snapshots");
    assert_eq!(listing(&snapshot).len(), 4, "{:?}", listing(&snapshot));
}

#[test]
fn the_token_never_follows_a_download_redirect_to_another_origin() {
    let hub = HostileHub::start();
    let foreign = HostileHub::start();
    hub.attack(json!({"name": "redirect_foreign", "foreign": foreign.endpoint()}));
    let cache = TestCache::new();
    let run = pull_evil(&cache, &hub, &["--json", EVIL]).expect_code(0);
    assert_eq!(result(&run).download_status, "success");
    assert_eq!(asked(&foreign, "/resolve/").len(), 3);
    foreign.saw_no_token();
    own_requests_are_ours(&hub);
}

#[test]
fn endless_pagination_ends_at_the_page_limit() {
    let hub = HostileHub::start();
    hub.attack(json!({"name": "next_endless"}));
    let cache = TestCache::new();
    let run = pull_evil(&cache, &hub, &["--json", EVIL]).expect_code(1);
    let r = result(&run);
    assert_eq!(r.download_status, "failed");
    assert!(r.reason.unwrap().contains("more than 1000 pages"));
    assert_eq!(asked(&hub, "/tree/").len(), 1000);
    assert!(
        listing(cache.hub()).is_empty(),
        "{:?}",
        listing(cache.hub())
    );
}

#[test]
fn a_page_that_links_to_itself_is_a_loop() {
    let hub = HostileHub::start();
    hub.attack(json!({"name": "next_loop"}));
    let cache = TestCache::new();
    let run = pull_evil(&cache, &hub, &["--json", EVIL]).expect_code(1);
    assert!(result(&run).reason.unwrap().contains("a loop"));
    assert_eq!(asked(&hub, "/tree/").len(), 1);
}

#[test]
fn a_huge_json_answer_is_refused_and_memory_stays_flat() {
    let hub = HostileHub::start();
    let cache = TestCache::new();
    // Announced: refused before reading.
    hub.attack(json!({"name": "big_json", "bytes": 200_000_000}));
    let run = pull_evil(&cache, &hub, &["--json", EVIL]).expect_code(1);
    let reason = result(&run).reason.unwrap();
    assert!(
        reason.contains("JSON answer of 200000000 bytes"),
        "{reason}"
    );

    // Not announced (no Content-Length): read up to the cap, then refused.
    hub.attack(json!({"name": "big_json", "bytes": 200_000_000, "length": false}));
    let (run, peak_kib) = run_measured(evil_cmd(&cache, &hub, &["--json", EVIL]));
    no_token(&run);
    let run = run.expect_code(1);
    let reason = result(&run).reason.unwrap();
    assert!(reason.contains("at most 32 MiB"), "{reason}");
    assert!(peak_kib < 160 * 1024, "peak memory {peak_kib} KiB");
}

#[test]
fn redirect_loops_end_at_the_redirect_limit() {
    let hub = HostileHub::start();
    hub.attack(json!({"name": "redirect_loop"}));
    let cache = TestCache::new();
    let run = pull_evil(&cache, &hub, &["--json", EVIL]).expect_code(1);
    let r = result(&run);
    assert_eq!(r.download_status, "failed");
    assert!(r.reason.unwrap().contains("more than 10 redirects"));
    // Not retried: one request and ten redirects per file.
    assert_eq!(
        asked(&hub, "config.json").len(),
        1 + 1 + 10,
        "HEAD, GET, redirects"
    );
}

#[test]
fn retry_after_as_an_http_date_sets_the_wait() {
    let hub = HostileHub::start();
    hub.attack(json!({"name": "retry_after_date", "seconds": 3, "times": 1}));
    let cache = TestCache::new();
    let run = pull_evil(&cache, &hub, &["--json", EVIL]).expect_code(0);
    assert_eq!(result(&run).download_status, "success");
    // The date is 3 s ahead at one-second resolution: a wait of 2 or 3 s
    // (the backoff alone would say at most 1 s).
    let err = run.stderr();
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(
        err.contains("retry 1/4 in 2s") || err.contains("retry 1/4 in 3s"),
        "{err}"
    );
}

#[test]
fn the_deadline_ends_a_pull_that_gets_no_answer() {
    let hub = HostileHub::start();
    hub.attack(json!({"name": "hold_api"}));
    let cache = TestCache::new();
    let args = ["--json", "--timeout", "600", "--deadline", "2", EVIL];
    let run = pull_evil(&cache, &hub, &args).expect_code(1);
    let r = result(&run);
    assert_eq!(r.download_status, "failed");
    assert!(r.reason.unwrap().contains("--deadline of 2s"));
    // Bad values are usage errors.
    let run = pull_evil(&cache, &hub, &["--deadline", "0", EVIL]);
    run.expect_code(2);
}
