//! mlxk-audio on real Whisper weights (tiny.en and multilingual base, converted from
//! their CTranslate2 releases by scripts/fixtures-audio.sh) and real speech: agreement
//! with Python mlx-whisper, every container, silence, long audio, bad input, output
//! formats, pipelines into mlxk-run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::harness::wire::{self, Summary};
use crate::harness::{model_lock, TestCache};
use crate::list::smollm2;

const AUDIO: &str = env!("CARGO_BIN_EXE_mlxk-audio");
const RUN: &str = env!("CARGO_BIN_EXE_mlxk-run");

/// The fixture root after `scripts/fixtures-audio.sh all` (cheap when cached).
pub(crate) fn fixtures() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let out = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures-audio.sh"))
            .arg("all")
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/fixtures-audio.sh");
        assert!(
            out.status.success(),
            "scripts/fixtures-audio.sh all failed (apt: pocketsphinx-testdata espeak-ng sox libsox-fmt-mp3 lame ffmpeg)"
        );
        let text = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(text.lines().last().unwrap().trim())
    })
}

pub(crate) fn model(name: &str) -> String {
    fixtures().join("models").join(name).display().to_string()
}

pub(crate) fn clip(rel: &str) -> String {
    fixtures().join("audio").join(rel).display().to_string()
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum AudioLine {
    Segment(Segment),
    Transcript(Transcript),
    Error(FileError),
    Summary(Summary),
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Segment {
    pub(crate) file: String,
    pub(crate) id: u64,
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) text: String,
    pub(crate) tokens: Vec<u32>,
    pub(crate) temperature: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Transcript {
    pub(crate) file: String,
    pub(crate) model: String,
    pub(crate) language: String,
    pub(crate) task: String,
    pub(crate) text: String,
    pub(crate) seconds: f64,
    pub(crate) segments: u64,
    pub(crate) skipped_windows: u64,
    pub(crate) real_time_factor: f64,
    pub(crate) peak_memory_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FileError {
    code: String,
    message: String,
    hint: Option<String>,
    file: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub(crate) segments: Vec<Segment>,
    pub(crate) transcripts: Vec<Transcript>,
    pub(crate) errors: Vec<FileError>,
    summary: Option<Summary>,
}

/// Decodes mlxk-audio's NDJSON; the summary must come last, once; every segment
/// comes before its file's transcript.
pub(crate) fn stream(stdout: &str) -> Stream {
    let mut s = Stream::default();
    for line in wire::decode::<AudioLine>(stdout) {
        assert!(s.summary.is_none(), "a line after the summary:\n{stdout}");
        match line {
            AudioLine::Segment(seg) => {
                assert!(
                    !s.transcripts.iter().any(|t| t.file == seg.file),
                    "segment after its transcript"
                );
                let before = s.segments.iter().filter(|p| p.file == seg.file).count() as u64;
                assert!(seg.id >= before, "segment ids go backwards: {seg:?}");
                s.segments.push(seg)
            }
            AudioLine::Transcript(t) => s.transcripts.push(t),
            AudioLine::Error(e) => s.errors.push(e),
            AudioLine::Summary(sum) => s.summary = Some(sum),
        }
    }
    assert!(s.summary.is_some(), "no summary:\n{stdout}");
    s
}

#[derive(Debug, Deserialize)]
pub(crate) struct Reference {
    pub(crate) file: String,
    language: String,
    text: String,
    segments: Vec<RefSegment>,
}

#[derive(Debug, Deserialize)]
struct RefSegment {
    start: f64,
    end: f64,
    text: String,
    tokens: Vec<u32>,
}

pub(crate) fn references(name: &str) -> Vec<Reference> {
    let path = fixtures().join("audio/reference").join(name);
    wire::decode(&std::fs::read_to_string(&path).unwrap())
}

/// Lower-case words without punctuation.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate of `hyp` against `reference` (Levenshtein over words).
fn wer(reference: &str, hyp: &str) -> f64 {
    let (r, h) = (words(reference), words(hyp));
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for i in 1..=r.len() {
        let mut cur = vec![i; h.len() + 1];
        for j in 1..=h.len() {
            let sub = prev[j - 1] + usize::from(r[i - 1] != h[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len().max(1) as f64
}

/// Our segments with text, per file, against mlx-whisper's: same tokens, same text,
/// same times.
pub(crate) fn assert_agrees(ours: &Stream, reference: &[Reference]) {
    for r in reference {
        let mine: Vec<&Segment> = ours.segments.iter().filter(|s| s.file == r.file).collect();
        let theirs: Vec<&RefSegment> = r
            .segments
            .iter()
            .filter(|s| !s.text.trim().is_empty())
            .collect();
        assert_eq!(
            mine.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
            theirs.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
            "{}: segment texts differ",
            r.file
        );
        for (m, t) in mine.iter().zip(&theirs) {
            assert_eq!(m.tokens, t.tokens, "{}: tokens of {:?}", r.file, t.text);
            assert!(
                (m.start - t.start).abs() < 1e-6 && (m.end - t.end).abs() < 1e-6,
                "{}: times {}–{} vs mlx-whisper {}–{}",
                r.file,
                m.start,
                m.end,
                t.start,
                t.end
            );
        }
        let t = ours.transcripts.iter().find(|t| t.file == r.file).unwrap();
        assert_eq!(t.text, r.text.trim(), "{}: transcript text", r.file);
        assert_eq!(t.language, r.language);
    }
}

#[test]
fn tiny_en_agrees_with_mlx_whisper_on_every_clip() {
    let _model = model_lock();
    let reference = references("tiny-en.jsonl");
    let files: Vec<String> = reference.iter().map(|r| r.file.clone()).collect();
    let mut args = vec![
        "--model".to_string(),
        model("whisper-tiny.en"),
        "--json".into(),
    ];
    args.extend(files);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = TestCache::new().run(AUDIO, &args).expect_code(0);
    let s = stream(&run.stdout());
    assert_eq!(s.transcripts.len(), reference.len());
    assert_agrees(&s, &reference);
    // Word error rate against LibriVox's own transcripts (printed for the record).
    let truth: HashMap<String, String> =
        std::fs::read_to_string(clip("librivox/transcription.txt"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(id, text)| (id.to_string(), text.to_string()))
            .collect();
    let (mut errors, mut total) = (0.0, 0usize);
    for t in &s.transcripts {
        let id = Path::new(&t.file).file_stem().unwrap().to_str().unwrap();
        if let Some(truth) = truth.get(id) {
            let n = words(truth).len();
            errors += wer(truth, &t.text) * n as f64;
            total += n;
        }
    }
    let librivox_wer = errors / total as f64;
    eprintln!(
        "tiny.en LibriVox WER: {:.1}% over {total} words",
        librivox_wer * 100.0
    );
    assert!(librivox_wer < 0.25, "WER {librivox_wer}");
    let jfk = s
        .transcripts
        .iter()
        .find(|t| t.file.ends_with("jfk.wav"))
        .unwrap();
    assert!(jfk
        .text
        .contains("ask not what your country can do for you"));
    assert!((jfk.seconds - 11.0).abs() < 0.01);
    assert_eq!(jfk.segments, 2);
    assert_eq!(jfk.model, model("whisper-tiny.en"));
    assert_eq!(jfk.task, "transcribe");
    assert!(jfk.real_time_factor > 0.0 && jfk.peak_memory_bytes > 0);
}

#[test]
fn base_detects_german_and_translates_it_like_mlx_whisper() {
    let _model = model_lock();
    let detect = references("base-detect.jsonl");
    let files: Vec<String> = detect.iter().map(|r| r.file.clone()).collect();
    let mut args = vec![
        "--model".to_string(),
        model("whisper-base"),
        "--json".into(),
    ];
    args.extend(files);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cache = TestCache::new();
    let s = stream(&cache.run(AUDIO, &args).expect_code(0).stdout());
    assert_agrees(&s, &detect);
    let de = s
        .transcripts
        .iter()
        .find(|t| t.file.ends_with("de16.wav"))
        .unwrap();
    assert_eq!(de.language, "de");

    // Greedy on both sides: base's average log-probability on this clip is under -1, so
    // the default fallback ends at a temperature-1.0 sample, and mlx-whisper seeds MLX's
    // generator from the clock (two of its runs give two unrelated texts).
    let translate = references("base-de-translate.jsonl");
    let run = cache
        .run(
            AUDIO,
            &[
                "--model",
                &model("whisper-base"),
                "--json",
                "--task",
                "translate",
                "--temperature",
                "0",
                &translate[0].file,
            ],
        )
        .expect_code(0);
    let s = stream(&run.stdout());
    assert_agrees(&s, &translate);
    assert_eq!(s.transcripts[0].task, "translate");
    // "Guten Morgen. Das Wetter ist heute sehr schön, und wir gehen in den Park." (espeak)
    let english = words(&s.transcripts[0].text);
    assert!(
        english.contains(&"morning".to_string()) && english.contains(&"park".to_string()),
        "{:?}",
        s.transcripts[0].text
    );
}

#[test]
fn every_container_and_rate_reads_the_same_speech() {
    let _model = model_lock();
    let files = [
        "jfk.wav",
        "jfk.mp3",
        "jfk.flac",
        "jfk.ogg",
        "jfk.m4a",
        "jfk-44k-stereo.wav",
        "en.wav",
        "en16.wav",
    ];
    let paths: Vec<String> = files.iter().map(|f| clip(f)).collect();
    let mut args = vec![
        "--model".to_string(),
        model("whisper-tiny.en"),
        "--json".into(),
        "--temperature".into(),
        "0".into(),
    ];
    args.extend(paths.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = stream(&TestCache::new().run(AUDIO, &args).expect_code(0).stdout());
    let text = |f: &str| {
        s.transcripts
            .iter()
            .find(|t| t.file.ends_with(f))
            .unwrap()
            .text
            .clone()
    };
    let jfk = text("/jfk.wav");
    for f in [
        "jfk.mp3",
        "jfk.flac",
        "jfk.ogg",
        "jfk.m4a",
        "jfk-44k-stereo.wav",
    ] {
        let w = wer(&jfk, &text(f));
        assert!(w <= 0.1, "{f}: {:?} vs {jfk:?} (WER {w})", text(f));
    }
    // FLAC is lossless: the very same samples.
    assert_eq!(text("jfk.flac"), jfk);
    // espeak-ng at 22.05 kHz through our resampler vs sox's 16 kHz version.
    let w = wer(&text("en16.wav"), &text("/en.wav"));
    assert!(
        w <= 0.15,
        "resampled: {:?} vs {:?}",
        text("/en.wav"),
        text("en16.wav")
    );
}

#[test]
fn silence_and_faint_noise_give_no_text() {
    let _model = model_lock();
    let run = TestCache::new()
        .run(
            AUDIO,
            &[
                "--model",
                &model("whisper-tiny.en"),
                "--json",
                &clip("silence-60s.wav"),
                &clip("noise-30s.wav"),
            ],
        )
        .expect_code(0);
    let s = stream(&run.stdout());
    assert!(s.segments.is_empty(), "{:?}", s.segments);
    for t in &s.transcripts {
        assert_eq!(t.text, "", "{}", t.file);
        assert!(
            t.skipped_windows >= 1,
            "{}: the gate skipped nothing",
            t.file
        );
    }
    assert_eq!(s.transcripts[0].skipped_windows, 2);
    assert!((s.transcripts[0].seconds - 60.0).abs() < 0.01);
}

#[test]
fn bad_input_gets_one_clear_error_each_and_the_rest_go_on() {
    let _model = model_lock();
    let cache = TestCache::new();
    let dir = cache.scratch("a-directory");
    let bad = |f: &str| clip(&format!("bad/{f}"));
    let files = [
        bad("not-audio.wav"),
        bad("truncated.mp3"),
        clip("jfk.wav"),
        bad("empty.wav"),
        bad("zero-seconds.wav"),
        bad("opus.ogg"),
        clip("telephone/gsm.wav"),
        dir.display().to_string(),
        "/no/such/file.wav".into(),
    ];
    let mut args = vec![
        "--model".to_string(),
        model("whisper-tiny.en"),
        "--json".into(),
    ];
    args.extend(files.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = cache.run(AUDIO, &args).expect_code(1);
    let s = stream(&run.stdout());
    assert_eq!(s.transcripts.len(), 1);
    assert!(s.transcripts[0].text.contains("ask not"));
    let code = |f: &str| {
        let e = s
            .errors
            .iter()
            .find(|e| e.file.as_deref() == Some(f))
            .unwrap_or_else(|| panic!("no error for {f}: {:?}", s.errors));
        assert!(e.hint.is_some() || e.code == "io_error", "{e:?}");
        (e.code.clone(), e.message.clone())
    };
    assert_eq!(code(&bad("not-audio.wav")).0, "invalid_audio");
    let (c, m) = code(&bad("truncated.mp3"));
    assert_eq!(c, "invalid_audio");
    assert!(m.contains("truncated"), "{m}");
    assert!(code(&bad("empty.wav")).1.contains("empty"));
    assert!(code(&bad("zero-seconds.wav")).1.contains("0 seconds"));
    assert_eq!(code(&bad("opus.ogg")).0, "unsupported_codec");
    assert_eq!(code(&clip("telephone/gsm.wav")).0, "unsupported_codec");
    assert!(code(&dir.display().to_string()).1.contains("directory"));
    assert!(code(&bad("opus.ogg")).1.contains("Opus"));
    assert!(code(&clip("telephone/gsm.wav")).1.contains("GSM 6.10"));
    assert_eq!(code("/no/such/file.wav").0, "io_error");
    let summary = s.summary.unwrap();
    assert_eq!(
        (summary.total, summary.ok, summary.failed, summary.exit_code),
        (9, 1, 8, 1)
    );
    // People get `error:` and `hint:` lines.
    assert!(run.stderr().contains("error: ") && run.stderr().contains("hint: "));
}

#[test]
fn a_text_model_or_no_model_is_a_usage_error() {
    let cache = TestCache::new();
    smollm2(&cache, "mlx-community/SmolLM2-135M-Instruct-4bit").build();
    let run = cache
        .run(AUDIO, &["--model", "SmolLM2", "--json", &clip("jfk.wav")])
        .expect_code(2);
    let s = stream(&run.stdout());
    assert_eq!(s.errors[0].code, "unsupported_architecture");
    assert!(
        s.errors[0].message.contains("not a Whisper model"),
        "{:?}",
        s.errors[0]
    );
    // Only a text model in the cache: no default.
    let run = cache
        .run(AUDIO, &["--json", &clip("jfk.wav")])
        .expect_code(2);
    assert_eq!(stream(&run.stdout()).errors[0].code, "model_not_found");
    assert!(run.stderr().contains("hint: mlxk-pull"));
}

#[test]
fn the_memory_gate_covers_whisper() {
    let cache = TestCache::new();
    let out = cache
        .command(AUDIO)
        .env("MLXK_MEMORY_LIMIT", "100M")
        .args([
            "--model",
            &model("whisper-tiny.en"),
            "--json",
            &clip("jfk.wav"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let s = stream(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(s.errors[0].code, "insufficient_memory", "{:?}", s.errors);
    assert!(s.transcripts.is_empty());
}

/// The fixture model placed in a test cache as `org/name`.
fn whisper_repo(cache: &TestCache, name: &str, dir: &str) {
    let dir = PathBuf::from(dir);
    cache
        .repo(name)
        .file(
            "config.json",
            std::fs::read(dir.join("config.json")).unwrap(),
        )
        .lfs("weights.safetensors", &dir.join("weights.safetensors"))
        .build();
}

#[test]
fn paths_from_stdin_and_the_default_model() {
    let _model = model_lock();
    let cache = TestCache::new();
    whisper_repo(
        &cache,
        "mlx-community/whisper-tiny.en-4bit",
        &model("whisper-tiny.en-4bit"),
    );
    // mlx-whisper on the same 4-bit weights: jfk.wav, then the LibriVox clip.
    let reference = references("tiny-en-4bit.jsonl");
    let input = format!(
        "{}\n{{\"type\":\"audio\",\"path\":\"{}\"}}\n{{broken\n{{\"type\":\"summary\",\"tool\":\"x\"}}\n",
        reference[0].file, reference[1].file
    );
    let run = cache
        .run_with_stdin(AUDIO, &["--json"], input.as_bytes())
        .expect_code(1);
    let s = stream(&run.stdout());
    assert_eq!(s.transcripts.len(), 2);
    assert_eq!(s.transcripts[0].model, "mlx-community/whisper-tiny.en-4bit");
    // The 4-bit model hears the speech as mlx-whisper does with it: token for token.
    // It ends jfk.wav's window after the first sentence (a lone timestamp at 7.3 s),
    // where float32 goes on to "ask what you can do for your country".
    assert_agrees(&s, &reference);
    assert!(s.transcripts[0]
        .text
        .contains("ask not what your country can do for you"));
    assert!(words(&s.transcripts[1].text).contains(&"young".to_string()));
    assert_eq!(s.errors.len(), 1);
    assert_eq!(s.errors[0].code, "invalid_input");
}

#[test]
fn subtitle_and_text_formats() {
    let _model = model_lock();
    let cache = TestCache::new();
    let out = cache.scratch("subs");
    let m = model("whisper-tiny.en");
    let jfk = clip("jfk.wav");
    let srt = cache
        .run(AUDIO, &["--model", &m, "--format", "srt", "-o", "-", &jfk])
        .expect_code(0)
        .stdout();
    assert!(
        srt.starts_with("1\n00:00:00,000 --> 00:00:07,740\nAnd so my fellow"),
        "{srt}"
    );
    assert!(
        srt.contains("\n2\n00:00:07,740 --> 00:00:10,740\nask what you can do for your country\n"),
        "{srt}"
    );
    for (format, check) in [
        ("vtt", "WEBVTT\n\n00:00.000 --> 00:07.740\n"),
        ("tsv", "start\tend\ttext\n0\t7740\tAnd so my fellow"),
        (
            "txt",
            "And so my fellow Americans ask not what your country can do for you\nask what",
        ),
        ("json", "\"language\":\"en\""),
    ] {
        let o = out.display().to_string();
        let run = cache
            .run(
                AUDIO,
                &["--model", &m, "--format", format, "--output-dir", &o, &jfk],
            )
            .expect_code(0);
        let written = out.join(format!("jfk.{format}"));
        assert_eq!(run.stdout().trim(), written.display().to_string());
        let text = std::fs::read_to_string(&written).unwrap();
        assert!(text.contains(check), "{format}: {text}");
    }
    // An existing file is not overwritten unless asked.
    let o = out.display().to_string();
    let run = cache
        .run(
            AUDIO,
            &["--model", &m, "--format", "txt", "--output-dir", &o, &jfk],
        )
        .expect_code(1);
    assert!(run.stderr().contains("exists"), "{}", run.stderr());
    cache
        .run(
            AUDIO,
            &[
                "--model",
                &m,
                "--format",
                "txt",
                "--output-dir",
                &o,
                "--overwrite",
                &jfk,
            ],
        )
        .expect_code(0);
}

#[test]
fn ten_minutes_of_clips_and_pauses_all_found_no_loops_bounded_memory() {
    let _model = model_lock();
    let run = TestCache::new()
        .run(
            AUDIO,
            &[
                "--model",
                &model("whisper-tiny.en"),
                "--json",
                &clip("long-10min.wav"),
            ],
        )
        .expect_code(0);
    let s = stream(&run.stdout());
    let t = &s.transcripts[0];
    assert!(t.seconds > 600.0);
    let text = words(&t.text).join(" ");
    for (needle, clip) in [
        ("ask not what your country", "jfk"),
        ("john dashwood", "librivox 0870"),
        ("amiable himself", "librivox 0930"),
        ("more respectable than he was", "librivox 0920"),
    ] {
        let found = text.matches(needle).count();
        assert!(
            found >= 2,
            "{clip}: {needle:?} found {found} times in {text}"
        );
    }
    // No segment repeats itself inside (a loop), and segments keep moving forward.
    for seg in &s.segments {
        let w = words(&seg.text);
        for n in 3..=6 {
            let grams: Vec<_> = w.windows(n).collect();
            let unique: std::collections::HashSet<_> = grams.iter().collect();
            assert!(
                grams.len() - unique.len() <= 1,
                "looping segment: {:?}",
                seg.text
            );
        }
    }
    assert!(s
        .segments
        .windows(2)
        .all(|p| p[1].start >= p[0].start - 1e-6));
    // Bounded memory: the spectrogram is made window by window.
    assert!(
        t.peak_memory_bytes < 1_500_000_000,
        "peak {}",
        t.peak_memory_bytes
    );
    assert!(s.segments.iter().all(|s| s.temperature <= 1.0));
}

#[test]
fn transcripts_feed_mlxk_run() {
    let _model = model_lock();
    let cache = TestCache::new();
    smollm2(&cache, "mlx-community/SmolLM2-135M-Instruct-4bit").build();
    let audio = cache
        .run(
            AUDIO,
            &[
                "--model",
                &model("whisper-tiny.en"),
                "--json",
                &clip("jfk.wav"),
            ],
        )
        .expect_code(0);
    let run = cache
        .run_with_stdin(
            RUN,
            &[
                "SmolLM2",
                "--prompt",
                "Who is speaking to whom, in one sentence?",
                "--json",
                "-n",
                "24",
            ],
            audio.stdout().as_bytes(),
        )
        .expect_code(0);
    let results: Vec<serde_json::Value> = wire::decode(&run.stdout());
    let result = results
        .iter()
        .find(|v| v["type"] == "result")
        .expect("a result");
    assert!(!result["text"].as_str().unwrap().trim().is_empty());
    assert!(
        result["prompt_tokens"].as_u64().unwrap() > 30,
        "the transcript is in the prompt"
    );
}
