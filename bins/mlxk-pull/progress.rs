//! Progress for people (indicatif bars on a terminal's stderr) or for
//! programs (throttled NDJSON `progress` lines on stdout with --json).
//! Anything else stays silent; notes (retries, waits) go to stderr.
//! Shared by mlxk-pull and mlxk-push (`tool` names the one speaking).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mlxk_core::hub::progress::Reporter;
use mlxk_core::ndjson::{Progress, PullMessage};
use mlxk_core::output::Out;

/// NDJSON progress, at most every `every` per file (and at each file's start and end).
pub struct Json {
    tool: &'static str,
    out: Rc<RefCell<Out>>,
    closed: Rc<Cell<bool>>,
    last: RefCell<HashMap<String, Instant>>,
    every: Duration,
}

impl Json {
    pub fn new(tool: &'static str, out: Rc<RefCell<Out>>, closed: Rc<Cell<bool>>) -> Self {
        Json {
            tool,
            out,
            closed,
            last: RefCell::new(HashMap::new()),
            every: Duration::from_millis(250),
        }
    }

    fn emit(&self, repo: &str, file: &str, bytes: u64, total: u64, force: bool) {
        let now = Instant::now();
        let mut last = self.last.borrow_mut();
        if !force
            && last
                .get(file)
                .is_some_and(|t| now.duration_since(*t) < self.every)
        {
            return;
        }
        last.insert(file.to_string(), now);
        let line = PullMessage::Progress(Progress {
            repo: repo.to_string(),
            file: file.to_string(),
            bytes,
            total_bytes: Some(total),
        });
        if self.out.borrow_mut().json(&line).is_err() {
            self.closed.set(true);
        }
    }
}

impl Reporter for Json {
    fn file_start(&self, repo: &str, file: &str, done: u64, total: u64) {
        self.emit(repo, file, done, total, true)
    }
    fn file_progress(&self, repo: &str, file: &str, done: u64, total: u64) {
        self.emit(repo, file, done, total, done == total)
    }
    fn note(&self, repo: &str, message: &str) {
        eprintln!("{}: {repo}: {message}", self.tool);
    }
}

/// Bars on stderr: one for the repository's total, one per running file.
pub struct Bars {
    tool: &'static str,
    multi: MultiProgress,
    total: RefCell<Option<ProgressBar>>,
    files: RefCell<HashMap<String, (ProgressBar, u64)>>,
}

impl Bars {
    pub fn new(tool: &'static str) -> Self {
        Bars {
            tool,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            total: RefCell::new(None),
            files: RefCell::new(HashMap::new()),
        }
    }

    fn style(template: &str) -> ProgressStyle {
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> ")
    }
}

impl Reporter for Bars {
    fn repo_start(&self, repo: &str, files: usize, bytes: u64) {
        let bar = self.multi.add(ProgressBar::new(bytes));
        bar.set_style(Self::style(
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ));
        bar.set_prefix(format!("{repo} ({files} files)"));
        if let Some(old) = self.total.replace(Some(bar)) {
            old.finish_and_clear();
        }
    }
    fn file_start(&self, _repo: &str, file: &str, done: u64, total: u64) {
        let mut files = self.files.borrow_mut();
        if let Some((bar, seen)) = files.get_mut(file) {
            // Started over (the server ignored Range): rewind.
            if let Some(t) = self.total.borrow().as_ref() {
                t.set_position(t.position().saturating_sub(*seen - done.min(*seen)));
            }
            *seen = done;
            bar.set_position(done);
            return;
        }
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(Self::style(
            "  {msg:30!} [{bar:20}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ));
        bar.set_message(file.to_string());
        bar.set_position(done);
        if let Some(t) = self.total.borrow().as_ref() {
            t.inc(done);
        }
        files.insert(file.to_string(), (bar, done));
    }
    fn file_progress(&self, _repo: &str, file: &str, done: u64, _total: u64) {
        if let Some((bar, seen)) = self.files.borrow_mut().get_mut(file) {
            if let Some(t) = self.total.borrow().as_ref() {
                t.inc(done.saturating_sub(*seen));
            }
            *seen = done;
            bar.set_position(done);
        }
    }
    fn file_end(&self, _repo: &str, file: &str, _ok: bool) {
        if let Some((bar, _)) = self.files.borrow_mut().remove(file) {
            bar.finish_and_clear();
        }
    }
    fn note(&self, repo: &str, message: &str) {
        let _ = self
            .multi
            .println(format!("{}: {repo}: {message}", self.tool));
    }
}

impl Bars {
    pub fn finish(&self) {
        if let Some(t) = self.total.take() {
            t.finish_and_clear();
        }
        for (_, (bar, _)) in self.files.borrow_mut().drain() {
            bar.finish_and_clear();
        }
    }
}

/// No bars; notes still reach stderr (prefixed with the tool's name).
pub struct Quiet(pub &'static str);

impl Reporter for Quiet {
    fn note(&self, repo: &str, message: &str) {
        eprintln!("{}: {repo}: {message}", self.0);
    }
}
