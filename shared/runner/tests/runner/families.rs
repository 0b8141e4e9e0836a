//! mlx-knife's text portfolio families (Mistral, Phi-3, Mixtral, Qwen3-MoE, gpt-oss) against
//! mlx-lm on tiny random checkpoints that mlx-lm's own classes made, quantized and saved
//! (`scripts/make_tiny_families.py`): identical prompt tokens and greedy tokens, last
//! logits within [`TOLERANCE`], on the CPU decode step and on MLX's.

use mlxk_runner::{LoadOptions, Runner};
use serde_json::json;

use crate::common::{fixture, load, mlx_lock, venv_python};
use crate::reference::{chat, compare, reference_with, Check, TOLERANCE};

/// A chat case when the checkpoint has a template, a raw one, and a raw prompt of ~130
/// tokens (past gpt-oss's 8-position window).
fn cases(chat_template: bool) -> serde_json::Value {
    let long = "The lighthouse keeper wrote down the weather every hour: wind, rain, \
                the colour of the sea and the ships that passed. "
        .repeat(6);
    let mut cases = vec![
        json!({"id": "raw", "prompt": "The capital of France is", "raw": true, "max_tokens": 16}),
        json!({"id": "long", "prompt": long, "raw": true, "max_tokens": 24}),
    ];
    if chat_template {
        cases.insert(0, chat("chat", "Hello there, how are you?", 16));
    }
    serde_json::Value::Array(cases)
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
    let tokenizer_config = std::fs::read_to_string(dir.join("tokenizer_config.json")).unwrap();
    let cases = cases(tokenizer_config.contains("chat_template"));
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
    assert!(
        why.contains("kernel") || why.contains("not affine"),
        "{why}"
    );
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

/// MXFP4 experts beside 8-bit affine layers, attention sinks, alternating 8-position
/// windows, YaRN rope, the clamped SwiGLU.
#[test]
fn gpt_oss_agrees_with_mlx_lm() {
    agrees("tiny-gpt-oss-mxfp4-q8", "gpt_oss");
}

/// gpt-oss's harmony format, tokenized by its real tokenizer: the `final` channel is the
/// answer, the `analysis` channel and a tool preamble are reasoning, headers and control
/// tokens are neither; a model without the control tokens passes everything through.
#[test]
fn harmony_channels_split_the_answer_from_the_reasoning() {
    use mlxk_runner::channels::{Channels, HarmonyTokens, Routed};
    let Some(dir) = fixture("tiny-gpt-oss-mxfp4-q8", "families") else {
        return;
    };
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let tokens = HarmonyTokens::of(&tokenizer).expect("gpt-oss has the harmony tokens");
    let turn = "<|channel|>analysis<|message|>The user asks for a capital. Easy: Paris.<|end|>\
                <|start|>assistant<|channel|>commentary to=functions.lookup<|message|>Checking.<|end|>\
                <|start|>assistant<|channel|>final<|message|>The capital of France is Paris. 🇫🇷";
    let ids = tokenizer.encode(turn, false).unwrap().get_ids().to_vec();
    let route = |tokens: Option<HarmonyTokens>| {
        let mut channels = Channels::new(&tokenizer, tokens);
        let (mut answer, mut reasoning) = (String::new(), String::new());
        let mut pieces: Vec<Option<Routed>> =
            ids.iter().map(|&id| channels.push(id).unwrap()).collect();
        pieces.push(channels.finish().unwrap());
        for piece in pieces.into_iter().flatten() {
            match piece {
                Routed::Answer(t) => answer.push_str(&t),
                Routed::Reasoning(t) => reasoning.push_str(&t),
            }
        }
        (answer, reasoning)
    };
    let (answer, reasoning) = route(Some(tokens));
    assert_eq!(answer, "The capital of France is Paris. 🇫🇷");
    assert_eq!(
        reasoning,
        "The user asks for a capital. Easy: Paris.Checking."
    );
    let (plain, nothing) = route(None);
    assert_eq!(plain, turn);
    assert!(nothing.is_empty());
}
