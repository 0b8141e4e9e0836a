//! Agreement with Python mlx-lm (`scripts/reference_mlx_lm.py`): identical prompt
//! tokens, identical greedy tokens, last-position logits within a tolerance.
//!
//! The reference output is cached next to the fixtures (`reference/*.jsonl`, keyed by a
//! hash of the cases and the script), so Python runs once per machine; without a cache
//! and without a Python that imports mlx_lm the test prints why and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use mlxk_core::ndjson::{ChatMessage, FinishReason, Request};
use mlxk_runner::{LoadOptions, Runner, SamplingParams};
use serde::Deserialize;
use serde_json::json;

use crate::common::{fixture, fixtures_dir, load, mlx_lock, skip};

/// What the reference script prints per case (its own schema, read independently).
#[derive(Debug, Deserialize)]
pub(crate) struct Reference {
    id: String,
    prompt_tokens: Vec<u32>,
    tokens: Vec<u32>,
    text: String,
    finish_reason: Option<String>,
    last_logits: Vec<f32>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reference_mlx_lm.py")
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Reference lines for `cases` on the model in `dir`, from the cache or from Python.
fn reference(dir: &Path, cases: &serde_json::Value) -> Option<Vec<Reference>> {
    reference_with(dir, cases, &crate::common::python())
}

/// [`reference`], the reference script run by `python`.
pub(crate) fn reference_with(
    dir: &Path,
    cases: &serde_json::Value,
    python: &str,
) -> Option<Vec<Reference>> {
    let cases_text = serde_json::to_string(cases).unwrap();
    let script_text = std::fs::read(script()).ok()?;
    // The model's identity too: its config and the sizes of its weight files (a
    // re-converted fixture, e.g. float32 instead of bfloat16, changes them).
    let mut model_id = std::fs::read(dir.join("config.json")).unwrap_or_default();
    let mut shards: Vec<(String, u64)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".safetensors") {
                return None;
            }
            Some((name, e.metadata().ok()?.len()))
        })
        .collect();
    shards.sort();
    model_id.extend(format!("{shards:?}").into_bytes());
    let key = fnv(&[cases_text.as_bytes(), &script_text, &model_id].concat());
    let name = dir.file_name()?.to_string_lossy().to_string();
    let cache = fixtures_dir()
        .join("reference")
        .join(format!("{name}-{key:016x}.jsonl"));
    let text = match std::fs::read_to_string(&cache) {
        Ok(text) => text,
        Err(_) => {
            let cases_file = std::env::temp_dir().join(format!("mlxk-cases-{key:016x}.json"));
            std::fs::write(&cases_file, &cases_text).unwrap();
            // Python's mlx finds its own libmlx by rpath; the test's LD_LIBRARY_PATH
            // (cargo puts our libmlx there) would give it ours.
            let out = Command::new(python)
                .env_remove("LD_LIBRARY_PATH")
                .arg(script())
                .arg("--model")
                .arg(dir)
                .arg("--cases")
                .arg(&cases_file)
                .output();
            let out = match out {
                Ok(out) if out.status.success() => out,
                Ok(out) => {
                    skip(&format!(
                        "{python} scripts/reference_mlx_lm.py failed (run `scripts/setup-tests.sh`):\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                    return None;
                }
                Err(e) => {
                    skip(&format!("cannot run {python}: {e}"));
                    return None;
                }
            };
            let text = String::from_utf8(out.stdout).unwrap();
            std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
            std::fs::write(&cache, &text).unwrap();
            text
        }
    };
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

fn request_of(case: &serde_json::Value) -> Request {
    if let Some(messages) = case.get("messages") {
        Request {
            messages: Some(serde_json::from_value::<Vec<ChatMessage>>(messages.clone()).unwrap()),
            ..Request::default()
        }
    } else {
        Request {
            prompt: Some(case["prompt"].as_str().unwrap().to_string()),
            raw: Some(true),
            ..Request::default()
        }
    }
}

/// Compares the runner with the reference on every case; returns the largest absolute
/// logit difference seen. Panics on any token disagreement.
pub(crate) fn compare(
    runner: &Runner,
    cases: &serde_json::Value,
    refs: &[Reference],
    tolerance: f32,
    check: Check,
) -> f32 {
    let mut worst = 0.0f32;
    for (case, r) in cases.as_array().unwrap().iter().zip(refs) {
        assert_eq!(case["id"], r.id.as_str());
        let prompt = runner.render(&request_of(case)).unwrap();
        assert_eq!(prompt, r.prompt_tokens, "{}: prompt tokens", r.id);

        let logits = runner.prompt_logits(&prompt).unwrap();
        assert_eq!(logits.len(), r.last_logits.len(), "{}: vocab", r.id);
        let diff = logits
            .iter()
            .zip(&r.last_logits)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        worst = worst.max(diff);
        assert!(
            diff <= tolerance,
            "{}: max |Δlogit| {diff} > {tolerance}",
            r.id
        );

        if !check.tokens {
            eprintln!("{}: max |Δlogit| {diff:.3e} (tokens not compared)", r.id);
            continue;
        }
        let max_tokens = case["max_tokens"].as_u64().unwrap() as usize;
        let mut gen = runner
            .generate_tokens(&prompt, &SamplingParams::greedy(max_tokens), None)
            .unwrap();
        let mut tokens: Vec<u32> = gen.by_ref().map(Result::unwrap).collect();
        let text = runner.decode(&tokens).unwrap();
        let stats = gen.stats();
        if stats.finish_reason == FinishReason::Stop {
            // mlx-lm lists the stop token; we stop before yielding it.
            tokens.push(*r.tokens.last().unwrap());
            assert!(runner.stop_tokens().contains(r.tokens.last().unwrap()));
        }
        assert_eq!(tokens, r.tokens, "{}: greedy tokens", r.id);
        if check.text {
            // mlx-lm's BPE streaming detokenizer drops the leading space of the first
            // piece of text; we keep what the tokens decode to.
            let ours = match text.strip_prefix(' ') {
                Some(rest) if !r.text.starts_with(' ') => rest,
                _ => &text,
            };
            assert_eq!(ours, r.text, "{}: text", r.id);
        }
        let want = if stats.finish_reason == FinishReason::Stop {
            "stop"
        } else {
            "length"
        };
        assert_eq!(r.finish_reason.as_deref(), Some(want), "{}", r.id);
        eprintln!(
            "{}: {} tokens agree, max |Δlogit| {diff:.3e}",
            r.id,
            r.tokens.len()
        );
    }
    assert_eq!(cases.as_array().unwrap().len(), refs.len());
    worst
}

/// What to compare besides the first logits.
#[derive(Clone, Copy)]
pub(crate) struct Check {
    pub(crate) tokens: bool,
    /// Text is compared for real models only: on random weights mlx-lm's detokenizer
    /// writes byte 0 as `Ā` (its byte map treats 0 as "absent").
    pub(crate) text: bool,
}

pub(crate) fn chat(id: &str, content: &str, max_tokens: u32) -> serde_json::Value {
    json!({"id": id, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens})
}

/// Largest |Δlogit| accepted. Both sides run the same MLX kernels in float32; the only
/// differences come from fused vs separate elementwise ops (SwiGLU) and BLAS (OpenBLAS
/// here, the wheel's reference BLAS in Python).
pub(crate) const TOLERANCE: f32 = 1e-3;

#[test]
fn smollm2_agrees_with_mlx_lm() {
    let _lock = mlx_lock();
    let Some(dir) = fixture("SmolLM2-135M-Instruct-4bit", "smollm2") else {
        return;
    };
    let cases = json!([
        chat("capital", "What is the capital of France?", 32),
        chat("haiku", "Write a haiku about the sea.", 32),
        chat("math", "What is 12 times 7? Answer with the number only.", 32),
        chat("list", "Name three primary colors.", 32),
        {"id": "system", "messages": [
            {"role": "system", "content": "You are a pirate. Answer like one."},
            {"role": "user", "content": "How are you today?"}], "max_tokens": 32},
        chat("unicode", "Translate to French: I love coffee ☕ and croissants 🥐.", 32),
        {"id": "raw", "prompt": "The quick brown fox", "raw": true, "max_tokens": 32},
    ]);
    let Some(refs) = reference(&dir, &cases) else {
        return;
    };
    let runner = load(&dir);
    let worst = compare(
        &runner,
        &cases,
        &refs,
        TOLERANCE,
        Check {
            tokens: true,
            text: true,
        },
    );
    eprintln!("SmolLM2: max |Δlogit| over all cases {worst:.3e}");
}

fn tiny_cases() -> serde_json::Value {
    json!([
        chat("chat", "Hello there, how are you?", 16),
        {"id": "raw", "prompt": "hello world", "raw": true, "max_tokens": 16},
    ])
}

fn tiny(name: &str, upcast: bool, tolerance: f32, tokens: bool) {
    let _lock = mlx_lock();
    let Some(dir) = fixture(name, "tiny-qwen") else {
        return;
    };
    let cases = tiny_cases();
    let Some(refs) = reference(&dir, &cases) else {
        return;
    };
    let options = LoadOptions {
        upcast,
        ..LoadOptions::default()
    };
    let runner = Runner::load(&dir, &options).unwrap();
    let check = Check {
        tokens,
        text: false,
    };
    let worst = compare(&runner, &cases, &refs, tolerance, check);
    eprintln!("{name} (upcast {upcast}): max |Δlogit| {worst:.3e}");
}

#[test]
fn tiny_qwen2_4bit_agrees_with_mlx_lm() {
    tiny("tiny-qwen2-4bit", true, TOLERANCE, true);
}

#[test]
fn tiny_qwen2_f32_agrees_with_mlx_lm() {
    tiny("tiny-qwen2-f32", true, TOLERANCE, true);
}

#[test]
fn tiny_qwen3_4bit_agrees_with_mlx_lm() {
    tiny("tiny-qwen3-4bit", true, TOLERANCE, true);
}

/// Kept in bfloat16 (as on macOS) the runner computes what mlx-lm computes.
#[test]
fn tiny_qwen3_4bit_bf16_native_agrees_with_mlx_lm() {
    tiny("tiny-qwen3-4bit-bf16", false, TOLERANCE, true);
}

/// Upcast to float32 (the CPU default) the logits differ from mlx-lm's bfloat16
/// arithmetic by bfloat16 rounding (8 bits of mantissa): compared loosely, no tokens.
#[test]
fn tiny_qwen3_4bit_bf16_upcast_is_close_to_mlx_lm() {
    tiny("tiny-qwen3-4bit-bf16", true, BF16_TOLERANCE, false);
}

/// bfloat16 rounding of activations through two layers, on logits of magnitude ~5–10.
const BF16_TOLERANCE: f32 = 0.75;

#[test]
fn tiny_qwen3_f32_agrees_with_mlx_lm() {
    tiny("tiny-qwen3-f32", true, TOLERANCE, true);
}

/// Gemma 3 270M (real weights of the base model, `gemma3_text`): sandwich norms, GeGLU, embeddings scaled
/// by √hidden, five sliding-window layers (window 512) per global one. The long case's
/// prompt is longer than the window, so the sliding layers' masks and the CPU decode
/// step's window are checked as well.
#[test]
fn gemma3_270m_agrees_with_mlx_lm() {
    let _lock = mlx_lock();
    let Some(dir) = fixture("gemma-3-270m-4bit", "gemma3") else {
        return;
    };
    let long = "The lighthouse keeper wrote down the weather every hour: wind, rain, \
                the colour of the sea and the ships that passed. "
        .repeat(24);
    let cases = json!([
        chat("capital", "What is the capital of France?", 24),
        {"id": "system", "messages": [
            {"role": "system", "content": "You are a pirate. Answer like one."},
            {"role": "user", "content": "How are you today?"}], "max_tokens": 16},
        chat("unicode", "Translate to French: I love coffee ☕ and croissants 🥐.", 16),
        chat("long", &format!("{long}\nWhat did the keeper write down?"), 24),
        {"id": "raw", "prompt": "The capital of Germany is", "raw": true, "max_tokens": 16},
    ]);
    let Some(refs) = reference(&dir, &cases) else {
        return;
    };
    let long_prompt = refs
        .iter()
        .find(|r| r.id == "long")
        .unwrap()
        .prompt_tokens
        .len();
    assert!(
        long_prompt > 512,
        "the long prompt ({long_prompt} tokens) must pass the window"
    );
    let runner = load(&dir);
    assert!(
        runner.decodes_on_cpu(),
        "4-bit Gemma 3 decodes on the CPU path"
    );
    let check = Check {
        tokens: true,
        text: true,
    };
    let worst = compare(&runner, &cases, &refs, TOLERANCE, check);
    eprintln!("Gemma 3 270M: max |Δlogit| over all cases {worst:.3e}");
    drop(runner);

    // MLX's own decode step, with its windowed key slice, on the long case.
    let options = LoadOptions {
        cpu_kernel: false,
        ..LoadOptions::default()
    };
    let runner = Runner::load(&dir, &options).unwrap();
    assert!(!runner.decodes_on_cpu());
    let at = refs.iter().position(|r| r.id == "long").unwrap();
    let one = json!([cases[at].clone()]);
    compare(&runner, &one, &refs[at..=at], TOLERANCE, check);
}
