//! mlxk-audio's word timestamps (`--word-timestamps`) against Python mlx-whisper's
//! (`timing.py`: cross-attention of the alignment heads, median filter, dynamic time
//! warping), on real weights and real speech; and the word-level srt and vtt cues.

use serde::Deserialize;

use crate::audio::{clip, fixtures, model};
use crate::harness::wire::{self, Summary};
use crate::harness::{model_lock, TestCache};

const AUDIO: &str = env!("CARGO_BIN_EXE_mlxk-audio");

/// mlxk-audio's `--json` lines, as a consumer of `words` reads them.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line {
    Segment(Segment),
    Transcript(Transcript),
    Summary(Summary),
}

#[derive(Debug, Deserialize)]
struct Segment {
    file: String,
    start: f64,
    end: f64,
    text: String,
    tokens: Vec<u32>,
    #[serde(default)]
    words: Option<Vec<Word>>,
}

#[derive(Debug, Deserialize)]
struct Transcript {
    file: String,
    text: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Word {
    word: String,
    start: f64,
    end: f64,
    probability: f64,
}

/// A line of scripts/reference_mlx_whisper.py --word-timestamps.
#[derive(Debug, Deserialize)]
struct Reference {
    file: String,
    segments: Vec<RefSegment>,
}

#[derive(Debug, Deserialize)]
struct RefSegment {
    start: f64,
    end: f64,
    text: String,
    tokens: Vec<u32>,
    words: Vec<Word>,
}

/// Runs mlxk-audio on `files` with `args`, returns its segments and transcripts.
fn transcribe(args: &[&str], files: &[String]) -> (Vec<Segment>, Vec<Transcript>) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(files.iter().map(String::as_str));
    let run = TestCache::new().run(AUDIO, &all).expect_code(0);
    let (mut segments, mut transcripts) = (Vec::new(), Vec::new());
    for line in wire::decode::<Line>(&run.stdout()) {
        match line {
            Line::Segment(s) => segments.push(s),
            Line::Transcript(t) => transcripts.push(t),
            Line::Summary(sum) => assert_eq!((sum.failed, sum.exit_code), (0, 0)),
        }
    }
    // Each transcript's text is its segments' (words or not).
    for t in &transcripts {
        let joined: String = segments
            .iter()
            .filter(|s| s.file == t.file)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(joined.trim(), t.text, "{}", t.file);
    }
    (segments, transcripts)
}

/// The worst differences seen, for the record.
#[derive(Debug, Default)]
struct Agreement {
    words: usize,
    worst_start: f64,
    worst_end: f64,
    worst_probability: f64,
}

/// Same segments, same tokens, same words as mlx-whisper; every time within 20 ms.
fn assert_words_agree(model_dir: &str, reference: &str) -> Agreement {
    let path = fixtures().join("audio/reference").join(reference);
    let reference: Vec<Reference> = wire::decode(&std::fs::read_to_string(&path).unwrap());
    let files: Vec<String> = reference.iter().map(|r| r.file.clone()).collect();
    let (segments, transcripts) = transcribe(
        &["--model", model_dir, "--json", "--word-timestamps"],
        &files,
    );
    assert_eq!(transcripts.len(), reference.len());
    let mut a = Agreement::default();
    let close = |x: f64, y: f64| (x - y).abs() <= 0.02 + 1e-9;
    for r in &reference {
        let mine: Vec<&Segment> = segments.iter().filter(|s| s.file == r.file).collect();
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
                close(m.start, t.start) && close(m.end, t.end),
                "{}: segment {:?} at {}–{}, mlx-whisper {}–{}",
                r.file,
                t.text,
                m.start,
                m.end,
                t.start,
                t.end
            );
            let words = m.words.as_ref().expect("segment without words");
            assert_eq!(
                words.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(),
                t.words.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(),
                "{}: words of {:?}",
                r.file,
                t.text
            );
            assert_eq!(
                words.iter().map(|w| w.word.as_str()).collect::<String>(),
                m.text,
                "the words make the segment's text"
            );
            for (w, tw) in words.iter().zip(&t.words) {
                assert!(
                    close(w.start, tw.start) && close(w.end, tw.end),
                    "{}: {:?} at {}–{}, mlx-whisper {}–{}",
                    r.file,
                    w.word,
                    w.start,
                    w.end,
                    tw.start,
                    tw.end
                );
                assert!(w.start <= w.end, "{w:?}");
                a.words += 1;
                a.worst_start = a.worst_start.max((w.start - tw.start).abs());
                a.worst_end = a.worst_end.max((w.end - tw.end).abs());
                a.worst_probability = a
                    .worst_probability
                    .max((w.probability - tw.probability).abs());
            }
        }
    }
    assert!(
        a.worst_probability < 0.01,
        "word probabilities differ by {}",
        a.worst_probability
    );
    a
}

#[test]
fn tiny_en_word_times_agree_with_mlx_whisper() {
    let _model = model_lock();
    let a = assert_words_agree(&model("whisper-tiny.en"), "tiny-en-words.jsonl");
    eprintln!(
        "tiny.en: {} words, worst start {:.3} s, worst end {:.3} s, worst probability {:.5}",
        a.words, a.worst_start, a.worst_end, a.worst_probability
    );
    assert!(a.words > 40, "{a:?}");
}

#[test]
fn base_word_times_agree_with_mlx_whisper() {
    let _model = model_lock();
    let a = assert_words_agree(&model("whisper-base"), "base-words.jsonl");
    eprintln!(
        "base: {} words, worst start {:.3} s, worst end {:.3} s, worst probability {:.5}",
        a.words, a.worst_start, a.worst_end, a.worst_probability
    );
    assert!(a.words > 15, "{a:?}");
}

#[test]
fn without_the_flag_segments_carry_no_words() {
    let _model = model_lock();
    let (segments, _) = transcribe(
        &["--model", &model("whisper-tiny.en"), "--json"],
        &[clip("jfk.wav")],
    );
    assert!(!segments.is_empty());
    assert!(segments.iter().all(|s| s.words.is_none()));
}

/// The cues of an srt or vtt file: (start, end, text).
fn cues(text: &str) -> Vec<(String, String, String)> {
    text.trim_start_matches("WEBVTT\n\n")
        .split("\n\n")
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            let lines: Vec<&str> = c.lines().collect();
            let at = lines.iter().position(|l| l.contains(" --> ")).unwrap();
            let (start, end) = lines[at].split_once(" --> ").unwrap();
            (start.into(), end.into(), lines[at + 1..].join("\n"))
        })
        .collect()
}

/// `00:00:01,230` or `00:01.230` in seconds.
fn seconds(t: &str) -> f64 {
    t.replace(',', ".")
        .split(':')
        .fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap())
}

#[test]
fn word_level_subtitles_keep_to_line_width_and_count() {
    let _model = model_lock();
    let m = model("whisper-tiny.en");
    let file = clip("librivox/sense_and_sensibility_01_austen_64kb-0870.wav");
    let (segments, _) = transcribe(
        &["--model", &m, "--json", "--word-timestamps"],
        std::slice::from_ref(&file),
    );
    let words: Vec<Word> = segments
        .iter()
        .flat_map(|s| s.words.clone().unwrap())
        .collect();
    let spoken: Vec<&str> = words.iter().map(|w| w.word.trim()).collect();
    let cache = TestCache::new();
    let render = |args: &[&str]| {
        let mut all = vec!["--model", &m, "--word-timestamps", "-o", "-"];
        all.extend_from_slice(args);
        all.push(&file);
        cache.run(AUDIO, &all).expect_code(0).stdout()
    };

    // 20 characters a line, 2 lines a cue: every word once, in order, with its times.
    let srt = render(&[
        "--format",
        "srt",
        "--max-line-width",
        "20",
        "--max-line-count",
        "2",
    ]);
    let srt_cues = cues(&srt);
    assert!(srt_cues.len() > 2, "{srt}");
    let mut next = 0;
    for (i, (start, end, text)) in srt_cues.iter().enumerate() {
        assert!(
            srt.contains(&format!("{}\n{start} --> {end}\n", i + 1)),
            "{srt}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() <= 2, "more than 2 lines: {text:?}");
        for line in &lines {
            assert!(
                line.chars().count() <= 20 || !line.trim().contains(' '),
                "over 20 characters: {line:?}"
            );
            assert_eq!(line.trim(), *line, "{line:?}");
        }
        let cue_words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(cue_words, spoken[next..next + cue_words.len()], "{srt}");
        let (first, last) = (&words[next], &words[next + cue_words.len() - 1]);
        assert!(
            (seconds(start) - first.start).abs() < 1e-3,
            "{start} vs {first:?}"
        );
        assert!((seconds(end) - last.end).abs() < 1e-3, "{end} vs {last:?}");
        next += cue_words.len();
    }
    assert_eq!(next, words.len(), "every word in a cue");
    // A cue of two lines was cut because the first was full.
    assert!(srt_cues.iter().any(|c| c.2.contains('\n')), "{srt}");

    // Without a width, a cue per segment, its times the words'.
    let vtt = render(&["--format", "vtt"]);
    assert!(vtt.starts_with("WEBVTT\n\n"), "{vtt}");
    let vtt_cues = cues(&vtt);
    assert_eq!(vtt_cues.len(), segments.len(), "{vtt}");
    for (c, s) in vtt_cues.iter().zip(&segments) {
        assert_eq!(c.2, s.text.trim());
        let w = s.words.as_ref().unwrap();
        assert!((seconds(&c.0) - w[0].start).abs() < 1e-3, "{vtt}");
        assert!((seconds(&c.1) - w[w.len() - 1].end).abs() < 1e-3, "{vtt}");
    }

    // Highlighted: each word underlined once, while it is spoken.
    let vtt = render(&["--format", "vtt", "--highlight-words"]);
    let underlined: Vec<(String, String, String)> = cues(&vtt)
        .into_iter()
        .filter(|c| c.2.contains("<u>"))
        .collect();
    assert_eq!(underlined.len(), words.len(), "{vtt}");
    for (c, w) in underlined.iter().zip(&words) {
        assert_eq!(c.2.matches("<u>").count(), 1, "{c:?}");
        assert!(
            c.2.contains(&format!("<u>{}</u>", w.word.trim())),
            "{c:?} {w:?}"
        );
        assert!((seconds(&c.0) - w.start).abs() < 1e-3, "{c:?} {w:?}");
    }

    // The width options need word timestamps.
    cache
        .run(AUDIO, &["--model", &m, "--max-line-width", "20", &file])
        .expect_code(2);
}
