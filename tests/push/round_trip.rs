//! Pushes of the real SmolLM2 folder: what lands on the stand-in, what comes
//! back, and what a second push sends.

use serde_json::{json, Value};

use super::*;
use crate::pull::pull_cmd;

const REPO: &str = "me/smol";

fn snapshot_of(cache: &TestCache, repo: &str) -> PathBuf {
    let dir = cache
        .hub()
        .join(mlxk_core::cache::repo_dir_name(repo))
        .join("snapshots");
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    snaps.remove(0)
}

#[test]
fn a_push_round_trips_byte_identical_and_lands_as_upload_folder_lands() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = workspace(&cache, "ws");
    let ws_arg = ws.to_str().unwrap();
    let run = push(
        &cache,
        hub.endpoint(),
        &[ws_arg, REPO, "--create", "--private", "--json"],
    )
    .expect_code(0);
    let r = result(&run);
    assert_eq!(r.status, "success", "{r:?}");
    assert!(r.created);
    assert_eq!(r.health, "healthy");
    assert_eq!((r.added, r.changed, r.unchanged), (7, 0, 0));
    assert_eq!(r.uploaded_files, 7);
    assert_eq!(r.repo, REPO);
    let total: u64 = r.files.iter().map(|f| f.size).sum();
    assert_eq!(r.uploaded_bytes, total);
    let commit = r.commit.clone().unwrap();
    assert_eq!(commit.len(), 40);
    let weights = std::fs::metadata(ws.join("model.safetensors"))
        .unwrap()
        .len();
    assert!(
        messages(&run).iter().any(|m| matches!(m,
            Msg::Progress { file, bytes } if file == "model.safetensors" && *bytes == weights)),
        "no final progress line for the weights"
    );
    let model = r
        .files
        .iter()
        .find(|f| f.path == "model.safetensors")
        .unwrap();
    assert_eq!(model.mode.as_deref(), Some("lfs"));
    assert!(r
        .files
        .iter()
        .filter(|f| f.path != "model.safetensors")
        .all(|f| f.mode.as_deref() == Some("regular")));
    assert!(matches!(
        messages(&run).last(),
        Some(Msg::Summary {
            total: 1,
            ok: 1,
            failed: 0,
            exit_code: 0
        })
    ));
    // The weights went in parts (the stand-in offers multipart above 8 MiB).
    let parts = requests(&hub, "PUT", "/_lfs/part/");
    assert_eq!(parts.len(), 14, "{parts:?}");

    // The official client, same folder, same server: the same repository.
    hf(
        &cache,
        hub.endpoint(),
        &format!(
            "from huggingface_hub import HfApi\napi = HfApi()\napi.create_repo('me/ref', private=True)\napi.upload_folder(folder_path={:?}, repo_id='me/ref')",
            ws_arg
        ),
    );
    let ours = remote(&hub, REPO, "main");
    assert_eq!(ours, remote(&hub, "me/ref", "main"));
    assert_eq!(ours["model.safetensors"]["lfs"], true);
    assert_eq!(ours["config.json"]["lfs"], false);

    // Back with mlxk-pull and with huggingface_hub: the bytes we pushed.
    let want = local_hashes(&ws);
    assert_eq!(want.len(), 7);
    let back = TestCache::new();
    let pulled = Run(pull_cmd(&back, hub.endpoint(), &["--all", "--json", REPO])
        .env("HF_TOKEN", SECRET)
        .output()
        .unwrap());
    no_token(&pulled);
    pulled.expect_code(0);
    assert_eq!(local_hashes(&snapshot_of(&back, REPO)), want);
    let reference = TestCache::new();
    hf(
        &reference,
        hub.endpoint(),
        &format!("from huggingface_hub import snapshot_download\nsnapshot_download({REPO:?})"),
    );
    assert_eq!(local_hashes(&snapshot_of(&reference, REPO)), want);
}

#[test]
fn a_second_push_sends_only_what_changed_as_the_dry_run_said() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = workspace(&cache, "ws");
    let ws_arg = ws.to_str().unwrap();
    push(
        &cache,
        hub.endpoint(),
        &[ws_arg, REPO, "--create", "--private"],
    )
    .expect_code(0);
    assert!(ws.join(".cache/huggingface/mlxk-push.json").is_file());

    // Unchanged: reported, not committed, nothing sent.
    let again = |args: &[&str]| {
        hub.reset();
        hub.token(SECRET);
        let mut all = vec![ws_arg, REPO, "--json"];
        all.extend_from_slice(args);
        result(&push(&cache, hub.endpoint(), &all).expect_code(0))
    };
    let r = again(&[]);
    assert_eq!(r.status, "no_changes");
    assert_eq!((r.added, r.changed, r.deleted, r.unchanged), (0, 0, 0, 7));
    assert!(requests(&hub, "POST", "/").is_empty());
    assert!(requests(&hub, "PUT", "/").is_empty());

    // One file changes: the dry run says so, read-only.
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(ws.join("config.json")).unwrap()).unwrap();
    config["mlxk_push_test"] = json!(1);
    rewrite(
        &ws,
        "config.json",
        &serde_json::to_vec_pretty(&config).unwrap(),
    );
    let dry = again(&["--dry-run"]);
    assert_eq!(dry.status, "dry_run");
    assert_eq!((dry.added, dry.changed, dry.unchanged), (0, 1, 6));
    assert!(requests(&hub, "POST", "/").is_empty() && requests(&hub, "PUT", "/").is_empty());
    let changed: Vec<&str> = dry
        .files
        .iter()
        .filter(|f| f.action == "changed")
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(changed, ["config.json"]);

    let real = again(&[]);
    assert_eq!(real.status, "success");
    let plan = |r: &PushResult| -> Vec<(String, String)> {
        r.files
            .iter()
            .map(|f| (f.path.clone(), f.action.clone()))
            .collect()
    };
    assert_eq!(plan(&dry), plan(&real));
    assert_eq!(real.uploaded_files, 1);
    let commits = hub.stats()["commits"].clone();
    assert_eq!(
        commits[0]["operations"],
        json!([{"key": "file", "path": "config.json"}]),
        "{commits}"
    );
    assert!(
        requests(&hub, "PUT", "/").is_empty(),
        "LFS objects were sent"
    );
    assert_eq!(
        remote(&hub, REPO, "main")["config.json"]["sha256"],
        sha256_file(&ws.join("config.json"))
    );

    // --delete: a file gone from the folder goes from the repository too
    // (.gitattributes stays).
    std::fs::remove_file(ws.join("README.md")).unwrap();
    let dry = again(&["--dry-run", "--delete"]);
    assert_eq!((dry.deleted, dry.unchanged), (1, 6));
    let real = again(&["--delete"]);
    assert_eq!(plan(&dry), plan(&real));
    assert_eq!(
        hub.stats()["commits"][0]["operations"],
        json!([{"key": "deletedFile", "path": "README.md"}])
    );
    let files = remote(&hub, REPO, "main");
    assert!(files.get("README.md").is_none() && files.get(".gitattributes").is_some());
}

#[test]
fn a_branch_is_created_from_main_and_committed_to() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = workspace(&cache, "ws");
    let ws_arg = ws.to_str().unwrap();
    push(
        &cache,
        hub.endpoint(),
        &[ws_arg, REPO, "--create", "--public"],
    )
    .expect_code(0);
    rewrite(&ws, "README.md", b"---\nlibrary_name: mlx\n---\n# draft\n");
    let r = result(
        &push(
            &cache,
            hub.endpoint(),
            &[
                ws_arg,
                REPO,
                "--branch",
                "draft",
                "-m",
                "draft card",
                "--json",
            ],
        )
        .expect_code(0),
    );
    assert_eq!(
        (r.status.as_str(), r.changed, r.unchanged),
        ("success", 1, 6)
    );
    assert_eq!(
        remote(&hub, REPO, "draft")["README.md"]["sha256"],
        sha256_file(&ws.join("README.md"))
    );
    assert_ne!(
        remote(&hub, REPO, "main")["README.md"]["sha256"],
        remote(&hub, REPO, "draft")["README.md"]["sha256"]
    );
}

#[test]
fn the_folder_comes_on_stdin_and_hfignore_and_globs_choose_the_files() {
    let hub = hub();
    let cache = TestCache::new();
    let ws = workspace(&cache, "ws");
    std::fs::write(ws.join(".hfignore"), "# scratch\nnotes/\n*.log\n").unwrap();
    std::fs::create_dir_all(ws.join("notes")).unwrap();
    std::fs::write(ws.join("notes/todo.md"), b"quantize again\n").unwrap();
    std::fs::write(ws.join("convert.log"), b"ok\n").unwrap();
    let line = json!({"type": "model", "name": ws.to_str().unwrap(), "path": ws.to_str().unwrap()});
    let mut cmd = push_cmd(
        &cache,
        hub.endpoint(),
        Some(SECRET),
        &[
            REPO,
            "--dry-run",
            "--create",
            "--private",
            "--exclude",
            "generation_config.json",
            "--json",
        ],
    );
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{line}").unwrap();
    let run = Run(child.wait_with_output().unwrap()).expect_code(0);
    no_token(&run);
    let r = result(&run);
    assert_eq!((r.status.as_str(), r.created), ("dry_run", true));
    let paths: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            ".hfignore",
            "README.md",
            "config.json",
            "model.safetensors",
            "special_tokens_map.json",
            "tokenizer.json",
            "tokenizer_config.json"
        ]
    );
    assert!(r.files.iter().all(|f| f.action == "added"));
    // A dry run writes nothing, not even the repository.
    assert!(requests(&hub, "POST", "/").is_empty());
}
