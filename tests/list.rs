//! mlxk-list on real cache trees: detection, every health rule on a tree
//! broken the way real downloads break, name resolution, exit codes.

use std::fs;
use std::path::Path;

use serde_json::json;

use crate::harness::fixtures;
use crate::harness::wire::{self, Model};
use crate::harness::{RepoBuilder, TestCache};

const LIST: &str = env!("CARGO_BIN_EXE_mlxk-list");
const SMOL: &str = "mlx-community/SmolLM2-135M-Instruct-4bit";

/// The converted SmolLM2 as the Hub would serve it: LFS weights, small files by git sha1.
pub fn smollm2(cache: &TestCache, name: &str) -> RepoBuilder {
    from_dir(cache, name, &fixtures::smollm2_mlx())
}

/// The model folder `dir` as the Hub would serve it: weights and tokenizer.json by LFS,
/// the other files by git sha1.
pub fn from_dir(cache: &TestCache, name: &str, dir: &Path) -> RepoBuilder {
    let mut repo = cache.repo(name);
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.file_name().unwrap().to_str().unwrap().to_string();
        if rel.starts_with('.') {
            continue;
        }
        repo = if rel.ends_with(".safetensors") || rel == "tokenizer.json" {
            repo.lfs(&rel, &path)
        } else {
            repo.file(&rel, fs::read(&path).unwrap())
        };
    }
    repo
}

/// The real all-MiniLM-L6-v2 (BERT, F32 safetensors) as sentence-transformers publishes it.
pub fn minilm(cache: &TestCache, name: &str) -> RepoBuilder {
    let dir = fixtures::minilm_dir();
    let mut repo = cache.repo(name);
    for rel in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    ] {
        if dir.join(rel).exists() {
            repo = repo.file(rel, fs::read(dir.join(rel)).unwrap());
        }
    }
    repo.lfs("model.safetensors", &dir.join("model.safetensors"))
}

fn list_json(
    cache: &TestCache,
    args: &[&str],
) -> (Vec<Model>, Vec<wire::Error>, wire::Summary, i32) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = cache.run(LIST, &all);
    let (models, errors, summary) = wire::list_output(&run.stdout());
    assert_eq!(
        summary.exit_code,
        run.code(),
        "summary tells the exit status"
    );
    (models, errors, summary, run.code())
}

fn one(cache: &TestCache) -> Model {
    let (models, _, _, _) = list_json(cache, &[]);
    assert_eq!(models.len(), 1, "{models:?}");
    models.into_iter().next().unwrap()
}

fn assert_unhealthy(model: &Model, needle: &str) {
    assert_eq!(
        model.health, "unhealthy",
        "{} should be unhealthy",
        model.name
    );
    let reason = model.reason.as_deref().unwrap_or("");
    assert!(
        reason.contains(needle),
        "reason {reason:?} should mention {needle:?}"
    );
    assert!(!model.runtime_compatible);
}

#[test]
fn detects_real_mlx_gguf_and_pytorch_models() {
    let cache = TestCache::new();
    let smol = smollm2(&cache, SMOL).build();
    minilm(&cache, "sentence-transformers/all-MiniLM-L6-v2").build();
    cache
        .repo("bartowski/SmolLM2-135M-Instruct-GGUF")
        .lfs("SmolLM2-135M-Instruct-Q4_1.gguf", &fixtures::smollm2_gguf())
        .build();

    let (models, errors, summary, code) = list_json(&cache, &[]);
    assert_eq!(code, 0);
    assert!(errors.is_empty());
    assert_eq!(
        (
            summary.tool.as_str(),
            summary.total,
            summary.ok,
            summary.failed
        ),
        ("mlxk-list", 3, 3, 0)
    );
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bartowski/SmolLM2-135M-Instruct-GGUF",
            SMOL,
            "sentence-transformers/all-MiniLM-L6-v2"
        ]
    );

    let gguf = &models[0];
    assert_eq!(
        (gguf.framework.as_str(), gguf.model_type.as_str()),
        ("GGUF", "chat")
    );
    assert_eq!(gguf.health, "healthy", "{:?}", gguf.reason);
    assert_eq!(gguf.architecture.as_deref(), Some("llama"));
    assert_eq!(gguf.quantization.as_deref(), Some("Q4_1"));
    assert_eq!(gguf.context_length, Some(8192));
    assert_eq!(
        gguf.size_bytes,
        fs::metadata(fixtures::smollm2_gguf()).unwrap().len()
    );
    assert!(!gguf.runtime_compatible);
    assert!(gguf.runtime_reason.as_deref().unwrap().contains("GGUF"));

    let mlx = &models[1];
    assert_eq!(
        (mlx.framework.as_str(), mlx.model_type.as_str()),
        ("MLX", "chat")
    );
    assert_eq!(mlx.capabilities, ["text-generation", "chat"]);
    assert_eq!(mlx.health, "healthy", "{:?}", mlx.reason);
    assert!(mlx.runtime_compatible, "{:?}", mlx.runtime_reason);
    assert_eq!(mlx.quantization.as_deref(), Some("4bit"));
    assert_eq!(mlx.architecture.as_deref(), Some("llama"));
    assert_eq!(mlx.hash.as_deref(), Some(smol.commit.as_str()));
    assert_eq!(mlx.revision.as_deref(), Some("main"));
    assert!(mlx.cached);
    let expected: u64 = fs::read_dir(fixtures::smollm2_mlx())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(mlx.size_bytes, expected);
    let stamp = mlx.last_modified.as_deref().unwrap();
    assert!(
        stamp.ends_with('Z') && stamp.len() == 20,
        "UTC RFC 3339: {stamp}"
    );

    let bert = &models[2];
    assert_eq!(
        (bert.framework.as_str(), bert.model_type.as_str()),
        ("PyTorch", "embedding")
    );
    assert_eq!(bert.capabilities, ["embeddings"]);
    assert_eq!(bert.health, "healthy", "{:?}", bert.reason);
    assert_eq!(bert.architecture.as_deref(), Some("bert"));
}

#[test]
fn shared_blobs_are_counted_once() {
    let cache = TestCache::new();
    let weights = fixtures::minilm_dir().join("model.safetensors");
    minilm(&cache, "org/twice")
        .lfs("copy/model.safetensors", &weights)
        .build();
    let model = one(&cache);
    let config = fs::metadata(fixtures::minilm_dir().join("config.json"))
        .unwrap()
        .len();
    assert!(model.size_bytes > fs::metadata(&weights).unwrap().len());
    assert!(model.size_bytes < 2 * fs::metadata(&weights).unwrap().len() + config);
}

#[test]
fn truncated_safetensors_is_unhealthy() {
    let cache = TestCache::new();
    let repo = smollm2(&cache, SMOL).build();
    let len = fs::metadata(repo.blob_of("model.safetensors"))
        .unwrap()
        .len();
    repo.truncate("model.safetensors", len - 4096);
    assert_unhealthy(&one(&cache), "model.safetensors: truncated");
}

#[test]
fn interrupted_download_leaves_an_incomplete_blob() {
    let cache = TestCache::new();
    let repo = smollm2(&cache, SMOL).build();
    // huggingface_hub streams into blobs/<etag>.incomplete and links the
    // snapshot only once the blob is complete.
    let blob = repo.blob_of("model.safetensors");
    let partial = fs::read(&blob).unwrap()[..1 << 20].to_vec();
    fs::remove_file(repo.snapshot().join("model.safetensors")).unwrap();
    fs::remove_file(&blob).unwrap();
    fs::write(format!("{}.incomplete", blob.display()), partial).unwrap();
    let model = one(&cache);
    assert_unhealthy(&model, "interrupted download");
    assert!(model.reason.unwrap().contains("mlxk-pull"));
}

#[test]
fn dangling_snapshot_link_is_unhealthy_without_failing_the_listing() {
    let cache = TestCache::new();
    let repo = smollm2(&cache, SMOL).build();
    repo.remove_blob("model.safetensors");
    minilm(&cache, "sentence-transformers/all-MiniLM-L6-v2").build();
    let (models, _, summary, code) = list_json(&cache, &[]);
    assert_eq!(code, 0, "listing is not a health check");
    assert_eq!((summary.ok, summary.failed), (1, 1));
    assert_unhealthy(&models[0], "missing blobs: model.safetensors");
    assert_eq!(models[1].health, "healthy");
}

fn tensor_names(path: &Path) -> Vec<String> {
    let bytes = fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

/// Two real shards (MiniLM's and SmolLM2's tensors) with their index.
fn sharded(cache: &TestCache, move_one: bool, drop_second: bool) {
    let first = fixtures::minilm_dir().join("model.safetensors");
    let second = fixtures::smollm2_mlx().join("model.safetensors");
    let mut map = serde_json::Map::new();
    for t in tensor_names(&first) {
        map.insert(t, json!("model-00001-of-00002.safetensors"));
    }
    for t in tensor_names(&second) {
        map.insert(t, json!("model-00002-of-00002.safetensors"));
    }
    if move_one {
        // An index from another revision: one tensor now lives in the other shard.
        let name = tensor_names(&second)[0].clone();
        map.insert(name, json!("model-00001-of-00002.safetensors"));
    }
    let mut repo = cache
        .repo("org/sharded")
        .json(
            "config.json",
            json!({"model_type": "llama", "quantization": {"bits": 4, "group_size": 32}}),
        )
        .json(
            "model.safetensors.index.json",
            json!({"metadata": {}, "weight_map": map}),
        )
        .lfs("model-00001-of-00002.safetensors", &first);
    if !drop_second {
        repo = repo.lfs("model-00002-of-00002.safetensors", &second);
    }
    repo.build();
}

#[test]
fn sharded_model_with_matching_index_is_healthy() {
    let cache = TestCache::new();
    sharded(&cache, false, false);
    let model = one(&cache);
    assert_eq!(model.health, "healthy", "{:?}", model.reason);
}

#[test]
fn index_that_disagrees_with_its_shards_is_unhealthy() {
    let cache = TestCache::new();
    sharded(&cache, true, false);
    assert_unhealthy(&one(&cache), "does not hold");
}

#[test]
fn shard_named_in_index_but_absent_is_unhealthy() {
    let cache = TestCache::new();
    sharded(&cache, false, true);
    assert_unhealthy(&one(&cache), "missing: model-00002-of-00002.safetensors");
}

#[test]
fn shards_without_index_are_unhealthy() {
    let cache = TestCache::new();
    let weights = fixtures::minilm_dir().join("model.safetensors");
    cache
        .repo("org/noindex")
        .json("config.json", json!({"model_type": "bert"}))
        .lfs("model-00001-of-00003.safetensors", &weights)
        .lfs(
            "model-00003-of-00003.safetensors",
            &fixtures::smollm2_mlx().join("model.safetensors"),
        )
        .build();
    assert_unhealthy(&one(&cache), "missing shard(s) 2");
}

#[test]
fn truncated_tokenizer_json_is_unhealthy() {
    let cache = TestCache::new();
    let repo = smollm2(&cache, SMOL).build();
    repo.truncate("tokenizer.json", 100_000);
    assert_unhealthy(&one(&cache), "tokenizer.json is not a complete JSON object");
}

#[test]
fn tokenizer_config_without_tokenizer_is_unhealthy() {
    let cache = TestCache::new();
    let repo = smollm2(&cache, SMOL).build();
    fs::remove_file(repo.snapshot().join("tokenizer.json")).unwrap();
    assert_unhealthy(&one(&cache), "tokenizer.json is missing");
}

#[test]
fn gguf_with_a_cut_header_or_cut_data_is_unhealthy() {
    let cache = TestCache::new();
    let gguf = fixtures::smollm2_gguf();
    let header_cut = cache.repo("org/header-cut").lfs("m.gguf", &gguf).build();
    header_cut.truncate("m.gguf", 1 << 20);
    let data_cut = cache.repo("org/data-cut").lfs("m.gguf", &gguf).build();
    data_cut.truncate("m.gguf", fs::metadata(&gguf).unwrap().len() - 1000);
    let bad_magic = cache.repo("org/not-gguf").lfs("m.gguf", &gguf).build();
    let mut bytes = fs::read(&gguf).unwrap();
    bytes[..4].copy_from_slice(b"GGML");
    bad_magic.overwrite("m.gguf", bytes);
    let (models, _, _, _) = list_json(&cache, &["--health"]);
    assert_unhealthy(&models[0], "truncated: tensors need");
    assert_unhealthy(&models[1], "bad GGUF header");
    assert_unhealthy(&models[2], "no GGUF magic");
}

#[test]
fn size_disagreeing_with_the_hub_tree_listing_is_unhealthy() {
    let cache = TestCache::new();
    let repo = smollm2(&cache, SMOL).build();
    let config = fs::metadata(repo.snapshot().join("config.json"))
        .unwrap()
        .len();
    fs::create_dir_all(repo.dir.join("trees")).unwrap();
    let tree = json!({"format_version": 1, "files": {
        "config.json": {"size": config + 7, "blob_id": "0"},
    }});
    fs::write(
        repo.dir.join(format!("trees/{}.json", repo.commit)),
        tree.to_string(),
    )
    .unwrap();
    assert_unhealthy(
        &one(&cache),
        &format!(
            "config.json is {config} bytes, the Hub listed {}",
            config + 7
        ),
    );
}

#[test]
fn lfs_pointer_instead_of_weights_is_unhealthy() {
    let cache = TestCache::new();
    let repo = smollm2(&cache, SMOL).build();
    let pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n";
    repo.overwrite("model.safetensors", pointer);
    assert_unhealthy(
        &one(&cache),
        "Git LFS pointers instead of weights: model.safetensors",
    );
}

#[test]
fn broken_config_json_is_unhealthy_never_a_crash() {
    let cache = TestCache::new();
    for (name, content) in [
        ("org/a-empty", "  \n"),
        ("org/b-garbage", "{\"model_type\": \"llama\","),
        ("org/c-array", "[1, 2]"),
        ("org/d-binary", "\u{0}\u{1}\u{2}\u{ff}"),
    ] {
        smollm2(&cache, name)
            .build()
            .overwrite("config.json", content);
    }
    let repo = smollm2(&cache, "org/e-missing").build();
    fs::remove_file(repo.snapshot().join("config.json")).unwrap();
    let (models, _, summary, code) = list_json(&cache, &["--health"]);
    assert_eq!((code, summary.failed), (1, 5));
    assert_unhealthy(&models[0], "config.json is empty");
    assert_unhealthy(&models[1], "config.json is not valid JSON");
    assert_unhealthy(&models[2], "config.json is not a JSON object");
    assert_unhealthy(&models[3], "config.json is not valid JSON");
    assert_unhealthy(&models[4], "config.json is missing");
}

#[test]
fn no_weights_partial_names_and_missing_processor_are_unhealthy() {
    let cache = TestCache::new();
    let no_weights = smollm2(&cache, "org/a-no-weights").build();
    fs::remove_file(no_weights.snapshot().join("model.safetensors")).unwrap();
    smollm2(&cache, "org/b-partial")
        .file("model.safetensors.partial", "x")
        .build();
    smollm2(&cache, "org/c-tmp").file("tmpabc.tmp", "x").build();
    minilm(&cache, "org/d-vlm")
        .json(
            "config.json",
            json!({"model_type": "qwen2_vl", "vision_config": {"depth": 2}}),
        )
        .build();
    let (models, _, _, _) = list_json(&cache, &[]);
    assert_unhealthy(&models[0], "no weight file");
    assert_unhealthy(
        &models[1],
        "partial download files: model.safetensors.partial",
    );
    assert_unhealthy(&models[2], "partial download files: tmpabc.tmp");
    assert_unhealthy(&models[3], "vision model without preprocessor_config.json");
    assert!(models[3].capabilities.contains(&"vision".to_string()));
}

#[test]
fn snapshot_is_chosen_through_refs_main_not_mtime() {
    let cache = TestCache::new();
    let old = smollm2(&cache, SMOL).commit(&"a".repeat(40)).build();
    // A newer snapshot, downloaded later, that refs/main does not name.
    let newer = smollm2(&cache, SMOL)
        .commit(&"b".repeat(40))
        .without_refs()
        .build();
    fs::remove_file(newer.snapshot().join("config.json")).unwrap();
    let model = one(&cache);
    assert_eq!(model.hash.as_deref(), Some(old.commit.as_str()));
    assert_eq!(model.health, "healthy", "{:?}", model.reason);

    // name@hashprefix picks the other one, and judges it.
    let run = cache
        .run(LIST, &["--json", "--show", "SmolLM2@bbbb"])
        .expect_code(0);
    let (shown, _, _) = wire::list_output(&run.stdout());
    assert_eq!(shown[0].hash.as_deref(), Some(newer.commit.as_str()));
    assert_unhealthy(&shown[0], "config.json is missing");

    // refs/main naming a snapshot that never arrived.
    old.set_ref("main", &"c".repeat(40));
    assert_unhealthy(&one(&cache), "has no snapshot");
}

#[test]
fn several_snapshots_and_no_ref_ask_for_a_hash() {
    let cache = TestCache::new();
    smollm2(&cache, SMOL)
        .commit(&"a".repeat(40))
        .without_refs()
        .build();
    smollm2(&cache, SMOL)
        .commit(&"b".repeat(40))
        .without_refs()
        .build();
    assert_unhealthy(&one(&cache), "NAME@HASH");
    let single = TestCache::new();
    smollm2(&single, SMOL).without_refs().build();
    assert_eq!(one(&single).health, "healthy");
}

#[test]
fn names_resolve_as_users_type_them() {
    let cache = TestCache::new();
    smollm2(&cache, SMOL).build();
    smollm2(&cache, "mlx-community/SmolLM2-360M-Instruct-4bit").build();
    let show = |spec: &str| cache.run(LIST, &["--json", "--show", spec]);

    for spec in [SMOL, "SmolLM2-135M-Instruct-4bit", "smollm2-135m", "135M"] {
        let run = show(spec).expect_code(0);
        let (models, _, _) = wire::list_output(&run.stdout());
        assert_eq!(models[0].name, SMOL, "{spec}");
    }

    let run = show("SmolLM2").expect_code(1);
    let (_, errors, _) = wire::list_output(&run.stdout());
    assert_eq!(errors[0].code, "ambiguous_match");
    assert_eq!(
        errors[0].candidates,
        [SMOL, "mlx-community/SmolLM2-360M-Instruct-4bit"]
    );
    assert!(run.stderr().contains("hint:"));

    let run = show("llama-70b").expect_code(1);
    let (_, errors, _) = wire::list_output(&run.stdout());
    assert_eq!(errors[0].code, "model_not_found");

    // A revision the cache has never seen is not a broken download to repair.
    let run = show(&format!("{SMOL}@ffff")).expect_code(1);
    let (models, errors, _) = wire::list_output(&run.stdout());
    assert!(models.is_empty());
    assert_eq!(errors[0].code, "revision_not_found");
    assert!(
        errors[0].message.contains("'ffff'"),
        "{}",
        errors[0].message
    );
    assert!(!run.stderr().contains("unhealthy"), "{}", run.stderr());
    assert!(
        run.stderr().contains("hint: mlxk-list --show"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_workspace_directory_is_shown_like_a_cached_model() {
    let cache = TestCache::new();
    let dir = cache.scratch("workspace");
    for entry in fs::read_dir(fixtures::smollm2_mlx()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let run = cache
        .run(
            LIST,
            &[
                "--json",
                "--show",
                dir.to_str().unwrap(),
                "--files",
                "--config",
            ],
        )
        .expect_code(0);
    let (models, _, _) = wire::list_output(&run.stdout());
    let m = &models[0];
    assert!(!m.cached);
    assert_eq!(m.health, "healthy", "{:?}", m.reason);
    assert!(m
        .files
        .as_ref()
        .unwrap()
        .iter()
        .any(|f| f.path == "model.safetensors" && f.size_bytes > 1_000_000));
    assert_eq!(m.config.as_ref().unwrap()["model_type"], "llama");
}

#[test]
fn people_get_an_aligned_table_and_a_show_view() {
    let cache = TestCache::new();
    smollm2(&cache, SMOL).build();
    let broken = minilm(&cache, "sentence-transformers/all-MiniLM-L6-v2").build();
    broken.remove_blob("model.safetensors");

    let run = cache.run(LIST, &[]).expect_code(0);
    let out = run.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("NAME") && lines[0].contains("HEALTH"));
    let col = lines[0].find("SIZE").unwrap();
    assert!(
        lines[1][col..].starts_with(|c: char| c.is_ascii_digit()),
        "aligned:\n{out}"
    );
    assert!(lines[1].starts_with(SMOL) && lines[1].ends_with("healthy"));

    let run = cache.run(LIST, &["--health"]).expect_code(1);
    assert!(run.stdout().contains("missing blobs: model.safetensors"));

    let run = cache
        .run(LIST, &["--show", "SmolLM2", "--files"])
        .expect_code(0);
    let out = run.stdout();
    assert!(out.contains("framework:         MLX"), "{out}");
    assert!(out.contains("runs with mlxk:    yes"), "{out}");
    assert!(out.contains("model.safetensors"));
}

#[test]
fn check_mode_is_silent_when_healthy_and_fails_otherwise() {
    let cache = TestCache::new();
    smollm2(&cache, SMOL).build();
    let run = cache.run(LIST, &["--check"]).expect_code(0);
    assert_eq!(run.stdout(), "");
    assert_eq!(run.stderr(), "");

    let broken = minilm(&cache, "org/broken").build();
    broken.truncate("model.safetensors", 1000);
    let run = cache.run(LIST, &["--check"]).expect_code(1);
    assert!(run.stdout().contains("org/broken"));
    assert!(
        !run.stdout().contains(SMOL),
        "only unhealthy models are printed"
    );
}

#[test]
fn bad_input_gets_a_clear_message_and_documented_code() {
    let cache = TestCache::new();
    smollm2(&cache, SMOL).build();

    let run = cache.run(LIST, &["nothing-like-this"]).expect_code(1);
    assert!(run
        .stderr()
        .starts_with("error: no model matches 'nothing-like-this'"));
    assert!(run.stderr().contains("hint:"));

    let missing = cache.scratch("x").join("no-such-cache");
    let run = cache
        .run(LIST, &["--json", "--cache-dir", missing.to_str().unwrap()])
        .expect_code(2);
    let (_, errors, summary) = wire::list_output(&run.stdout());
    assert_eq!(errors[0].code, "cache_not_found");
    assert_eq!(summary.exit_code, 2);
    assert!(run.stderr().contains("does not exist"));

    let run = cache.run(LIST, &["--no-such-flag"]).expect_code(2);
    assert!(run.stderr().contains("--no-such-flag"));
}

#[test]
fn closed_pipe_ends_quietly() {
    let cache = TestCache::new();
    for i in 0..30 {
        smollm2(&cache, &format!("org/model-{i:02}")).build();
    }
    let mut child = std::process::Command::new(LIST)
        .args(["--json"])
        .env("HF_HUB_CACHE", cache.hub())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
