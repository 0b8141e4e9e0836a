//! SIGINT and SIGTERM at any moment leave valid output (docs/ndjson.md):
//! streamed text ends with a newline, NDJSON with its `summary` line, and
//! the status is 130. Each signal is sent at a point the test has seen the
//! run reach (a line it wrote), never after a sleep.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};

use serde_json::json;

use crate::harness::{model_lock, TestCache};
use crate::run::{cache_with_smollm2, long_story, stream, RUN};

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn start(cache: &TestCache, args: &[&str]) -> Child {
    cache
        .command(RUN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Before loading: the run waits for more input (its stdin stays open).
#[test]
fn sigterm_while_reading_input_ends_with_the_summary() {
    let cache = cache_with_smollm2();
    let mut child = start(&cache, &["SmolLM2-135M", "--json"]);
    let mut stdin = child.stdin.take().unwrap();
    let upstream = json!({"type": "error", "code": "not_found", "message": "upstream failed"});
    writeln!(stdin, "{upstream}").unwrap();
    stdin.flush().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // An upstream error is passed through: the run is reading its input.
    let echoed = lines.next().unwrap().unwrap();
    assert!(echoed.contains("upstream failed"), "{echoed}");
    signal(&child, "TERM");
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.code(), Some(130));
    let s = stream(&format!("{echoed}\n{}\n", rest.join("\n")));
    assert!(s.results.is_empty());
    assert_eq!(
        (s.summary.total, s.summary.failed, s.summary.exit_code),
        (1, 1, 130)
    );
}

/// After loading, while a long prompt is read: the request still gets its
/// `result` (`interrupted`), then the summary.
#[test]
fn sigint_during_prefill_gives_a_result_and_the_summary() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let prompt = "The cat sat on the mat and looked at the garden. ".repeat(300);
    let mut child = start(
        &cache,
        &[
            "SmolLM2-135M",
            "--json",
            "--verbose",
            "-n",
            "200",
            "--prompt",
            &prompt,
        ],
    );
    drop(child.stdin.take());
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    // Printed once the model is loaded, just before the prompt is read.
    let loaded = stderr.next().unwrap().unwrap();
    assert!(loaded.starts_with("memory estimate:"), "{loaded}");
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let s = stream(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(s.results.len(), 1);
    assert_eq!(s.results[0].finish_reason, "interrupted");
    assert!(s.results[0].prompt_tokens > 2000);
    assert!(s.results[0].generated_tokens < 200);
    assert_eq!(s.summary.exit_code, 130);
}

/// Mid-decode, in plain text: what was streamed ends with a newline.
#[test]
fn sigterm_mid_decode_ends_the_text_with_a_newline() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let mut child = long_story(&cache, false);
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    // The first piece of text has arrived: decoding is under way.
    stdout.read_exact(&mut first).unwrap();
    signal(&child, "TERM");
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let text = [&first[..], &rest].concat();
    assert!(
        text.ends_with(b"\n"),
        "{:?}",
        String::from_utf8_lossy(&text)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Mid-decode, NDJSON, SIGTERM: the result says `interrupted`, the summary follows.
#[test]
fn sigterm_mid_decode_ends_ndjson_with_the_summary() {
    let _model = model_lock();
    let cache = cache_with_smollm2();
    let mut child = long_story(&cache, true);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("\"delta\""), "{first}");
    signal(&child, "TERM");
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let s = stream(&format!("{first}\n{}\n", rest.join("\n")));
    assert_eq!(s.results[0].finish_reason, "interrupted");
    assert_eq!(s.summary.exit_code, 130);
}
