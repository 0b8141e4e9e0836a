//! Generation as an iterator of token ids.
//!
//! The prompt is prefilled in chunks of [`PREFILL_STEP`] tokens (all but the last
//! token, without computing logits), then the last prompt token yields the first
//! logits. Decoding is pipelined like mlx-lm's `generate_step`: the graph for token
//! n+1 is built and evaluated asynchronously before token n is read back, so the only
//! host synchronisation per token is reading the sampled id.
//!
//! Generation stops at a stop token (not yielded), after `max_tokens` (0: at once,
//! without running the model), when the context window is full, or when the interrupt
//! flag is raised (between prefill chunks and between tokens).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlx_rs::ops::indexing::IndexOp;
use mlx_rs::transforms::{async_eval, eval};
use mlx_rs::Array;
use mlxk_core::ndjson::FinishReason;

use crate::cpu_decode::{CpuDecoder, CpuKvCache};
use crate::error::{Result, RunnerError};
use crate::image_context::ImageContext;
use crate::kv_cache::{KvCache, StepKvCache};
use crate::layers::{DecoderModel, ForwardInput};
use crate::memory::{process_peak_memory, PREFILL_STEP};
use crate::rope::MropePositions;
use crate::sampler::{Sampler, SamplingParams};

/// Counts and speeds of one generation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    /// Tokens the model produced, the stop token included.
    pub generated_tokens: usize,
    /// Prompt tokens per second, up to the first generated token.
    pub prompt_tps: f64,
    /// Generated tokens per second after the first one.
    pub generation_tps: f64,
    /// Peak resident memory of the process (Linux `VmHWM`), else MLX's peak.
    pub peak_memory_bytes: u64,
    pub finish_reason: FinishReason,
}

/// Yields generated token ids; see the module docs. [`TokenGenerator::stats`] is
/// complete once the iterator has returned `None`.
pub struct TokenGenerator<'m> {
    model: &'m DecoderModel,
    caches: Vec<StepKvCache>,
    /// Decode steps in Rust on the CPU (see [`crate::cpu_decode`]), with the cache
    /// they fill once the prefill's is imported.
    cpu: Option<(CpuDecoder<'m>, Option<Vec<CpuKvCache>>)>,
    sampler: Sampler,
    stop: &'m HashSet<u32>,
    interrupt: Option<Arc<AtomicBool>>,
    max_tokens: usize,
    context_length: usize,
    prompt: Option<Vec<u32>>,
    /// Input embeddings of the prompt (`[1, L, hidden]`), when the model is fed
    /// embeddings instead of ids (vision models: image features merged in).
    embeds: Option<Array>,
    /// Explicit multimodal rope positions of the prompt, and the decode shift.
    positions: Option<MropePositions>,
    /// What the prompt's images give the decoder besides its embeddings.
    image: Option<ImageContext>,
    /// The logits of every step so far, when asked for ([`TokenGenerator::keep_logits`]).
    kept_logits: Option<Vec<Array>>,
    prompt_tokens: usize,
    pending: Option<Array>,
    generated: usize,
    start: Instant,
    first_token_at: Option<Instant>,
    last_token_at: Option<Instant>,
    finish: Option<FinishReason>,
}

impl Drop for TokenGenerator<'_> {
    /// Waits for the token still being computed, if any. MLX's CPU streams run
    /// on their own threads; a generation that is dropped mid-flight (a stop
    /// token, Ctrl-C, a closed pipe) must not leave work running while the
    /// process exits and MLX's globals are torn down.
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            let _ = eval([&pending]);
        }
    }
}

impl<'m> TokenGenerator<'m> {
    /// Prepares a generation; nothing runs until the first `next()`.
    pub fn new(
        model: &'m DecoderModel,
        prompt: Prompt<'_>,
        params: &SamplingParams,
        limits: Limits<'m>,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<Self> {
        prompt.check(limits.context_length)?;
        let mut sampler = Sampler::new(params)?;
        sampler.observe_ids(prompt.ids);
        let caches = (0..model.cache_count())
            .map(|_| StepKvCache::new())
            .collect();
        Ok(TokenGenerator {
            model,
            caches,
            cpu: CpuDecoder::new(model).ok().map(|d| (d, None)),
            sampler,
            stop: limits.stop,
            interrupt,
            max_tokens: params.max_tokens,
            context_length: limits.context_length,
            prompt: Some(prompt.ids.to_vec()),
            prompt_tokens: prompt.ids.len(),
            embeds: prompt.embeddings,
            positions: prompt.positions,
            image: prompt.image,
            kept_logits: None,
            pending: None,
            generated: 0,
            start: Instant::now(),
            first_token_at: None,
            last_token_at: None,
            finish: None,
        })
    }

    /// Keeps the logits each token is sampled from (for comparisons with a reference;
    /// they stay in memory until the generator is dropped).
    pub fn keep_logits(mut self) -> Self {
        self.kept_logits = Some(Vec::new());
        self
    }

    /// The logits (float32, `[vocab]`) each token so far was sampled from, the step
    /// after the last yielded token included; empty unless [`TokenGenerator::keep_logits`].
    pub fn kept_logits(&self) -> Result<Vec<Vec<f32>>> {
        let Some(kept) = &self.kept_logits else {
            return Ok(Vec::new());
        };
        kept.iter()
            .map(|l| {
                let l = l.as_dtype(mlx_rs::Dtype::Float32)?;
                l.eval()?;
                Ok(l.as_slice::<f32>().to_vec())
            })
            .collect()
    }

    /// Feeds `input` and returns the sampled next token (lazy `[1]` array).
    fn step(&mut self, input: ForwardInput<'_>) -> Result<Array> {
        let input = input.with_image(self.image.as_ref());
        let hidden = self.model.forward(input, &mut self.caches)?;
        let logits = self.model.last_logits(&hidden)?;
        if let Some(kept) = &mut self.kept_logits {
            kept.push(logits.clone());
        }
        let token = self.sampler.sample(&logits)?;
        self.sampler.observe(&token);
        Ok(token)
    }

    /// Runs the prompt through the model; leaves the first token pending.
    fn prefill(&mut self, prompt: Vec<u32>) -> Result<()> {
        self.start = Instant::now();
        let embeds = self.embeds.take();
        let interrupt = self.interrupt.clone();
        let interrupted = || {
            interrupt
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed))
        };
        let input = PrefillInput {
            ids: &prompt,
            embeds: embeds.as_ref(),
            positions: self.positions.as_ref().map(|p| &p.ids),
            image: self.image.as_ref(),
        };
        let Some((last, last_positions)) =
            prefill_body(self.model, input, &mut self.caches, true, &interrupted)?
        else {
            return Ok(());
        };
        if self.interrupted() {
            return Ok(());
        }
        let token = self.step(last.as_input().at(last_positions.as_ref()))?;
        async_eval([&token])?;
        self.pending = Some(token);
        Ok(())
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    fn offset(&self) -> usize {
        match &self.cpu {
            Some((_, Some(caches))) => caches.first().map_or(0, |c| c.len()),
            _ => self.caches.first().map_or(0, |c| c.offset()),
        }
    }

    /// Runs a decode step for `token` in Rust and returns the sampled next token
    /// (lazy), importing the prefill's cache on the first call.
    fn cpu_step(&mut self, token: u32) -> Result<Option<Array>> {
        let Some((decoder, caches)) = &mut self.cpu else {
            return Ok(None);
        };
        if caches.is_none() {
            let state: Vec<&Array> = self.caches.iter().flat_map(|c| c.state()).collect();
            eval(state)?;
            *caches = Some(decoder.import(&self.caches)?);
            self.caches.clear();
        }
        let caches = caches.as_mut().expect("imported above");
        let shift = self.positions.as_ref().map_or(0, |p| p.delta);
        let logits = decoder.step(token, caches, shift)?;
        let logits = Array::from_slice(&logits, &[1, logits.len() as i32]);
        if let Some(kept) = &mut self.kept_logits {
            kept.push(logits.clone());
        }
        let next = self.sampler.sample(&logits)?;
        self.sampler.observe(&next);
        async_eval([&next])?;
        Ok(Some(next))
    }

    fn advance(&mut self) -> Result<Option<u32>> {
        if self.max_tokens == 0 {
            // Nothing asked for: no prefill, no token (mlx-lm would still make one).
            self.prompt = None;
            self.finish = Some(FinishReason::Length);
            return Ok(None);
        }
        if let Some(prompt) = self.prompt.take() {
            self.prefill(prompt)?;
        }
        if self.interrupted() {
            self.finish = Some(FinishReason::Interrupted);
            return Ok(None);
        }
        let Some(current) = self.pending.take() else {
            self.finish = Some(if self.generated >= self.max_tokens {
                FinishReason::Length
            } else {
                FinishReason::Context
            });
            return Ok(None);
        };
        let more = self.generated + 1 < self.max_tokens && self.offset() < self.context_length;
        let token: u32 = if self.cpu.is_some() {
            // The Rust step needs the token's value: read it, then compute the next.
            let token = current.item_exact();
            if more {
                self.pending = self.cpu_step(token)?;
            }
            token
        } else {
            // Schedule the next token before waiting for this one.
            if more {
                let ids = current.reshape(&[1, 1])?;
                let offset = self.offset();
                let positions = self.positions.as_ref().map(|p| p.decode_at(offset));
                let next = self.step(ForwardInput::ids(&ids).at(positions.as_ref()))?;
                async_eval([&next])?;
                self.pending = Some(next);
            }
            current.item_exact()
        };
        let now = Instant::now();
        self.first_token_at.get_or_insert(now);
        self.last_token_at = Some(now);
        self.generated += 1;
        if self.generated % 256 == 0 {
            mlx_rs::memory::clear_cache()?;
        }
        if self.stop.contains(&token) {
            self.finish = Some(FinishReason::Stop);
            return Ok(None);
        }
        Ok(Some(token))
    }

    /// Why generation ended; `None` while it runs.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }

    /// Counts and speeds so far (final once the iterator is exhausted).
    pub fn stats(&self) -> GenerationStats {
        let secs = |d: Duration| d.as_secs_f64().max(1e-9);
        let prompt_tps = match self.first_token_at {
            Some(t) => self.prompt_tokens as f64 / secs(t - self.start),
            None => 0.0,
        };
        let generation_tps = match (self.first_token_at, self.last_token_at) {
            (Some(first), Some(last)) if self.generated > 1 => {
                (self.generated - 1) as f64 / secs(last - first)
            }
            _ => 0.0,
        };
        let peak_memory_bytes = process_peak_memory()
            .or_else(|| mlx_rs::memory::peak_memory().ok().map(|b| b as u64))
            .unwrap_or(0);
        GenerationStats {
            prompt_tokens: self.prompt_tokens,
            generated_tokens: self.generated,
            prompt_tps,
            generation_tps,
            peak_memory_bytes,
            finish_reason: self.finish.unwrap_or(FinishReason::Length),
        }
    }
}

impl Iterator for TokenGenerator<'_> {
    type Item = Result<u32>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finish.is_some() {
            return None;
        }
        match self.advance() {
            Ok(Some(token)) => Some(Ok(token)),
            Ok(None) => None,
            Err(e) => {
                self.finish = Some(FinishReason::Stop);
                Some(Err(e))
            }
        }
    }
}

/// The last prompt position, still to be run (it yields the first logits).
enum Last {
    Ids(Array),
    Embeds(Array),
}

impl Last {
    fn as_input(&self) -> ForwardInput<'_> {
        match self {
            Last::Ids(a) => ForwardInput::ids(a),
            Last::Embeds(a) => ForwardInput::embeddings(a),
        }
    }
}

/// A prompt as it enters the model: its token ids (which feed the repetition penalty
/// too) and, for vision models, the input embeddings that replace the token embedding
/// (`[1, L, hidden]`, image features merged in) and explicit multimodal rope positions
/// (Qwen2-VL family; generated tokens then follow at their cache offset plus
/// `positions.delta`), and what else the images give the decoder (cross-attention
/// keys and values, deepstack features).
#[derive(Debug, Default)]
pub struct Prompt<'p> {
    pub ids: &'p [u32],
    pub embeddings: Option<Array>,
    pub positions: Option<MropePositions>,
    pub image: Option<ImageContext>,
}

impl<'p> Prompt<'p> {
    /// A prompt of token ids only.
    pub fn ids(ids: &'p [u32]) -> Self {
        Prompt {
            ids,
            ..Prompt::default()
        }
    }

    fn check(&self, context_length: usize) -> Result<()> {
        let n = self.ids.len();
        if n == 0 {
            return Err(RunnerError::EmptyPrompt);
        }
        if n >= context_length {
            return Err(RunnerError::PromptTooLong {
                prompt_tokens: n,
                context_length,
            });
        }
        if let Some(e) = &self.embeddings {
            if e.ndim() != 3 || e.dim(0) != 1 || e.dim(1) as usize != n {
                return Err(RunnerError::Internal(format!(
                    "prompt embeddings {:?} do not match {n} prompt tokens",
                    e.shape()
                )));
            }
        }
        if let Some(p) = &self.positions {
            if p.ids.shape() != [3, n as i32] {
                return Err(RunnerError::Internal(format!(
                    "rope positions {:?} do not match {n} prompt tokens",
                    p.ids.shape()
                )));
            }
        }
        Ok(())
    }
}

/// When generation must stop besides `max_tokens`: the stop tokens and the context.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'m> {
    pub stop: &'m HashSet<u32>,
    pub context_length: usize,
}

/// A prompt as [`prefill_body`] reads it: ids, and the embeddings, rope positions and
/// image context where there are any.
#[derive(Clone, Copy)]
struct PrefillInput<'a> {
    ids: &'a [u32],
    embeds: Option<&'a Array>,
    positions: Option<&'a Array>,
    image: Option<&'a ImageContext>,
}

/// Prefills all but the last prompt position in chunks of [`PREFILL_STEP`] (from ids,
/// or from `embeds` when given; at `positions` `[3, L]` when given), and returns the
/// last position's input and positions.
fn prefill_body(
    model: &DecoderModel,
    input: PrefillInput<'_>,
    caches: &mut [StepKvCache],
    clear_cache: bool,
    interrupted: &dyn Fn() -> bool,
) -> Result<Option<(Last, Option<Array>)>> {
    let PrefillInput {
        ids: prompt,
        embeds,
        positions,
        image,
    } = input;
    let n = prompt.len();
    let mut start = 0;
    while start + 1 < n {
        if interrupted() {
            return Ok(None);
        }
        let end = (start + PREFILL_STEP).min(n - 1);
        let at = positions.map(|p| p.index((.., start as i32..end as i32)));
        let chunk = match embeds {
            Some(e) => Last::Embeds(e.index((.., start as i32..end as i32, ..))),
            None => Last::Ids(Array::from_slice(
                &prompt[start..end],
                &[1, (end - start) as i32],
            )),
        };
        model.forward(chunk.as_input().at(at.as_ref()).with_image(image), caches)?;
        let state: Vec<&Array> = caches.iter().flat_map(|c| c.state()).collect();
        eval(state)?;
        if clear_cache {
            mlx_rs::memory::clear_cache()?;
        }
        start = end;
    }
    let last = match embeds {
        Some(e) => Last::Embeds(e.index((.., (n - 1) as i32.., ..))),
        None => Last::Ids(Array::from_slice(&prompt[n - 1..], &[1, 1])),
    };
    Ok(Some((
        last,
        positions.map(|p| p.index((.., (n - 1) as i32..))),
    )))
}

/// Logits (float32, `[vocab]`) at the last position of `prompt`, computed exactly as
/// generation computes them before sampling the first token.
pub fn prompt_logits(model: &DecoderModel, prompt: &Prompt<'_>) -> Result<Vec<f32>> {
    prompt.check(usize::MAX)?;
    let mut caches: Vec<StepKvCache> = (0..model.cache_count())
        .map(|_| StepKvCache::new())
        .collect();
    let image = prompt.image.as_ref();
    let input = PrefillInput {
        ids: prompt.ids,
        embeds: prompt.embeddings.as_ref(),
        positions: prompt.positions.as_ref().map(|p| &p.ids),
        image,
    };
    let (last, at) =
        prefill_body(model, input, &mut caches, false, &|| false)?.expect("never interrupted");
    let input = last.as_input().at(at.as_ref()).with_image(image);
    let hidden = model.forward(input, &mut caches)?;
    let logits = model
        .last_logits(&hidden)?
        .as_dtype(mlx_rs::Dtype::Float32)?;
    logits.eval()?;
    Ok(logits.as_slice::<f32>().to_vec())
}
