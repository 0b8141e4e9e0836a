//! Whisper's tokenizer, as mlx-whisper's `tokenizer.py` builds it with tiktoken.
//!
//! mlx-community Whisper repos carry no tokenizer; mlx-whisper ships the two byte-level
//! BPE vocabularies (`gpt2.tiktoken` for English-only checkpoints, `multilingual.tiktoken`)
//! in its package. They are embedded here (`vocab/*.bpe`, written by
//! `scripts/whisper_vocab.py`: each token's bytes in rank order, after one length byte;
//! docs/decisions.md). After the ranked tokens come the special tokens in mlx-whisper's
//! order: `<|endoftext|>`, `<|startoftranscript|>`, one per language, `<|translate|>`,
//! `<|transcribe|>`, `<|startoflm|>`, `<|startofprev|>`, `<|nospeech|>`,
//! `<|notimestamps|>`, then 1501 timestamps `<|0.00|>` … `<|30.00|>`.

use std::collections::HashMap;

use crate::error::{Result, RunnerError};
use crate::whisper::languages::{ALIASES, LANGUAGES};

static GPT2: &[u8] = include_bytes!("vocab/gpt2.bpe");
static MULTILINGUAL: &[u8] = include_bytes!("vocab/multilingual.bpe");

/// tiktoken's pre-tokenizer pattern for both vocabularies.
const PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Task of a multilingual model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Transcribe,
    Translate,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Transcribe => "transcribe",
            Task::Translate => "translate",
        }
    }
}

/// The vocabulary and special tokens of one Whisper checkpoint.
pub struct WhisperTokenizer {
    tokens: Vec<&'static [u8]>,
    ranks: HashMap<&'static [u8], u32>,
    pattern: onig::Regex,
    multilingual: bool,
    num_languages: usize,
    pub eot: u32,
    pub sot: u32,
    pub translate: u32,
    pub transcribe: u32,
    pub sot_lm: u32,
    pub sot_prev: u32,
    pub no_speech: u32,
    pub no_timestamps: u32,
    pub timestamp_begin: u32,
}

impl std::fmt::Debug for WhisperTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperTokenizer")
            .field("multilingual", &self.multilingual)
            .field("num_languages", &self.num_languages)
            .finish_non_exhaustive()
    }
}

fn parse(blob: &'static [u8]) -> Vec<&'static [u8]> {
    let mut out = Vec::with_capacity(50_257);
    let mut i = 0;
    while i < blob.len() {
        let n = blob[i] as usize;
        out.push(&blob[i + 1..i + 1 + n]);
        i += 1 + n;
    }
    out
}

impl WhisperTokenizer {
    /// The tokenizer mlx-whisper's `get_tokenizer(multilingual, num_languages)` builds.
    pub fn new(multilingual: bool, num_languages: usize) -> Result<Self> {
        if num_languages > LANGUAGES.len() {
            return Err(RunnerError::Tokenizer(format!(
                "{num_languages} languages; Whisper knows {}",
                LANGUAGES.len()
            )));
        }
        let tokens = parse(if multilingual { MULTILINGUAL } else { GPT2 });
        let ranks = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .map(|(i, t)| (*t, i as u32))
            .collect();
        let pattern = onig::Regex::new(PATTERN)
            .map_err(|e| RunnerError::Tokenizer(format!("pre-tokenizer pattern: {e}")))?;
        let eot = tokens.len() as u32;
        let sot = eot + 1;
        let translate = sot + 1 + num_languages as u32;
        Ok(WhisperTokenizer {
            tokens,
            ranks,
            pattern,
            multilingual,
            num_languages,
            eot,
            sot,
            translate,
            transcribe: translate + 1,
            sot_lm: translate + 2,
            sot_prev: translate + 3,
            no_speech: translate + 4,
            no_timestamps: translate + 5,
            timestamp_begin: translate + 6,
        })
    }

    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// Size of the vocabulary including every special token.
    pub fn vocab_size(&self) -> usize {
        self.timestamp_begin as usize + 1501
    }

    /// Language codes with a token, in token order.
    pub fn languages(&self) -> &'static [(&'static str, &'static str)] {
        &LANGUAGES[..self.num_languages]
    }

    /// The token of language `code`.
    pub fn language_token(&self, code: &str) -> Option<u32> {
        self.languages()
            .iter()
            .position(|(c, _)| *c == code)
            .map(|i| self.sot + 1 + i as u32)
    }

    /// The language code of a language token.
    pub fn language_of(&self, token: u32) -> Option<&'static str> {
        let i = token.checked_sub(self.sot + 1)? as usize;
        self.languages().get(i).map(|(c, _)| *c)
    }

    /// Every language token, in order.
    pub fn language_tokens(&self) -> std::ops::Range<u32> {
        self.sot + 1..self.sot + 1 + self.num_languages as u32
    }

    /// The start of a transcript: `<|startoftranscript|>`, then for multilingual models
    /// the language and the task.
    pub fn sot_sequence(&self, language: Option<&str>, task: Task) -> Vec<u32> {
        let mut seq = vec![self.sot];
        if self.multilingual {
            let lang = language
                .and_then(|l| self.language_token(l))
                .unwrap_or(self.sot + 1);
            seq.push(lang);
            seq.push(match task {
                Task::Transcribe => self.transcribe,
                Task::Translate => self.translate,
            });
        }
        seq
    }

    /// Text to tokens (no special tokens), as tiktoken's `encode`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for (start, end) in self.pattern.find_iter(text) {
            let piece = &text.as_bytes()[start..end];
            match self.ranks.get(piece) {
                Some(&id) => out.push(id),
                None => self.bpe(piece, &mut out),
            }
        }
        out
    }

    /// tiktoken's byte-pair merge: repeatedly join the adjacent pair of lowest rank.
    fn bpe(&self, piece: &[u8], out: &mut Vec<u32>) {
        let mut bounds: Vec<usize> = (0..=piece.len()).collect();
        loop {
            let best = (0..bounds.len().saturating_sub(2))
                .filter_map(|i| {
                    self.ranks
                        .get(&piece[bounds[i]..bounds[i + 2]])
                        .map(|&r| (r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            bounds.remove(i + 1);
        }
        for w in bounds.windows(2) {
            let part = &piece[w[0]..w[1]];
            // Every single byte is a token of both vocabularies.
            if let Some(&id) = self.ranks.get(part) {
                out.push(id);
            }
        }
    }

    /// Text of the tokens below the timestamps (mlx-whisper's `decode`); invalid UTF-8
    /// becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids.iter().filter(|&&id| id < self.timestamp_begin) {
            match self.tokens.get(id as usize) {
                Some(t) => bytes.extend_from_slice(t),
                None => bytes.extend_from_slice(self.special_text(id).as_bytes()),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The text of a special token (`<|en|>`, `<|0.20|>`, …).
    pub fn special_text(&self, id: u32) -> String {
        if id >= self.timestamp_begin {
            return format!("<|{:.2}|>", (id - self.timestamp_begin) as f64 * 0.02);
        }
        if let Some(code) = self.language_of(id) {
            return format!("<|{code}|>");
        }
        let name = match id {
            _ if id == self.eot => "endoftext",
            _ if id == self.sot => "startoftranscript",
            _ if id == self.translate => "translate",
            _ if id == self.transcribe => "transcribe",
            _ if id == self.sot_lm => "startoflm",
            _ if id == self.sot_prev => "startofprev",
            _ if id == self.no_speech => "nospeech",
            _ if id == self.no_timestamps => "notimestamps",
            _ => return String::new(),
        };
        format!("<|{name}|>")
    }

    /// mlx-whisper's `non_speech_tokens`: symbols and speaker-tag punctuation that are
    /// never spoken (suppressed while decoding).
    pub fn non_speech_tokens(&self) -> Vec<u32> {
        let mut symbols: Vec<String> = "\"#()*+/:;<=>@[\\]^_`{|}~「」『』"
            .chars()
            .map(String::from)
            .collect();
        symbols.extend(
            "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪"
                .split(' ')
                .map(String::from),
        );
        let miscellaneous = ["♩", "♪", "♫", "♬", "♭", "♮", "♯"];
        let mut result = std::collections::BTreeSet::new();
        result.insert(self.encode(" -")[0]);
        result.insert(self.encode(" '")[0]);
        let all = symbols
            .iter()
            .map(|s| (s.as_str(), false))
            .chain(miscellaneous.iter().map(|s| (*s, true)));
        for (symbol, misc) in all {
            for tokens in [self.encode(symbol), self.encode(&format!(" {symbol}"))] {
                if tokens.len() == 1 || misc {
                    result.insert(tokens[0]);
                }
            }
        }
        result.into_iter().collect()
    }
}

/// A language code from a code or a name (`de`, `German`, `castilian`), as
/// mlx-whisper's `get_tokenizer` accepts it.
pub fn language_code(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    LANGUAGES
        .iter()
        .find(|(code, english)| *code == lower || *english == lower)
        .map(|(code, _)| *code)
        .or_else(|| {
            ALIASES
                .iter()
                .find(|(alias, _)| *alias == lower)
                .map(|(_, code)| *code)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_special_tokens_are_where_mlx_whisper_puts_them() {
        let t = WhisperTokenizer::new(false, 99).unwrap();
        assert_eq!(t.eot, 50256);
        assert_eq!(t.sot, 50257);
        assert_eq!(t.no_timestamps, 50362);
        assert_eq!(t.timestamp_begin, 50363);
        assert_eq!(t.vocab_size(), 51864);
        assert_eq!(t.sot_sequence(None, Task::Transcribe), vec![50257]);
        // jfk.wav's first segment, as mlx-whisper decodes it with tiny.en.
        let ids = [843, 523, 616, 5891, 3399, 1265, 407, 644, 534, 1499];
        assert_eq!(
            t.decode(&ids),
            " And so my fellow Americans ask not what your country"
        );
        assert_eq!(
            t.encode(" And so my fellow Americans ask not what your country"),
            ids
        );
        assert_eq!(t.encode(" "), vec![220]);
    }

    #[test]
    fn multilingual_special_tokens() {
        let t = WhisperTokenizer::new(true, 99).unwrap();
        assert_eq!(t.eot, 50257);
        assert_eq!(t.sot, 50258);
        assert_eq!(t.language_token("en"), Some(50259));
        assert_eq!(t.language_token("de"), Some(50261));
        assert_eq!(t.translate, 50358);
        assert_eq!(t.transcribe, 50359);
        assert_eq!(t.no_timestamps, 50363);
        assert_eq!(t.timestamp_begin, 50364);
        assert_eq!(t.vocab_size(), 51865);
        assert_eq!(
            t.sot_sequence(Some("de"), Task::Translate),
            vec![50258, 50261, 50358]
        );
        assert_eq!(t.special_text(50364 + 50), "<|1.00|>");
    }

    #[test]
    fn language_names_and_aliases() {
        assert_eq!(language_code("German"), Some("de"));
        assert_eq!(language_code("de"), Some("de"));
        assert_eq!(language_code("castilian"), Some("es"));
        assert_eq!(language_code("klingon"), None);
    }
}
