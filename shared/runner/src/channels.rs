//! OpenAI's harmony format (gpt-oss): an assistant turn is a series of messages,
//! `<|channel|>analysis<|message|>…<|end|><|start|>assistant<|channel|>final<|message|>…`,
//! and only the `final` channel is the answer. [`Channels`] routes a generation's tokens:
//! text of the final channel to the answer, text of the other channels (the model's
//! reasoning, tool preambles) to the reasoning, headers and control tokens nowhere.
//!
//! Models without the format's control tokens, and generations that never open a
//! channel, pass through unchanged.

use tokenizers::Tokenizer;

use crate::detokenizer::StreamingDetokenizer;
use crate::error::Result;

/// The control tokens' ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HarmonyTokens {
    pub start: u32,
    pub channel: u32,
    pub message: u32,
    pub end: u32,
}

impl HarmonyTokens {
    /// The ids of `<|start|>`, `<|channel|>`, `<|message|>` and `<|end|>`, when the
    /// tokenizer has all four.
    pub fn of(tokenizer: &Tokenizer) -> Option<Self> {
        let id = |t: &str| tokenizer.token_to_id(t);
        Some(HarmonyTokens {
            start: id("<|start|>")?,
            channel: id("<|channel|>")?,
            message: id("<|message|>")?,
            end: id("<|end|>")?,
        })
    }
}

/// Where text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No channel opened yet: everything is the answer.
    Plain,
    /// A header (role, channel name, recipient) until `<|message|>`.
    Header,
    /// A message body: the answer when `final`, else reasoning.
    Body { answer: bool },
    /// Between `<|end|>` and the next `<|start|>`.
    Between,
}

/// A piece of generated text and where it belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    Answer(String),
    Reasoning(String),
}

/// Routes one generation's tokens; see the module docs.
pub struct Channels<'t> {
    tokenizer: &'t Tokenizer,
    tokens: Option<HarmonyTokens>,
    state: State,
    /// The current segment's text (body or plain).
    body: StreamingDetokenizer<'t>,
    header: Vec<u32>,
}

impl<'t> Channels<'t> {
    /// `tokens`: the format's control tokens when the model has them.
    pub fn new(tokenizer: &'t Tokenizer, tokens: Option<HarmonyTokens>) -> Self {
        Channels {
            tokenizer,
            tokens,
            state: State::Plain,
            body: StreamingDetokenizer::new(tokenizer),
            header: Vec::new(),
        }
    }

    /// Feeds one token; returns the text it completes, if any, and where it goes.
    pub fn push(&mut self, id: u32) -> Result<Option<Routed>> {
        let Some(t) = self.tokens else {
            return self.text(id);
        };
        let next = if id == t.channel || id == t.start {
            Some(State::Header)
        } else if id == t.message {
            Some(State::Body {
                answer: self.header_is_final()?,
            })
        } else if id == t.end {
            Some(State::Between)
        } else {
            None
        };
        match next {
            Some(state) => {
                let flushed = self.finish_segment()?;
                // The channel's name follows `<|channel|>`; the role before it is not kept.
                if id == t.start || id == t.channel {
                    self.header.clear();
                }
                self.state = state;
                Ok(flushed)
            }
            None => self.text(id),
        }
    }

    /// Whatever text is still held back, at the end of the generation.
    pub fn finish(&mut self) -> Result<Option<Routed>> {
        self.finish_segment()
    }

    fn text(&mut self, id: u32) -> Result<Option<Routed>> {
        match self.state {
            State::Header => {
                self.header.push(id);
                Ok(None)
            }
            State::Between => Ok(None),
            State::Plain | State::Body { .. } => {
                let text = self.body.push(id)?;
                Ok(self.route(text))
            }
        }
    }

    /// Ends the current body: its held-back text, routed.
    fn finish_segment(&mut self) -> Result<Option<Routed>> {
        let mut done = std::mem::replace(&mut self.body, StreamingDetokenizer::new(self.tokenizer));
        let text = done.finish()?;
        Ok(self.route(text))
    }

    fn route(&self, text: String) -> Option<Routed> {
        if text.is_empty() {
            return None;
        }
        match self.state {
            State::Plain | State::Body { answer: true } => Some(Routed::Answer(text)),
            State::Body { answer: false } => Some(Routed::Reasoning(text)),
            State::Header | State::Between => None,
        }
    }

    /// Whether the channel named since `<|channel|>` is `final` (a recipient or
    /// `<|constrain|>` may follow the name).
    fn header_is_final(&mut self) -> Result<bool> {
        let header = self
            .tokenizer
            .decode(&self.header, true)
            .map_err(|e| crate::error::RunnerError::Tokenizer(e.to_string()))?;
        self.header.clear();
        Ok(header.split_whitespace().next() == Some("final"))
    }
}
