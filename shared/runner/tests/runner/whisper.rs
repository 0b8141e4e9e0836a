//! Whisper in the runner against Python mlx-whisper on the same converted weights:
//! the log-mel frames of jfk.wav, the greedy tokens of its first window, language
//! detection. References: `scripts/fixtures-audio.sh references` (cached JSON lines).

use std::path::PathBuf;

use mlxk_runner::whisper::{TranscribeOptions, Whisper};
use mlxk_runner::LoadOptions;

use crate::common::{fixtures_dir, mlx_lock, skip};

fn reference_line(file: &str, pick: &str) -> Option<serde_json::Value> {
    let path = fixtures_dir().join("audio/reference").join(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        skip(&format!(
            "{} is absent; run scripts/fixtures-audio.sh references",
            path.display()
        ));
        return None;
    };
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["file"].as_str().unwrap().ends_with(pick))
}

fn model(name: &str) -> Option<PathBuf> {
    let dir = fixtures_dir().join("models").join(name);
    if dir.join("weights.safetensors").is_file() {
        Some(dir)
    } else {
        skip(&format!(
            "{} is absent; run scripts/fixtures-audio.sh",
            dir.display()
        ));
        None
    }
}

fn jfk() -> Vec<f32> {
    mlxk_audio_io::decode_file(&fixtures_dir().join("audio/jfk.wav")).unwrap()
}

#[test]
fn log_mel_matches_mlx_whisper() {
    let Some(reference) = reference_line("tiny-en.jsonl", "/jfk.wav") else {
        return;
    };
    let Some(dir) = model("whisper-tiny.en") else {
        return;
    };
    let _lock = mlx_lock();
    let whisper = Whisper::load(&dir, &LoadOptions::default()).unwrap();
    let theirs: Vec<Vec<f64>> = serde_json::from_value(reference["mel"].clone()).unwrap();
    let ours = whisper.log_mel(&jfk(), theirs.len());
    let mut worst = 0f64;
    for (f, row) in theirs.iter().enumerate() {
        for (m, v) in row.iter().enumerate() {
            worst = worst.max((ours[f * 80 + m] as f64 - v).abs());
        }
    }
    eprintln!("log-mel max abs difference vs mlx-whisper: {worst:e}");
    assert!(worst < 1e-4, "max abs difference {worst}");
}

#[test]
fn greedy_tokens_match_mlx_whisper_on_jfk() {
    let Some(reference) = reference_line("tiny-en.jsonl", "/jfk.wav") else {
        return;
    };
    let Some(dir) = model("whisper-tiny.en") else {
        return;
    };
    let _lock = mlx_lock();
    let whisper = Whisper::load(&dir, &LoadOptions::default()).unwrap();
    let mut source = vec![jfk()].into_iter();
    let t = whisper
        .transcribe(&mut source, &TranscribeOptions::default(), |_| {}, None)
        .unwrap();
    let theirs: Vec<Vec<u32>> = reference["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::from_value(s["tokens"].clone()).unwrap())
        .collect();
    let ours: Vec<Vec<u32>> = t.segments.iter().map(|s| s.tokens.clone()).collect();
    assert_eq!(ours, theirs);
    assert_eq!(t.text, reference["text"].as_str().unwrap());
}

#[test]
fn detects_german_like_mlx_whisper() {
    let Some(reference) = reference_line("base-detect.jsonl", "/de16.wav") else {
        return;
    };
    let Some(dir) = model("whisper-base") else {
        return;
    };
    let _lock = mlx_lock();
    let whisper = Whisper::load(&dir, &LoadOptions::default()).unwrap();
    let samples = mlxk_audio_io::decode_file(&fixtures_dir().join("audio/de16.wav")).unwrap();
    let mut source = vec![samples].into_iter();
    let t = whisper
        .transcribe(&mut source, &TranscribeOptions::default(), |_| {}, None)
        .unwrap();
    assert_eq!(t.language, "de");
    let p_theirs = reference["language_probs"]["de"].as_f64().unwrap();
    let p_ours = t.language_probability.unwrap();
    assert!(
        (p_ours - p_theirs).abs() < 1e-3,
        "P(de) {p_ours} vs {p_theirs}"
    );
    assert_eq!(t.text, reference["text"].as_str().unwrap());
}

#[test]
fn memory_gate_refuses_when_capped() {
    let Some(dir) = model("whisper-tiny.en") else {
        return;
    };
    // MLXK_MEMORY_LIMIT is read per call; a cap far below the model's size refuses it.
    let estimate = mlxk_runner::whisper::estimate_memory(
        &mlxk_runner::whisper::WhisperConfig::load(&dir).unwrap(),
        150 << 20,
    );
    // At least the weights: the honest estimate (docs/runner.md) adds little on top.
    assert!(estimate.total_bytes() > 150 << 20);
    assert!(!mlxk_runner::memory::check(estimate, Some(100 << 20)).fits());
}

/// Tiny random checkpoints of large-v3-turbo's shape (32 encoder and 4 decoder layers,
/// 128 mel bins, the 51,866-token v3 vocabulary) quantized to 4 and 8 bits, and of
/// large-v3's (32 decoder layers, float32), made and saved by mlx-whisper's own code:
/// the logits of a teacher-forced transcript at every position within 1e-3 of
/// mlx-whisper's with the same argmax, and the same greedy tokens for the window.
/// References: `scripts/fixtures-audio.sh v3`.
#[test]
fn large_v3_shapes_agree_with_mlx_whisper() {
    use mlxk_runner::whisper::decoding::DecodeOptions;
    for v in ["turbo-4bit", "turbo-8bit", "f32"] {
        let name = format!("tiny-whisper-v3-{v}");
        let Some(dir) = model(&name) else { return };
        let prefix = fixtures_dir().join("audio/reference/v3").join(&name);
        let Ok(meta) = std::fs::read_to_string(prefix.with_extension("json")) else {
            skip(&format!(
                "{} is absent; run scripts/fixtures-audio.sh v3",
                prefix.display()
            ));
            return;
        };
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
        let tokens: Vec<u32> = serde_json::from_value(meta["tokens"].clone()).unwrap();
        let greedy: Vec<u32> = serde_json::from_value(meta["greedy"].clone()).unwrap();
        let theirs: Vec<f32> = std::fs::read(prefix.with_extension("f32"))
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let _lock = mlx_lock();
        let whisper = Whisper::load(&dir, &LoadOptions::default()).unwrap();
        let c = &whisper.config;
        assert_eq!(
            (c.n_mels, c.n_vocab, c.n_audio_layer),
            (128, 51866, 32),
            "{v}"
        );
        assert_eq!(whisper.tokenizer.vocab_size(), 51866);
        let ours = whisper.window_logits(&jfk(), &tokens).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{v}");
        let vocab = c.n_vocab;
        let argmax = |row: &[f32]| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0
        };
        let mut worst = 0f32;
        for (i, (a, b)) in ours.chunks(vocab).zip(theirs.chunks(vocab)).enumerate() {
            worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(worst, f32::max);
            assert_eq!(argmax(a), argmax(b), "{v}: argmax at position {i}");
        }
        eprintln!(
            "{name}: {} positions, max |Δlogit| vs mlx-whisper {worst:e}",
            tokens.len()
        );
        assert!(worst < 1e-3, "{v}: max |Δlogit| {worst}");
        let options = DecodeOptions {
            language: Some("en".into()),
            without_timestamps: true,
            ..DecodeOptions::default()
        };
        let decoded = whisper.decode_window(&jfk(), &options).unwrap();
        assert_eq!(decoded.tokens, greedy, "{v}: greedy tokens");
    }
}
