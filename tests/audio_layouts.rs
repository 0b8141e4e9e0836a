//! mlxk-audio on every published Whisper layout, each written by its reference's own
//! save path (scripts/fixtures-audio.sh): mlx-whisper's converter (`weights.safetensors`
//! with the `alignment_heads` tensor, or `weights.npz`), tiny random checkpoints of
//! large-v3-turbo's and large-v3's shape (128 mel bins, the v3 vocabulary, 4- and 8-bit)
//! made by mlx-whisper's own classes, and mlx-audio's converter (Hugging Face config,
//! `model.safetensors`, heads in generation_config.json). Trained weights agree with
//! Python mlx-whisper token for token here; the random v3 checkpoints' logits and greedy
//! tokens are checked in the runner's tests (shared/runner/tests/runner/whisper.rs). mlxk-list
//! calls each layout runtime-compatible.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::audio::{assert_agrees, clip, fixtures, model, references, stream, Stream};
use crate::harness::wire;
use crate::harness::{model_lock, TestCache};

const AUDIO: &str = env!("CARGO_BIN_EXE_mlxk-audio");
const LIST: &str = env!("CARGO_BIN_EXE_mlxk-list");

/// The whisper venv's interpreter (scripts/fixtures-audio.sh python).
fn whisper_python() -> String {
    fixtures();
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/fixtures-audio.sh"
        ))
        .arg("python")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .into()
}

/// A copy of `src` with its weights saved as `weights.npz` by `mx.<save>`, or by numpy's
/// `np.savez` as mlx-examples' convert.py wrote them before it wrote safetensors.
fn npz_model(cache: &TestCache, src: &Path, save: &str) -> String {
    let dir = cache.scratch(save);
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let out = Command::new(whisper_python())
        .env_remove("LD_LIBRARY_PATH")
        .args([
            "-c",
            "import sys, numpy as np, mlx.core as mx\n\
             w = mx.load(sys.argv[1])\n\
             if sys.argv[3] == 'np.savez': np.savez(sys.argv[2], **{k: np.array(v) for k, v in w.items()})\n\
             else: getattr(mx, sys.argv[3])(sys.argv[2], **w)",
        ])
        .arg(src.join("weights.safetensors"))
        .arg(dir.join("weights.npz"))
        .arg(save)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.display().to_string()
}

fn transcribe(cache: &TestCache, model: &str) -> Stream {
    let run = cache.run(AUDIO, &["--model", model, "--json", &clip("jfk.wav")]);
    stream(&run.expect_code(0).stdout())
}

#[test]
fn weights_npz_transcribe_as_safetensors() {
    let _model = model_lock();
    let cache = TestCache::new();
    let src = model("whisper-tiny.en-f16");
    let ours = transcribe(&cache, &src);
    assert!(ours.transcripts[0]
        .text
        .contains("ask not what your country"));
    for save in ["savez", "savez_compressed", "np.savez"] {
        let npz = npz_model(&cache, Path::new(&src), save);
        let theirs = transcribe(&cache, &npz);
        assert!(theirs.errors.is_empty(), "{save}: {:?}", theirs.errors);
        assert_eq!(
            theirs.transcripts[0].text, ours.transcripts[0].text,
            "{save}"
        );
        let key = |s: &Stream| -> Vec<(Vec<u32>, f64, f64)> {
            s.segments
                .iter()
                .map(|g| (g.tokens.clone(), g.start, g.end))
                .collect()
        };
        assert_eq!(key(&theirs), key(&ours), "{save}");
    }
}

/// large-v3-turbo's and large-v3's shapes through the binary (their numbers against
/// mlx-whisper are checked in the runner's tests: logits and greedy tokens): each loads,
/// with its 128 mel bins and v3 vocabulary, and transcribes a file to the end.
#[test]
fn large_v3_shapes_load_and_transcribe() {
    let _model = model_lock();
    let cache = TestCache::new();
    for v in ["turbo-4bit", "turbo-8bit", "f32"] {
        let run = cache.run(
            AUDIO,
            &[
                "--model",
                &model(&format!("tiny-whisper-v3-{v}")),
                "--json",
                "--language",
                "en",
                "--temperature",
                "0",
                &clip("jfk.wav"),
            ],
        );
        let s = stream(&run.expect_code(0).stdout());
        assert_eq!(s.transcripts.len(), 1, "{v}");
        assert!((s.transcripts[0].seconds - 11.0).abs() < 0.01, "{v}");
        assert_eq!(s.transcripts[0].language, "en");
    }
}

/// tiny.en written by mlx-audio's converter (float32 and 4-bit) transcribes as mlx-whisper
/// does the same weights in its own layout, and the alignment heads come from
/// generation_config.json.
#[test]
fn mlx_audio_layout_agrees_with_mlx_whisper() {
    let _model = model_lock();
    let cache = TestCache::new();
    for (dir, reference) in [
        ("whisper-tiny.en-mlx-audio", "tiny-en.jsonl"),
        ("whisper-tiny.en-mlx-audio-4bit", "tiny-en-4bit.jsonl"),
    ] {
        let reference: Vec<_> = references(reference)
            .into_iter()
            .filter(|r| r.file.ends_with("jfk.wav") || r.file.contains("0880"))
            .collect();
        let mut args = vec![
            "--model".to_string(),
            model(dir),
            "--json".into(),
            "--verbose".into(),
        ];
        args.extend(reference.iter().map(|r| r.file.clone()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = cache.run(AUDIO, &args).expect_code(0);
        let s = stream(&run.stdout());
        assert_eq!(s.transcripts.len(), 2, "{dir}");
        assert_agrees(&s, &reference);
        assert!(
            run.stderr()
                .contains("alignment heads for word timestamps, from generation_config.json"),
            "{}",
            run.stderr()
        );
    }
}

/// mlxk-list's runtime check agrees with what mlxk-audio loads: both converters'
/// layouts are runtime-compatible, a Hugging Face checkpoint (other tensor names) is not.
#[test]
fn list_calls_every_published_layout_runtime_compatible() {
    let cache = TestCache::new();
    let repo = |name: &str, dir: &Path, weights: &str, extra: &[&str]| {
        let mut r = cache
            .repo(name)
            .file(
                "config.json",
                std::fs::read(dir.join("config.json")).unwrap(),
            )
            .lfs(weights, &dir.join(weights));
        for f in extra {
            r = r.file(f, std::fs::read(dir.join(f)).unwrap());
        }
        r.build();
    };
    let dir = |name: &str| PathBuf::from(model(name));
    repo(
        "mlx-community/whisper-tiny.en-mlx",
        &dir("whisper-tiny.en"),
        "weights.safetensors",
        &[],
    );
    repo(
        "mlx-community/whisper-large-v3-turbo-tiny-4bit",
        &dir("tiny-whisper-v3-turbo-4bit"),
        "weights.safetensors",
        &[],
    );
    repo(
        "mlx-community/whisper-tiny.en-mlx-audio-4bit",
        &dir("whisper-tiny.en-mlx-audio-4bit"),
        "model.safetensors",
        &["generation_config.json"],
    );
    // The same config and weights file names without an MLX mark: what a Hugging Face
    // Whisper repo looks like to the file check (its tensors are named otherwise).
    repo(
        "openai/whisper-tiny.en",
        &dir("whisper-tiny.en-mlx-audio"),
        "model.safetensors",
        &["generation_config.json"],
    );
    let run = cache.run(LIST, &["--json", "--health"]);
    let (models, _, _) = wire::list_output(&run.stdout());
    let get = |name: &str| models.iter().find(|m| m.name == name).unwrap();
    for name in [
        "mlx-community/whisper-tiny.en-mlx",
        "mlx-community/whisper-large-v3-turbo-tiny-4bit",
        "mlx-community/whisper-tiny.en-mlx-audio-4bit",
    ] {
        let m = get(name);
        assert_eq!(m.health, "healthy", "{name}: {:?}", m.reason);
        assert!(m.runtime_compatible, "{name}: {:?}", m.runtime_reason);
        assert_eq!(m.model_type, "audio", "{name}");
    }
    let hf = get("openai/whisper-tiny.en");
    assert!(!hf.runtime_compatible);
    assert!(
        hf.runtime_reason
            .as_deref()
            .unwrap()
            .contains("Hugging Face Whisper"),
        "{:?}",
        hf.runtime_reason
    );
}
