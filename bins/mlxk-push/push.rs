//! Runs one push and reports it, for people or as NDJSON.

use std::cell::{Cell, RefCell};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlxk_core::cache::Cache;
use mlxk_core::exit::Exit;
use mlxk_core::hub::client::HubClient;
use mlxk_core::hub::config::HubConfig;
use mlxk_core::hub::filter::Filter;
use mlxk_core::hub::progress::Reporter;
use mlxk_core::hub::upload::{self, Options, Request};
use mlxk_core::hub::HubError;
use mlxk_core::ndjson::{ErrorMessage, FileAction, PushMessage, PushResult, PushStatus, Summary};
use mlxk_core::output::{report, Out};

use crate::cli::Args;
use crate::input;
use crate::progress::{Bars, Json, Quiet};

const TOOL: &str = "mlxk-push";

pub fn main(args: Args) -> Exit {
    let started = Instant::now();
    let out = Rc::new(RefCell::new(Out::new(true)));
    let fail_with = |code: &str, message: String, hint: Option<&str>| {
        if args.json {
            let e = PushMessage::Error(ErrorMessage {
                code: code.into(),
                message,
                hint: hint.map(str::to_string),
                line: None,
                id: None,
                path: None,
                candidates: Vec::new(),
            });
            let _ = out.borrow_mut().json(&e);
            summary(&out, 0, 1, Exit::Fatal, started);
        } else {
            report(&message, hint);
        }
        Exit::Fatal
    };
    let fail = |message: String, hint: Option<&str>| fail_with("validation_error", message, hint);
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return fail(
            "--timeout must be a positive number of seconds".into(),
            None,
        );
    }
    if args.deadline.is_some_and(|d| !(d.is_finite() && d > 0.0)) {
        return fail(
            "--deadline must be a positive number of seconds".into(),
            None,
        );
    }
    let (dir, repo) = match args.targets.as_slice() {
        [dir, repo] => (dir.clone(), repo.clone()),
        [repo] => match input::folder_from_stdin() {
            Ok(dir) => (dir, repo.clone()),
            Err(e) => {
                return fail(
                    e,
                    Some("mlxk-push DIR ORG/NAME, or the folder on standard input"),
                )
            }
        },
        _ => return fail("give DIR and ORG/NAME".into(), None),
    };
    let filter = match Filter::new(&args.include, &args.exclude, true) {
        Ok(f) => f,
        Err(e) => return fail(e.to_string(), None),
    };
    let mut config = HubConfig::from_env().for_tool(TOOL);
    config.timeout = Duration::from_secs_f64(args.timeout);
    config.deadline = args.deadline.map(Duration::from_secs_f64);
    config.backoff.retries = args.retries;
    let client = match HubClient::new(config) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string(), None),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}"), None),
    };
    let request = Request {
        dir: PathBuf::from(dir),
        repo,
        branch: args.branch.clone(),
    };
    let options = Options {
        create: args.create,
        private: match (args.private, args.public) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        message: args.message.clone(),
        check_only: args.check_only,
        dry_run: args.dry_run,
        delete: args.delete,
        force: args.force,
        filter,
        jobs: args.jobs,
        follow_links: args.follow_links,
    };
    let closed = Rc::new(Cell::new(false));
    let bars = (!args.json && std::io::stderr().is_terminal()).then(|| Bars::new(TOOL));
    let json = args
        .json
        .then(|| Json::new(TOOL, out.clone(), closed.clone()));
    let reporter: &dyn Reporter = match (&json, &bars) {
        (Some(j), _) => j,
        (None, Some(b)) => b,
        _ => &Quiet(TOOL),
    };
    let cache_root = Cache::from_env().root().to_path_buf();
    let outcome = runtime.block_on(async {
        tokio::select! {
            r = upload::push(&client, &cache_root, &request, &options, reporter) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    runtime.shutdown_background();
    if let Some(b) = &bars {
        b.finish();
    }
    let result = match outcome {
        None => {
            eprintln!("\n{TOOL}: interrupted; nothing was committed. Run it again: objects the server already has are not sent again");
            if args.json {
                summary(&out, 0, 1, Exit::Interrupted, started);
            }
            return Exit::Interrupted;
        }
        Some(Err(e @ HubError::Offline(_))) => {
            let hint = e.hint();
            return fail_with("offline", e.to_string(), hint.as_deref());
        }
        Some(Err(e)) => {
            let hint = match e.to_string() {
                m if m.contains("token") => {
                    Some("export HF_TOKEN=hf_… (a token with write access)")
                }
                m if m.contains("cache") => Some("push a workspace folder, not a cache snapshot"),
                _ => None,
            };
            return fail(e.to_string(), hint);
        }
        Some(Ok(r)) => r,
    };
    let ok = matches!(
        result.status,
        PushStatus::Success | PushStatus::NoChanges | PushStatus::DryRun | PushStatus::Checked
    );
    let exit = if ok { Exit::Ok } else { Exit::Partial };
    if !args.json {
        for s in &result.skipped {
            eprintln!("{TOOL}: skipped {}: {}", s.path, s.reason);
        }
    }
    if args.verbose || (args.dry_run && !args.json) {
        for f in &result.files {
            eprintln!(
                "{:<9} {:>12}  {}{}",
                action(f.action),
                human_bytes(f.size),
                f.path,
                f.mode
                    .as_deref()
                    .map(|m| format!("  ({m})"))
                    .unwrap_or_default()
            );
        }
    }
    if args.json {
        if out
            .borrow_mut()
            .json(&PushMessage::Result(result.clone()))
            .is_err()
            || closed.get()
        {
            return Exit::Ok;
        }
        summary(&out, u64::from(ok), u64::from(!ok), exit, started);
    } else {
        show(&out, &result);
    }
    exit
}

fn summary(out: &Rc<RefCell<Out>>, ok: u64, failed: u64, exit: Exit, started: Instant) {
    let s = PushMessage::Summary(Summary {
        tool: TOOL.into(),
        total: ok + failed,
        ok,
        failed,
        exit_code: exit.code(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    });
    let _ = out.borrow_mut().json(&s);
}

fn action(a: FileAction) -> &'static str {
    match a {
        FileAction::Added => "added",
        FileAction::Changed => "changed",
        FileAction::Deleted => "deleted",
        FileAction::Unchanged => "unchanged",
    }
}

fn status(s: PushStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn show(out: &Rc<RefCell<Out>>, r: &PushResult) {
    let target = format!("{}@{}", r.repo, r.branch);
    match r.status {
        PushStatus::Unhealthy => report(
            &format!(
                "{}: unhealthy workspace, nothing sent: {}",
                r.path,
                r.reason.as_deref().unwrap_or("")
            ),
            Some("fix the folder, or push it anyway with --force"),
        ),
        PushStatus::AccessDenied | PushStatus::NotFound | PushStatus::Failed => report(
            &format!(
                "{target}: {}: {}",
                status(r.status),
                r.reason.as_deref().unwrap_or("")
            ),
            Some(match r.status {
                PushStatus::AccessDenied => "HF_TOKEN needs write access to this repository",
                PushStatus::NotFound => {
                    "check ORG/NAME; create it with --create --private (or --public)"
                }
                _ => "run the same command again: what the server already has is not sent again",
            }),
        ),
        PushStatus::Checked => {
            let _ = out
                .borrow_mut()
                .line(&format!("{}\thealthy\tready to push", r.path));
        }
        _ => {
            let counts = format!(
                "{} added, {} changed, {} deleted, {} unchanged",
                r.added, r.changed, r.deleted, r.unchanged
            );
            let line = match r.status {
                PushStatus::Success => format!(
                    "{target}\tsuccess\t{counts}; sent {} files, {} in {:.1}s\t{}",
                    r.uploaded_files,
                    human_bytes(r.uploaded_bytes),
                    r.seconds,
                    r.commit_url
                        .as_deref()
                        .or(r.commit.as_deref())
                        .unwrap_or("")
                ),
                PushStatus::DryRun => format!(
                    "{target}\tdry run\t{counts}{}",
                    if r.created {
                        "; the repository would be created"
                    } else {
                        ""
                    }
                ),
                _ => format!("{target}\tno changes\t{counts}"),
            };
            let _ = out.borrow_mut().line(&line);
        }
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
