//! Transcript files for people and players, as mlx-whisper's `writers.py` writes
//! them: txt (a line per segment), srt, vtt, tsv (milliseconds) and json. With word
//! timestamps, srt and vtt cues are cut from the words (`iterate_result`): a cue per
//! segment, or lines of at most `max_line_width` characters and cues of at most
//! `max_line_count` lines, a new cue after a pause of over 3 s; optionally each word
//! underlined while it is spoken.

use mlxk_runner::whisper::{Segment, Transcript, Word};
use serde_json::json;

use crate::cli::Format;

/// `[hh:]mm:ss.mmm` (mlx-whisper's `format_timestamp`).
fn timestamp(seconds: f64, always_hours: bool, marker: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if always_hours || h > 0 {
        format!("{h:02}:{m:02}:{s:02}{marker}{ms:03}")
    } else {
        format!("{m:02}:{s:02}{marker}{ms:03}")
    }
}

/// Segment text as subtitles show it.
fn cue(text: &str) -> String {
    text.trim().replace("-->", "->")
}

/// How srt and vtt cues are cut (mlx-whisper's writer options).
#[derive(Debug, Clone, Default)]
pub struct Subtitles {
    /// Cues from the words (the transcript has word timestamps).
    pub word_level: bool,
    pub max_line_width: Option<usize>,
    pub max_line_count: Option<usize>,
    pub max_words_per_line: Option<usize>,
    pub highlight_words: bool,
}

/// The cues of a subtitle file: start, end, text.
fn cues(
    t: &Transcript,
    o: &Subtitles,
    always_hours: bool,
    marker: char,
) -> Vec<(String, String, String)> {
    let segments: Vec<&Segment> = t
        .segments
        .iter()
        .filter(|s| !s.text.trim().is_empty())
        .collect();
    let ts = |s: f64| timestamp(s, always_hours, marker);
    if !o.word_level {
        return segments
            .iter()
            .map(|s| (ts(s.start), ts(s.end), cue(&s.text)))
            .collect();
    }
    let mut out = Vec::new();
    for subtitle in word_cues(&segments, o) {
        let (start, end) = (ts(subtitle[0].start), ts(subtitle[subtitle.len() - 1].end));
        let text: String = subtitle.iter().map(|w| w.word.as_str()).collect();
        if !o.highlight_words {
            out.push((start, end, text));
            continue;
        }
        let mut last = start;
        for (i, this) in subtitle.iter().enumerate() {
            let (s, e) = (ts(this.start), ts(this.end));
            if last != s {
                out.push((last, s.clone(), text.clone()));
            }
            let marked: String = subtitle
                .iter()
                .enumerate()
                .map(|(j, w)| {
                    if j == i {
                        underline(&w.word)
                    } else {
                        w.word.clone()
                    }
                })
                .collect();
            out.push((s, e.clone(), marked));
            last = e;
        }
    }
    out
}

/// `<u>word</u>` after the word's leading white space (and line break).
fn underline(word: &str) -> String {
    let body = word.trim_start();
    let lead = &word[..word.len() - body.len()];
    format!("{lead}<u>{body}</u>")
}

/// The words grouped into cues (mlx-whisper's `iterate_subtitles`): each word keeps
/// its leading space within a line; a word that starts a line loses it and, after
/// the first line of a cue, carries the line break.
fn word_cues(segments: &[&Segment], o: &Subtitles) -> Vec<Vec<Word>> {
    let preserve_segments = o.max_line_count.is_none() || o.max_line_width.is_none();
    let max_line_width = o.max_line_width.unwrap_or(1000);
    let max_words_per_line = o.max_words_per_line.unwrap_or(1000).max(1);
    let len = |s: &str| s.chars().count();
    let (mut line_len, mut line_count) = (0, 1);
    let mut subtitle: Vec<Word> = Vec::new();
    let mut cues = Vec::new();
    let mut last = segments
        .iter()
        .find_map(|s| s.words.first().map(|w| w.start))
        .or(segments.first().map(|s| s.start))
        .unwrap_or(0.0);
    for segment in segments {
        for chunk in segment.words.chunks(max_words_per_line) {
            for (i, original) in chunk.iter().enumerate() {
                let mut timing = original.clone();
                let long_pause = !preserve_segments && timing.start - last > 3.0;
                let has_room = line_len + len(&timing.word) <= max_line_width;
                let seg_break = i == 0 && !subtitle.is_empty() && preserve_segments;
                if line_len > 0 && has_room && !long_pause && !seg_break {
                    line_len += len(&timing.word);
                } else {
                    timing.word = timing.word.trim().to_string();
                    let full = o
                        .max_line_count
                        .is_some_and(|max| long_pause || line_count >= max);
                    if (!subtitle.is_empty() && full) || seg_break {
                        cues.push(std::mem::take(&mut subtitle));
                        line_count = 1;
                    } else if line_len > 0 {
                        line_count += 1;
                        timing.word = format!("\n{}", timing.word);
                    }
                    line_len = len(timing.word.trim());
                }
                last = timing.start;
                subtitle.push(timing);
            }
        }
    }
    if !subtitle.is_empty() {
        cues.push(subtitle);
    }
    cues
}

/// The whole file in `format`.
pub fn render(t: &Transcript, format: Format, subtitles: &Subtitles) -> String {
    let segments = t.segments.iter().filter(|s| !s.text.trim().is_empty());
    let mut out = String::new();
    match format {
        Format::Txt => {
            for s in segments {
                out.push_str(s.text.trim());
                out.push('\n');
            }
        }
        Format::Vtt => {
            out.push_str("WEBVTT\n\n");
            for (start, end, text) in cues(t, subtitles, false, '.') {
                out.push_str(&format!("{start} --> {end}\n{text}\n\n"));
            }
        }
        Format::Srt => {
            for (i, (start, end, text)) in cues(t, subtitles, true, ',').into_iter().enumerate() {
                out.push_str(&format!("{}\n{start} --> {end}\n{text}\n\n", i + 1));
            }
        }
        Format::Tsv => {
            out.push_str("start\tend\ttext\n");
            for s in segments {
                out.push_str(&format!(
                    "{}\t{}\t{}\n",
                    (s.start * 1000.0).round() as i64,
                    (s.end * 1000.0).round() as i64,
                    s.text.trim().replace('\t', " ")
                ));
            }
        }
        Format::Json => {
            let segs: Vec<_> = segments
                .map(|s| {
                    let mut seg = json!({"id": s.id, "seek": s.seek, "start": s.start, "end": s.end,
                           "text": s.text, "tokens": s.tokens, "temperature": s.temperature,
                           "avg_logprob": s.avg_logprob, "compression_ratio": s.compression_ratio,
                           "no_speech_prob": s.no_speech_prob});
                    if subtitles.word_level {
                        seg["words"] = s
                            .words
                            .iter()
                            .map(|w| {
                                json!({"word": w.word, "start": w.start, "end": w.end,
                                            "probability": w.probability})
                            })
                            .collect();
                    }
                    seg
                })
                .collect();
            out = json!({"text": t.text, "segments": segs, "language": t.language}).to_string();
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_subtitle_players_expect() {
        assert_eq!(timestamp(7.74, true, ','), "00:00:07,740");
        assert_eq!(timestamp(7.74, false, '.'), "00:07.740");
        assert_eq!(timestamp(3725.5, false, '.'), "01:02:05.500");
        assert_eq!(cue(" a --> b "), "a -> b");
    }

    fn word(word: &str, start: f64, end: f64) -> Word {
        Word {
            word: word.into(),
            start,
            end,
            probability: 0.9,
        }
    }

    fn segment(id: usize, start: f64, end: f64, words: Vec<Word>) -> Segment {
        Segment {
            id,
            seek: 0,
            start,
            end,
            text: words.iter().map(|w| w.word.as_str()).collect(),
            tokens: vec![1],
            temperature: 0.0,
            avg_logprob: -0.2,
            compression_ratio: 1.0,
            no_speech_prob: 0.0,
            words,
        }
    }

    fn transcript() -> Transcript {
        Transcript {
            text: String::new(),
            language: "en".into(),
            language_probability: None,
            segments: vec![
                segment(
                    0,
                    0.0,
                    3.0,
                    vec![
                        word(" And", 0.3, 0.5),
                        word(" so", 0.5, 0.8),
                        word(" my", 0.8, 1.0),
                        word(" fellow", 1.0, 1.4),
                        word(" Americans,", 1.4, 2.9),
                    ],
                ),
                segment(
                    1,
                    7.0,
                    9.0,
                    vec![word(" ask", 7.1, 7.5), word(" not.", 7.6, 8.8)],
                ),
            ],
            duration: 9.0,
            windows: 1,
            skipped_windows: 0,
            interrupted: false,
        }
    }

    /// The expected files are what mlx-whisper 0.4.3's `WriteSRT`/`WriteVTT` write
    /// for the same segments and options.
    #[test]
    fn word_cues_as_mlx_whisper_writes_them() {
        let words = |o: Subtitles| Subtitles {
            word_level: true,
            ..o
        };
        let t = transcript();
        let width = words(Subtitles {
            max_line_width: Some(12),
            max_line_count: Some(2),
            ..Subtitles::default()
        });
        assert_eq!(
            render(&t, Format::Srt, &width),
            "1\n00:00:00,300 --> 00:00:01,400\nAnd so my\nfellow\n\n2\n00:00:01,400 --> 00:00:02,900\nAmericans,\n\n3\n00:00:07,100 --> 00:00:08,800\nask not.\n\n"
        );
        assert_eq!(
            render(&t, Format::Vtt, &words(Subtitles::default())),
            "WEBVTT\n\n00:00.300 --> 00:02.900\nAnd so my fellow Americans,\n\n00:07.100 --> 00:08.800\nask not.\n\n"
        );
        let highlight = words(Subtitles {
            highlight_words: true,
            ..Subtitles::default()
        });
        assert_eq!(
            render(&t, Format::Vtt, &highlight),
            "WEBVTT\n\n00:00.300 --> 00:00.500\n<u>And</u> so my fellow Americans,\n\n00:00.500 --> 00:00.800\nAnd <u>so</u> my fellow Americans,\n\n00:00.800 --> 00:01.000\nAnd so <u>my</u> fellow Americans,\n\n00:01.000 --> 00:01.400\nAnd so my <u>fellow</u> Americans,\n\n00:01.400 --> 00:02.900\nAnd so my fellow <u>Americans,</u>\n\n00:07.100 --> 00:07.500\n<u>ask</u> not.\n\n00:07.500 --> 00:07.600\nask not.\n\n00:07.600 --> 00:08.800\nask <u>not.</u>\n\n"
        );
        let per_line = words(Subtitles {
            max_words_per_line: Some(2),
            ..Subtitles::default()
        });
        assert_eq!(
            render(&t, Format::Srt, &per_line),
            "1\n00:00:00,300 --> 00:00:00,800\nAnd so\n\n2\n00:00:00,800 --> 00:00:01,400\nmy fellow\n\n3\n00:00:01,400 --> 00:00:02,900\nAmericans,\n\n4\n00:00:07,100 --> 00:00:08,800\nask not.\n\n"
        );
        // Without word timestamps, a cue per segment with the segment's times.
        assert!(render(&t, Format::Srt, &Subtitles::default())
            .starts_with("1\n00:00:00,000 --> 00:00:03,000\nAnd so my fellow Americans,\n"));
    }
}
