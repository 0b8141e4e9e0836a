//! [`Runner`]: a loaded model with its tokenizer, chat template and stop tokens.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mlxk_core::ndjson::{ChatMessage, Request};
use tokenizers::Tokenizer;

use crate::arch;
use crate::channels::{Channels, HarmonyTokens, Routed};
use crate::config::{read_json, ModelConfig};
use crate::error::{Result, RunnerError};
use crate::folder::TextAssets;
use crate::generate::{self, GenerationStats, Limits, Prompt, TokenGenerator};
use crate::kernel::Threads;
use crate::layers::DecoderModel;
use crate::linear::Parallelism;
use crate::memory::{self, MemoryVerdict};
use crate::sampler::SamplingParams;
use crate::template::{ChatTemplate, RenderOptions, SpecialTokens};
use crate::weights::{self, Weights};

/// Context length assumed when neither `config.json` nor `tokenizer_config.json` says.
pub const FALLBACK_CONTEXT_LENGTH: usize = 4096;
/// Tokens the memory gate sizes the KV cache for when the caller does not say.
pub const DEFAULT_GATE_TOKENS: usize = 4096;

/// How to load a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Refuse to load when the memory gate says the model will not fit.
    pub check_memory: bool,
    /// Context tokens (prompt + generation) to size the gate's KV cache for; default
    /// `min(context_length, DEFAULT_GATE_TOKENS)`.
    pub gate_tokens: Option<usize>,
    /// Upcast float16/bfloat16 tensors to float32; default: everywhere but macOS.
    pub upcast: bool,
    /// Override of the model's context length.
    pub context_length: Option<usize>,
    /// Threads for the CPU backend's quantized products (see [`crate::kernel`]).
    /// Default: `MLXK_THREADS`, else every available core.
    pub threads: usize,
    /// Run quantized products with few input rows (decoding) on this crate's Rust
    /// kernel on the CPU backend; `false` keeps MLX's `quantized_matmul`. Default:
    /// true unless `MLXK_CPU_KERNEL=mlx`. Metal always uses MLX's kernels.
    pub cpu_kernel: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            check_memory: true,
            gate_tokens: None,
            upcast: weights::DEFAULT_UPCAST,
            context_length: None,
            threads: Threads::default_count(),
            cpu_kernel: std::env::var("MLXK_CPU_KERNEL").map_or(true, |v| v != "mlx"),
        }
    }
}

/// A loaded model, ready to render prompts and generate.
pub struct Runner {
    dir: PathBuf,
    config: ModelConfig,
    model: DecoderModel,
    tokenizer: Tokenizer,
    special: SpecialTokens,
    template: Option<ChatTemplate>,
    stop_tokens: HashSet<u32>,
    context_length: usize,
    has_thinking: bool,
    memory: MemoryVerdict,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("dir", &self.dir)
            .field("model_type", &self.config.model_type)
            .field("context_length", &self.context_length)
            .finish_non_exhaustive()
    }
}

/// One step of a streamed generation.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A generated token and the answer text it completes (may be empty while a
    /// multi-byte character or a word is incomplete, and for a harmony model's control
    /// tokens, headers and reasoning).
    Token { id: u32, text: String },
    /// Text of a harmony model's reasoning (gpt-oss's `analysis` channel, tool
    /// preambles): not part of the answer ([`crate::channels`]).
    Reasoning { text: String },
    /// Generation ended: `text` is whatever was still held back.
    Done {
        text: String,
        stats: GenerationStats,
    },
}

impl Runner {
    /// Checks memory, then loads the model in `dir` (config, weights, tokenizer,
    /// chat template, stop tokens).
    pub fn load(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let config = ModelConfig::load(&dir)?;
        if !arch::is_supported(&config.model_type) {
            return Err(arch::unsupported(&config.model_type));
        }
        let assets = TextAssets::load(&dir)?;
        let context_length = assets.context_length(options, config.max_position_embeddings);

        let gate_tokens = options
            .gate_tokens
            .unwrap_or(DEFAULT_GATE_TOKENS)
            .min(context_length);
        let estimate = memory::estimate(&dir, &config, gate_tokens, options.upcast)?;
        let verdict = memory::gate(estimate, options.check_memory)?;

        let mut weights = Weights::load(&dir, options.upcast)?;
        let model = arch::build(
            &config,
            &mut weights,
            &Parallelism::cpu(options.threads, options.cpu_kernel),
        )?;
        drop(weights);

        let stop_tokens = assets.stop_tokens(&dir, &config.eos_token_id)?;
        let TextAssets {
            tokenizer,
            special,
            template,
            ..
        } = assets;
        let vocab = tokenizer.get_vocab(true);
        let has_thinking = vocab.contains_key("<think>") && vocab.contains_key("</think>");
        Ok(Runner {
            dir,
            config,
            model,
            tokenizer,
            special,
            template,
            stop_tokens,
            context_length,
            has_thinking,
            memory: verdict,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// `config.json`'s `model_type`.
    pub fn architecture(&self) -> &str {
        &self.config.model_type
    }

    /// Positions the model can attend over (prompt + generation).
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    pub fn stop_tokens(&self) -> &HashSet<u32> {
        &self.stop_tokens
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.template.as_ref()
    }

    /// Whether generation decodes in Rust on the CPU ([`crate::cpu_decode`]) rather
    /// than on MLX's graph.
    pub fn decodes_on_cpu(&self) -> bool {
        self.decode_step().is_ok()
    }

    /// Which decode step generation uses: `Ok` for the CPU step in Rust, else why the
    /// model decodes on MLX's graph instead (`--verbose` says it).
    pub fn decode_step(&self) -> std::result::Result<(), String> {
        crate::cpu_decode::CpuDecoder::new(&self.model).map(|_| ())
    }

    /// What the memory gate decided at load.
    pub fn memory_verdict(&self) -> &MemoryVerdict {
        &self.memory
    }

    /// Text → ids.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, add_special_tokens)
            .map_err(|e| RunnerError::Tokenizer(e.to_string()))?
            .get_ids()
            .to_vec())
    }

    /// Ids → text (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| RunnerError::Tokenizer(e.to_string()))
    }

    /// The chat template applied to `messages` (after `system`, when given and the
    /// messages do not start with one), ending with the assistant's turn header.
    pub fn render_chat(&self, messages: &[ChatMessage], system: Option<&str>) -> Result<String> {
        let template = self.template.as_ref().ok_or(RunnerError::NoChatTemplate)?;
        let mut all = Vec::with_capacity(messages.len() + 1);
        if let Some(system) = system {
            if messages.first().map(|m| m.role.as_str()) != Some("system") {
                all.push(ChatMessage {
                    role: "system".into(),
                    content: system.into(),
                });
            }
        }
        all.extend_from_slice(messages);
        let mut options = RenderOptions {
            add_generation_prompt: true,
            ..RenderOptions::default()
        };
        // As mlx-lm: thinking models get `enable_thinking` set to true.
        options
            .extra
            .insert("enable_thinking".into(), self.has_thinking.into());
        template.render(&all, &options)
    }

    /// Raw text → ids as mlx-lm encodes a plain prompt: special tokens (BOS) added
    /// unless the text already starts with the BOS token.
    pub fn encode_raw(&self, text: &str) -> Result<Vec<u32>> {
        let add = match &self.special.bos_token {
            Some(bos) => !text.starts_with(bos.as_str()),
            None => true,
        };
        self.encode(text, add)
    }

    /// The prompt ids for a request: through the chat template unless `raw` is set or
    /// the model has none (then a `prompt` is encoded as is; `messages` are joined by
    /// newlines in raw mode and refused without a template).
    pub fn render(&self, request: &Request) -> Result<Vec<u32>> {
        let raw = request.raw.unwrap_or(false);
        let ids = match (&request.messages, &request.prompt) {
            (Some(messages), _) if !raw => {
                let text = self.render_chat(messages, request.system.as_deref())?;
                self.encode(&text, false)?
            }
            (Some(messages), _) => {
                let text: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
                self.encode_raw(&text.join("\n"))?
            }
            (None, Some(prompt)) if raw || self.template.is_none() => self.encode_raw(prompt)?,
            (None, Some(prompt)) => {
                let user = ChatMessage {
                    role: "user".into(),
                    content: prompt.clone(),
                };
                let text = self.render_chat(&[user], request.system.as_deref())?;
                self.encode(&text, false)?
            }
            (None, None) => return Err(RunnerError::NoPrompt),
        };
        if ids.is_empty() {
            return Err(RunnerError::EmptyPrompt);
        }
        if ids.len() >= self.context_length {
            return Err(RunnerError::PromptTooLong {
                prompt_tokens: ids.len(),
                context_length: self.context_length,
            });
        }
        Ok(ids)
    }

    /// Token ids only: see [`TokenGenerator`].
    pub fn generate_tokens(
        &self,
        prompt: &[u32],
        params: &SamplingParams,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<TokenGenerator<'_>> {
        let limits = Limits {
            stop: &self.stop_tokens,
            context_length: self.context_length,
        };
        TokenGenerator::new(&self.model, Prompt::ids(prompt), params, limits, interrupt)
    }

    /// Streams a generation as text events; the last event is [`Event::Done`].
    pub fn generate(
        &self,
        prompt: &[u32],
        params: &SamplingParams,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<Generation<'_>> {
        Ok(Generation::new(
            self.generate_tokens(prompt, params, interrupt)?,
            &self.tokenizer,
        ))
    }

    /// Runs a whole generation, calling `on_text` with each new piece of text; returns
    /// the full text and the statistics.
    pub fn generate_text(
        &self,
        prompt: &[u32],
        params: &SamplingParams,
        interrupt: Option<Arc<AtomicBool>>,
        mut on_text: impl FnMut(&str),
    ) -> Result<(String, GenerationStats)> {
        let mut text = String::new();
        for event in self.generate(prompt, params, interrupt)? {
            let (piece, stats) = match event? {
                Event::Token { text, .. } => (text, None),
                Event::Reasoning { .. } => continue,
                Event::Done { text, stats } => (text, Some(stats)),
            };
            if !piece.is_empty() {
                on_text(&piece);
                text.push_str(&piece);
            }
            if let Some(stats) = stats {
                return Ok((text, stats));
            }
        }
        unreachable!("a generation always ends with Event::Done")
    }

    /// Logits at the last prompt position, as generation computes them.
    pub fn prompt_logits(&self, prompt: &[u32]) -> Result<Vec<f32>> {
        generate::prompt_logits(&self.model, &Prompt::ids(prompt))
    }
}

/// Every id that ends generation: `config.json`'s `eos_token_id` (`eos`) and
/// `generation_config.json`'s, the tokenizer's EOS token, and the special tokens the
/// chat template writes at the end of an assistant turn.
pub(crate) fn collect_stop_tokens(
    dir: &Path,
    eos: &crate::config::TokenIds,
    tokenizer: &Tokenizer,
    special: &SpecialTokens,
    template: Option<&ChatTemplate>,
) -> Result<HashSet<u32>> {
    let mut stop: HashSet<u32> = eos.0.iter().copied().collect();
    if let Some(gen) = read_json(&dir.join("generation_config.json"))? {
        if let Some(ids) = gen.get("eos_token_id") {
            let ids: crate::config::TokenIds =
                serde_json::from_value(ids.clone()).unwrap_or_default();
            stop.extend(ids.0);
        }
    }
    if let Some(id) = special
        .eos_token
        .as_deref()
        .and_then(|t| tokenizer.token_to_id(t))
    {
        stop.insert(id);
    }
    if let Some(end) = template.and_then(|t| t.turn_end_text()) {
        let specials: HashSet<u32> = tokenizer
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        let ids = tokenizer
            .encode(end.as_str(), false)
            .map_err(|e| RunnerError::Tokenizer(e.to_string()))?
            .get_ids()
            .to_vec();
        stop.extend(ids.into_iter().filter(|id| specials.contains(id)));
    }
    Ok(stop)
}

/// A streamed generation: an [`Event::Token`] per token (then an [`Event::Reasoning`]
/// when a harmony model's reasoning text completes), then one [`Event::Done`].
pub struct Generation<'r> {
    tokens: TokenGenerator<'r>,
    channels: Channels<'r>,
    /// Events to deliver before the next token.
    queue: VecDeque<Event>,
    done: bool,
}

impl<'r> Generation<'r> {
    /// Streams the text of `tokens`, routed by the harmony format when the tokenizer has
    /// its control tokens.
    pub(crate) fn new(tokens: TokenGenerator<'r>, tokenizer: &'r Tokenizer) -> Self {
        Generation {
            tokens,
            channels: Channels::new(tokenizer, HarmonyTokens::of(tokenizer)),
            queue: VecDeque::new(),
            done: false,
        }
    }

    /// The answer part of `routed`; its reasoning part is queued.
    fn answer(&mut self, routed: Option<Routed>) -> String {
        match routed {
            Some(Routed::Answer(text)) => text,
            Some(Routed::Reasoning(text)) => {
                self.queue.push_back(Event::Reasoning { text });
                String::new()
            }
            None => String::new(),
        }
    }
}

impl Iterator for Generation<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(event) = self.queue.pop_front() {
            return Some(Ok(event));
        }
        if self.done {
            return None;
        }
        let routed = match self.tokens.next() {
            Some(Ok(id)) => self.channels.push(id).map(|r| (Some(id), r)),
            Some(Err(e)) => Err(e),
            None => self.channels.finish().map(|r| (None, r)),
        };
        let (id, routed) = match routed {
            Ok(r) => r,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let text = self.answer(routed);
        let event = match id {
            Some(id) => Event::Token { id, text },
            None => {
                self.done = true;
                Event::Done {
                    text,
                    stats: self.tokens.stats(),
                }
            }
        };
        // A token's event comes before the reasoning it completed; Done comes last.
        match (&event, self.queue.pop_front()) {
            (Event::Done { .. }, Some(reasoning)) => {
                self.queue.push_back(event);
                Some(Ok(reasoning))
            }
            (_, Some(reasoning)) => {
                self.queue.push_front(reasoning);
                Some(Ok(event))
            }
            (_, None) => Some(Ok(event)),
        }
    }
}
