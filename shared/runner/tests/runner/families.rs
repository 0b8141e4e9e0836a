//! mlx-knife's text portfolio families (Mistral, Phi-3, Mixtral, Qwen3-MoE) against mlx-lm
//! on tiny random checkpoints that mlx-lm's own classes made, quantized and saved
//! (`scripts/make_tiny_families.py`): identical prompt tokens and greedy tokens, last
//! logits within [`TOLERANCE`], on the CPU decode step and on MLX's.

use mlxk_runner::{LoadOptions, Runner};
use serde_json::json;

use crate::common::{fixture, load, mlx_lock, venv_python};
use crate::reference::{chat, compare, reference_with, Check, TOLERANCE};

fn cases() -> serde_json::Value {
    let long = "The lighthouse keeper wrote down the weather every hour: wind, rain, \
                the colour of the sea and the ships that passed. "
        .repeat(6);
    json!([
        chat("chat", "Hello there, how are you?", 16),
        {"id": "raw", "prompt": "The capital of France is", "raw": true, "max_tokens": 16},
        {"id": "long", "prompt": long, "raw": true, "max_tokens": 24},
    ])
}

/// Random weights: tokens are compared, text is not (see [`Check::text`]).
const CHECK: Check = Check {
    tokens: true,
    text: false,
};

fn agrees(name: &str, architecture: &str) {
    let _lock = mlx_lock();
    let Some(dir) = fixture(name, "families") else {
        return;
    };
    let cases = cases();
    let Some(refs) = reference_with(&dir, &cases, &venv_python("families")) else {
        return;
    };
    let runner = load(&dir);
    assert_eq!(runner.architecture(), architecture);
    assert_eq!(
        runner.decode_step(),
        Ok(()),
        "{name} decodes on the CPU step"
    );
    let worst = compare(&runner, &cases, &refs, TOLERANCE, CHECK);
    eprintln!("{name}, CPU step: max |Δlogit| {worst:.3e}");
    drop(runner);

    let options = LoadOptions {
        cpu_kernel: false,
        ..LoadOptions::default()
    };
    let runner = Runner::load(&dir, &options).unwrap();
    let why = runner.decode_step().unwrap_err();
    assert!(why.contains("kernel"), "{why}");
    let worst = compare(&runner, &cases, &refs, TOLERANCE, CHECK);
    eprintln!("{name}, MLX step: max |Δlogit| {worst:.3e}");
}

#[test]
fn mistral_agrees_with_mlx_lm() {
    agrees("tiny-mistral-4bit", "mistral");
}

/// Fused qkv/gate_up, a rotary share of ¾ and long-rope scaling.
#[test]
fn phi3_agrees_with_mlx_lm() {
    agrees("tiny-phi3-4bit", "phi3");
}

/// Four experts, top 2, softmax after top-k.
#[test]
fn mixtral_agrees_with_mlx_lm() {
    agrees("tiny-mixtral-4bit", "mixtral");
}

/// Eight experts, top 2, softmax before top-k, renormalised; layer 0 dense; 8-bit routers.
#[test]
fn qwen3_moe_agrees_with_mlx_lm() {
    agrees("tiny-qwen3-moe-4bit", "qwen3_moe");
}
