//! Transcript files for people and players, as mlx-whisper's `writers.py` writes
//! them: txt (a line per segment), srt, vtt, tsv (milliseconds) and json.

use mlxk_runner::whisper::Transcript;
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

/// The whole file in `format`.
pub fn render(t: &Transcript, format: Format) -> String {
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
            for s in segments {
                out.push_str(&format!(
                    "{} --> {}\n{}\n\n",
                    timestamp(s.start, false, '.'),
                    timestamp(s.end, false, '.'),
                    cue(&s.text)
                ));
            }
        }
        Format::Srt => {
            for (i, s) in segments.enumerate() {
                out.push_str(&format!(
                    "{}\n{} --> {}\n{}\n\n",
                    i + 1,
                    timestamp(s.start, true, ','),
                    timestamp(s.end, true, ','),
                    cue(&s.text)
                ));
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
                    json!({"id": s.id, "seek": s.seek, "start": s.start, "end": s.end,
                           "text": s.text, "tokens": s.tokens, "temperature": s.temperature,
                           "avg_logprob": s.avg_logprob, "compression_ratio": s.compression_ratio,
                           "no_speech_prob": s.no_speech_prob})
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
}
