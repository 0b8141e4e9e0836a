//! mlxk-run on the real SmolLM2 weights: answers, the NDJSON stream,
//! pipelines from other tools, bad input, Ctrl-C and closed pipes.
//! Generation is greedy and token counts small: these tests check behaviour,
//! the runner's own tests check numerical agreement with mlx-lm.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::json;

use crate::harness::wire::{self, Summary};
use crate::harness::wire_run::{RunLine, RunResult};
use crate::harness::{model_lock, TestCache};
use crate::list::smollm2;

pub const RUN: &str = env!("CARGO_BIN_EXE_mlxk-run");
pub const LIST: &str = env!("CARGO_BIN_EXE_mlxk-list");
pub const SMOL: &str = "mlx-community/SmolLM2-135M-Instruct-4bit";

pub fn cache_with_smollm2() -> TestCache {
    let cache = TestCache::new();
    smollm2(&cache, SMOL).build();
    cache
}

pub struct Stream {
    pub results: Vec<RunResult>,
    pub deltas: Vec<(Option<serde_json::Value>, String)>,
    pub errors: Vec<wire::Error>,
    pub summary: Summary,
}

/// Decodes mlxk-run's output; the summary must come last, once.
pub fn stream(stdout: &str) -> Stream {
    let (mut results, mut deltas, mut errors, mut summary) =
        (Vec::new(), Vec::new(), Vec::new(), None);
    for line in wire::decode::<RunLine>(stdout) {
        assert!(summary.is_none(), "a line after the summary:\n{stdout}");
        match line {
            RunLine::Delta { id, text } => deltas.push((id, text)),
            RunLine::Result(r) => results.push(r),
            RunLine::Error(e) => errors.push(e),
            RunLine::Summary(s) => summary = Some(s),
        }
    }
    let summary = summary.unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    Stream {
        results,
        deltas,
        errors,
        summary,
    }
}

#[test]
fn answers_the_capital_of_france() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let run = cache
        .run(RUN, &["SmolLM2", "What is the capital of France?"])
        .expect_code(0);
    assert_eq!(run.stdout(), "The capital of France is Paris.\n");
}

#[test]
fn ndjson_requests_are_answered_in_order_and_a_bad_line_loses_nothing() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let input = [
        json!({"type": "request", "id": "a", "prompt": "What is the capital of France?", "max_tokens": 12}).to_string(),
        "{not json".to_string(),
        json!({"type": "request", "id": 2, "messages": [{"role": "user", "content": "Name a color."}], "max_tokens": 3}).to_string(),
        json!({"type": "request", "id": 3, "prompt": "   "}).to_string(),
    ]
    .join("\n");
    let run = cache
        .run_with_stdin(RUN, &["SmolLM2", "--json"], input.as_bytes())
        .expect_code(1);
    let s = stream(&run.stdout());

    assert_eq!(s.results.len(), 2);
    let first = &s.results[0];
    assert_eq!(first.id, Some(json!("a")));
    assert_eq!(first.model, SMOL);
    assert_eq!(first.text, "The capital of France is Paris.");
    assert_eq!(first.finish_reason, "stop");
    assert_eq!(first.generated_tokens, 8, "7 tokens and <|im_end|>");
    assert!(first.prompt_tokens > 10 && first.prompt_tps > 0.0 && first.generation_tps > 0.0);
    assert!(first.peak_memory_bytes > 50_000_000);
    let streamed: String = s
        .deltas
        .iter()
        .filter(|(id, _)| id == &Some(json!("a")))
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(streamed, first.text, "deltas add up to the result");

    let second = &s.results[1];
    assert_eq!(
        (
            second.id.clone(),
            second.finish_reason.as_str(),
            second.generated_tokens
        ),
        (Some(json!(2)), "length", 3)
    );

    assert_eq!(s.errors.len(), 2);
    assert_eq!(
        (s.errors[0].code.as_str(), s.errors[0].line),
        ("invalid_input", Some(2))
    );
    assert_eq!(
        (s.errors[1].code.as_str(), s.errors[1].id.clone()),
        ("empty_prompt", Some(json!(3)))
    );
    assert_eq!(
        (
            s.summary.tool.as_str(),
            s.summary.total,
            s.summary.ok,
            s.summary.failed
        ),
        ("mlxk-run", 4, 2, 2)
    );
    assert_eq!(s.summary.exit_code, 1);
    assert!(run
        .stderr()
        .contains("error: input line is not a valid message"));
}

#[test]
fn plain_stdin_is_the_prompt_and_system_prompt_applies() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let plain = cache
        .run_with_stdin(
            RUN,
            &["SmolLM2", "--json", "-n", "4"],
            b"What is the capital of France?\n",
        )
        .expect_code(0);
    let plain = stream(&plain.stdout());
    let with_system = cache
        .run_with_stdin(
            RUN,
            &[
                "SmolLM2",
                "--json",
                "-n",
                "4",
                "--system",
                "You are a pirate.",
            ],
            b"What is the capital of France?\n",
        )
        .expect_code(0);
    let with_system = stream(&with_system.stdout());
    // SmolLM2's template puts its default system prompt in when none is given;
    // ours replaces it, so the prompt lengths differ by exactly that.
    assert_ne!(
        plain.results[0].prompt_tokens,
        with_system.results[0].prompt_tokens
    );
    assert_eq!(plain.results[0].text, "The capital of France");
}

#[test]
fn a_model_line_from_mlxk_list_chooses_the_model() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let listed = cache.run(LIST, &["--json", "SmolLM2"]).expect_code(0);
    let run = cache
        .run_with_stdin(
            RUN,
            &[
                "--json",
                "--prompt",
                "What is the capital of France?",
                "-n",
                "12",
            ],
            listed.stdout().as_bytes(),
        )
        .expect_code(0);
    let s = stream(&run.stdout());
    assert_eq!(s.results[0].model, SMOL);
    assert_eq!(s.results[0].text, "The capital of France is Paris.");
}

#[test]
fn upstream_chunks_become_context_for_the_prompt() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let alone = cache
        .run(
            RUN,
            &[
                "SmolLM2",
                "--json",
                "-n",
                "1",
                "--prompt",
                "Where were these taken?",
            ],
        )
        .expect_code(0);
    let alone = stream(&alone.stdout()).results[0].prompt_tokens;
    let chunk = json!({"type": "chunk", "index": 1, "images": [{"n": 1, "path": "photos/beach.jpg", "file": "beach.jpg", "gps": {"lat": 32.79, "lon": -16.92}, "date": "2023-12-06T14:03:00Z", "camera": "Apple iPhone SE"}], "model": "org/vlm", "text": "A sandy beach with palm trees."});
    let input = format!(
        "{chunk}\n{}\n",
        json!({"type": "summary", "tool": "mlxk-vision", "total": 1, "ok": 1, "failed": 0, "exit_code": 0, "elapsed_ms": 1})
    );
    let run = cache
        .run_with_stdin(
            RUN,
            &[
                "SmolLM2",
                "--json",
                "-n",
                "1",
                "--prompt",
                "Where were these taken?",
            ],
            input.as_bytes(),
        )
        .expect_code(0);
    let s = stream(&run.stdout());
    assert_eq!(
        (s.summary.total, s.results.len()),
        (1, 1),
        "one request: context plus prompt"
    );
    assert!(
        s.results[0].prompt_tokens > alone + 10,
        "the chunk's text and image line are in the prompt"
    );
}

#[test]
fn bad_models_are_refused_with_a_reason_and_exit_2() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    smollm2(&cache, "mlx-community/SmolLM2-360M-Instruct-4bit").build();
    let broken = smollm2(&cache, "org/truncated").build();
    broken.truncate("model.safetensors", 1_000_000);
    smollm2(&cache, "org/mamba").build().overwrite(
        "config.json",
        json!({"model_type": "mamba", "quantization": {"bits": 4, "group_size": 32}}).to_string(),
    );
    let tiny_context = smollm2(&cache, "org/tiny-context").build();
    let mut config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tiny_context.snapshot().join("config.json")).unwrap(),
    )
    .unwrap();
    config["max_position_embeddings"] = json!(16);
    tiny_context.overwrite("config.json", config.to_string());

    let expect = |args: &[&str], code: i32, error: &str| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let run = cache.run(RUN, &all).expect_code(code);
        let s = stream(&run.stdout());
        assert_eq!(s.errors[0].code, error, "{args:?}: {:?}", s.errors[0]);
        assert!(run.stderr().starts_with("error: "), "{}", run.stderr());
        s.errors[0].clone()
    };
    expect(&["no-such-model", "hi"], 2, "model_not_found");
    let e = expect(&["SmolLM2", "hi"], 2, "ambiguous_match");
    assert_eq!(e.candidates.len(), 2);
    let e = expect(&["org/truncated", "hi"], 2, "unhealthy_model");
    assert!(e.message.contains("truncated"), "{}", e.message);
    let e = expect(&["org/mamba", "hi"], 2, "unsupported_architecture");
    let hint = e.hint.unwrap();
    assert!(e.message.contains("mamba"), "{}", e.message);
    for family in [
        "llama",
        "mistral",
        "qwen3",
        "phi3",
        "mixtral",
        "qwen3_moe",
        "gpt_oss",
    ] {
        assert!(hint.contains(family), "{family} not in the hint: {hint}");
    }
    expect(
        &[
            "org/tiny-context",
            "Tell me everything about the history of France.",
        ],
        1,
        "context_overflow",
    );
    expect(&["SmolLM2-135M"], 2, "empty_prompt");
}

/// Starts a generation long enough to be interrupted while it runs.
pub fn long_story(cache: &TestCache, json: bool) -> std::process::Child {
    let mut args = vec![
        "SmolLM2",
        "-n",
        "400",
        "--prompt",
        "Write a long story about a cat.",
    ];
    if json {
        args.push("--json");
    }
    cache
        .command(RUN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn ctrl_c_stops_generation_cleanly() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let mut child = long_story(&cache, true);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("\"delta\""), "{first}");
    // The first token has arrived: generation is under way. Interrupt it.
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let s = stream(&format!("{first}\n{}\n", rest.join("\n")));
    assert_eq!(s.results[0].finish_reason, "interrupted");
    assert!(s.results[0].generated_tokens < 400);
    assert_eq!(s.summary.exit_code, 130);
}

#[test]
fn closed_pipe_ends_generation_quietly() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let mut child = long_story(&cache, false);
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut byte).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn too_little_memory_is_refused_unless_forced() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let mut cmd = cache.command(RUN);
    let out = cmd
        .args(["SmolLM2", "--json", "-n", "2", "hi"])
        .env("MLXK_MEMORY_LIMIT", "64M")
        .output()
        .unwrap();
    let run = crate::harness::Run(out).expect_code(2);
    let s = stream(&run.stdout());
    assert_eq!(s.errors[0].code, "insufficient_memory");
    assert!(
        s.errors[0].message.contains("GiB available"),
        "{}",
        s.errors[0].message
    );
    assert!(run.stderr().contains("hint:") && run.stderr().contains("--force"));

    let out = cache
        .command(RUN)
        .args(["SmolLM2", "--json", "-n", "2", "--force", "hi"])
        .env("MLXK_MEMORY_LIMIT", "64M")
        .output()
        .unwrap();
    let run = crate::harness::Run(out).expect_code(0);
    assert_eq!(stream(&run.stdout()).results[0].generated_tokens, 2);
}
