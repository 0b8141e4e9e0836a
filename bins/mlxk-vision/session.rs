//! One run of mlxk-vision: check the model (unless none is needed), then
//! take the images as they come: read each one's metadata, decode it, group
//! them into chunks, describe each chunk; report, and pick the exit status.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;
use mlxk_core::cache::Cache;
use mlxk_core::exit::Exit;
use mlxk_core::model::{self, Detail};
use mlxk_core::ndjson::{Chunk, ErrorMessage, Health, ImageInfo, Summary};
use mlxk_core::output::Closed;
use mlxk_core::photo::metadata::{self, prompt_line, Privacy};
use mlxk_core::photo::{decode, PhotoError};
use mlxk_runner::SamplingParams;

use crate::cli::Args;
use crate::describe::Describer;
use crate::failure::Failure;
use crate::input::{inputs, Input};
use crate::show::Show;

pub struct Session<'a> {
    args: &'a Args,
    show: Show,
    interrupt: Arc<AtomicBool>,
    started: Instant,
    privacy: Privacy,
    model: Option<(String, Describer)>,
    pending: Vec<(ImageInfo, RgbImage)>,
    chunks: u64,
    total: u64,
    failed: u64,
}

impl<'a> Session<'a> {
    pub fn new(args: &'a Args) -> Self {
        Session {
            args,
            show: Show::new(args.json),
            interrupt: mlxk_runner::interrupt::Interrupt::install().flag().clone(),
            started: Instant::now(),
            privacy: Privacy {
                no_location: args.no_location,
                no_metadata: args.no_metadata,
            },
            model: None,
            pending: Vec::new(),
            chunks: 0,
            total: 0,
            failed: 0,
        }
    }

    /// Runs to completion; a closed stdout ends the run quietly.
    pub fn run(mut self) -> Exit {
        self.drive().unwrap_or(Exit::Ok)
    }

    fn drive(&mut self) -> Result<Exit, Closed> {
        if !self.args.without_model() {
            if let Err(failure) = self.load() {
                self.total += 1;
                self.failed += 1;
                self.show.error(failure.message())?;
                return self.summary(Exit::Fatal);
            }
        }
        let mut n = 0;
        for input in inputs(self.args.image_args()) {
            if self.interrupted() {
                break;
            }
            self.total += 1;
            match input {
                Input::Bad(message) => self.item_error(message)?,
                Input::Image { path, line } => {
                    n += 1;
                    self.image(n, &path, line)?;
                }
            }
        }
        if !self.interrupted() {
            self.describe_pending()?;
        }
        let exit = if self.interrupted() {
            Exit::Interrupted
        } else {
            Exit::from_failures(self.failed)
        };
        self.summary(exit)
    }

    fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    /// Resolves the model (the one vision model of the cache when none is
    /// named) and refuses, before loading, one that cannot describe images:
    /// unhealthy, text-only, of an unsupported family, too large for memory.
    fn load(&mut self) -> Result<(), Failure> {
        mlxk_runner::memory::memory_limit().map_err(Failure::Runner)?;
        let cache = Cache::given_or_env(self.args.cache_dir.as_deref());
        let found = match self.args.model_spec() {
            Some(spec) => {
                model::inspect(&cache, &spec, Detail::default()).map_err(Failure::Resolve)?
            }
            None => only_vision_model(&cache)?,
        };
        if found.health == Health::Unhealthy {
            return Err(Failure::Unhealthy {
                name: found.name,
                reason: found.reason.unwrap_or_default(),
            });
        }
        if !is_vision(&found) {
            return Err(Failure::TextOnly { name: found.name });
        }
        let describer = Describer::load(
            &found.name,
            Path::new(&found.path),
            self.args.chunk as usize,
            self.args.force,
            self.interrupt.clone(),
        )?;
        if self.args.verbose {
            eprintln!("{}", describer.memory_verdict());
        }
        self.model = Some((found.name, describer));
        Ok(())
    }

    /// One image: its metadata, then (unless --metadata-only) its pixels.
    fn image(&mut self, n: u64, path: &Path, line: Option<u64>) -> Result<(), Closed> {
        let mut info = match metadata::inspect(path) {
            Ok(info) => info,
            Err(e) => return self.photo_error(&e, line),
        };
        self.privacy.apply(&mut info);
        if self.args.metadata_only {
            return self.show.image(n, info);
        }
        let pixels = match decode::decode(path, info.orientation, self.args.max_pixels) {
            Ok(p) => p,
            Err(e) => return self.photo_error(&e, line),
        };
        info.decoded_width = Some(pixels.width());
        info.decoded_height = Some(pixels.height());
        if self.args.check {
            return self.show.image(n, info);
        }
        if let Some(warning) = info.warning.as_ref().filter(|_| !self.args.json) {
            eprintln!("warning: {}: {warning}", info.path);
        }
        self.pending.push((info, pixels));
        if self.pending.len() >= self.args.chunk as usize {
            self.describe_pending()?;
        }
        Ok(())
    }

    /// Describes the images waiting, as one chunk in a fresh model session.
    fn describe_pending(&mut self) -> Result<(), Closed> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let (mut infos, pixels): (Vec<ImageInfo>, Vec<RgbImage>) = pending.into_iter().unzip();
        for (i, info) in infos.iter_mut().enumerate() {
            info.n = Some(i as u64 + 1);
        }
        self.chunks += 1;
        // --no-metadata: the model sees the user's prompt and the images
        // alone, as mlx-vlm would give them.
        let prompt = if self.privacy.no_metadata {
            self.args.prompt.clone()
        } else {
            let lines: Vec<String> = infos
                .iter()
                .enumerate()
                .map(|(i, info)| prompt_line(i + 1, info))
                .collect();
            format!("{}\n\n{}", lines.join("\n"), self.args.prompt)
        };
        let params = SamplingParams::from(&self.args.sampling);
        self.show.chunk_table(&infos)?;
        let Some((name, describer)) = &self.model else {
            return Ok(());
        };
        let name = name.clone();
        let show = &mut self.show;
        let index = self.chunks;
        let described = describer.describe(
            &pixels,
            self.args.system.as_deref(),
            &prompt,
            &params,
            &mut |piece| show.text(index, piece),
        )?;
        match described {
            Ok(d) => {
                if self.args.verbose {
                    eprintln!(
                        "chunk {index}: prompt {} tokens at {:.1} tokens/s, generation {} tokens at {:.1} tokens/s",
                        d.prompt_tokens, d.prompt_tps, d.generated_tokens, d.generation_tps
                    );
                }
                self.show.chunk(Chunk {
                    index: self.chunks,
                    images: infos,
                    model: name,
                    text: d.text,
                    finish_reason: Some(d.finish_reason),
                    prompt_tokens: Some(d.prompt_tokens),
                    generated_tokens: Some(d.generated_tokens),
                })
            }
            Err(failure) => {
                // The chunk's images were counted one by one; all failed.
                self.failed += infos.len() as u64 - 1;
                self.item_error(failure.message())
            }
        }
    }

    fn photo_error(&mut self, error: &PhotoError, line: Option<u64>) -> Result<(), Closed> {
        let mut message = error.to_message();
        message.line = line;
        self.item_error(message)
    }

    fn item_error(&mut self, message: ErrorMessage) -> Result<(), Closed> {
        self.failed += 1;
        self.show.error(message)
    }

    fn summary(&mut self, exit: Exit) -> Result<Exit, Closed> {
        if self.args.verbose {
            if let Some(peak) = mlxk_runner::memory::process_peak_memory() {
                eprintln!("peak memory: {:.1} MB", peak as f64 / 1e6);
            }
        }
        self.show.summary(Summary {
            tool: "mlxk-vision".into(),
            total: self.total,
            ok: self.total.saturating_sub(self.failed),
            failed: self.failed,
            exit_code: exit.code(),
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        })?;
        Ok(exit)
    }
}

fn is_vision(model: &mlxk_core::ndjson::Model) -> bool {
    model.capabilities.iter().any(|c| c == "vision")
}

/// The cache's one healthy vision model, used when none is named.
fn only_vision_model(cache: &Cache) -> Result<mlxk_core::ndjson::Model, Failure> {
    let mut found = model::healthy_where(cache, is_vision).map_err(Failure::Resolve)?;
    match found.len() {
        0 => Err(Failure::NoModel),
        1 => Ok(found.remove(0)),
        _ => Err(Failure::ManyModels(
            found.into_iter().map(|m| m.name).collect(),
        )),
    }
}
