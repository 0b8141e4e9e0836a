//! Long-form transcription, as mlx-whisper's `transcribe.py`: 30-second windows moved
//! by `seek`, the temperature fallback with the compression-ratio, log-probability and
//! no-speech thresholds, segments cut at timestamp tokens, conditioning on the previous
//! text, an initial prompt, language detection on the first window.
//!
//! Samples arrive from a [`SampleSource`] and only the current window (plus the
//! STFT's margin) is held, so memory does not grow with the length of the audio.
//! Before a window is decoded, the voice-activity gate ([`crate::whisper::vad`])
//! skips it when it holds no speech energy, and skips a long silent lead-in.
//!
//! With `word_timestamps`, each window's segments get their words
//! ([`crate::whisper::timing`]), which may move a segment's start and end, and the
//! next window starts after the last word (as mlx-whisper does).

use std::sync::atomic::{AtomicBool, Ordering};

use mlx_rs::Array;

use crate::error::{Result, RunnerError};
use crate::whisper::decoding::{self, DecodeOptions, DecodeResult};
use crate::whisper::mel::{self, Audio, HOP_LENGTH, N_FFT, N_FRAMES, N_SAMPLES};
use crate::whisper::timing::{self, Word, APPEND_PUNCTUATIONS, PREPEND_PUNCTUATIONS};
use crate::whisper::tokenizer::Task;
use crate::whisper::vad::VadGate;
use crate::whisper::Whisper;

/// Where samples come from: 16 kHz mono, in order; `Ok(None)` at the end.
pub trait SampleSource {
    fn next_samples(&mut self) -> std::result::Result<Option<Vec<f32>>, String>;
}

impl SampleSource for std::vec::IntoIter<Vec<f32>> {
    fn next_samples(&mut self) -> std::result::Result<Option<Vec<f32>>, String> {
        Ok(self.next())
    }
}

/// How to transcribe (mlx-whisper's `transcribe` arguments, with its defaults).
#[derive(Debug, Clone)]
pub struct TranscribeOptions {
    pub task: Task,
    /// Language code; detected from the first 30 s when `None` on a multilingual model.
    pub language: Option<String>,
    /// Tried in order until a result passes the thresholds; one value: no fallback.
    pub temperatures: Vec<f32>,
    pub compression_ratio_threshold: Option<f64>,
    pub logprob_threshold: Option<f64>,
    pub no_speech_threshold: Option<f64>,
    pub condition_on_previous_text: bool,
    pub initial_prompt: Option<String>,
    /// Energy gate; `None` decodes every window.
    pub vad: Option<VadGate>,
    pub seed: u64,
    /// Give every segment its words with their times.
    pub word_timestamps: bool,
    /// With `word_timestamps`: punctuation joined to the next word...
    pub prepend_punctuations: String,
    /// ...and to the previous word.
    pub append_punctuations: String,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        TranscribeOptions {
            task: Task::Transcribe,
            language: None,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: Some(2.4),
            logprob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
            condition_on_previous_text: true,
            initial_prompt: None,
            vad: Some(VadGate::default()),
            seed: 0,
            word_timestamps: false,
            prepend_punctuations: PREPEND_PUNCTUATIONS.into(),
            append_punctuations: APPEND_PUNCTUATIONS.into(),
        }
    }
}

/// One piece of the transcript with its time span.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub id: usize,
    /// Window start, in mel frames (10 ms).
    pub seek: usize,
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub tokens: Vec<u32>,
    pub temperature: f32,
    pub avg_logprob: f64,
    pub compression_ratio: f64,
    pub no_speech_prob: f64,
    /// The words with their times (with `word_timestamps` only).
    pub words: Vec<Word>,
}

/// The whole result.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    pub language: String,
    /// Probability of the detected language, when it was detected.
    pub language_probability: Option<f64>,
    pub segments: Vec<Segment>,
    /// Length of the audio, seconds.
    pub duration: f64,
    /// Windows decoded, and windows the voice-activity gate skipped.
    pub windows: usize,
    pub skipped_windows: usize,
    /// Whether an interrupt stopped it early.
    pub interrupted: bool,
}

/// Samples of the audio around the current window.
struct Buffer<'s> {
    source: &'s mut dyn SampleSource,
    samples: Vec<f32>,
    /// Absolute index of `samples[0]`.
    offset: usize,
    /// Length of the whole audio, once its end was read.
    total: Option<usize>,
}

impl Buffer<'_> {
    /// Reads until sample `end` is held or the audio ends.
    fn fill_to(&mut self, end: usize) -> Result<()> {
        while self.total.is_none() && self.offset + self.samples.len() < end {
            match self.source.next_samples().map_err(RunnerError::Audio)? {
                Some(chunk) => self.samples.extend_from_slice(&chunk),
                None => self.total = Some(self.offset + self.samples.len()),
            }
        }
        Ok(())
    }

    /// Forgets samples before absolute index `start`. (The STFT reflects samples
    /// 1..=200 only for the very first window, before anything is dropped.)
    fn drop_before(&mut self, start: usize) {
        if start > self.offset {
            let n = (start - self.offset).min(self.samples.len());
            self.samples.drain(..n);
            self.offset += n;
        }
    }

    fn audio(&self) -> Audio<'_> {
        Audio {
            samples: &self.samples,
            offset: self.offset,
            total: self.total,
        }
    }

    /// Mel frames of content, once the end is known: `total / 160`.
    fn content_frames(&self) -> Option<usize> {
        self.total.map(|t| t / HOP_LENGTH)
    }
}

impl Whisper {
    /// Transcribes the audio `source` yields. `on_segment` sees each segment with text
    /// as soon as its window is decoded; `interrupt` stops after the current window.
    pub fn transcribe(
        &self,
        source: &mut dyn SampleSource,
        opts: &TranscribeOptions,
        mut on_segment: impl FnMut(&Segment),
        interrupt: Option<&AtomicBool>,
    ) -> Result<Transcript> {
        let tok = &self.tokenizer;
        let mut buf = Buffer {
            source,
            samples: Vec::new(),
            offset: 0,
            total: None,
        };
        let mut top = f32::NEG_INFINITY;

        let (language, language_probability) = if !tok.is_multilingual() {
            ("en".to_string(), None)
        } else if let Some(l) = &opts.language {
            (l.clone(), None)
        } else {
            // mlx-whisper: the first 3000 frames of the padded spectrogram (silence
            // after the content is the log-mel of silence here, not zeros).
            buf.fill_to(N_SAMPLES + N_FFT)?;
            let mut frames = self.mel.log10_frames(&buf.audio(), 0, N_FRAMES);
            let total = buf
                .content_frames()
                .map_or(N_FRAMES, |c| (c + 3).min(N_FRAMES));
            top = frames[..total * self.mel.n_mels()]
                .iter()
                .copied()
                .fold(top, f32::max)
                .max(-10.0);
            mel::normalize(&mut frames, top);
            let features = self.encode(&frames)?;
            let probs = decoding::detect_language(&self.model, tok, &features)?;
            let (code, p) = probs[0];
            (code.to_string(), Some(p))
        };

        let mut all_tokens: Vec<u32> = Vec::new();
        let initial_prompt_tokens = opts
            .initial_prompt
            .as_ref()
            .map(|p| tok.encode(&format!(" {}", p.trim())))
            .unwrap_or_default();
        all_tokens.extend_from_slice(&initial_prompt_tokens);
        let mut prompt_reset_since = 0;
        let mut segments: Vec<Segment> = Vec::new();
        let mut seek = 0usize;
        let (mut windows, mut skipped) = (0, 0);
        let input_stride = N_FRAMES / self.config.n_audio_ctx; // 2 mel frames per position
        let time_precision = (input_stride * HOP_LENGTH) as f64 / mel::SAMPLE_RATE as f64;
        let mut interrupted = false;
        let mut last_speech_timestamp = 0.0;

        loop {
            buf.fill_to((seek + N_FRAMES + 3) * HOP_LENGTH + N_FFT)?;
            let content = buf.content_frames();
            if content.is_some_and(|c| seek >= c) {
                break;
            }
            if interrupt.is_some_and(|i| i.load(Ordering::Relaxed)) {
                interrupted = true;
                break;
            }
            let segment_size = content.map_or(N_FRAMES, |c| (c - seek).min(N_FRAMES));
            // Frames just past the content still see some of it; they count for the max.
            let extra = content.map_or(0, |c| (c + 3).saturating_sub(seek + segment_size).min(3));
            let mut frames = self
                .mel
                .log10_frames(&buf.audio(), seek, segment_size + extra);
            top = frames.iter().copied().fold(top, f32::max).max(-10.0);
            frames.truncate(segment_size * self.mel.n_mels());

            if let Some(gate) = &opts.vad {
                let start = seek * HOP_LENGTH;
                let window = &buf.samples[start - buf.offset..]
                    [..(segment_size * HOP_LENGTH).min(buf.samples.len() + buf.offset - start)];
                match gate.first_speech(window) {
                    None => {
                        skipped += 1;
                        seek += segment_size;
                        buf.drop_before((seek * HOP_LENGTH).saturating_sub(N_FFT));
                        continue;
                    }
                    Some(lead) if lead > gate.max_lead_in_samples() => {
                        seek += (lead - gate.margin_samples()) / HOP_LENGTH;
                        continue;
                    }
                    Some(_) => {}
                }
            }
            windows += 1;
            mel::normalize(&mut frames, top);
            frames.resize(N_FRAMES * self.mel.n_mels(), 0.0);
            let features = self.encode(&frames)?;
            let prompt = all_tokens[prompt_reset_since..].to_vec();
            let result = self.decode_with_fallback(&features, opts, &language, prompt)?;

            let time_offset = (seek * HOP_LENGTH) as f64 / mel::SAMPLE_RATE as f64;
            let segment_duration = (segment_size * HOP_LENGTH) as f64 / mel::SAMPLE_RATE as f64;
            if let Some(threshold) = opts.no_speech_threshold {
                let silent = result.no_speech_prob > threshold
                    && !opts
                        .logprob_threshold
                        .is_some_and(|lp| result.avg_logprob > lp);
                if silent {
                    seek += segment_size;
                    buf.drop_before((seek * HOP_LENGTH).saturating_sub(N_FFT));
                    continue;
                }
            }
            let previous_seek = seek;
            let tokens = &result.tokens;
            let is_ts = |t: u32| t >= tok.timestamp_begin;
            let n = tokens.len();
            let single_timestamp_ending = n >= 2 && !is_ts(tokens[n - 2]) && is_ts(tokens[n - 1]);
            let consecutive: Vec<usize> = (1..n)
                .filter(|&i| is_ts(tokens[i - 1]) && is_ts(tokens[i]))
                .collect();
            let mut current: Vec<(f64, f64, Vec<u32>)> = Vec::new();
            let ts_time = |t: u32| (t - tok.timestamp_begin) as f64 * time_precision;
            if !consecutive.is_empty() {
                let mut slices = consecutive.clone();
                if single_timestamp_ending {
                    slices.push(n);
                }
                let mut last = 0;
                for &cur in &slices {
                    let part = &tokens[last..cur];
                    current.push((
                        time_offset + ts_time(part[0]),
                        time_offset + ts_time(part[part.len() - 1]),
                        part.to_vec(),
                    ));
                    last = cur;
                }
                if single_timestamp_ending {
                    seek += segment_size;
                } else {
                    let last_ts = tokens[last - 1] - tok.timestamp_begin;
                    seek += last_ts as usize * input_stride;
                }
            } else {
                let mut duration = segment_duration;
                if let Some(&t) = tokens.iter().rev().find(|&&t| is_ts(t)) {
                    if t != tok.timestamp_begin {
                        duration = ts_time(t);
                    }
                }
                current.push((time_offset, time_offset + duration, tokens.clone()));
                seek += segment_size;
            }
            let mut current: Vec<Segment> = current
                .into_iter()
                .map(|(start, end, seg_tokens)| {
                    let text_tokens: Vec<u32> = seg_tokens
                        .iter()
                        .copied()
                        .filter(|&t| t < tok.eot)
                        .collect();
                    Segment {
                        id: 0,
                        seek: previous_seek,
                        start,
                        end,
                        text: tok.decode(&text_tokens),
                        tokens: seg_tokens,
                        temperature: result.temperature,
                        avg_logprob: result.avg_logprob,
                        compression_ratio: result.compression_ratio,
                        no_speech_prob: result.no_speech_prob,
                        words: Vec::new(),
                    }
                })
                .collect();
            if opts.word_timestamps {
                let sot_sequence = tok.sot_sequence(Some(language.as_str()), opts.task);
                let window = timing::Window {
                    model: &self.model,
                    tokenizer: tok,
                    heads: &self.alignment_heads.heads,
                    sot_sequence: &sot_sequence,
                    language: &language,
                    features: &features,
                    num_frames: segment_size,
                    prepend_punctuations: &opts.prepend_punctuations,
                    append_punctuations: &opts.append_punctuations,
                };
                timing::add_word_timestamps(&window, &mut current, last_speech_timestamp)?;
                // After the last word rather than at the last timestamp, unless the
                // window's speech ended within it.
                let last_word_end = current
                    .iter()
                    .rev()
                    .find_map(|s| s.words.last().map(|w| w.end))
                    .or(current.last().map(|s| s.end));
                if !single_timestamp_ending {
                    if let Some(end) = last_word_end.filter(|&e| e > time_offset) {
                        seek = (end * 100.0).round() as usize;
                    }
                }
                if let Some(end) = last_word_end {
                    last_speech_timestamp = end;
                }
            }
            // A window must move on, even when the model keeps answering <|0.00|>.
            if seek == previous_seek {
                seek += segment_size;
            }
            for mut segment in current {
                if segment.start == segment.end || segment.text.trim().is_empty() {
                    segment.text.clear();
                    segment.tokens.clear();
                    segment.words.clear();
                }
                all_tokens.extend_from_slice(&segment.tokens);
                segment.id = segments.len();
                if !segment.text.is_empty() {
                    on_segment(&segment);
                }
                segments.push(segment);
            }
            if !opts.condition_on_previous_text || result.temperature > 0.5 {
                prompt_reset_since = all_tokens.len();
            }
            buf.drop_before((seek * HOP_LENGTH).saturating_sub(N_FFT));
        }
        let total = buf.total.unwrap_or(buf.offset + buf.samples.len());
        Ok(Transcript {
            text: tok.decode(&all_tokens[initial_prompt_tokens.len()..]),
            language,
            language_probability,
            segments,
            duration: total as f64 / mel::SAMPLE_RATE as f64,
            windows,
            skipped_windows: skipped,
            interrupted,
        })
    }

    /// Encodes normalised mel frames `[3000, n_mels]`.
    pub(crate) fn encode(&self, frames: &[f32]) -> Result<Array> {
        let mel = Array::from_slice(frames, &[1, N_FRAMES as i32, self.mel.n_mels() as i32]);
        let features = self.model.encoder.forward(&mel)?;
        features.eval()?;
        Ok(features)
    }

    fn decode_with_fallback(
        &self,
        features: &Array,
        opts: &TranscribeOptions,
        language: &str,
        prompt: Vec<u32>,
    ) -> Result<DecodeResult> {
        let mut result = None;
        for &t in &opts.temperatures {
            let d = DecodeOptions {
                task: opts.task,
                language: Some(language.to_string()),
                temperature: t,
                prompt: prompt.clone(),
                seed: opts.seed,
                ..DecodeOptions::default()
            };
            let r = decoding::decode(
                &self.model,
                &self.tokenizer,
                features,
                &d,
                self.config.n_text_ctx,
            )?;
            let mut fallback = opts
                .compression_ratio_threshold
                .is_some_and(|th| r.compression_ratio > th)
                || opts.logprob_threshold.is_some_and(|th| r.avg_logprob < th);
            if opts
                .no_speech_threshold
                .is_some_and(|th| r.no_speech_prob > th)
            {
                fallback = false;
            }
            let done = !fallback;
            result = Some(r);
            if done {
                break;
            }
        }
        result.ok_or_else(|| RunnerError::InvalidSampling("no temperature to decode with".into()))
    }
}
