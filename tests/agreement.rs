//! mlxk-list against mlx-knife (PyPI mlx-knife, the tool our users know) on
//! one cache: the verdicts agree, except where mlx-knife is known to be wrong.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use crate::harness::{fixtures, wire, TestCache};
use crate::list::{minilm, smollm2};

const LIST: &str = env!("CARGO_BIN_EXE_mlxk-list");

/// mlx-knife's `mlxk` script, wherever pip put it.
fn mlx_knife() -> std::path::PathBuf {
    let out = Command::new(fixtures::python())
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .expect("the test venv's python");
    let path = std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("mlxk");
    assert!(
        path.exists(),
        "mlx-knife is not installed: run `scripts/setup-tests.sh`"
    );
    path
}

#[test]
fn health_verdicts_agree_with_mlx_knife_except_where_it_is_wrong() {
    let cache = TestCache::new();
    smollm2(&cache, "mlx-community/a-healthy").build();
    minilm(&cache, "org/b-healthy-bert").build();
    let r = smollm2(&cache, "org/c-no-config").build();
    fs::remove_file(r.snapshot().join("config.json")).unwrap();
    smollm2(&cache, "org/d-bad-config")
        .build()
        .overwrite("config.json", "{oops");
    let r = smollm2(&cache, "org/e-lfs-pointer").build();
    r.overwrite(
        "model.safetensors",
        "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 115231824\n",
    );
    let r = smollm2(&cache, "org/f-no-weights").build();
    fs::remove_file(r.snapshot().join("model.safetensors")).unwrap();
    cache
        .repo("org/g-shards-no-index")
        .json("config.json", serde_json::json!({"model_type": "bert"}))
        .lfs(
            "model-00001-of-00002.safetensors",
            &fixtures::minilm_dir().join("model.safetensors"),
        )
        .build();
    // mlx-knife calls these healthy; they are not.
    let r = smollm2(&cache, "org/x-truncated-weights").build();
    r.truncate("model.safetensors", 50_000_000);
    // A pull of an update stopped halfway: its blob never left `.incomplete`.
    let r = smollm2(&cache, "org/y-interrupted").build();
    let partial = &fs::read(r.blob_of("model.safetensors")).unwrap()[..1 << 20];
    fs::write(
        r.dir
            .join("blobs")
            .join(format!("{}.incomplete", "e".repeat(64))),
        partial,
    )
    .unwrap();
    let r = smollm2(&cache, "org/z-truncated-tokenizer").build();
    r.truncate("tokenizer.json", 4096);
    let mlx_knife_wrong = [
        "org/x-truncated-weights",
        "org/y-interrupted",
        "org/z-truncated-tokenizer",
    ];

    let ours = cache.run(LIST, &["--json"]);
    let (models, _, _) = wire::list_output(&ours.stdout());
    let ours: BTreeMap<String, String> = models.into_iter().map(|m| (m.name, m.health)).collect();

    let base = cache.hub().parent().unwrap();
    let theirs = Command::new(mlx_knife())
        .args(["list", "--json"])
        .env("HF_HOME", base)
        .output()
        .unwrap();
    let theirs: serde_json::Value = serde_json::from_slice(&theirs.stdout).expect("mlx-knife JSON");
    let theirs: BTreeMap<String, String> = theirs["data"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["health"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (name, verdict) in &ours {
        if mlx_knife_wrong.contains(&name.as_str()) {
            assert_eq!(
                (verdict.as_str(), theirs[name].as_str()),
                ("unhealthy", "healthy"),
                "{name}"
            );
        } else {
            assert_eq!(
                verdict, &theirs[name],
                "{name}: mlxk-list and mlx-knife disagree"
            );
        }
    }
    assert_eq!(ours["mlx-community/a-healthy"], "healthy");
    assert_eq!(ours["org/c-no-config"], "unhealthy");
}
