//! What a text or vision model folder holds besides its weights and its family's config,
//! read one way for both: `tokenizer.json`, `tokenizer_config.json` (special tokens,
//! `model_max_length`), the chat template, and from them the context length and the stop
//! tokens. Whisper's folders carry none of these (its tokenizer is built in); all three
//! kinds take the same [`crate::LoadOptions`] and pass the same memory gate.

use std::collections::HashSet;
use std::path::Path;

use tokenizers::Tokenizer;

use crate::config::{read_json, TokenIds};
use crate::error::{Result, RunnerError};
use crate::runner::{collect_stop_tokens, LoadOptions, FALLBACK_CONTEXT_LENGTH};
use crate::template::{ChatTemplate, SpecialTokens};

/// A folder's tokenizer, special tokens and chat template.
pub struct TextAssets {
    pub tokenizer: Tokenizer,
    pub special: SpecialTokens,
    pub template: Option<ChatTemplate>,
    /// `tokenizer_config.json`'s `model_max_length`, when it is a real length.
    pub model_max_length: Option<usize>,
}

impl TextAssets {
    /// Reads the tokenizer, `tokenizer_config.json` and the chat template of `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let tokenizer_config = read_json(&dir.join("tokenizer_config.json"))?;
        let path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&path)
            .map_err(|e| RunnerError::Tokenizer(format!("{}: {e}", path.display())))?;
        let special = tokenizer_config
            .as_ref()
            .map(SpecialTokens::from_tokenizer_config)
            .unwrap_or_default();
        let model_max_length = tokenizer_config
            .as_ref()
            .and_then(|c| c.get("model_max_length")?.as_f64())
            .filter(|n| (1.0..1e8).contains(n))
            .map(|n| n as usize);
        Ok(TextAssets {
            tokenizer,
            special,
            template: ChatTemplate::load(dir)?,
            model_max_length,
        })
    }

    /// Positions the model attends over: the caller's override, else the config's
    /// `max_position_embeddings`, else `model_max_length`, else
    /// [`FALLBACK_CONTEXT_LENGTH`].
    pub fn context_length(&self, options: &LoadOptions, config_max: Option<usize>) -> usize {
        options
            .context_length
            .or(config_max)
            .or(self.model_max_length)
            .unwrap_or(FALLBACK_CONTEXT_LENGTH)
    }

    /// Every id that ends generation: `eos` (the configs' `eos_token_id`s), the
    /// folder's `generation_config.json`, the tokenizer's EOS token and the template's
    /// end-of-turn token.
    pub fn stop_tokens(&self, dir: &Path, eos: &TokenIds) -> Result<HashSet<u32>> {
        collect_stop_tokens(
            dir,
            eos,
            &self.tokenizer,
            &self.special,
            self.template.as_ref(),
        )
    }
}
