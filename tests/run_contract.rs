//! mlxk-run's command-line contract: names, prompts, options and settings
//! that are wrong get the documented error and exit status, before any
//! model is loaded; what is asked for is what is done.

use serde_json::json;

use crate::harness::{fixtures, model_lock, Run, TestCache};
use crate::run::{cache_with_smollm2, stream, RUN, SMOL};

/// A revision the cache has never seen is `revision_not_found`, not an
/// unhealthy model with a repair hint.
#[test]
fn an_unknown_revision_is_revision_not_found() {
    let cache = cache_with_smollm2();
    let spec = format!("{SMOL}@ffff");
    let run = cache.run(RUN, &["--json", &spec, "hi"]).expect_code(2);
    let s = stream(&run.stdout());
    assert_eq!(s.errors[0].code, "revision_not_found", "{:?}", s.errors[0]);
    assert!(s.errors[0].message.contains("'ffff'"));
    assert_eq!(s.summary.exit_code, 2);
    let stderr = run.stderr();
    assert!(!stderr.contains("unhealthy"), "{stderr}");
    assert!(stderr.contains("hint: mlxk-list --show"), "{stderr}");
}

/// `--max-tokens 0` (and a request's `max_tokens: 0`) generates nothing.
#[test]
fn max_tokens_0_generates_nothing() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let request = json!({"type": "request", "id": 1, "prompt": "Name a color.", "max_tokens": 0});
    let run = cache
        .run_with_stdin(
            RUN,
            &["SmolLM2-135M", "--json", "-n", "0"],
            format!("{request}\n").as_bytes(),
        )
        .expect_code(0);
    let s = stream(&run.stdout());
    assert!(s.deltas.is_empty(), "{:?}", s.deltas);
    let r = &s.results[0];
    assert_eq!(
        (
            r.text.as_str(),
            r.generated_tokens,
            r.finish_reason.as_str()
        ),
        ("", 0, "length")
    );
    assert!(r.prompt_tokens > 0);

    let plain = cache
        .run(RUN, &["SmolLM2-135M", "-n", "0", "Name a color."])
        .expect_code(0);
    assert_eq!(plain.stdout(), "\n");
}

/// Sampling options are checked when the command line is parsed (exit 2,
/// before the cache is even looked at), negative numbers included.
#[test]
fn sampling_options_are_checked_when_parsed() {
    let cache = TestCache::new();
    for (args, why) in [
        (["--temperature", "-1"], "temperature must be ≥ 0"),
        (["-t", "nan"], "temperature must be ≥ 0"),
        (["--top-p", "1.5"], "top_p must be in [0, 1]"),
        (["--top-p", "-0.1"], "top_p must be in [0, 1]"),
        (["--min-p", "-1"], "min_p must be in [0, 1]"),
        (
            ["--repetition-penalty", "-2"],
            "repetition_penalty must be ≥ 0",
        ),
        (["--max-tokens", "-1"], "is not in 0.."),
    ] {
        let mut all = vec!["no-such-model", "hi"];
        all.extend(args);
        let run = cache.run(RUN, &all).expect_code(2);
        let stderr = run.stderr();
        assert!(
            stderr.contains(&format!("invalid value '{}' for", args[1])),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains(why), "{args:?}: {stderr}");
        assert!(!stderr.contains("no-such-model"), "{args:?}: {stderr}");
        assert_eq!(run.stdout(), "");
    }
    // In range, a value is taken as given (the model name is what fails).
    let run = cache
        .run(RUN, &["no-such-model", "hi", "--temperature", "0.7"])
        .expect_code(2);
    assert!(run.stderr().contains("no model matches 'no-such-model'"));
}

/// An empty prompt is no prompt: the same error and status, before loading.
#[test]
fn an_empty_prompt_is_the_same_error_as_none() {
    let cache = cache_with_smollm2();
    let none = cache.run(RUN, &["--json", "SmolLM2-135M"]).expect_code(2);
    for args in [
        &["--json", "SmolLM2-135M", ""][..],
        &["--json", "SmolLM2-135M", "  "],
        &["--json", "SmolLM2-135M", "--prompt", ""],
    ] {
        let run = cache.run(RUN, args).expect_code(2);
        assert_eq!(run.stderr(), none.stderr(), "{args:?}");
        let (a, b) = (stream(&run.stdout()), stream(&none.stdout()));
        assert_eq!(a.errors[0].code, "empty_prompt");
        assert_eq!(a.errors[0].message, b.errors[0].message);
    }
    assert!(none.stderr().starts_with("error: no prompt"));
    assert!(none.stderr().contains("hint: "));
}

/// `mlxk-run "a question"`: the model is what is missing, not the prompt.
#[test]
fn a_question_without_a_model_says_the_model_is_missing() {
    let cache = cache_with_smollm2();
    let run = cache
        .run(RUN, &["What is the capital of France?"])
        .expect_code(2);
    let stderr = run.stderr();
    assert!(stderr.starts_with("error: no model given\n"), "{stderr}");
    assert!(
        stderr.contains("hint: name it before the prompt"),
        "{stderr}"
    );
    assert!(!stderr.contains("no prompt"), "{stderr}");
    let run = cache.run(RUN, &[]).expect_code(2);
    assert!(run.stderr().starts_with("error: no model given\n"));
}

/// `mlxk-list --json | mlxk-run "a question"`: the listed model answers it.
#[test]
fn a_question_alone_is_answered_by_the_model_on_stdin() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let listed = cache
        .run(crate::run::LIST, &["--json", "SmolLM2"])
        .expect_code(0);
    let run = cache
        .run_with_stdin(
            RUN,
            &["--json", "-n", "12", "What is the capital of France?"],
            listed.stdout().as_bytes(),
        )
        .expect_code(0);
    let s = stream(&run.stdout());
    assert_eq!(s.results[0].text, "The capital of France is Paris.");
}

/// A typo in MLXK_MEMORY_LIMIT must not silently lift the cap.
#[test]
fn an_unparsable_memory_limit_is_a_usage_error() {
    let cache = cache_with_smollm2();
    let out = cache
        .command(RUN)
        .args(["SmolLM2-135M", "--json", "-n", "2", "hi"])
        .env("MLXK_MEMORY_LIMIT", "2 gigs")
        .output()
        .unwrap();
    let run = Run(out).expect_code(2);
    let s = stream(&run.stdout());
    assert!(s.results.is_empty());
    assert_eq!(s.errors[0].code, "validation_error");
    assert!(
        s.errors[0].message.contains("MLXK_MEMORY_LIMIT=\"2 gigs\""),
        "{}",
        s.errors[0].message
    );
    assert!(run.stderr().contains("hint: set it to a size"));
}

/// mlx-knife's text portfolio families (tiny checkpoints made by mlx-lm's own classes).
const FAMILIES: [&str; 5] = [
    "tiny-mistral-4bit",
    "tiny-phi3-4bit",
    "tiny-mixtral-4bit",
    "tiny-qwen3-moe-4bit",
    "tiny-gpt-oss-mxfp4-q8",
];

/// Each family answers through the binary, on the CPU decode step (`--verbose` says
/// which step runs), with the same text in NDJSON mode as in plain mode.
#[test]
fn text_families_answer_on_the_cpu_decode_step() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    for family in FAMILIES {
        let dir = fixtures::tiny_family(family).display().to_string();
        let args = ["-n", "12", "Tell me about the sea."];
        let plain = cache
            .run(RUN, &[&[dir.as_str(), "--verbose"][..], &args].concat())
            .expect_code(0);
        assert!(
            plain.stderr().contains("decode step: on the CPU, in Rust"),
            "{family}:\n{}",
            plain.stderr()
        );
        let json = cache
            .run(RUN, &[&[dir.as_str(), "--json"][..], &args].concat())
            .expect_code(0);
        let answer = json
            .stdout()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["type"] == "result")
            .unwrap_or_else(|| panic!("{family}: no result line:\n{}", json.stdout()));
        let generated = answer["generated_tokens"].as_u64().unwrap();
        assert!((1..=12).contains(&generated), "{family}: {answer}");
        assert_eq!(
            answer["text"].as_str().unwrap(),
            plain.stdout().trim_end_matches('\n'),
            "{family}"
        );
    }
}

/// `--verbose` shows the gate's estimate and, after the answer, the measured
/// peak; the estimate is within 1.5× of the peak on every fixture.
#[test]
fn the_memory_estimate_is_within_1_5x_of_the_measured_peak() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let mut dirs = vec![fixtures::smollm2_mlx()];
    for tiny in [
        "tiny-qwen3-4bit",
        "tiny-qwen3-4bit-bf16",
        "tiny-qwen3-f32",
        "tiny-qwen2-4bit",
        "tiny-qwen2-f32",
    ] {
        dirs.push(fixtures::tiny_qwen(tiny));
    }
    for family in FAMILIES {
        dirs.push(fixtures::tiny_family(family));
    }
    for dir in dirs {
        let dir = dir.display().to_string();
        let run = cache
            .run(
                RUN,
                &[
                    &dir,
                    "--verbose",
                    "-n",
                    "64",
                    "What is the capital of France?",
                ],
            )
            .expect_code(0);
        let stderr = run.stderr();
        let gb = |prefix: &str| -> f64 {
            let line = stderr
                .lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} line:\n{stderr}"));
            line[prefix.len()..]
                .trim_start()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let (estimate, peak) = (gb("memory estimate:"), gb("peak memory:"));
        let ratio = estimate / peak;
        eprintln!("{dir}: estimate {estimate:.3} GB, peak {peak:.3} GB, ratio {ratio:.2}");
        assert!(
            (1.0 / 1.5..=1.5).contains(&ratio),
            "{dir}: estimate {estimate} GB vs peak {peak} GB\n{stderr}"
        );
    }
}
