//! Whisper's CPU decode step against MLX's graph on the same real weights (tiny.en as
//! float32, float16 upcast at load, and 4-bit): the logits of every decoded position
//! and the greedy tokens of the first window, on jfk.wav and a LibriVox clip; the CPU
//! step both as chosen at load (dense matrices read from exact float16 copies) and on
//! the float32 arrays alone.

use mlxk_runner::whisper::model::cpu_step::{StepTrace, TraceStep};
use mlxk_runner::whisper::Whisper;
use mlxk_runner::LoadOptions;

use crate::common::{fixtures_dir, mlx_lock, skip};

/// Largest |Δ| allowed between the two steps' logits.
const TOLERANCE: f32 = 1e-3;

fn clips() -> Option<Vec<(String, Vec<f32>)>> {
    let audio = fixtures_dir().join("audio");
    let names = [
        "jfk.wav",
        "librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
    ];
    let mut out = Vec::new();
    for name in names {
        let path = audio.join(name);
        if !path.is_file() {
            skip(&format!(
                "{} is absent; run scripts/fixtures-audio.sh",
                path.display()
            ));
            return None;
        }
        out.push((name.to_string(), mlxk_audio_io::decode_file(&path).unwrap()));
    }
    Some(out)
}

fn compare(model: &str) {
    let dir = fixtures_dir().join("models").join(model);
    if !dir.join("weights.safetensors").is_file() {
        skip(&format!(
            "{} is absent; run scripts/fixtures-audio.sh",
            dir.display()
        ));
        return;
    }
    let Some(clips) = clips() else {
        return;
    };
    let _lock = mlx_lock();
    let whisper = Whisper::load(&dir, &LoadOptions::default()).unwrap();
    assert!(
        whisper.decode_step().contains("on the CPU"),
        "{model}: {}",
        whisper.decode_step()
    );
    for (name, samples) in clips {
        let mlx = whisper
            .trace_first_window(&samples, TraceStep::Mlx)
            .unwrap();
        for step in [TraceStep::Cpu, TraceStep::CpuFloat32] {
            let cpu = whisper.trace_first_window(&samples, step).unwrap();
            check(&format!("{model} {name} {step:?}"), &cpu, &mlx);
        }
    }
}

fn check(what: &str, cpu: &StepTrace, mlx: &StepTrace) {
    {
        assert_eq!(cpu.tokens, mlx.tokens, "{what}: tokens");
        assert_eq!(cpu.logits.len(), mlx.logits.len());
        let mut worst = 0f32;
        for (a, b) in cpu.logits.iter().zip(&mlx.logits) {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                worst = worst.max((x - y).abs());
            }
        }
        eprintln!(
            "{what}: {} tokens, {} positions, CPU step vs MLX max |Δ logit| {worst:e}",
            cpu.tokens.len(),
            cpu.logits.len()
        );
        assert!(worst < TOLERANCE, "{what}: max |Δ| {worst}");
        assert!(cpu.tokens.len() > 10, "{what}: too few tokens");
    }
}

#[test]
fn cpu_step_agrees_with_mlx_float32() {
    compare("whisper-tiny.en");
}

#[test]
fn cpu_step_agrees_with_mlx_float16() {
    compare("whisper-tiny.en-f16");
}

#[test]
fn cpu_step_agrees_with_mlx_4bit() {
    compare("whisper-tiny.en-4bit");
}

#[test]
fn half_precision_without_upcast_says_why_not() {
    let dir = fixtures_dir().join("models/whisper-tiny.en-f16");
    if !dir.join("weights.safetensors").is_file() {
        skip(&format!(
            "{} is absent; run scripts/fixtures-audio.sh",
            dir.display()
        ));
        return;
    }
    let _lock = mlx_lock();
    let options = LoadOptions {
        upcast: false,
        ..LoadOptions::default()
    };
    let whisper = Whisper::load(&dir, &options).unwrap();
    let says = whisper.decode_step();
    assert!(
        says.contains("not used") && says.contains("half-precision"),
        "{says}"
    );
}
