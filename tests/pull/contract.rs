//! mlxk-pull's command-line contract where no server is needed: a refused
//! connection fails at once with one line, and no names is a usage error
//! however standard input looks.

use std::io::Write;
use std::process::Stdio;

use super::{messages, pull, result, wait_child, Msg, BIN};
use crate::harness::TestCache;

/// Nothing listens on the discard port: no retries (they cannot help), one
/// error line naming the endpoint, and a hint about HF_ENDPOINT.
#[test]
fn a_refused_connection_fails_at_once_in_one_line() {
    let cache = TestCache::new();
    let endpoint = "http://127.0.0.1:9";
    let run = pull(&cache, endpoint, &["org/model"]).expect_code(1);
    let stderr = run.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0]
            .starts_with("error: org/model@main: failed: cannot connect to http://127.0.0.1:9: "),
        "{stderr}"
    );
    assert!(lines[0].contains("refused"), "{stderr}");
    assert!(
        lines[1].starts_with("hint: is HF_ENDPOINT right"),
        "{stderr}"
    );
    assert!(!stderr.contains("retry"), "{stderr}");

    let run = pull(&cache, endpoint, &["--json", "org/model"]).expect_code(1);
    let r = result(&run);
    assert_eq!(r.download_status, "failed");
    assert!(r.reason.unwrap().contains(endpoint));
    assert_eq!(run.stderr(), "", "NDJSON mode says it on stdout");
    let hint = run
        .stdout()
        .lines()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.get("hint").and_then(|h| h.as_str()).map(str::to_string)
        })
        .expect("the result carries a hint");
    assert!(hint.contains("HF_ENDPOINT"), "{hint}");
    assert!(matches!(
        messages(&run).last(),
        Some(Msg::Summary { exit_code: 1, .. })
    ));
}

/// No names and nothing on standard input is the usage error a terminal gets.
#[test]
fn no_names_and_an_empty_stdin_is_a_usage_error() {
    let cache = TestCache::new();
    let run = pull(&cache, "http://127.0.0.1:9", &[]).expect_code(2);
    assert!(
        run.stderr()
            .starts_with("error: no repository given\nhint: "),
        "{}",
        run.stderr()
    );
    let mut child = cache
        .command(BIN)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .arg("--json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\n  \n").unwrap();
    let blank = wait_child(child, "pull with blank stdin").expect_code(2);
    assert_eq!(blank.stderr(), run.stderr());
}
