//! Generated files stay in step with the binaries, and binaries that do not
//! run models do not link MLX.

use std::process::Command;

/// Every binary and whether it may link MLX.
const BINARIES: &[(&str, &str, bool)] = &[
    ("mlxk-list", env!("CARGO_BIN_EXE_mlxk-list"), false),
    ("mlxk-pull", env!("CARGO_BIN_EXE_mlxk-pull"), false),
    ("mlxk-push", env!("CARGO_BIN_EXE_mlxk-push"), false),
    ("mlxk-run", env!("CARGO_BIN_EXE_mlxk-run"), true),
    ("mlxk-audio", env!("CARGO_BIN_EXE_mlxk-audio"), true),
    ("mlxk-vision", env!("CARGO_BIN_EXE_mlxk-vision"), true),
];

fn generate(bin: &str, what: &str) -> String {
    let out = Command::new(bin)
        .args(["--generate", what])
        .output()
        .unwrap();
    assert!(out.status.success(), "{bin} --generate {what}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn committed_man_pages_and_completions_match_the_binaries() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (name, bin, _) in BINARIES {
        for (what, path) in [
            ("man", format!("{root}/man/{name}.1")),
            ("bash", format!("{root}/completions/{name}.bash")),
            ("zsh", format!("{root}/completions/_{name}")),
            ("fish", format!("{root}/completions/{name}.fish")),
        ] {
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == generate(bin, what),
                "{path} differs from `{name} --generate {what}`: run scripts/gen-docs.sh"
            );
        }
    }
}

#[test]
fn tools_without_models_do_not_link_mlx() {
    for (name, bin, may_link) in BINARIES {
        let out = Command::new("ldd")
            .arg(bin)
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .expect("ldd");
        let libs = String::from_utf8_lossy(&out.stdout);
        assert_eq!(libs.contains("libmlx"), *may_link, "{name} links:\n{libs}");
        // Those that do find it by their rpath, without LD_LIBRARY_PATH.
        assert!(!libs.contains("not found"), "{name} links:\n{libs}");
    }
}

#[test]
fn ndjson_doc_names_every_message_type_and_error_code() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ndjson.md")).unwrap();
    for kind in [
        "model",
        "request",
        "delta",
        "result",
        "progress",
        "error",
        "summary",
        "chunk",
        "image",
        "transcript",
        "segment",
    ] {
        assert!(
            doc.contains(&format!("`\"type\": \"{kind}\"`")),
            "docs/ndjson.md lacks type {kind}"
        );
    }
    for code in [
        "model_not_found",
        "ambiguous_match",
        "cache_not_found",
        "validation_error",
        "io_error",
        "revision_not_found",
    ] {
        assert!(
            doc.contains(&format!("`{code}`")),
            "docs/ndjson.md lacks error code {code}"
        );
    }
}

/// Every real file a fixture script checks by hash is listed in
/// fixtures/manifest.tsv with the same sha256 (its source, path and licence).
#[test]
fn fixture_hashes_are_in_the_manifest() {
    let root = env!("CARGO_MANIFEST_DIR");
    let manifest = std::fs::read_to_string(format!("{root}/fixtures/manifest.tsv")).unwrap();
    let listed: Vec<&str> = manifest
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').nth(4))
        .collect();
    assert!(listed.len() >= 20, "{listed:?}");
    let mut checked = 0;
    for entry in std::fs::read_dir(format!("{root}/scripts")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("fixtures-") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Some((var, value)) = line.split_once('=') else {
                continue;
            };
            if var.ends_with("_SHA256") && !var.contains(' ') {
                let sum = value.trim_matches('"');
                assert!(
                    listed.contains(&sum),
                    "{name}: {var} is not in fixtures/manifest.tsv"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 4,
        "only {checked} hashes found in scripts/fixtures-*.sh"
    );
}
