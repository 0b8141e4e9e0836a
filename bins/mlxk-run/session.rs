//! One run of mlxk-run: read the input, load the model once, answer each
//! request in order, report, and pick the exit status.

use std::io::IsTerminal;
use std::sync::mpsc;
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
use mlxk_runner::interrupt::Interrupt;

/// What the input thread and the signal handler tell the run.
enum Input {
    Line(Line),
    /// End of standard input (or a read error: nothing more can be read).
    End,
    Interrupt,
}

/// Counts and the state shared by every request of a run.
pub struct Session<'a> {
    args: &'a Args,
    out: Out,
    interrupt: Interrupt,
    started: Instant,
    model_spec: Option<String>,
    runner: Option<(String, Runner)>,
    /// Images the context holds so far: chunks' images are numbered on
    /// through the run, so that the model tells them apart.
    context_images: usize,
    total: u64,
    failed: u64,
}

impl<'a> Session<'a> {
    pub fn new(args: &'a Args, interrupt: Interrupt) -> Self {
        Session {
            args,
            out: Out::new(true),
            interrupt,
            started: Instant::now(),
            model_spec: args.model_spec(),
            runner: None,
            context_images: 0,
            total: 0,
            failed: 0,
        }
    }

    /// Runs to completion; a closed stdout ends the run quietly.
    pub fn run(mut self) -> Exit {
        match self.drive() {
            Ok(exit) => exit,
            Err(Closed) => {
                self.interrupt.set();
                Exit::Ok
            }
        }
    }

    fn drive(&mut self) -> Result<Exit, Closed> {
        if let Err(e) = mlxk_runner::memory::memory_limit() {
            return self.fatal(Failure::Runner(e));
        }
        let mut context: Vec<String> = Vec::new();
        if !std::io::stdin().is_terminal() {
            for input in self.input() {
                match input {
                    Input::Line(line) => {
                        if let Some(exit) = self.take_line(line, &mut context)? {
                            return Ok(exit);
                        }
                    }
                    Input::End | Input::Interrupt => break,
                }
                if self.interrupted() {
                    break;
                }
            }
        }
        let prompt = self.args.argument_prompt();
        if self.interrupted() {
            return self.finish();
        }
        if prompt.is_some() || !context.is_empty() {
            let mut parts = context;
            parts.extend(prompt);
            let request = Request {
                prompt: Some(parts.join("\n\n")),
                ..Request::default()
            };
            if let Some(exit) = self.request(request, None)? {
                return Ok(exit);
            }
        } else if self.total == 0 {
            let failure = if self.model_spec.is_none() {
                Failure::NoModel
            } else {
                Failure::NoPrompt
            };
            return self.fatal(failure);
        }
        self.finish()
    }

    /// Standard input, read on its own thread so that an interrupt ends a
    /// run that waits for input as well as one that computes.
    fn input(&self) -> mpsc::Receiver<Input> {
        let (tx, rx) = mpsc::channel();
        let wake = tx.clone();
        self.interrupt.on_interrupt(move || {
            let _ = wake.send(Input::Interrupt);
        });
        std::thread::spawn(move || {
            for line in input::lines(std::io::stdin().lock()) {
                let Ok(line) = line else { break };
                if tx.send(Input::Line(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Input::End);
        });
        rx
    }

    fn interrupted(&self) -> bool {
        self.interrupt.is_set()
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
                        context.push(context_text(&value, text, &mut self.context_images));
                    }
                }
                // mlxk-vision --metadata-only: the image's line alone.
                Some("image") => {
                    let info: ImageInfo = serde_json::from_value(value).unwrap_or_default();
                    self.context_images += 1;
                    context.push(prompt_line(self.context_images, &info));
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
        if self.interrupted() {
            return Ok(None);
        }
        let mut request = request;
        if request.system.is_none() {
            request.system = self.args.system.clone();
        }
        if self.args.no_chat_template && request.raw.is_none() {
            request.raw = Some(true);
        }
        let params = self.base_params().with_request(&request);
        if self.runner.is_none() {
            if let Err(failure) = self.load(gate_tokens(&request, &params)) {
                return self.fatal(failure).map(Some);
            }
        }
        self.total += 1;
        let (name, runner) = self.runner.as_ref().expect("loaded above");
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
        match answer(
            runner,
            name,
            &request,
            &params,
            self.interrupt.flag(),
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
        SamplingParams::from(&self.args.sampling)
    }

    /// Resolves the model, refuses an unhealthy or unsupported one, and loads
    /// it, the memory gate sized for `tokens` of context.
    fn load(&mut self, tokens: usize) -> Result<(), Failure> {
        let spec = self.model_spec.clone().ok_or(Failure::NoModel)?;
        let cache = Cache::given_or_env(self.args.cache_dir.as_deref());
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
            gate_tokens: Some(tokens),
            ..LoadOptions::default()
        };
        let runner = Runner::load(&found.path, &options).map_err(Failure::Runner)?;
        if self.args.verbose {
            eprintln!("{}", runner.memory_verdict());
            match runner.decode_step() {
                Ok(()) => eprintln!("decode step: on the CPU, in Rust"),
                Err(why) => eprintln!("decode step: on MLX's graph ({why})"),
            }
        }
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

/// Room the chat template takes beyond the prompt's own text (role markers, a
/// model's default system prompt), in tokens.
const TEMPLATE_TOKENS: usize = 128;

/// The context the memory gate sizes for: the first request's text (a token
/// is at least one byte), the template, and the tokens it may generate.
fn gate_tokens(request: &Request, params: &SamplingParams) -> usize {
    let text: usize = [&request.prompt, &request.system]
        .into_iter()
        .flatten()
        .map(String::len)
        .chain(request.messages.iter().flatten().map(|m| m.content.len()))
        .sum();
    text + TEMPLATE_TOKENS + params.max_tokens
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
/// chunk as the vision model saw them (`[Image 1 | GPS: … | Date: …]`), the
/// images numbered on from those of earlier chunks (`numbered` so far).
fn context_text(value: &Value, text: &str, numbered: &mut usize) -> String {
    let images: Vec<String> = value
        .get("images")
        .and_then(Value::as_array)
        .map(|images| {
            images
                .iter()
                .map(|img| {
                    let info: ImageInfo = serde_json::from_value(img.clone()).unwrap_or_default();
                    *numbered += 1;
                    prompt_line(*numbered, &info)
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
