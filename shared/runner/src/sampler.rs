//! Choosing the next token: greedy, or temperature sampling filtered by top-p, min-p
//! and top-k (applied in mlx-lm's order), after an optional repetition penalty over the
//! last `repetition_context_size` tokens. Everything stays an MLX graph: sampling adds
//! no host synchronisation. A seed makes sampling reproducible.

use std::collections::VecDeque;

use mlx_rs::{ops, random, Array, Dtype};

use crate::error::{Result, RunnerError};

/// How to pick tokens, and how many.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Nucleus sampling threshold; 0 or ≥ 1 disables it.
    pub top_p: f32,
    /// Keep only the k most likely tokens; 0 disables it.
    pub top_k: usize,
    /// Drop tokens less likely than `min_p` × the most likely one; 0 disables it.
    pub min_p: f32,
    /// Sign-aware multiplicative penalty for recently seen tokens; `None` or 1 disables it.
    pub repetition_penalty: Option<f32>,
    /// How many recent tokens (prompt included) the repetition penalty looks at.
    pub repetition_context_size: usize,
    /// Seed for the random key; `None` seeds from the clock.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            max_tokens: 512,
            temperature: 0.0,
            top_p: 0.0,
            top_k: 0,
            min_p: 0.0,
            repetition_penalty: None,
            repetition_context_size: 20,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding of at most `max_tokens` tokens.
    pub fn greedy(max_tokens: usize) -> Self {
        SamplingParams {
            max_tokens,
            ..Self::default()
        }
    }

    /// These parameters with the fields `request` sets replacing them.
    pub fn with_request(&self, request: &mlxk_core::ndjson::Request) -> Self {
        let mut p = self.clone();
        if let Some(v) = request.max_tokens {
            p.max_tokens = v as usize;
        }
        if let Some(v) = request.temperature {
            p.temperature = v;
        }
        if let Some(v) = request.top_p {
            p.top_p = v;
        }
        if let Some(v) = request.top_k {
            p.top_k = v as usize;
        }
        if let Some(v) = request.min_p {
            p.min_p = v;
        }
        if let Some(v) = request.repetition_penalty {
            p.repetition_penalty = Some(v);
        }
        if let Some(v) = request.seed {
            p.seed = Some(v);
        }
        p
    }

    /// Rejects values mlx-lm would reject ([`mlxk_core::sampling`]'s ranges).
    pub fn validate(&self) -> Result<()> {
        use mlxk_core::sampling as rule;
        rule::temperature(self.temperature)
            .and_then(|_| rule::top_p(self.top_p))
            .and_then(|_| rule::min_p(self.min_p))
            .and_then(|_| {
                self.repetition_penalty
                    .map_or(Ok(1.0), rule::repetition_penalty)
            })
            .map(drop)
            .map_err(RunnerError::InvalidSampling)
    }
}

impl From<&mlxk_core::cli::Sampling> for SamplingParams {
    /// The parameters a tool's sampling options ask for.
    fn from(a: &mlxk_core::cli::Sampling) -> Self {
        SamplingParams {
            max_tokens: a.max_tokens as usize,
            temperature: a.temperature,
            top_p: a.top_p,
            top_k: a.top_k as usize,
            min_p: a.min_p,
            repetition_penalty: a.repetition_penalty,
            seed: a.seed,
            ..SamplingParams::default()
        }
    }
}

/// Turns logits into the next token, keeping the state sampling needs (random key,
/// recent tokens for the repetition penalty).
pub struct Sampler {
    params: SamplingParams,
    key: Option<Array>,
    recent: VecDeque<Array>,
}

impl Sampler {
    pub fn new(params: &SamplingParams) -> Result<Self> {
        params.validate()?;
        let key = if params.temperature > 0.0 {
            let seed = params.seed.unwrap_or_else(clock_seed);
            Some(random::key(seed)?)
        } else {
            None
        };
        Ok(Sampler {
            params: params.clone(),
            key,
            recent: VecDeque::new(),
        })
    }

    fn penalty(&self) -> Option<f32> {
        self.params
            .repetition_penalty
            .filter(|&p| p != 1.0 && p != 0.0 && self.params.repetition_context_size > 0)
    }

    /// Remembers tokens that are part of the context (prompt or generated), for the
    /// repetition penalty. `token` is a `[1]` array, possibly not yet evaluated.
    pub fn observe(&mut self, token: &Array) {
        if self.penalty().is_none() {
            return;
        }
        self.recent.push_back(token.clone());
        while self.recent.len() > self.params.repetition_context_size {
            self.recent.pop_front();
        }
    }

    /// Remembers prompt tokens known on the host.
    pub fn observe_ids(&mut self, ids: &[u32]) {
        if self.penalty().is_none() {
            return;
        }
        let start = ids
            .len()
            .saturating_sub(self.params.repetition_context_size);
        for &id in &ids[start..] {
            self.observe(&Array::from_slice(&[id], &[1]));
        }
    }

    /// The next token for `logits` (`[1, vocab]`), as a lazy `[1]` uint32 array.
    pub fn sample(&mut self, logits: &Array) -> Result<Array> {
        let mut logits = logits.as_dtype(Dtype::Float32)?;
        if let (Some(penalty), false) = (self.penalty(), self.recent.is_empty()) {
            let parts: Vec<Array> = self.recent.iter().cloned().collect();
            let ids = ops::concatenate(&parts, 0)?
                .as_dtype(Dtype::Int32)?
                .reshape(&[1, -1])?;
            let selected = logits.take_along_axis(&ids, -1)?;
            let penalised = ops::select(
                &selected.lt(Array::from_f32(0.0))?,
                &selected.multiply(Array::from_f32(penalty))?,
                &selected.divide(Array::from_f32(penalty))?,
            )?;
            logits = logits.put_along_axis(&ids, &penalised, -1)?;
        }
        let p = &self.params;
        if p.temperature == 0.0 {
            return Ok(ops::indexing::argmax_axis(&logits, -1, None)?.as_dtype(Dtype::Uint32)?);
        }
        let mut logprobs = logits.subtract(logits.logsumexp_axis(-1, true)?)?;
        if p.top_p > 0.0 && p.top_p < 1.0 {
            logprobs = apply_top_p(&logprobs, p.top_p)?;
        }
        if p.min_p > 0.0 {
            logprobs = apply_min_p(&logprobs, p.min_p)?;
        }
        let vocab = logprobs.dim(-1) as usize;
        if p.top_k > 0 && p.top_k < vocab {
            logprobs = apply_top_k(&logprobs, p.top_k as i32)?;
        }
        let key = self
            .key
            .take()
            .expect("sampling with temperature has a key");
        let (next, sub) = random::split(&key, 2)?;
        self.key = Some(next);
        let scaled = logprobs.multiply(Array::from_f32(1.0 / p.temperature))?;
        let token = random::categorical(&scaled, -1, None, Some(&sub))?;
        Ok(token.as_dtype(Dtype::Uint32)?)
    }
}

fn neg_inf() -> Array {
    Array::from_f32(f32::NEG_INFINITY)
}

/// mlx-lm's `apply_top_p`: keep the smallest set of tokens whose mass reaches `top_p`.
fn apply_top_p(logprobs: &Array, top_p: f32) -> Result<Array> {
    let sorted = ops::sort_axis(logprobs, -1)?;
    let probs = sorted.exp()?;
    let mass_above = probs.cumsum(-1, true, false)?;
    let first = |a: &Array| -> Result<Array> {
        Ok(a.take_along_axis(Array::from_slice(&[0i32], &[1, 1]), -1)?)
    };
    let total = first(&mass_above)?.add(first(&probs)?)?;
    let dropped = mass_above
        .ge(total.multiply(Array::from_f32(top_p))?)?
        .sum_axis(-1, true)?
        .as_dtype(Dtype::Int32)?;
    let threshold = sorted.take_along_axis(&dropped, -1)?;
    Ok(ops::select(&logprobs.lt(&threshold)?, neg_inf(), logprobs)?)
}

/// mlx-lm's `apply_min_p` (keeping at least one token).
fn apply_min_p(logprobs: &Array, min_p: f32) -> Result<Array> {
    let top = logprobs.max_axis(-1, true)?;
    let threshold = top.add(Array::from_f32(min_p.ln()))?;
    Ok(ops::select(&logprobs.lt(&threshold)?, neg_inf(), logprobs)?)
}

/// mlx-lm's `apply_top_k`.
fn apply_top_k(logprobs: &Array, k: i32) -> Result<Array> {
    let order = ops::argpartition_axis(logprobs.negative()?, k - 1, -1)?;
    let vocab = logprobs.dim(-1);
    let drop = order.take_axis(&ops::arange::<_, i32>(k, vocab, 1)?, -1)?;
    Ok(logprobs.put_along_axis(&drop, neg_inf(), -1)?)
}

fn clock_seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(v: &[f32]) -> Array {
        Array::from_slice(v, &[1, v.len() as i32])
    }

    fn token(a: Array) -> u32 {
        a.eval().unwrap();
        a.as_slice::<u32>()[0]
    }

    #[test]
    fn greedy_is_argmax() {
        let _g = crate::test_lock();
        let mut s = Sampler::new(&SamplingParams::greedy(1)).unwrap();
        assert_eq!(token(s.sample(&logits(&[0.1, 3.0, -1.0, 2.9])).unwrap()), 1);
    }

    #[test]
    fn repetition_penalty_changes_the_winner() {
        let _g = crate::test_lock();
        let mut p = SamplingParams::greedy(1);
        p.repetition_penalty = Some(2.0);
        let mut s = Sampler::new(&p).unwrap();
        s.observe_ids(&[1]);
        assert_eq!(token(s.sample(&logits(&[0.1, 3.0, -1.0, 2.9])).unwrap()), 3);
    }

    #[test]
    fn top_k_one_and_min_p_are_deterministic() {
        let _g = crate::test_lock();
        for (top_k, min_p) in [(1, 0.0), (0, 0.99)] {
            let p = SamplingParams {
                temperature: 1.0,
                top_k,
                min_p,
                seed: Some(7),
                ..SamplingParams::greedy(1)
            };
            let mut s = Sampler::new(&p).unwrap();
            for _ in 0..5 {
                assert_eq!(token(s.sample(&logits(&[0.1, 3.0, -1.0, 2.0])).unwrap()), 1);
            }
        }
    }

    #[test]
    fn top_p_keeps_the_nucleus_and_seed_repeats() {
        let _g = crate::test_lock();
        let p = SamplingParams {
            temperature: 1.0,
            top_p: 0.5,
            seed: Some(3),
            ..SamplingParams::greedy(1)
        };
        // probabilities ≈ 0.64, 0.24, 0.09, 0.03: top_p 0.5 keeps only token 0
        let l = logits(&[2.0, 1.0, 0.0, -1.0]);
        let mut s = Sampler::new(&p).unwrap();
        for _ in 0..5 {
            assert_eq!(token(s.sample(&l).unwrap()), 0);
        }
        let p = SamplingParams { top_p: 0.0, ..p };
        let draw = |p: &SamplingParams| {
            let mut s = Sampler::new(p).unwrap();
            (0..8)
                .map(|_| token(s.sample(&l).unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(&p), draw(&p));
    }
}
