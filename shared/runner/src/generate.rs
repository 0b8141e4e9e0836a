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
use crate::kv_cache::{KvCache, StepKvCache};
use crate::layers::DecoderModel;
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
        prompt: &[u32],
        params: &SamplingParams,
        stop: &'m HashSet<u32>,
        context_length: usize,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<Self> {
        if prompt.is_empty() {
            return Err(RunnerError::EmptyPrompt);
        }
        if prompt.len() >= context_length {
            return Err(RunnerError::PromptTooLong {
                prompt_tokens: prompt.len(),
                context_length,
            });
        }
        let mut sampler = Sampler::new(params)?;
        sampler.observe_ids(prompt);
        let caches = (0..model.spec().num_layers)
            .map(|_| StepKvCache::new())
            .collect();
        Ok(TokenGenerator {
            model,
            caches,
            cpu: CpuDecoder::new(model).ok().map(|d| (d, None)),
            sampler,
            stop,
            interrupt,
            max_tokens: params.max_tokens,
            context_length,
            prompt: Some(prompt.to_vec()),
            embeds: None,
            positions: None,
            kept_logits: None,
            prompt_tokens: prompt.len(),
            pending: None,
            generated: 0,
            start: Instant::now(),
            first_token_at: None,
            last_token_at: None,
            finish: None,
        })
    }

    /// Like [`TokenGenerator::new`], but the prompt enters the model as the input
    /// embeddings `embeds` (`[1, prompt.len(), hidden]`) instead of through the token
    /// embedding; `prompt` still feeds the sampler's repetition penalty.
    pub fn with_embeddings(
        model: &'m DecoderModel,
        prompt: &[u32],
        embeds: Array,
        params: &SamplingParams,
        stop: &'m HashSet<u32>,
        context_length: usize,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<Self> {
        check_embeddings(prompt, &embeds)?;
        let mut generator = Self::new(model, prompt, params, stop, context_length, interrupt)?;
        generator.embeds = Some(embeds);
        Ok(generator)
    }

    /// Places the prompt at explicit multimodal rope positions (Qwen2-VL family), and
    /// every generated token at its cache offset plus `positions.delta`.
    pub fn with_positions(mut self, positions: MropePositions) -> Result<Self> {
        check_positions(self.prompt_tokens, &positions)?;
        self.positions = Some(positions);
        Ok(self)
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

    /// Feeds `input` (`[1, L]` ids or `[1, L, hidden]` embeddings, at `positions` when
    /// given) and returns the sampled next token (lazy `[1]` array).
    fn step(&mut self, input: Input<'_>, positions: Option<&Array>) -> Result<Array> {
        let hidden = input.forward(self.model, &mut self.caches, positions)?;
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
        let positions = self.positions.as_ref().map(|p| &p.ids);
        let Some((last, last_positions)) = prefill_body(
            self.model,
            &prompt,
            embeds.as_ref(),
            positions,
            &mut self.caches,
            true,
            &interrupted,
        )?
        else {
            return Ok(());
        };
        if self.interrupted() {
            return Ok(());
        }
        let token = self.step(last.as_input(), last_positions.as_ref())?;
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
        let logits = decoder.step_shifted(token, caches, shift)?;
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
                let next = self.step(Input::Ids(&ids), positions.as_ref())?;
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

/// What a forward pass is fed.
enum Input<'a> {
    Ids(&'a Array),
    Embeds(&'a Array),
}

impl Input<'_> {
    fn forward(
        &self,
        model: &DecoderModel,
        caches: &mut [StepKvCache],
        positions: Option<&Array>,
    ) -> Result<Array> {
        match self {
            Input::Ids(ids) => model.forward_hidden_at(ids, caches, positions),
            Input::Embeds(h) => model.forward_embeddings_at(h, caches, positions),
        }
    }
}

/// The last prompt position, still to be run (it yields the first logits).
enum Last {
    Ids(Array),
    Embeds(Array),
}

impl Last {
    fn as_input(&self) -> Input<'_> {
        match self {
            Last::Ids(a) => Input::Ids(a),
            Last::Embeds(a) => Input::Embeds(a),
        }
    }
}

fn check_embeddings(prompt: &[u32], embeds: &Array) -> Result<()> {
    if embeds.ndim() != 3 || embeds.dim(0) != 1 || embeds.dim(1) as usize != prompt.len() {
        return Err(RunnerError::Mlx(format!(
            "prompt embeddings {:?} do not match {} prompt tokens",
            embeds.shape(),
            prompt.len()
        )));
    }
    Ok(())
}

fn check_positions(prompt_tokens: usize, positions: &MropePositions) -> Result<()> {
    if positions.ids.shape() != [3, prompt_tokens as i32] {
        return Err(RunnerError::Mlx(format!(
            "rope positions {:?} do not match {prompt_tokens} prompt tokens",
            positions.ids.shape()
        )));
    }
    Ok(())
}

/// Prefills all but the last prompt position in chunks of [`PREFILL_STEP`] (from ids,
/// or from `embeds` when given; at `positions` `[3, L]` when given), and returns the
/// last position's input and positions.
fn prefill_body(
    model: &DecoderModel,
    prompt: &[u32],
    embeds: Option<&Array>,
    positions: Option<&Array>,
    caches: &mut [StepKvCache],
    clear_cache: bool,
    interrupted: &dyn Fn() -> bool,
) -> Result<Option<(Last, Option<Array>)>> {
    let n = prompt.len();
    let mut start = 0;
    while start + 1 < n {
        if interrupted() {
            return Ok(None);
        }
        let end = (start + PREFILL_STEP).min(n - 1);
        let at = positions.map(|p| p.index((.., start as i32..end as i32)));
        match embeds {
            Some(e) => {
                let h = e.index((.., start as i32..end as i32, ..));
                model.forward_embeddings_at(&h, caches, at.as_ref())?;
            }
            None => {
                let chunk = &prompt[start..end];
                let ids = Array::from_slice(chunk, &[1, chunk.len() as i32]);
                model.forward_hidden_at(&ids, caches, at.as_ref())?;
            }
        }
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
pub fn prompt_logits(model: &DecoderModel, prompt: &[u32]) -> Result<Vec<f32>> {
    prompt_logits_with(model, prompt, None)
}

/// [`prompt_logits`] for a prompt fed as input embeddings (`[1, L, hidden]`) when
/// `embeds` is given.
pub fn prompt_logits_with(
    model: &DecoderModel,
    prompt: &[u32],
    embeds: Option<&Array>,
) -> Result<Vec<f32>> {
    prompt_logits_at(model, prompt, embeds, None)
}

/// [`prompt_logits_with`] at explicit multimodal rope positions when given.
pub fn prompt_logits_at(
    model: &DecoderModel,
    prompt: &[u32],
    embeds: Option<&Array>,
    positions: Option<&MropePositions>,
) -> Result<Vec<f32>> {
    if prompt.is_empty() {
        return Err(RunnerError::EmptyPrompt);
    }
    if let Some(e) = embeds {
        check_embeddings(prompt, e)?;
    }
    if let Some(p) = positions {
        check_positions(prompt.len(), p)?;
    }
    let mut caches: Vec<StepKvCache> = (0..model.spec().num_layers)
        .map(|_| StepKvCache::new())
        .collect();
    let ids = positions.map(|p| &p.ids);
    let (last, at) = prefill_body(model, prompt, embeds, ids, &mut caches, false, &|| false)?
        .expect("never interrupted");
    let hidden = last.as_input().forward(model, &mut caches, at.as_ref())?;
    let logits = model
        .last_logits(&hidden)?
        .as_dtype(mlx_rs::Dtype::Float32)?;
    logits.eval()?;
    Ok(logits.as_slice::<f32>().to_vec())
}
