//! README's "Use" examples, run as written (those that do not say "needs"),
//! in a shell whose PATH has the built binaries, on an isolated cache that
//! holds the default model the way the quickstart puts it there
//! (`mlxk-pull --from`).

use std::path::Path;

use crate::harness::{fixtures, model_lock, TestCache};

const PULL: &str = env!("CARGO_BIN_EXE_mlxk-pull");
const SMOL: &str = "mlx-community/SmolLM2-135M-Instruct-4bit";

/// The command lines of the first `sh` block after `## Use`.
fn use_examples() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## Use").expect("README has a Use section")..];
    let block = section.split("```sh\n").nth(1).expect("a sh block");
    let block = &block[..block.find("```").unwrap()];
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_use_examples_run_as_written() {
    let _model = model_lock();
    let cache = TestCache::new();
    let import = cache
        .command(PULL)
        .args(["--from", fixtures::smollm2_mlx().to_str().unwrap(), SMOL])
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    let bin_dir = Path::new(PULL).parent().unwrap();
    let cwd = cache.scratch("cwd");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let examples = use_examples();
    assert!(examples.len() >= 8, "{examples:?}");
    let mut ran = 0;
    for line in &examples {
        if line.contains("needs") {
            continue;
        }
        let out = cache
            .command("bash")
            .env("PATH", &path)
            .current_dir(&cwd)
            .args(["-o", "pipefail", "-c", line])
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "README example failed ({:?}):\n$ {line}\n{stdout}\n{stderr}",
            out.status
        );
        if !line.contains("--check") && !line.contains("> requests.ndjson") {
            assert!(!stdout.trim().is_empty(), "no output from: {line}");
        }
        if line.contains("jq -r") {
            assert_eq!(stdout.trim(), SMOL, "$ {line}");
        }
        ran += 1;
    }
    assert!(ran >= 9, "only {ran} examples ran");
}
