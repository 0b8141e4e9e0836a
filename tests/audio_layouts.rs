//! mlxk-audio on the older mlx-community layout: `weights.npz` (written by MLX's own
//! `mx.savez` and `mx.savez_compressed` from the float16 tiny.en fixture) transcribes
//! exactly as `weights.safetensors` does.

use std::path::Path;
use std::process::Command;

use crate::audio::{clip, fixtures, model, stream, Stream};
use crate::harness::{model_lock, TestCache};

const AUDIO: &str = env!("CARGO_BIN_EXE_mlxk-audio");

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

/// A copy of `src` with its weights saved by `mx.<save>` as `weights.npz`.
fn npz_model(cache: &TestCache, src: &Path, save: &str) -> String {
    let dir = cache.scratch(save);
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let out = Command::new(whisper_python())
        .env_remove("LD_LIBRARY_PATH")
        .args([
            "-c",
            "import sys, mlx.core as mx\n\
             getattr(mx, sys.argv[3])(sys.argv[2], **mx.load(sys.argv[1]))",
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
    for save in ["savez", "savez_compressed"] {
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
