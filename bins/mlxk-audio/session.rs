//! One run of mlxk-audio: choose and load the model once, transcribe each file in
//! order (a bad file is reported and the rest go on), report, pick the exit status.

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mlxk_audio_io::{AudioError, AudioStream};
use mlxk_core::cache::Cache;
use mlxk_core::exit::Exit;
use mlxk_core::model::{self, Detail};
use mlxk_core::ndjson::{self, AudioMessage, FileError, Health, ModelType, Summary};
use mlxk_core::output::{report, Closed, Out};
use mlxk_runner::memory::process_peak_memory;
use mlxk_runner::whisper::{
    self, language_code, SampleSource, Task, TranscribeOptions, Transcript, VadGate, Whisper,
};
use mlxk_runner::LoadOptions;

use crate::cli::{Args, TaskArg};
use crate::failure::Failure;
use crate::input::{self, Item};
use crate::writers;

pub struct Session<'a> {
    args: &'a Args,
    out: Out,
    interrupt: Arc<AtomicBool>,
    started: Instant,
    total: u64,
    failed: u64,
}

/// Samples from a decoding file; keeps the decoder's own error for the report.
struct Decoded {
    stream: AudioStream,
    error: Option<AudioError>,
}

impl SampleSource for Decoded {
    fn next_samples(&mut self) -> Result<Option<Vec<f32>>, String> {
        self.stream.next_chunk().map_err(|e| {
            let text = e.to_string();
            self.error = Some(e);
            text
        })
    }
}

impl<'a> Session<'a> {
    pub fn new(args: &'a Args, interrupt: Arc<AtomicBool>) -> Self {
        Session {
            args,
            out: Out::new(true),
            interrupt,
            started: Instant::now(),
            total: 0,
            failed: 0,
        }
    }

    pub fn run(mut self) -> Exit {
        match self.drive() {
            Ok(exit) => exit,
            Err(Closed) => Exit::Ok,
        }
    }

    fn drive(&mut self) -> Result<Exit, Closed> {
        let options = match self.options() {
            Ok(o) => o,
            Err(f) => return self.fatal(f),
        };
        let (name, whisper) = match self.load() {
            Ok(loaded) => loaded,
            Err(f) => return self.fatal(f),
        };
        mlxk_runner::heap::reuse_freed_buffers();
        if let (Some(l), false) = (&options.language, whisper.tokenizer.is_multilingual()) {
            if l != "en" {
                return self.fatal(Failure::Usage(format!(
                    "{name} is English-only; it cannot take --language {l}"
                )));
            }
        }
        if options.task == Task::Translate && !whisper.tokenizer.is_multilingual() {
            return self.fatal(Failure::Usage(format!(
                "{name} is English-only; --task translate needs a multilingual model"
            )));
        }
        let mut seen = false;
        for item in input::items(&self.args.files) {
            seen = true;
            if self.interrupted() {
                break;
            }
            self.total += 1;
            match item {
                Item::Malformed { line, why } => {
                    self.item_error(Failure::Malformed(why).message(Some(line)), None)?;
                }
                Item::File { name: file, line } => {
                    if let Err(failure) = self.file(&file, &name, &whisper, &options)? {
                        self.item_error(failure.message(line), Some(file))?;
                    }
                }
            }
        }
        if !seen {
            return self.fatal(Failure::NoInput);
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

    fn options(&self) -> Result<TranscribeOptions, Failure> {
        let a = self.args;
        let language = match &a.language {
            Some(l) => Some(
                language_code(l)
                    .ok_or_else(|| Failure::Usage(format!("unknown language `{l}`")))?
                    .to_string(),
            ),
            None => None,
        };
        if a.temperature.iter().any(|t| !(0.0..=2.0).contains(t)) {
            return Err(Failure::Usage(
                "temperatures must be between 0 and 2".into(),
            ));
        }
        if a.json && a.output_dir.as_deref() == Some(Path::new("-")) {
            return Err(Failure::Usage(
                "--json and --output-dir - both want standard output".into(),
            ));
        }
        let defaults = TranscribeOptions::default();
        Ok(TranscribeOptions {
            task: match a.task {
                TaskArg::Transcribe => Task::Transcribe,
                TaskArg::Translate => Task::Translate,
            },
            language,
            temperatures: if a.temperature.is_empty() {
                defaults.temperatures
            } else {
                a.temperature.clone()
            },
            compression_ratio_threshold: Some(a.compression_ratio_threshold),
            logprob_threshold: Some(a.logprob_threshold),
            no_speech_threshold: Some(a.no_speech_threshold),
            condition_on_previous_text: !a.no_condition,
            initial_prompt: a.initial_prompt.clone(),
            vad: (!a.no_vad).then(|| VadGate {
                threshold_db: a.vad_threshold,
                ..VadGate::default()
            }),
            seed: a.seed,
            word_timestamps: a.word_timestamps,
            prepend_punctuations: a.prepend_punctuations.clone(),
            append_punctuations: a.append_punctuations.clone(),
        })
    }

    /// Resolves the model (or finds the cache's only Whisper model) and loads it.
    fn load(&self) -> Result<(String, Whisper), Failure> {
        let cache = Cache::given_or_env(self.args.cache_dir.as_deref());
        let found = match &self.args.model {
            Some(spec) => {
                model::inspect(&cache, spec, Detail::default()).map_err(Failure::Resolve)?
            }
            None => only_whisper(&cache)?,
        };
        if found.health == Health::Unhealthy {
            return Err(Failure::Unhealthy {
                name: found.name,
                reason: found.reason.unwrap_or_default(),
            });
        }
        let path = PathBuf::from(&found.path);
        if !whisper::is_whisper(&path) {
            let what = found
                .architecture
                .map(|a| format!("architecture {a}"))
                .unwrap_or_else(|| "no Whisper config.json".into());
            return Err(Failure::NotWhisper {
                name: found.name,
                what,
            });
        }
        let options = LoadOptions {
            check_memory: !self.args.force,
            ..LoadOptions::default()
        };
        let whisper = Whisper::load(&path, &options).map_err(Failure::Runner)?;
        if self.args.verbose {
            eprintln!("{}: {}", found.name, whisper.load_notes());
            eprintln!("{}: {}", found.name, whisper.decode_step());
        }
        Ok((found.name, whisper))
    }

    /// Transcribes one file. `Ok(Err(_))` is this file's failure; `Err(Closed)` ends the run.
    fn file(
        &mut self,
        file: &str,
        model: &str,
        whisper: &Whisper,
        options: &TranscribeOptions,
    ) -> Result<Result<(), Failure>, Closed> {
        let opened = if file == "-" {
            let mut bytes = Vec::new();
            match std::io::stdin().read_to_end(&mut bytes) {
                Ok(_) => AudioStream::from_bytes(bytes),
                Err(source) => Err(AudioError::Io {
                    path: "-".into(),
                    source,
                }),
            }
        } else {
            AudioStream::open(Path::new(file))
        };
        let mut source = match opened {
            Ok(stream) => Decoded {
                stream,
                error: None,
            },
            Err(e) => return Ok(Err(Failure::Audio(e))),
        };
        let started = Instant::now();
        let (json, verbose) = (self.args.json, self.args.verbose);
        let word_timestamps = options.word_timestamps;
        let out = RefCell::new(&mut self.out);
        let closed = RefCell::new(false);
        let on_segment = |s: &whisper::Segment| {
            if verbose {
                eprintln!(
                    "[{} --> {}] {}",
                    clock(s.start),
                    clock(s.end),
                    s.text.trim()
                );
            }
            if json && !*closed.borrow() {
                let line = AudioMessage::Segment(ndjson::Segment {
                    file: file.to_string(),
                    id: s.id as u64,
                    start: round3(s.start),
                    end: round3(s.end),
                    text: s.text.clone(),
                    tokens: s.tokens.clone(),
                    temperature: s.temperature as f64,
                    avg_logprob: s.avg_logprob,
                    no_speech_prob: s.no_speech_prob,
                    words: word_timestamps.then(|| {
                        s.words
                            .iter()
                            .map(|w| ndjson::Word {
                                word: w.word.clone(),
                                start: round3(w.start),
                                end: round3(w.end),
                                probability: w.probability,
                            })
                            .collect()
                    }),
                });
                if out.borrow_mut().json(&line).is_err() {
                    *closed.borrow_mut() = true;
                    self.interrupt.store(true, Ordering::SeqCst);
                }
            }
        };
        let result = whisper.transcribe(&mut source, options, on_segment, Some(&self.interrupt));
        if *closed.borrow() {
            return Err(Closed);
        }
        let transcript = match result {
            Ok(t) => t,
            Err(e) => {
                return Ok(Err(match source.error.take() {
                    Some(audio) => Failure::Audio(audio),
                    None => Failure::Runner(e),
                }))
            }
        };
        let elapsed = started.elapsed().as_secs_f64();
        let rtf = if transcript.duration > 0.0 {
            elapsed / transcript.duration
        } else {
            0.0
        };
        let peak = process_peak_memory().unwrap_or(0);
        if self.args.verbose {
            eprintln!(
                "{file}: {:.1} s of audio in {elapsed:.2} s (real-time factor {rtf:.3}), language {}, {} windows decoded, {} skipped as silent, peak memory {:.3} GB",
                transcript.duration, transcript.language, transcript.windows, transcript.skipped_windows, peak as f64 / 1e9
            );
        }
        if let Err(f) = self.write_format(file, &transcript)? {
            return Ok(Err(f));
        }
        if self.args.json {
            self.out
                .json(&AudioMessage::Transcript(ndjson::Transcript {
                    file: file.to_string(),
                    model: model.to_string(),
                    language: transcript.language.clone(),
                    language_probability: transcript.language_probability,
                    task: options.task.as_str().into(),
                    text: transcript.text.trim().to_string(),
                    seconds: round3(transcript.duration),
                    segments: transcript
                        .segments
                        .iter()
                        .filter(|s| !s.text.is_empty())
                        .count() as u64,
                    skipped_windows: transcript.skipped_windows as u64,
                    real_time_factor: (rtf * 1e4).round() / 1e4,
                    peak_memory_bytes: peak,
                }))?;
        } else if self.args.format.is_none() {
            if self.args.files.len() > 1 {
                self.out.line(&format!("==> {file} <=="))?;
            }
            self.out.line(transcript.text.trim())?;
        }
        Ok(Ok(()))
    }

    /// `--format`: the transcript as a file in --output-dir, or on stdout with `-o -`.
    fn write_format(&mut self, file: &str, t: &Transcript) -> Result<Result<(), Failure>, Closed> {
        let Some(format) = self.args.format else {
            return Ok(Ok(()));
        };
        let text = writers::render(t, format, &self.subtitles());
        let dir = self
            .args
            .output_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."));
        if dir == Path::new("-") {
            self.out.text(&text)?;
            return Ok(Ok(()));
        }
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| file != "-" && !s.is_empty())
            .unwrap_or("stdin");
        let target = dir.join(format!("{stem}.{}", format.extension()));
        if target.exists() && !self.args.overwrite {
            return Ok(Err(Failure::Output(format!(
                "{} exists; not overwriting it",
                target.display()
            ))));
        }
        let written = std::fs::create_dir_all(&dir)
            .and_then(|_| {
                let tmp = dir.join(format!(".{stem}.{}.partial", format.extension()));
                std::fs::write(&tmp, text.as_bytes())?;
                std::fs::rename(&tmp, &target)
            })
            .map_err(|e| Failure::Output(format!("cannot write {}: {e}", target.display())));
        if let Err(f) = written {
            return Ok(Err(f));
        }
        if !self.args.json {
            self.out.line(&target.display().to_string())?;
        }
        Ok(Ok(()))
    }

    /// How srt and vtt cut cues: by segment, or by words with --word-timestamps.
    fn subtitles(&self) -> writers::Subtitles {
        let a = self.args;
        writers::Subtitles {
            word_level: a.word_timestamps,
            max_line_width: a.max_line_width,
            max_line_count: a.max_line_count,
            max_words_per_line: a.max_words_per_line,
            highlight_words: a.highlight_words,
        }
    }

    fn item_error(
        &mut self,
        message: ndjson::ErrorMessage,
        file: Option<String>,
    ) -> Result<(), Closed> {
        self.failed += 1;
        let shown = match &file {
            Some(f) => format!("{f}: {}", message.message),
            None => message.message.clone(),
        };
        report(&shown, message.hint.as_deref());
        if self.args.json {
            self.out.json(&AudioMessage::Error(FileError {
                error: message,
                file,
            }))?;
        }
        Ok(())
    }

    fn fatal(&mut self, failure: Failure) -> Result<Exit, Closed> {
        self.total += 1;
        self.item_error(failure.message(None), None)?;
        self.summary(Exit::Fatal)
    }

    fn summary(&mut self, exit: Exit) -> Result<Exit, Closed> {
        if self.args.json {
            self.out.json(&AudioMessage::Summary(Summary {
                tool: "mlxk-audio".into(),
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

/// The cache's one healthy Whisper model.
fn only_whisper(cache: &Cache) -> Result<ndjson::Model, Failure> {
    let mut found = model::healthy_where(cache, |m| m.model_type == ModelType::Audio)
        .map_err(Failure::Resolve)?;
    match found.len() {
        0 => Err(Failure::NoModel),
        1 => Ok(found.remove(0)),
        _ => Err(Failure::ManyModels(
            found.into_iter().map(|m| m.name).collect(),
        )),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn clock(seconds: f64) -> String {
    let ms = (seconds * 1000.0).round() as u64;
    format!("{:02}:{:02}.{:03}", ms / 60_000, ms / 1000 % 60, ms % 1000)
}
