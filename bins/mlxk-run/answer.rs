//! Generates the answer to one request and writes it: streamed text for
//! people, `delta` lines then a `result` in NDJSON mode.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mlxk_core::ndjson::{Delta, Request, RunMessage, RunResult};
use mlxk_core::output::{Closed, Out};
use mlxk_runner::{Event, GenerationStats, Runner, SamplingParams};

use crate::failure::Failure;

pub enum Answered {
    Ok(GenerationStats),
    Failed(Failure),
}

pub fn answer(
    runner: &Runner,
    model: &str,
    request: &Request,
    params: &SamplingParams,
    interrupt: &Arc<AtomicBool>,
    out: &mut Out,
    json: bool,
) -> Result<Answered, Closed> {
    let generation = params
        .validate()
        .and_then(|()| runner.render(request))
        .and_then(|prompt| runner.generate(&prompt, params, Some(interrupt.clone())));
    let generation = match generation {
        Ok(g) => g,
        Err(e) => return Ok(Answered::Failed(Failure::Runner(e))),
    };
    let mut text = String::new();
    let mut reasoning: Option<String> = None;
    for event in generation {
        let (piece, stats) = match event {
            Ok(Event::Token { text, .. }) => (text, None),
            Ok(Event::Reasoning { text }) => {
                reasoning.get_or_insert_with(String::new).push_str(&text);
                continue;
            }
            Ok(Event::Done { text, stats }) => (text, Some(stats)),
            Err(e) => return Ok(Answered::Failed(Failure::Runner(e))),
        };
        if !piece.is_empty() {
            if json {
                out.json(&RunMessage::Delta(Delta {
                    id: request.id.clone(),
                    text: piece.clone(),
                }))?;
            } else {
                out.text(&piece)?;
            }
            text.push_str(&piece);
        }
        if let Some(stats) = stats {
            if json {
                let mut result = result(request, model, text, &stats);
                result.reasoning = reasoning;
                out.json(&RunMessage::Result(result))?;
            } else {
                out.line("")?;
            }
            return Ok(Answered::Ok(stats));
        }
    }
    unreachable!("a generation ends with Event::Done")
}

fn result(request: &Request, model: &str, text: String, stats: &GenerationStats) -> RunResult {
    RunResult {
        id: request.id.clone(),
        model: model.to_string(),
        text,
        reasoning: None,
        finish_reason: stats.finish_reason,
        prompt_tokens: stats.prompt_tokens as u64,
        generated_tokens: stats.generated_tokens as u64,
        prompt_tps: stats.prompt_tps,
        generation_tps: stats.generation_tps,
        peak_memory_bytes: stats.peak_memory_bytes,
    }
}
