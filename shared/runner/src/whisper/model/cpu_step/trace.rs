//! One window decoded with a chosen step, every position's logits kept: what the tests
//! that hold the CPU step to MLX's compare.

use crate::error::{Result, RunnerError};

/// Which step [`crate::whisper::Whisper::trace_first_window`] decodes with.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceStep {
    /// MLX's graph.
    Mlx,
    /// The CPU step as chosen at load (float16 copies where exact).
    Cpu,
    /// The CPU step on the float32 arrays only.
    CpuFloat32,
}

/// One window greedy-decoded with one step: the tokens sampled and the logits (before
/// the filters) of every position sampled from.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct StepTrace {
    pub tokens: Vec<u32>,
    pub logits: Vec<Vec<f32>>,
}

impl crate::whisper::Whisper {
    /// Greedy-decodes the first 30-second window of `samples` (16 kHz mono, English)
    /// with `step` after the prompt: for tests that hold the steps to each other.
    #[doc(hidden)]
    pub fn trace_first_window(&self, samples: &[f32], step: TraceStep) -> Result<StepTrace> {
        use crate::whisper::decoding::{decode_with, DecodeOptions};
        use crate::whisper::mel::N_FRAMES;
        let cpu = match step {
            TraceStep::Mlx => None,
            TraceStep::Cpu | TraceStep::CpuFloat32 => {
                let (threads, halves) = self
                    .model
                    .step
                    .cpu()
                    .ok_or_else(|| RunnerError::Internal(self.model.step.describe()))?;
                Some((threads, (step == TraceStep::Cpu).then_some(halves)))
            }
        };
        let mut frames = self.log_mel(samples, N_FRAMES);
        frames.resize(N_FRAMES * self.mel.n_mels(), 0.0);
        let features = self.encode(&frames)?;
        let opts = DecodeOptions {
            language: Some("en".into()),
            ..DecodeOptions::default()
        };
        let mut logits = Vec::new();
        let result = decode_with(
            &self.model,
            &self.tokenizer,
            &features,
            &opts,
            self.config.n_text_ctx,
            cpu,
            &mut |l| logits.push(l.to_vec()),
        )?;
        Ok(StepTrace {
            tokens: result.tokens,
            logits,
        })
    }
}
