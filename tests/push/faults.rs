//! Bad input, a misbehaving server and an interrupted push.

use serde_json::json;

use super::*;
use crate::pull::{wait_child, wait_for};

const REPO: &str = "me/smol";

/// Nothing was written to the server: no POST, no PUT.
fn nothing_sent(hub: &FaultHub) {
    let writes: Vec<Value> = hub.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["method"] != "GET"
                && r["method"] != "HEAD"
                && !r["path"].as_str().unwrap().starts_with("/_control/")
        })
        .cloned()
        .collect();
    assert!(writes.is_empty(), "sent: {writes:?}");
}

fn fails_with(run: Run, code: i32, needle: &str) -> Run {
    let run = run.expect_code(code);
    no_token(&run);
    let text = format!("{}{}", run.stdout(), run.stderr());
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    run
}

#[test]
fn bad_input_gets_a_clear_error_and_sends_nothing() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = workspace(&cache, "ws");
    let ws_arg = ws.to_str().unwrap();
    let ep = hub.endpoint();

    let missing = cache.scratch("x").join("missing");
    fails_with(
        push(&cache, ep, &[missing.to_str().unwrap(), REPO]),
        2,
        "missing",
    );
    fails_with(push(&cache, ep, &[ws_arg, "not-a-name"]), 2, "ORG/NAME");
    fails_with(push(&cache, ep, &[ws_arg, "a/b/c"]), 2, "ORG/NAME");
    fails_with(
        push(&cache, ep, &[ws_arg, REPO, "--create"]),
        2,
        "--private",
    );
    let run = Run(push_cmd(&cache, ep, None, &[ws_arg, REPO])
        .output()
        .unwrap());
    fails_with(run, 2, "no Hugging Face token");

    // NDJSON mode: an error line and a summary.
    let run = fails_with(push(&cache, ep, &[ws_arg, "nope", "--json"]), 2, "ORG/NAME");
    let msgs = messages(&run);
    assert!(
        matches!(&msgs[0], Msg::Error { code, message } if code == "validation_error" && message.contains("ORG/NAME"))
    );
    assert!(matches!(
        msgs.last(),
        Some(Msg::Summary { exit_code: 2, .. })
    ));

    // A snapshot in the cache is not a workspace.
    let snap = cache
        .hub()
        .join("models--me--smol/snapshots/0123456789abcdef0123456789abcdef01234567");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::copy(ws.join("config.json"), snap.join("config.json")).unwrap();
    fails_with(
        push(&cache, ep, &[snap.to_str().unwrap(), REPO]),
        2,
        "inside the Hugging Face cache",
    );

    // An unhealthy workspace: a truncated safetensors and a leftover.
    let sick = cache.scratch("sick");
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(ws.join(f), sick.join(f)).unwrap();
    }
    let weights = std::fs::read(ws.join("model.safetensors")).unwrap();
    std::fs::write(sick.join("model.safetensors"), &weights[..4_000_000]).unwrap();
    std::fs::write(sick.join("extra.bin.incomplete"), b"partial").unwrap();
    let run = fails_with(
        push(
            &cache,
            ep,
            &[
                sick.to_str().unwrap(),
                REPO,
                "--create",
                "--private",
                "--json",
            ],
        ),
        1,
        "unhealthy",
    );
    let r = result(&run);
    assert_eq!(
        (r.status.as_str(), r.health.as_str()),
        ("unhealthy", "unhealthy")
    );
    let reason = r.reason.unwrap();
    assert!(
        reason.contains("model.safetensors") && reason.contains("extra.bin.incomplete"),
        "{reason}"
    );
    // --check-only judges without the network (the endpoint would refuse).
    let run = Run(push_cmd(
        &cache,
        "http://127.0.0.1:9",
        None,
        &[sick.to_str().unwrap(), REPO, "--check-only"],
    )
    .output()
    .unwrap());
    fails_with(run, 1, "--force");
    let run = Run(push_cmd(
        &cache,
        "http://127.0.0.1:9",
        None,
        &[ws_arg, REPO, "--check-only"],
    )
    .output()
    .unwrap());
    fails_with(run, 0, "healthy");
    nothing_sent(&hub);

    // The server says no: 401, 403, 404.
    for (status, want) in [
        (401, "access_denied"),
        (403, "access_denied"),
        (404, "not_found"),
    ] {
        hub.fault(json!({"path": REPO, "mode": "api_status", "status": status, "times": 1}));
        let r = result(&fails_with(
            push(&cache, ep, &[ws_arg, REPO, "--json"]),
            1,
            want,
        ));
        assert_eq!(r.status, want);
    }
    // A repository that does not exist, without --create.
    let r = result(&fails_with(
        push(&cache, ep, &[ws_arg, REPO, "--json"]),
        1,
        "--create",
    ));
    assert_eq!(r.status, "not_found");
    // A wrong token.
    let run = Run(push_cmd(
        &cache,
        ep,
        Some("hf_wrong"),
        &[ws_arg, REPO, "--create", "--private"],
    )
    .output()
    .unwrap());
    fails_with(run, 1, "access denied");
    nothing_sent(&hub);
}

#[test]
fn rate_limits_server_errors_and_a_dropped_part_are_retried() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = workspace(&cache, "ws");
    hub.fault(json!({"path": "/api/models/*/preupload/*", "mode": "route_status", "status": 429, "retry_after": 0, "times": 1}));
    hub.fault(json!({"path": "/_lfs/part/*/3", "mode": "route_status", "method": "PUT", "status": 500, "retry_after": 0, "times": 1}));
    hub.fault(
        json!({"path": "/_lfs/part/*/5", "mode": "drop_upload", "after": 1_000_000, "times": 1}),
    );
    hub.fault(json!({"path": "/api/models/*/commit/*", "mode": "route_status", "status": 503, "retry_after": 0, "times": 1}));
    let run = push(
        &cache,
        hub.endpoint(),
        &[
            ws.to_str().unwrap(),
            REPO,
            "--create",
            "--private",
            "--verbose",
        ],
    )
    .expect_code(0);
    let err = run.stderr();
    for needle in ["HTTP 429", "HTTP 500", "HTTP 503", "part 5 of 14"] {
        assert!(err.contains(needle), "{needle} not in:\n{err}");
    }
    let oid = sha256_file(&ws.join("model.safetensors"));
    let part = |n: u32| {
        let path = format!("/_lfs/part/{oid}/{n}");
        requests(&hub, "PUT", &path)
            .iter()
            .filter(|r| r["path"] == path)
            .count()
    };
    assert_eq!((part(1), part(3), part(5)), (1, 2, 2));
    // The remote ends complete and correct; the object was stored once.
    let files = remote(&hub, REPO, "main");
    for (rel, sha) in local_hashes(&ws) {
        assert_eq!(files[&rel]["sha256"], sha, "{rel}");
    }
    assert_eq!(hub.stats()["lfs_stored"].as_array().unwrap().len(), 1);
    assert_eq!(hub.stats()["commits"].as_array().unwrap().len(), 1);
}

#[test]
fn a_push_killed_mid_part_resumes_sending_only_what_the_server_lacks() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = workspace(&cache, "ws");
    // A second LFS file, uploaded first (by path): any valid safetensors file.
    let draft = fixtures::dir().join("models/tiny-qwen3-4bit/model.safetensors");
    assert!(
        draft.is_file(),
        "{} is missing: run `scripts/fixtures.sh tiny-qwen`",
        draft.display()
    );
    std::fs::create_dir_all(ws.join("draft")).unwrap();
    std::fs::copy(&draft, ws.join("draft/model.safetensors")).unwrap();
    let draft_oid = sha256_file(&draft);
    let weights_oid = sha256_file(&ws.join("model.safetensors"));
    let args = [
        ws.to_str().unwrap(),
        REPO,
        "--create",
        "--private",
        "--jobs",
        "1",
        "--json",
    ];

    hub.fault(
        json!({"path": "/_lfs/part/*/3", "mode": "hold_upload", "after": 1_000_000, "times": 1}),
    );
    let mut child = push_cmd(&cache, hub.endpoint(), Some(SECRET), &args)
        .spawn()
        .unwrap();
    wait_for("the third part to be held", || hub.stats()["holding"] == 1);
    child.kill().unwrap(); // SIGKILL
    let killed = wait_child(child, "the killed push");
    no_token(&killed);
    hub.release();
    wait_for("the held request to end", || hub.stats()["holding"] == 0);
    let stats = hub.stats();
    assert_eq!(stats["lfs_stored"], json!([draft_oid]));
    assert!(
        stats["commits"].as_array().unwrap().is_empty(),
        "committed half a push"
    );

    hub.reset();
    hub.token(SECRET);
    let r = result(&push(&cache, hub.endpoint(), &args).expect_code(0));
    assert_eq!((r.status.as_str(), r.added), ("success", 8));
    // The object the server had was not sent again; the unfinished one was.
    assert!(requests(&hub, "PUT", &draft_oid).is_empty());
    assert_eq!(requests(&hub, "PUT", &weights_oid).len(), 14);
    assert_eq!(hub.stats()["lfs_stored"], json!([weights_oid]));
    let files = remote(&hub, REPO, "main");
    assert_eq!(files["draft/model.safetensors"]["sha256"], draft_oid);
    assert_eq!(files["model.safetensors"]["sha256"], weights_oid);
    assert_eq!(files["model.safetensors"]["lfs"], true);
}
