//! Generate from a model directory: text to stdout, statistics (JSON) to stderr.
//!
//! ```text
//! cargo run --release -p mlxk-runner --example generate -- MODEL_DIR "prompt" [max_tokens] [--raw]
//! ```

use std::io::Write;

use mlxk_core::ndjson::Request;
use mlxk_runner::{LoadOptions, Runner, SamplingParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let raw = args.iter().any(|a| a == "--raw");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--raw").collect();
    let (Some(dir), Some(prompt)) = (args.first(), args.get(1)) else {
        return Err("usage: generate MODEL_DIR PROMPT [MAX_TOKENS] [--raw]".into());
    };
    let max_tokens = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let runner = Runner::load(dir, &LoadOptions::default())?;
    let request = Request {
        prompt: Some(prompt.to_string()),
        raw: Some(raw),
        ..Request::default()
    };
    let ids = runner.render(&request)?;
    let mut out = std::io::stdout();
    let (_, stats) =
        runner.generate_text(&ids, &SamplingParams::greedy(max_tokens), None, |t| {
            let _ = out.write_all(t.as_bytes());
            let _ = out.flush();
        })?;
    println!();
    eprintln!("{}", serde_json::to_string(&stats)?);
    Ok(())
}
