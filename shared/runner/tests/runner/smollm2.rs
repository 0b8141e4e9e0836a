use mlxk_core::ndjson::{ChatMessage, FinishReason, Request};
use mlxk_runner::{Event, LoadOptions, Runner, SamplingParams};

use crate::common::{fixture, load, mlx_lock};

const SMOLLM2: &str = "SmolLM2-135M-Instruct-4bit";

#[test]
fn greedy_capital_of_france_is_paris() {
    let _lock = mlx_lock();
    let Some(dir) = fixture(SMOLLM2, "smollm2") else {
        return;
    };
    let runner = load(&dir);
    let request = Request {
        messages: Some(vec![ChatMessage {
            role: "user".into(),
            content: "What is the capital of France?".into(),
        }]),
        ..Request::default()
    };
    let prompt = runner.render(&request).unwrap();
    let (text, stats) = runner
        .generate_text(&prompt, &SamplingParams::greedy(32), None, |_| {})
        .unwrap();
    eprintln!("{text:?} {stats:?}");
    assert_eq!(text, "The capital of France is Paris.");
    assert_eq!(stats.finish_reason, FinishReason::Stop);
    assert_eq!(stats.prompt_tokens, prompt.len());
    assert!(stats.generation_tps > 0.0 && stats.prompt_tps > 0.0);
    assert!(stats.peak_memory_bytes > 0);
}

#[test]
fn streamed_events_concatenate_to_the_text_and_end_with_done() {
    let _lock = mlx_lock();
    let Some(dir) = fixture(SMOLLM2, "smollm2") else {
        return;
    };
    let runner = load(&dir);
    let prompt = runner.encode_raw("Once upon a time").unwrap();
    let mut text = String::new();
    let mut done = None;
    for event in runner
        .generate(&prompt, &SamplingParams::greedy(12), None)
        .unwrap()
    {
        match event.unwrap() {
            Event::Token { text: t, .. } => text.push_str(&t),
            Event::Reasoning { .. } => {}
            Event::Done { text: t, stats } => {
                text.push_str(&t);
                done = Some(stats);
            }
        }
    }
    let stats = done.expect("Done event");
    assert_eq!(stats.finish_reason, FinishReason::Length);
    assert_eq!(stats.generated_tokens, 12);
    let ids: Vec<u32> = runner
        .generate_tokens(&prompt, &SamplingParams::greedy(12), None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(text, runner.decode(&ids).unwrap());
}

#[test]
fn interrupt_flag_stops_between_tokens() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let _lock = mlx_lock();
    let Some(dir) = fixture(SMOLLM2, "smollm2") else {
        return;
    };
    let runner = load(&dir);
    let prompt = runner.encode_raw("Count: one, two,").unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let mut generator = runner
        .generate_tokens(&prompt, &SamplingParams::greedy(50), Some(flag.clone()))
        .unwrap();
    assert!(generator.next().is_some());
    assert!(generator.next().is_some());
    flag.store(true, Ordering::Relaxed);
    assert!(generator.next().is_none());
    let stats = generator.stats();
    assert_eq!(stats.finish_reason, FinishReason::Interrupted);
    assert_eq!(stats.generated_tokens, 2);
}

#[test]
fn stop_tokens_cover_config_and_template() {
    let _lock = mlx_lock();
    let Some(dir) = fixture(SMOLLM2, "smollm2") else {
        return;
    };
    let runner = load(&dir);
    let im_end = runner.tokenizer().token_to_id("<|im_end|>").unwrap();
    assert!(runner.stop_tokens().contains(&2));
    assert!(runner.stop_tokens().contains(&im_end));
    assert_eq!(runner.context_length(), 8192);
}

#[test]
fn prompt_longer_than_context_is_refused() {
    let _lock = mlx_lock();
    let Some(dir) = fixture(SMOLLM2, "smollm2") else {
        return;
    };
    let runner = mlxk_runner::Runner::load(
        &dir,
        &mlxk_runner::LoadOptions {
            context_length: Some(16),
            ..Default::default()
        },
    )
    .unwrap();
    let request = Request {
        prompt: Some("word ".repeat(40)),
        raw: Some(true),
        ..Request::default()
    };
    let err = runner.render(&request).unwrap_err();
    assert!(
        matches!(err, mlxk_runner::RunnerError::PromptTooLong { .. }),
        "{err}"
    );
}

#[test]
fn memory_gate_refuses_when_told_memory_is_short() {
    let Some(dir) = fixture(SMOLLM2, "smollm2") else {
        return;
    };
    let config = mlxk_runner::ModelConfig::load(&dir).unwrap();
    let estimate = mlxk_runner::memory::estimate(&dir, &config, 4096, true).unwrap();
    // 4-bit weights with float32 scales/biases and an 8-bit embedding: ~100–130 MB.
    assert!(
        estimate.weight_bytes > 90_000_000 && estimate.weight_bytes < 140_000_000,
        "{estimate:?}"
    );
    assert!(!mlxk_runner::memory::check(estimate, Some(estimate.total_bytes() / 2)).fits());
}

/// The Rust decode path (kernel + `cpu_decode`) and MLX's own kernels give the same
/// greedy tokens on the same weights, over one and two threads.
#[test]
fn rust_decode_matches_mlx_kernels() {
    let _lock = mlx_lock();
    let Some(dir) = fixture(SMOLLM2, "smollm2") else {
        return;
    };
    let with = |cpu_kernel: bool, threads: usize| {
        let options = LoadOptions {
            cpu_kernel,
            threads,
            ..LoadOptions::default()
        };
        Runner::load(&dir, &options).unwrap()
    };
    let mlx = with(false, 1);
    assert!(!mlx.decodes_on_cpu());
    let prompt = mlx.encode_raw("The three primary colors are").unwrap();
    let params = SamplingParams::greedy(24);
    let tokens = |r: &Runner| -> Vec<u32> {
        r.generate_tokens(&prompt, &params, None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let want = tokens(&mlx);
    assert_eq!(want.len(), 24);
    drop(mlx);
    for threads in [1, 2] {
        let rust = with(true, threads);
        assert!(rust.decodes_on_cpu());
        let got = tokens(&rust);
        assert_eq!(got, want, "{threads} threads");
    }
}
