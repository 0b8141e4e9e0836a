//! Booby-trapped folders, and a Hub whose storage is on another origin:
//! mlxk-push reads only regular files inside the folder, writes nothing
//! outside it, sends the token to the Hub's own origin only, honours
//! HF_HUB_OFFLINE and always ends (links to folders are never walked).

use std::os::unix::fs::symlink;

use serde_json::json;

use super::*;
use crate::pull::wait_child;

const REPO: &str = "me/trapped";
/// What the user's token file holds; it must reach no server.
const TOKEN_FILE: &[u8] = b"hf_TheTokenFileContent0123456789\n";

/// A small healthy model folder: a config, a README and a safetensors file
/// of `floats` f32 values.
fn small_workspace(cache: &TestCache, name: &str, floats: usize) -> PathBuf {
    let dir = cache.scratch(name);
    std::fs::write(dir.join("config.json"), br#"{"model_type": "llama"}"#).unwrap();
    std::fs::write(dir.join("README.md"), b"# trapped\n").unwrap();
    let mut header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{floats}],"data_offsets":[0,{}]}}}}"#,
        floats * 4
    )
    .into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend(header);
    st.extend((0..floats * 4).map(|i| (i % 251) as u8));
    std::fs::write(dir.join("model.safetensors"), st).unwrap();
    dir
}

/// The user's token file, outside the folder.
fn token_file(cache: &TestCache) -> PathBuf {
    let path = cache.scratch("home").join("token");
    std::fs::write(&path, TOKEN_FILE).unwrap();
    path
}

/// Plants what the issue found: links out, loops, a FIFO.
fn booby_trap(cache: &TestCache, ws: &Path) {
    symlink(token_file(cache), ws.join("notes.txt")).unwrap();
    symlink("/etc/passwd", ws.join("passwd.txt")).unwrap();
    symlink(".", ws.join("a")).unwrap();
    symlink(".", ws.join("b")).unwrap();
    std::fs::create_dir(ws.join("sub")).unwrap();
    symlink("..", ws.join("sub/up")).unwrap();
    let fifo = ws.join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
}

const TRAPS: [&str; 6] = ["a", "b", "notes.txt", "passwd.txt", "pipe", "sub/up"];

fn skipped(r: &PushResult) -> Vec<&str> {
    r.skipped.iter().map(|s| s.path.as_str()).collect()
}

fn run_bounded(mut cmd: Command, what: &str) -> Run {
    let run = wait_child(cmd.spawn().unwrap(), what);
    no_token(&run);
    run
}

/// Nothing the server stored or was sent holds the token file's content.
fn token_file_never_sent(hub: &FaultHub) {
    let secret = String::from_utf8_lossy(TOKEN_FILE).trim().to_string();
    for entry in walk_files(&hub.store()) {
        let data = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&data).contains(&secret),
            "{entry:?}"
        );
    }
    let stats = hub.stats().to_string();
    assert!(!stats.contains(&secret));
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn links_out_of_the_folder_loops_and_fifos_are_never_pushed() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = small_workspace(&cache, "ws", 16);
    booby_trap(&cache, &ws);
    let ws_arg = ws.to_str().unwrap();

    // The check ends (no loop, no FIFO read) and lists what it skips.
    let cmd = push_cmd(
        &cache,
        hub.endpoint(),
        None,
        &[ws_arg, REPO, "--check-only", "--json"],
    );
    let run = run_bounded(cmd, "the check of a trapped folder").expect_code(0);
    let r = result(&run);
    assert_eq!(
        (r.status.as_str(), r.health.as_str()),
        ("checked", "healthy")
    );
    assert_eq!(skipped(&r), TRAPS);
    let why = |p: &str| {
        r.skipped
            .iter()
            .find(|s| s.path == p)
            .unwrap()
            .reason
            .clone()
    };
    assert!(
        why("notes.txt").contains("symbolic link"),
        "{}",
        why("notes.txt")
    );
    assert!(
        why("pipe").contains("not a regular file"),
        "{}",
        why("pipe")
    );
    let cmd = push_cmd(
        &cache,
        hub.endpoint(),
        None,
        &[ws_arg, REPO, "--check-only"],
    );
    let run = run_bounded(cmd, "the human check").expect_code(0);
    assert!(
        run.stderr().contains("skipped notes.txt"),
        "{}",
        run.stderr()
    );

    // The push sends the three real files, nothing else.
    let cmd = push_cmd(
        &cache,
        hub.endpoint(),
        Some(SECRET),
        &[ws_arg, REPO, "--create", "--private", "--json"],
    );
    let run = run_bounded(cmd, "the push of a trapped folder").expect_code(0);
    let r = result(&run);
    assert_eq!(r.status, "success", "{r:?}");
    assert_eq!(skipped(&r), TRAPS);
    let files = remote(&hub, REPO, "main");
    let mut names: Vec<&str> = files
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".gitattributes",
            "README.md",
            "config.json",
            "model.safetensors"
        ]
    );
    token_file_never_sent(&hub);

    // --follow-links takes a link to a file inside; never one leading out.
    symlink("config.json", ws.join("alias.json")).unwrap();
    let cmd = push_cmd(
        &cache,
        hub.endpoint(),
        Some(SECRET),
        &[ws_arg, REPO, "--follow-links", "--json"],
    );
    let run = run_bounded(cmd, "the push with --follow-links").expect_code(0);
    let r = result(&run);
    assert_eq!((r.status.as_str(), r.added), ("success", 1), "{r:?}");
    assert!(r
        .skipped
        .iter()
        .any(|s| s.path == "notes.txt" && s.reason.contains("outside")));
    assert!(remote(&hub, REPO, "main").get("alias.json").is_some());
    assert!(remote(&hub, REPO, "main").get("notes.txt").is_none());
    token_file_never_sent(&hub);
}

#[test]
fn weights_behind_a_link_leave_the_folder_unhealthy() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = small_workspace(&cache, "ws", 16);
    let elsewhere = cache.scratch("elsewhere").join("model.safetensors");
    std::fs::rename(ws.join("model.safetensors"), &elsewhere).unwrap();
    symlink(&elsewhere, ws.join("model.safetensors")).unwrap();
    for extra in [&[][..], &["--follow-links"][..]] {
        let mut args = vec![ws.to_str().unwrap(), REPO, "--check-only", "--json"];
        args.extend(extra);
        let run = push(&cache, hub.endpoint(), &args).expect_code(1);
        let r = result(&run);
        assert_eq!(r.status, "unhealthy", "{extra:?}");
        let reason = r.reason.unwrap();
        assert!(
            reason.contains("(links not followed): model.safetensors"),
            "{reason}"
        );
    }
}

#[test]
fn the_hash_cache_is_never_written_through_a_link() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = small_workspace(&cache, "ws", 16);
    let outside = cache.scratch("outside");
    symlink(&outside, ws.join(".cache")).unwrap();
    let args = [
        ws.to_str().unwrap(),
        REPO,
        "--create",
        "--private",
        "--json",
    ];
    let run = push(&cache, hub.endpoint(), &args).expect_code(0);
    assert_eq!(result(&run).status, "success");
    assert!(
        walk_files(&outside).is_empty(),
        "{:?}",
        walk_files(&outside)
    );
    assert!(
        run.stderr().contains("cannot keep the hashes"),
        "{}",
        run.stderr()
    );
}

#[test]
fn hf_hub_offline_stops_a_push_before_the_network() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = small_workspace(&cache, "ws", 16);
    let ws_arg = ws.to_str().unwrap();
    let mut cmd = push_cmd(
        &cache,
        hub.endpoint(),
        Some(SECRET),
        &[ws_arg, REPO, "--create", "--private", "--json"],
    );
    cmd.env("HF_HUB_OFFLINE", "1");
    let run = run_bounded(cmd, "the offline push").expect_code(2);
    let msgs = messages(&run);
    assert!(
        matches!(&msgs[0], Msg::Error { code, message } if code == "offline" && message.contains("HF_HUB_OFFLINE")),
        "{msgs:?}"
    );
    assert!(requests(&hub, "GET", "/").is_empty() && requests(&hub, "POST", "/").is_empty());
    // The check needs no network, offline or not.
    let mut cmd = push_cmd(
        &cache,
        hub.endpoint(),
        None,
        &[ws_arg, REPO, "--check-only"],
    );
    cmd.env("HF_HUB_OFFLINE", "1");
    run_bounded(cmd, "the offline check").expect_code(0);
}

#[test]
fn storage_on_another_origin_never_sees_the_token() {
    let hub = hub();
    let storage = FaultHub::storage_for(&hub);
    hub.control(
        "config",
        json!({"lfs_base": storage.endpoint(), "multipart_threshold": 1024, "chunk_size": 1024}),
    );
    let cache = TestCache::new();
    let ws = small_workspace(&cache, "ws", 1024);
    let args = [
        ws.to_str().unwrap(),
        REPO,
        "--create",
        "--private",
        "--json",
    ];
    let run = push(&cache, hub.endpoint(), &args).expect_code(0);
    assert_eq!(result(&run).status, "success");
    let own = |r: &Value| !r["path"].as_str().unwrap().starts_with("/_control/");
    let stats = storage.stats();
    let sent: Vec<&Value> = stats["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|&r| own(r))
        .collect();
    assert!(sent
        .iter()
        .any(|r| r["path"].as_str().unwrap().starts_with("/_lfs/part/")));
    assert!(sent
        .iter()
        .any(|r| r["path"].as_str().unwrap().starts_with("/_lfs/complete/")));
    for r in &sent {
        assert!(r["auth"].is_null(), "the token went to storage: {r}");
    }
    let stats = hub.stats();
    for r in stats["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|&r| own(r))
    {
        assert_eq!(r["auth"], format!("Bearer {SECRET}"), "{r}");
        assert!(r["ua"].as_str().unwrap().starts_with("mlxk-push/"), "{r}");
    }
}
