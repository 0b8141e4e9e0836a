//! Streaming detokenization: feed token ids one at a time, get back only the new text.
//!
//! Decoding tokens one by one breaks multi-byte characters (a byte-level BPE token may
//! hold half of an emoji) and loses the spaces SentencePiece-style decoders add in
//! context. So the detokenizer decodes a short window — the tokens since the last
//! emission plus the ones before it as context — and emits the difference, holding text
//! back while it ends in U+FFFD (an incomplete UTF-8 sequence).

use tokenizers::Tokenizer;

use crate::error::{Result, RunnerError};

/// Incremental decoder over one generation.
pub struct StreamingDetokenizer<'t> {
    tokenizer: &'t Tokenizer,
    tokens: Vec<u32>,
    /// Start of the context window.
    prefix_offset: usize,
    /// Tokens before this index have been emitted.
    read_offset: usize,
    /// All text emitted so far.
    text: String,
}

impl<'t> StreamingDetokenizer<'t> {
    pub fn new(tokenizer: &'t Tokenizer) -> Self {
        StreamingDetokenizer {
            tokenizer,
            tokens: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
            text: String::new(),
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| RunnerError::Tokenizer(e.to_string()))
    }

    /// Adds a token; returns the text it completes (possibly empty).
    pub fn push(&mut self, token: u32) -> Result<String> {
        self.tokens.push(token);
        let prefix = self.decode(&self.tokens[self.prefix_offset..self.read_offset])?;
        let full = self.decode(&self.tokens[self.prefix_offset..])?;
        if full.ends_with('\u{FFFD}')
            || full.len() <= prefix.len()
            || !full.is_char_boundary(prefix.len())
            || !full.starts_with(&prefix)
        {
            return Ok(String::new());
        }
        let delta = full[prefix.len()..].to_string();
        self.prefix_offset = self.read_offset;
        self.read_offset = self.tokens.len();
        self.text.push_str(&delta);
        Ok(delta)
    }

    /// Text still held back (an incomplete character at the very end); call once when
    /// generation ends. Whatever bytes remain are decoded lossily.
    pub fn finish(&mut self) -> Result<String> {
        if self.read_offset == self.tokens.len() {
            return Ok(String::new());
        }
        let prefix = self.decode(&self.tokens[self.prefix_offset..self.read_offset])?;
        let full = self.decode(&self.tokens[self.prefix_offset..])?;
        let delta = match full.strip_prefix(&prefix) {
            Some(rest) => rest.to_string(),
            None => full.chars().skip(prefix.chars().count()).collect(),
        };
        self.prefix_offset = self.read_offset;
        self.read_offset = self.tokens.len();
        self.text.push_str(&delta);
        Ok(delta)
    }

    /// Everything emitted so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Token ids pushed so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}
