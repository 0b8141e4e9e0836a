//! Word-level timestamps, as mlx-whisper's `timing.py` finds them: the window's text
//! is run through the decoder once more after `<|notimestamps|>`, the cross-attention
//! of the alignment heads over the audio is normalised per head, smoothed by a median
//! filter (width 7) and averaged; dynamic time warping then walks from the first
//! token and the first audio position to the last, and each word starts where the
//! path reaches its first token. Punctuation joins its neighbour, and two duration
//! heuristics keep a word at a sentence end or after a pause from swallowing silence.

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::{ops, Array};

use crate::error::Result;
use crate::whisper::mel::{HOP_LENGTH, SAMPLE_RATE};
use crate::whisper::model::WhisperModel;
use crate::whisper::tokenizer::WhisperTokenizer;
use crate::whisper::transcribe::Segment;

/// Joined to the word after them (mlx-whisper's `prepend_punctuations`).
pub const PREPEND_PUNCTUATIONS: &str = "\"'“¿([{-";
/// Joined to the word before them (mlx-whisper's `append_punctuations`).
pub const APPEND_PUNCTUATIONS: &str = "\"'.。,，!！?？:：”)]}、";

/// Audio positions per second of the encoder's output (20 ms each).
const TOKENS_PER_SECOND: f64 = 50.0;
const MEDFILT_WIDTH: usize = 7;
/// Python's `string.punctuation`.
const ASCII_PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// One word of a segment with its time span, seconds from the start of the audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// The word as Whisper wrote it (with its leading space and joined punctuation).
    pub word: String,
    pub start: f64,
    pub end: f64,
    /// Mean probability of the word's tokens.
    pub probability: f64,
}

/// A word as the alignment finds it, seconds from the window's start.
#[derive(Debug, Clone)]
struct WordTiming {
    word: String,
    tokens: Vec<u32>,
    start: f64,
    end: f64,
    probability: f64,
}

/// What the alignment of one window needs.
pub(crate) struct Window<'a> {
    pub model: &'a WhisperModel,
    pub tokenizer: &'a WhisperTokenizer,
    pub heads: &'a [(usize, usize)],
    /// `<|startoftranscript|>` (language, task).
    pub sot_sequence: &'a [u32],
    pub language: &'a str,
    /// The window's encoded audio `[1, n_audio_ctx, state]`.
    pub features: &'a Array,
    /// Mel frames of content in the window.
    pub num_frames: usize,
    pub prepend_punctuations: &'a str,
    pub append_punctuations: &'a str,
}

/// Gives the window's segments their words (mlx-whisper's `add_word_timestamps`), and
/// moves a segment's start or end to its words' where those are more plausible.
/// `last_speech_timestamp`: where the speech before this window ended (seconds).
pub(crate) fn add_word_timestamps(
    w: &Window,
    segments: &mut [Segment],
    mut last_speech_timestamp: f64,
) -> Result<()> {
    if segments.is_empty() {
        return Ok(());
    }
    let eot = w.tokenizer.eot;
    let text_tokens_per_segment: Vec<Vec<u32>> = segments
        .iter()
        .map(|s| s.tokens.iter().copied().filter(|&t| t < eot).collect())
        .collect();
    let text_tokens: Vec<u32> = text_tokens_per_segment.concat();
    let mut alignment = find_alignment(w, &text_tokens)?;
    let mut durations: Vec<f64> = alignment
        .iter()
        .map(|t| t.end - t.start)
        .filter(|&d| d != 0.0)
        .collect();
    let median_duration = median(&mut durations).unwrap_or(0.0).min(0.7);
    let max_duration = median_duration * 2.0;

    // Words at sentence boundaries are no longer than twice the median word.
    if !durations.is_empty() {
        let sentence_end_marks = ".。!！?？";
        for i in 1..alignment.len() {
            if alignment[i].end - alignment[i].start > max_duration {
                if sentence_end_marks.contains(alignment[i].word.as_str()) {
                    alignment[i].end = alignment[i].start + max_duration;
                } else if sentence_end_marks.contains(alignment[i - 1].word.as_str()) {
                    alignment[i].start = alignment[i].end - max_duration;
                }
            }
        }
    }
    merge_punctuations(
        &mut alignment,
        w.prepend_punctuations,
        w.append_punctuations,
    );

    let time_offset = (segments[0].seek * HOP_LENGTH) as f64 / SAMPLE_RATE as f64;
    let mut word_index = 0;
    for (segment, text_tokens) in segments.iter_mut().zip(&text_tokens_per_segment) {
        let mut saved_tokens = 0;
        let mut words: Vec<Word> = Vec::new();
        while word_index < alignment.len() && saved_tokens < text_tokens.len() {
            let timing = &alignment[word_index];
            if !timing.word.is_empty() {
                words.push(Word {
                    word: timing.word.clone(),
                    start: round2(time_offset + timing.start),
                    end: round2(time_offset + timing.end),
                    probability: timing.probability,
                });
            }
            saved_tokens += timing.tokens.len();
            word_index += 1;
        }
        if !words.is_empty() {
            // The first and second word after a pause are no longer than twice the
            // median word.
            let long_first = words[0].end - words[0].start > max_duration
                || (words.len() > 1 && words[1].end - words[0].start > max_duration * 2.0);
            if words[0].end - last_speech_timestamp > median_duration * 4.0 && long_first {
                if words.len() > 1 && words[1].end - words[1].start > max_duration {
                    let boundary = (words[1].end / 2.0).max(words[1].end - max_duration);
                    words[0].end = boundary;
                    words[1].start = boundary;
                }
                words[0].start = (words[0].end - max_duration).max(0.0);
            }
            // The segment's own start when the first word is too long.
            if segment.start < words[0].end && segment.start - 0.5 > words[0].start {
                words[0].start = (words[0].end - median_duration).min(segment.start).max(0.0);
            } else {
                segment.start = words[0].start;
            }
            // The segment's own end when the last word is too long.
            let last = words.len() - 1;
            if segment.end > words[last].start && segment.end + 0.5 < words[last].end {
                words[last].end = (words[last].start + median_duration).max(segment.end);
            } else {
                segment.end = words[last].end;
            }
            last_speech_timestamp = segment.end;
        }
        segment.words = words;
    }
    Ok(())
}

/// The words of `text_tokens` with their times in the window (mlx-whisper's
/// `find_alignment`).
fn find_alignment(w: &Window, text_tokens: &[u32]) -> Result<Vec<WordTiming>> {
    if text_tokens.is_empty() {
        return Ok(Vec::new());
    }
    let tok = w.tokenizer;
    let sot_len = w.sot_sequence.len();
    let mut tokens = w.sot_sequence.to_vec();
    tokens.push(tok.no_timestamps);
    tokens.extend_from_slice(text_tokens);
    tokens.push(tok.eot);
    let (logits, cross_qk) = w.model.decoder.forward_with_cross_qk(&tokens, w.features)?;

    // Each text token's probability where it was predicted, among the text tokens.
    let n = text_tokens.len() as i32;
    let text_logits = logits.index((sot_len as i32..sot_len as i32 + n, ..tok.eot as i32));
    let cols = Array::from_slice(text_tokens, &[n, 1]).as_dtype(mlx_rs::Dtype::Int32)?;
    let picked = text_logits.take_along_axis(&cols, 1)?;
    let lse = text_logits.logsumexp_axis(-1, true)?;
    let probs = picked.subtract(&lse)?.exp()?.reshape(&[n])?;

    // heads × tokens × frames: the cross-attention over the window's content.
    let frames = (w.num_frames / 2).max(1) as i32;
    let picked: Vec<Array> = w
        .heads
        .iter()
        .map(|&(l, h)| cross_qk[l].index((0, h as i32, .., ..frames)))
        .collect();
    let qk = ops::stack(&picked, 0)?;
    mlx_rs::transforms::eval([&probs, &qk])?;
    let probs = probs.as_slice::<f32>().to_vec();
    let (heads, rows, cols) = (w.heads.len(), tokens.len(), frames as usize);
    let mut weights = qk.as_slice::<f32>().to_vec();
    for h in 0..heads {
        let head = &mut weights[h * rows * cols..(h + 1) * rows * cols];
        head.chunks_mut(cols).for_each(softmax);
        standardize_columns(head, rows, cols);
        for row in head.chunks_mut(cols) {
            median_filter(row, MEDFILT_WIDTH);
        }
    }
    // The heads' mean, rows from `<|notimestamps|>` (which predicts the first text
    // token) to the last text token (which predicts the end of text).
    let matrix_rows = rows - sot_len - 1;
    let mut matrix = vec![0f32; matrix_rows * cols];
    for h in 0..heads {
        let head = &weights[h * rows * cols..(h + 1) * rows * cols];
        for (m, x) in matrix
            .iter_mut()
            .zip(&head[sot_len * cols..(rows - 1) * cols])
        {
            *m += x;
        }
    }
    matrix.iter_mut().for_each(|m| *m = -(*m / heads as f32));
    let (text_indices, time_indices) = dtw(&matrix, matrix_rows, cols);

    let mut with_eot = text_tokens.to_vec();
    with_eot.push(tok.eot);
    let (words, word_tokens) = split_to_word_tokens(tok, &with_eot, w.language);
    if word_tokens.len() <= 1 {
        return Ok(Vec::new());
    }
    let mut boundaries = vec![0usize];
    for t in &word_tokens[..word_tokens.len() - 1] {
        boundaries.push(boundaries.last().unwrap() + t.len());
    }
    let jump_times: Vec<f64> = (0..text_indices.len())
        .filter(|&i| i == 0 || text_indices[i] != text_indices[i - 1])
        .map(|i| time_indices[i] as f64 / TOKENS_PER_SECOND)
        .collect();
    let time = |i: usize| jump_times.get(i).copied().unwrap_or(0.0);
    Ok(words
        .into_iter()
        .zip(word_tokens)
        .zip(boundaries.windows(2))
        .map(|((word, tokens), b)| {
            let (i, j) = (b[0], b[1]);
            let p = &probs[i.min(probs.len())..j.min(probs.len())];
            WordTiming {
                word,
                tokens,
                start: time(i),
                end: time(j),
                probability: p.iter().map(|&x| x as f64).sum::<f64>() / p.len().max(1) as f64,
            }
        })
        .collect())
}

/// `softmax` of one row, in place.
fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    for x in row.iter_mut() {
        let e = ((*x - max) as f64).exp();
        *x = e as f32;
        sum += e;
    }
    row.iter_mut().for_each(|x| *x = (*x as f64 / sum) as f32);
}

/// Each column (one audio position over the tokens) to zero mean and unit variance.
fn standardize_columns(m: &mut [f32], rows: usize, cols: usize) {
    for c in 0..cols {
        let (mut s, mut s2) = (0f64, 0f64);
        for r in 0..rows {
            let x = m[r * cols + c] as f64;
            s += x;
            s2 += x * x;
        }
        let mean = s / rows as f64;
        let std = (s2 / rows as f64 - mean * mean).max(0.0).sqrt() as f32;
        let mean = mean as f32;
        for r in 0..rows {
            let x = &mut m[r * cols + c];
            *x = (*x - mean) / std;
        }
    }
}

/// Median of every `width` neighbours along the row, the ends mirrored (numpy's
/// `reflect` padding, as mlx-whisper's `median_filter`). Rows no longer than half the
/// width are left as they are.
pub(crate) fn median_filter(row: &mut [f32], width: usize) {
    let pad = width / 2;
    let n = row.len();
    if n <= pad {
        return;
    }
    let reflect = |i: isize| -> usize {
        let i = if i < 0 { -i } else { i };
        let i = i as usize;
        if i >= n {
            2 * (n - 1) - i
        } else {
            i
        }
    };
    let src = row.to_vec();
    let mut window = vec![0f32; width];
    for (i, out) in row.iter_mut().enumerate() {
        for (k, w) in window.iter_mut().enumerate() {
            *w = src[reflect(i as isize + k as isize - pad as isize)];
        }
        window.sort_by(f32::total_cmp);
        *out = window[pad];
    }
}

/// The cheapest monotonic path through the cost matrix `x` (`n` rows × `m` columns)
/// from its first cell to its last: (row, column) of each step (mlx-whisper's
/// `dtw_cpu` and `backtrace`, with their order of preference on ties).
pub(crate) fn dtw(x: &[f32], n: usize, m: usize) -> (Vec<i64>, Vec<i64>) {
    let w = m + 1;
    let mut cost = vec![f32::INFINITY; (n + 1) * w];
    let mut trace = vec![-1i8; (n + 1) * w];
    cost[0] = 0.0;
    for j in 1..=m {
        for i in 1..=n {
            let c0 = cost[(i - 1) * w + j - 1];
            let c1 = cost[(i - 1) * w + j];
            let c2 = cost[i * w + j - 1];
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            cost[i * w + j] = x[(i - 1) * m + j - 1] + c;
            trace[i * w + j] = t;
        }
    }
    trace[..w].iter_mut().for_each(|t| *t = 2);
    (0..=n).for_each(|i| trace[i * w] = 1);
    let (mut i, mut j) = (n, m);
    let (mut rows, mut columns) = (Vec::new(), Vec::new());
    while i > 0 || j > 0 {
        rows.push(i as i64 - 1);
        columns.push(j as i64 - 1);
        match trace[i * w + j] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    rows.reverse();
    columns.reverse();
    (rows, columns)
}

/// The tokens grouped into words, with each word's text (mlx-whisper's
/// `split_to_word_tokens`): at spaces and punctuation for most languages, at every
/// whole character for those written without spaces.
pub(crate) fn split_to_word_tokens(
    tok: &WhisperTokenizer,
    tokens: &[u32],
    language: &str,
) -> (Vec<String>, Vec<Vec<u32>>) {
    let (subwords, subword_tokens) = split_tokens_on_unicode(tok, tokens);
    if ["zh", "ja", "th", "lo", "my", "yue"].contains(&language) {
        return (subwords, subword_tokens);
    }
    let mut words: Vec<String> = Vec::new();
    let mut word_tokens: Vec<Vec<u32>> = Vec::new();
    for (subword, toks) in subwords.into_iter().zip(subword_tokens) {
        let special = toks[0] >= tok.eot;
        let with_space = subword.starts_with(' ');
        let punctuation = ASCII_PUNCTUATION.contains(subword.trim());
        if special || with_space || punctuation || words.is_empty() {
            words.push(subword);
            word_tokens.push(toks);
        } else {
            words.last_mut().unwrap().push_str(&subword);
            word_tokens.last_mut().unwrap().extend(toks);
        }
    }
    (words, word_tokens)
}

/// Splits wherever the tokens so far decode to whole characters.
fn split_tokens_on_unicode(tok: &WhisperTokenizer, tokens: &[u32]) -> (Vec<String>, Vec<Vec<u32>>) {
    const REPLACEMENT: char = '\u{FFFD}';
    let full: Vec<char> = tok.decode(tokens).chars().collect();
    let (mut words, mut word_tokens) = (Vec::new(), Vec::new());
    let mut current: Vec<u32> = Vec::new();
    let mut offset = 0;
    for &t in tokens {
        current.push(t);
        let decoded = tok.decode(&current);
        let whole = match decoded.chars().position(|c| c == REPLACEMENT) {
            None => true,
            Some(i) => full.get(offset + i) == Some(&REPLACEMENT),
        };
        if whole {
            offset += decoded.chars().count();
            words.push(decoded);
            word_tokens.push(std::mem::take(&mut current));
        }
    }
    (words, word_tokens)
}

/// Joins punctuation to the word after (`prepended`) or before (`appended`) it,
/// leaving an empty word in its place (mlx-whisper's `merge_punctuations`).
fn merge_punctuations(alignment: &mut [WordTiming], prepended: &str, appended: &str) {
    if alignment.len() >= 2 {
        let (mut i, mut j) = (alignment.len() as isize - 2, alignment.len() - 1);
        while i >= 0 {
            let iu = i as usize;
            let previous = &alignment[iu];
            if previous.word.starts_with(' ') && prepended.contains(previous.word.trim()) {
                let (word, tokens) = (
                    std::mem::take(&mut alignment[iu].word),
                    std::mem::take(&mut alignment[iu].tokens),
                );
                let following = &mut alignment[j];
                following.word = word + &following.word;
                following.tokens = [tokens, std::mem::take(&mut following.tokens)].concat();
            } else {
                j = iu;
            }
            i -= 1;
        }
    }
    let (mut i, mut j) = (0, 1);
    while j < alignment.len() {
        if !alignment[i].word.ends_with(' ') && appended.contains(alignment[j].word.as_str()) {
            let word = std::mem::take(&mut alignment[j].word);
            let tokens = std::mem::take(&mut alignment[j].tokens);
            alignment[i].word.push_str(&word);
            alignment[i].tokens.extend(tokens);
        } else {
            i = j;
        }
        j += 1;
    }
}

/// numpy's `median` (the mean of the middle two for an even count).
fn median(x: &mut [f64]) -> Option<f64> {
    if x.is_empty() {
        return None;
    }
    x.sort_by(f64::total_cmp);
    let n = x.len();
    Some(if n % 2 == 1 {
        x[n / 2]
    } else {
        (x[n / 2 - 1] + x[n / 2]) / 2.0
    })
}

/// Python's `round(x, 2)`.
fn round2(x: f64) -> f64 {
    format!("{x:.2}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(word: &str) -> WordTiming {
        WordTiming {
            word: word.into(),
            tokens: vec![0],
            start: 0.0,
            end: 0.0,
            probability: 1.0,
        }
    }

    #[test]
    fn median_filter_mirrors_the_ends_as_numpy_reflect() {
        // reflect-padded: [4, 0, 5, 1, 5, 0, 4, 9, 4, 0, 4, 9, 4]
        let mut row = [1.0, 5.0, 0.0, 4.0, 9.0, 4.0, 0.0];
        median_filter(&mut row, 7);
        // scipy.signal.medfilt of np.pad(row, 3, mode="reflect"), width 7, trimmed
        assert_eq!(row, [4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]);
        let mut short = [3.0, 1.0, 2.0];
        median_filter(&mut short, 7);
        assert_eq!(short, [3.0, 1.0, 2.0]);
        let mut ramp: Vec<f32> = (0..10).map(|i| i as f32).collect();
        median_filter(&mut ramp, 3);
        assert_eq!(ramp, [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 8.0]);
    }

    #[test]
    fn dtw_follows_the_cheap_diagonal_and_prefers_as_mlx_whisper_on_ties() {
        // Two tokens over four positions: the first token takes positions 0–1.
        let x = [0.0, 0.0, 5.0, 5.0, 5.0, 5.0, 0.0, 0.0];
        let (rows, cols) = dtw(&x, 2, 4);
        assert_eq!(rows, [0, 0, 1, 1]);
        assert_eq!(cols, [0, 1, 2, 3]);
        // All equal: a tie goes to the step along the audio, even over the diagonal.
        let (rows, cols) = dtw(&[0.0; 6], 2, 3);
        assert_eq!(rows, [0, 1, 1, 1]);
        assert_eq!(cols, [0, 0, 1, 2]);
    }

    #[test]
    fn punctuation_joins_its_neighbours() {
        let mut a: Vec<WordTiming> = [" \"", "Hello", ",", " world", "."]
            .iter()
            .map(|w| timing(w))
            .collect();
        merge_punctuations(&mut a, PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS);
        let words: Vec<&str> = a.iter().map(|t| t.word.as_str()).collect();
        assert_eq!(words, ["", " \"Hello,", "", " world.", ""]);
        assert_eq!(a[1].tokens.len(), 3);
    }

    #[test]
    fn rounding_and_median_as_python() {
        assert_eq!(round2(7.7399999), 7.74);
        assert_eq!(round2(0.1 + 0.2), 0.3);
        assert_eq!(median(&mut [0.3, 0.1, 0.2, 0.4]), Some(0.25));
        assert_eq!(median(&mut []), None);
    }
}
