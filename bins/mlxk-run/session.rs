//! One run of mlxk-run: read the input, load the model once, answer each
//! request in order, report, and pick the exit status.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mlxk_core::cache::Cache;
use mlxk_core::exit::Exit;
use mlxk_core::input::{self, Line};
use mlxk_core::model::{self, Detail};
use mlxk_core::ndjson::{ErrorMessage, Health, ImageInfo, Request, RunMessage, Summary};
use mlxk_core::output::{report, Closed, Out};
use mlxk_core::photo::metadata::prompt_line;
use mlxk_runner::{LoadOptions, Runner, SamplingParams};
use serde_json::Value;

use crate::answer::{answer, Answered};
use crate::cli::Args;
use crate::failure::Failure;

/// Counts and the state shared by every request of a run.
pub struct Session<'a> {
    args: &'a Args,
    out: Out,
    interrupt: Arc<AtomicBool>,
    started: Instant,
    model_spec: Option<String>,
    runner: Option<(String, Runner)>,
    total: u64,
    failed: u64,
}

impl<'a> Session<'a> {
    pub fn new(args: &'a Args, interrupt: Arc<AtomicBool>) -> Self {
        Session {
            args,
            out: Out::new(true),
            interrupt,
            started: Instant::now(),
            model_spec: args.model.clone(),
            runner: None,
            total: 0,
            failed: 0,
        }
    }

    /// Runs to completion; a closed stdout ends the run quietly.
    pub fn run(mut self) -> Exit {
        match self.drive() {
            Ok(exit) => exit,
            Err(Closed) => {
                self.interrupt.store(true, Ordering::SeqCst);
                Exit::Ok
            }
        }
    }

    fn drive(&mut self) -> Result<Exit, Closed> {
        let mut context: Vec<String> = Vec::new();
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            for line in input::lines(stdin.lock()) {
                let Ok(line) = line else { break };
                if let Some(exit) = self.take_line(line, &mut context)? {
                    return Ok(exit);
                }
                if self.interrupted() {
                    break;
                }
            }
        }
        let prompt = self.args.argument_prompt();
        if !self.interrupted() && (prompt.is_some() || !context.is_empty()) {
            let mut parts = context;
            parts.extend(prompt);
            let request = Request {
                prompt: Some(parts.join("\n\n")),
                ..Request::default()
            };
            if let Some(exit) = self.request(request, None)? {
                return Ok(exit);
            }
        } else if self.total == 0 && !self.interrupted() {
            return self.fatal(Failure::NoPrompt);
        }
        self.finish()
    }

    fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    /// Handles one input line; `Some(exit)` ends the run (a fatal error).
    fn take_line(&mut self, line: Line, context: &mut Vec<String>) -> Result<Option<Exit>, Closed> {
        let number = line.number();
        match line {
            Line::Text { text, .. } => context.push(text),
            Line::Malformed { error, .. } => {
                self.total += 1;
                let failure = Failure::Malformed(error);
                self.item_error(failure.message(Some(number), None))?;
            }
            Line::Json { value, .. } => match value.get("type").and_then(Value::as_str) {
                Some("model") => {
                    if self.model_spec.is_none() {
                        self.model_spec = model_line_spec(&value);
                    }
                }
                Some("request") | None => match serde_json::from_value::<Request>(value) {
                    Ok(request) => return self.request(request, Some(number)),
                    Err(e) => {
                        self.total += 1;
                        self.item_error(
                            Failure::Malformed(e.to_string()).message(Some(number), None),
                        )?;
                    }
                },
                Some("chunk" | "transcript" | "result") => {
                    if let Some(text) = value.get("text").and_then(Value::as_str) {
                        context.push(context_text(&value, text));
                    }
                }
                Some("error") => {
                    self.total += 1;
                    self.failed += 1;
                    if self.args.json {
                        self.out.line(&value.to_string())?;
                    }
                }
                Some(_) => {}
            },
        }
        Ok(None)
    }

    /// Answers one request, loading the model first if needed.
    fn request(&mut self, request: Request, line: Option<u64>) -> Result<Option<Exit>, Closed> {
        if self.runner.is_none() {
            if let Err(failure) = self.load() {
                return self.fatal(failure).map(Some);
            }
        }
        self.total += 1;
        let (name, runner) = self.runner.as_ref().expect("loaded above");
        let mut request = request;
        if request.system.is_none() {
            request.system = self.args.system.clone();
        }
        if self.args.no_chat_template && request.raw.is_none() {
            request.raw = Some(true);
        }
        let blank = |t: &str| t.trim().is_empty();
        if request
            .messages
            .as_ref()
            .map_or(request.prompt.as_deref().map_or(true, blank), |m| {
                m.iter().all(|m| blank(&m.content))
            })
        {
            self.item_error(Failure::NoPrompt.message(line, request.id.clone()))?;
            return Ok(None);
        }
        let params = self.base_params().with_request(&request);
        match answer(
            runner,
            name,
            &request,
            &params,
            &self.interrupt,
            &mut self.out,
            self.args.json,
        )? {
            Answered::Ok(stats) => {
                if self.args.verbose {
                    eprintln!(
                        "prompt: {} tokens, {:.1} tokens/s\ngeneration: {} tokens, {:.1} tokens/s\npeak memory: {:.3} GB",
                        stats.prompt_tokens,
                        stats.prompt_tps,
                        stats.generated_tokens,
                        stats.generation_tps,
                        stats.peak_memory_bytes as f64 / 1e9
                    );
                }
            }
            Answered::Failed(failure) => {
                self.item_error(failure.message(line, request.id.clone()))?;
            }
        }
        Ok(None)
    }

    fn base_params(&self) -> SamplingParams {
        let a = &self.args.sampling;
        SamplingParams {
            max_tokens: a.max_tokens as usize,
            temperature: a.temperature,
            top_p: a.top_p,
            top_k: a.top_k as usize,
            min_p: a.min_p,
            repetition_penalty: a.repetition_penalty,
            seed: a.seed,
            ..SamplingParams::greedy(a.max_tokens as usize)
        }
    }

    /// Resolves the model, refuses an unhealthy or unsupported one, and loads it.
    fn load(&mut self) -> Result<(), Failure> {
        let spec = self.model_spec.clone().ok_or(Failure::NoModel)?;
        let cache = self
            .args
            .cache_dir
            .clone()
            .map(Cache::at)
            .unwrap_or_else(Cache::from_env);
        let found = model::inspect(&cache, &spec, Detail::default()).map_err(Failure::Resolve)?;
        if found.health == Health::Unhealthy {
            return Err(Failure::Unhealthy {
                name: found.name,
                reason: found.reason.unwrap_or_default(),
            });
        }
        if let Some(reason) = found.runtime_reason {
            return Err(Failure::Unsupported {
                name: found.name,
                reason,
            });
        }
        let options = LoadOptions {
            check_memory: !self.args.force,
            ..LoadOptions::default()
        };
        let runner = Runner::load(&found.path, &options).map_err(Failure::Runner)?;
        self.runner = Some((found.name, runner));
        Ok(())
    }

    fn item_error(&mut self, message: ErrorMessage) -> Result<(), Closed> {
        self.failed += 1;
        report(&message.message, message.hint.as_deref());
        if self.args.json {
            self.out.json(&RunMessage::Error(message))?;
        }
        Ok(())
    }

    fn fatal(&mut self, failure: Failure) -> Result<Exit, Closed> {
        self.total += 1;
        self.item_error(failure.message(None, None))?;
        self.summary(Exit::Fatal)
    }

    fn finish(&mut self) -> Result<Exit, Closed> {
        let exit = if self.interrupted() {
            Exit::Interrupted
        } else {
            Exit::from_failures(self.failed)
        };
        self.summary(exit)
    }

    fn summary(&mut self, exit: Exit) -> Result<Exit, Closed> {
        if self.args.json {
            self.out.json(&RunMessage::Summary(Summary {
                tool: "mlxk-run".into(),
                total: self.total,
                ok: self.total.saturating_sub(self.failed),
                failed: self.failed,
                exit_code: exit.code(),
                elapsed_ms: self.started.elapsed().as_millis() as u64,
            }))?;
        }
        self.out.flush()?;
        Ok(exit)
    }
}

/// `name@hash` from an mlxk-list model line, so the very snapshot listed is run.
fn model_line_spec(value: &Value) -> Option<String> {
    let name = value.get("name")?.as_str()?;
    Some(match value.get("hash").and_then(Value::as_str) {
        Some(hash) if value.get("cached") != Some(&Value::Bool(false)) => format!("{name}@{hash}"),
        _ => name.to_string(),
    })
}

/// Context from an upstream message: its text, after the image lines of a
/// chunk as the vision model saw them (`[Image 1 | GPS: … | Date: …]`).
fn context_text(value: &Value, text: &str) -> String {
    let images: Vec<String> = value
        .get("images")
        .and_then(Value::as_array)
        .map(|images| {
            images
                .iter()
                .enumerate()
                .map(|(i, img)| {
                    let info: ImageInfo = serde_json::from_value(img.clone()).unwrap_or_default();
                    prompt_line(i + 1, &info)
                })
                .collect()
        })
        .unwrap_or_default();
    if images.is_empty() {
        text.to_string()
    } else {
        format!("{}\n{text}", images.join("\n"))
    }
}
