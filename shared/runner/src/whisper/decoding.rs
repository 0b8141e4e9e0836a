//! Decoding one 30-second window, as mlx-whisper's `decoding.py` does: the initial
//! tokens (previous text, start of transcript, language, task), then greedy or
//! temperature sampling through the logit filters (suppress blank, suppress
//! non-speech tokens, timestamp rules), with the no-speech probability read at the
//! start-of-transcript position and the average log-probability of what was sampled.
//!
//! One deliberate difference: mlx-whisper 0.4.3's timestamp rule that forbids
//! timestamps going backwards slices the logits with a token *index* instead of the
//! token's value, so it never applies; here it applies as in OpenAI's Whisper and
//! faster-whisper (it keeps segments from collapsing to zero length and looping).

use mlx_rs::Array;

use crate::error::{Result, RunnerError};
use crate::kernel::Threads;
use crate::whisper::model::cpu_step::{CpuStep, HalfCopies, StepCache};
use crate::whisper::model::{DecoderCache, WhisperModel};
use crate::whisper::tokenizer::{Task, WhisperTokenizer};

/// What to decode a window with (mlx-whisper's `DecodingOptions`, the parts we use).
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub task: Task,
    /// Language code; English for English-only models.
    pub language: Option<String>,
    pub temperature: f32,
    /// Most tokens to sample (default: half the text context, 224).
    pub sample_len: Option<usize>,
    /// Previous text (tokens) to condition on.
    pub prompt: Vec<u32>,
    pub suppress_blank: bool,
    pub without_timestamps: bool,
    /// Latest first timestamp, seconds.
    pub max_initial_timestamp: Option<f32>,
    /// Seed of the sampler used when `temperature > 0`.
    pub seed: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            task: Task::Transcribe,
            language: None,
            temperature: 0.0,
            sample_len: None,
            prompt: Vec::new(),
            suppress_blank: true,
            without_timestamps: false,
            max_initial_timestamp: Some(1.0),
            seed: 0,
        }
    }
}

/// The outcome of one window.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeResult {
    /// Sampled tokens, up to (not including) the end of text.
    pub tokens: Vec<u32>,
    pub text: String,
    pub avg_logprob: f64,
    pub no_speech_prob: f64,
    pub temperature: f32,
    pub compression_ratio: f64,
}

/// `len(text) / len(zlib.compress(text))`: high for repetitive text.
pub fn compression_ratio(text: &str) -> f64 {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(bytes, 6);
    bytes.len() as f64 / compressed.len() as f64
}

/// Decodes one window whose encoded audio is `features` (`[1, n_audio_ctx, state]`),
/// with the decode step chosen at load (`model.step`).
pub fn decode(
    model: &WhisperModel,
    tok: &WhisperTokenizer,
    features: &Array,
    opts: &DecodeOptions,
    n_text_ctx: usize,
) -> Result<DecodeResult> {
    let cpu = model.step.cpu().map(|(t, h)| (t, Some(h)));
    decode_with(model, tok, features, opts, n_text_ctx, cpu, &mut |_| {})
}

/// [`decode`] with the step after the prompt chosen by the caller (`cpu`: the CPU step
/// on those threads, with those float16 copies; `None`: MLX's graph), showing `seen` the
/// logits of every position sampled from (before the filters).
pub fn decode_with(
    model: &WhisperModel,
    tok: &WhisperTokenizer,
    features: &Array,
    opts: &DecodeOptions,
    n_text_ctx: usize,
    cpu: Option<(&Threads, Option<&HalfCopies>)>,
    seen: &mut dyn FnMut(&[f32]),
) -> Result<DecodeResult> {
    let sample_len = opts.sample_len.unwrap_or(n_text_ctx / 2);
    let mut initial = Vec::new();
    if !opts.prompt.is_empty() {
        let keep = n_text_ctx / 2 - 1;
        initial.push(tok.sot_prev);
        initial.extend_from_slice(&opts.prompt[opts.prompt.len().saturating_sub(keep)..]);
    }
    let sot_index = initial.len();
    initial.extend(tok.sot_sequence(opts.language.as_deref(), opts.task));
    if opts.without_timestamps {
        initial.push(tok.no_timestamps);
    }
    let sample_begin = initial.len();
    let filters = Filters::new(tok, sample_begin, opts);
    let mut rng = Rng::new(opts.seed);

    let mut cache = model.decoder.new_cache(features)?;
    let last = (initial.len() - 1) as i32;
    let first = model
        .decoder
        .forward(&initial, &mut cache, &[sot_index as i32, last])?;
    first.eval()?;
    let rows = first.as_slice::<f32>();
    let vocab = rows.len() / 2;
    let no_speech_prob = softmax_at(&rows[..vocab], tok.no_speech as usize);
    let mut logits = rows[vocab..].to_vec();
    let mut stepper = match cpu {
        Some((threads, halves)) => {
            let step =
                CpuStep::new(&model.decoder, threads, halves).map_err(RunnerError::Internal)?;
            let own = step.import(&cache)?;
            Stepper::Cpu(step, own)
        }
        None => Stepper::Mlx(cache),
    };

    let mut tokens = initial.clone();
    let mut sum_logprob = 0f64;
    let mut sampled = 0;
    loop {
        seen(&logits);
        filters.apply(&mut logits, &tokens);
        let next = if opts.temperature == 0.0 {
            argmax(&logits)
        } else {
            rng.categorical(&logits, opts.temperature)
        };
        sum_logprob += log_softmax_at(&logits, next as usize);
        tokens.push(next);
        sampled += 1;
        if next == tok.eot || sampled >= sample_len || tokens.len() > n_text_ctx {
            break;
        }
        logits = stepper.next(model, next)?;
    }
    let mut text_tokens = tokens[sample_begin..].to_vec();
    if let Some(end) = text_tokens.iter().position(|&t| t == tok.eot) {
        text_tokens.truncate(end);
    }
    let text = tok.decode(&text_tokens).trim().to_string();
    Ok(DecodeResult {
        avg_logprob: sum_logprob / (text_tokens.len() + 1) as f64,
        compression_ratio: compression_ratio(&text),
        tokens: text_tokens,
        text,
        no_speech_prob,
        temperature: opts.temperature,
    })
}

/// The step after the prompt, with its cache.
enum Stepper<'m> {
    Mlx(DecoderCache),
    Cpu(CpuStep<'m>, StepCache),
}

impl Stepper<'_> {
    /// The logits after `token`.
    fn next(&mut self, model: &WhisperModel, token: u32) -> Result<Vec<f32>> {
        match self {
            Stepper::Cpu(step, cache) => step.step(token, cache),
            Stepper::Mlx(cache) => {
                let out = model.decoder.forward(&[token], cache, &[0])?;
                out.eval()?;
                Ok(out.as_slice::<f32>().to_vec())
            }
        }
    }
}

/// The language of the audio: the most probable language token after
/// `<|startoftranscript|>`, with every language's probability (mlx-whisper's
/// `detect_language`).
pub fn detect_language(
    model: &WhisperModel,
    tok: &WhisperTokenizer,
    features: &Array,
) -> Result<Vec<(&'static str, f64)>> {
    let mut cache = model.decoder.new_cache(features)?;
    let logits = model.decoder.forward(&[tok.sot], &mut cache, &[0])?;
    logits.eval()?;
    let logits = logits.as_slice::<f32>();
    let langs = tok.language_tokens();
    let sub: Vec<f32> = langs.clone().map(|t| logits[t as usize]).collect();
    let max = sub.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = sub.iter().map(|&l| ((l - max) as f64).exp()).sum();
    let mut probs: Vec<(&'static str, f64)> = langs
        .zip(&sub)
        .filter_map(|(t, &l)| Some((tok.language_of(t)?, ((l - max) as f64).exp() / sum)))
        .collect();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(probs)
}

/// The logit filters, applied in mlx-whisper's order.
struct Filters {
    sample_begin: usize,
    blank: Option<Vec<u32>>,
    suppress: Vec<u32>,
    timestamps: bool,
    timestamp_begin: u32,
    eot: u32,
    no_timestamps: u32,
    max_initial: Option<u32>,
}

impl Filters {
    fn new(tok: &WhisperTokenizer, sample_begin: usize, opts: &DecodeOptions) -> Self {
        let mut suppress = tok.non_speech_tokens();
        suppress.extend([
            tok.transcribe,
            tok.translate,
            tok.sot,
            tok.sot_prev,
            tok.sot_lm,
            tok.no_speech,
        ]);
        suppress.sort_unstable();
        suppress.dedup();
        let blank = opts.suppress_blank.then(|| {
            let mut b = tok.encode(" ");
            b.push(tok.eot);
            b
        });
        Filters {
            sample_begin,
            blank,
            suppress,
            timestamps: !opts.without_timestamps,
            timestamp_begin: tok.timestamp_begin,
            eot: tok.eot,
            no_timestamps: tok.no_timestamps,
            // precision = 30 s / 1500 audio positions = 0.02 s
            max_initial: opts
                .max_initial_timestamp
                .map(|s| (s / 0.02).round() as u32),
        }
    }

    fn apply(&self, logits: &mut [f32], tokens: &[u32]) {
        let ninf = f32::NEG_INFINITY;
        if let Some(blank) = &self.blank {
            if tokens.len() == self.sample_begin {
                for &t in blank {
                    logits[t as usize] = ninf;
                }
            }
        }
        for &t in &self.suppress {
            logits[t as usize] = ninf;
        }
        if self.timestamps {
            self.timestamp_rules(logits, tokens);
        }
    }

    fn timestamp_rules(&self, logits: &mut [f32], tokens: &[u32]) {
        let ninf = f32::NEG_INFINITY;
        let tb = self.timestamp_begin as usize;
        let mut mask = vec![false; logits.len()];
        mask[self.no_timestamps as usize] = true;
        let seq = &tokens[self.sample_begin..];
        let is_ts = |t: u32| t >= self.timestamp_begin;
        let last_was = seq.last().is_some_and(|&t| is_ts(t));
        let penultimate_was = seq.len() < 2 || is_ts(seq[seq.len() - 2]);
        if last_was {
            if penultimate_was {
                mask[tb..].iter_mut().for_each(|m| *m = true);
            } else {
                mask[..self.eot as usize].iter_mut().for_each(|m| *m = true);
            }
        }
        if let Some(&last) = seq.iter().rev().find(|&&t| is_ts(t)) {
            // Timestamps must not decrease; a segment must not be empty.
            let upto = if last_was && !penultimate_was {
                last
            } else {
                last + 1
            } as usize;
            mask[tb..upto.min(logits.len())]
                .iter_mut()
                .for_each(|m| *m = true);
        }
        if tokens.len() == self.sample_begin {
            mask[..tb].iter_mut().for_each(|m| *m = true);
            if let Some(max) = self.max_initial {
                let last_allowed = tb + max as usize;
                if last_allowed + 1 < logits.len() {
                    mask[last_allowed + 1..].iter_mut().for_each(|m| *m = true);
                }
            }
        }
        // If timestamps together are likelier than any one text token, take a timestamp.
        let lse = logsumexp(logits);
        let ts_logprob = logsumexp(&logits[tb..]) - lse;
        let max_text = logits[..tb].iter().copied().fold(ninf, f32::max) - lse;
        if ts_logprob > max_text {
            mask[..tb].iter_mut().for_each(|m| *m = true);
        }
        for (l, m) in logits.iter_mut().zip(&mask) {
            if *m {
                *l = ninf;
            }
        }
    }
}

fn logsumexp(x: &[f32]) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    let sum: f32 = x.iter().map(|&v| (v - max).exp()).sum();
    max + sum.ln()
}

fn log_softmax_at(x: &[f32], i: usize) -> f64 {
    (x[i] - logsumexp(x)) as f64
}

fn softmax_at(x: &[f32], i: usize) -> f64 {
    log_softmax_at(x, i).exp()
}

/// Index of the first maximum (as MLX's `argmax`).
fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

/// A small seeded generator (xorshift64*) for temperature sampling.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A draw from `softmax(logits / temperature)`.
    fn categorical(&mut self, logits: &[f32], temperature: f32) -> u32 {
        let scaled: Vec<f64> = logits.iter().map(|&l| (l / temperature) as f64).collect();
        let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scaled.iter().map(|&s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut r = self.next_f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                return i as u32;
            }
            r -= w;
        }
        argmax(logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_ratio_flags_repetition() {
        let plain = "And so my fellow Americans, ask not what your country can do for you.";
        assert!(compression_ratio(plain) < 1.5);
        let looping = "Thank you. ".repeat(40);
        assert!(compression_ratio(&looping) > 2.4);
    }

    #[test]
    fn sampling_at_low_temperature_is_greedy_and_seeded() {
        let logits = [0.0f32, 5.0, 1.0, f32::NEG_INFINITY];
        let mut rng = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(rng.categorical(&logits, 0.05), 1);
        }
        let draw = |seed| {
            let mut r = Rng::new(seed);
            (0..20)
                .map(|_| r.categorical(&[0.0, 0.0, 0.0], 1.0))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert!(draw(3).iter().all(|&t| t < 3));
    }
}
