//! Runs the pulls one repository after another and reports each.

use std::cell::{Cell, RefCell};
use std::io::IsTerminal;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlxk_core::cache::Cache;
use mlxk_core::exit::Exit;
use mlxk_core::hub::client::HubClient;
use mlxk_core::hub::config::HubConfig;
use mlxk_core::hub::filter::Filter;
use mlxk_core::hub::progress::Reporter;
use mlxk_core::hub::pull::{self, Options};
use mlxk_core::ndjson::{DownloadStatus, ErrorMessage, Health, PullMessage, PullResult, Summary};
use mlxk_core::output::{report, Closed, Out};

use crate::cli::Args;
use crate::input;
use crate::progress::{Bars, Json, Quiet};

pub fn main(args: Args) -> Exit {
    let usage = |message: &str, hint: Option<&str>| {
        report(message, hint);
        Exit::Fatal
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return usage("--timeout must be a positive number of seconds", None);
    }
    if args.deadline.is_some_and(|d| !(d.is_finite() && d > 0.0)) {
        return usage("--deadline must be a positive number of seconds", None);
    }
    let filter = match Filter::new(&args.include, &args.exclude, args.all) {
        Ok(f) => f,
        Err(e) => return usage(&e.to_string(), None),
    };
    let Some(items) = input::requests(&args.names, args.revision.as_deref()) else {
        return usage(
            "no repository given",
            Some("mlxk-pull ORG/NAME, or names on standard input (one per line or NDJSON)"),
        );
    };
    if args.from.is_some() && items.len() != 1 {
        return usage(
            "--from imports one folder as one repository",
            Some("mlxk-pull --from DIR ORG/NAME"),
        );
    }
    let mut config = HubConfig::from_env().for_tool("mlxk-pull");
    config.timeout = Duration::from_secs_f64(args.timeout);
    config.deadline = args.deadline.map(Duration::from_secs_f64);
    config.backoff.retries = args.retries;
    let client = match HubClient::new(config) {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string(), None),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage(&format!("cannot start the runtime: {e}"), None),
    };
    let options = Options {
        filter,
        jobs: args.jobs,
    };
    let exit = runtime.block_on(async {
        tokio::select! {
            exit = run(&args, &client, items, &options) => exit,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("\nmlxk-pull: interrupted; partial files stay as blobs/*.incomplete and resume next time");
                Exit::Interrupted
            }
        }
    });
    // Do not wait for a lock wait or a hash in the blocking pool.
    runtime.shutdown_background();
    exit
}

async fn run(args: &Args, client: &HubClient, items: Vec<input::Item>, options: &Options) -> Exit {
    let started = Instant::now();
    let cache = Cache::from_env();
    let out = Rc::new(RefCell::new(Out::new(true)));
    let closed = Rc::new(Cell::new(false));
    let bars = (!args.json && std::io::stderr().is_terminal()).then(|| Bars::new("mlxk-pull"));
    let json = args
        .json
        .then(|| Json::new("mlxk-pull", out.clone(), closed.clone()));
    let reporter: &dyn Reporter = match (&json, &bars) {
        (Some(j), _) => j,
        (None, Some(b)) => b,
        _ => &Quiet("mlxk-pull"),
    };
    let (mut ok, mut failed) = (0u64, 0u64);
    for item in items {
        let shown = match item {
            input::Item::Bad(e) => {
                failed += 1;
                show_error(args.json, &out, &e)
            }
            input::Item::Pull(request) => {
                let result = match &args.from {
                    Some(dir) => pull::import(&cache, dir, &request, reporter).await,
                    None => pull::pull(client, &cache, &request, options, reporter).await,
                };
                if let Some(b) = &bars {
                    b.finish();
                }
                if went_well(&result) {
                    ok += 1;
                } else {
                    failed += 1;
                }
                show_result(args.json, &out, &result)
            }
        };
        if shown.is_err() || closed.get() {
            return Exit::Ok;
        }
    }
    let exit = Exit::from_failures(failed);
    if args.json {
        let summary = PullMessage::Summary(Summary {
            tool: "mlxk-pull".into(),
            total: ok + failed,
            ok,
            failed,
            exit_code: exit.code(),
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
        if out.borrow_mut().json(&summary).is_err() {
            return Exit::Ok;
        }
    }
    exit
}

/// Pulled (or already there) and healthy.
fn went_well(r: &PullResult) -> bool {
    matches!(
        r.download_status,
        DownloadStatus::Success | DownloadStatus::AlreadyExists
    ) && r.health != Some(Health::Unhealthy)
}

fn show_error(json: bool, out: &Rc<RefCell<Out>>, e: &ErrorMessage) -> Result<(), Closed> {
    if json {
        out.borrow_mut().json(&PullMessage::Error(e.clone()))
    } else {
        let at = e.line.map(|l| format!("line {l}: ")).unwrap_or_default();
        report(&format!("{at}{}", e.message), e.hint.as_deref());
        Ok(())
    }
}

fn show_result(json: bool, out: &Rc<RefCell<Out>>, r: &PullResult) -> Result<(), Closed> {
    if json {
        return out.borrow_mut().json(&PullMessage::Result(r.clone()));
    }
    let rev = r.revision.as_deref().unwrap_or("main");
    let status = serde_json::to_value(r.download_status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    if !matches!(
        r.download_status,
        DownloadStatus::Success | DownloadStatus::AlreadyExists
    ) {
        report(
            &format!(
                "{}@{rev}: {status}: {}",
                r.name,
                r.reason.as_deref().unwrap_or("")
            ),
            r.hint.as_deref().or(hint(r.download_status)),
        );
        return Ok(());
    }
    let health = match (r.health, &r.reason) {
        (Some(Health::Unhealthy), Some(why)) => format!("unhealthy: {why}"),
        (Some(Health::Unhealthy), None) => "unhealthy".into(),
        _ => "healthy".into(),
    };
    let line = format!(
        "{}@{rev}\t{status}\t{} files, {} in {:.1}s\t{health}\t{}",
        r.name,
        r.files,
        human_bytes(r.bytes),
        r.seconds,
        r.path.as_deref().unwrap_or("")
    );
    out.borrow_mut().line(&line)
}

fn hint(status: DownloadStatus) -> Option<&'static str> {
    match status {
        DownloadStatus::AccessDenied => {
            Some("a gated or private repository needs HF_TOKEN with access (accept its terms on the Hub)")
        }
        DownloadStatus::NotFound => {
            Some("check the name and revision; a private repository also needs HF_TOKEN")
        }
        DownloadStatus::Offline => Some("unset HF_HUB_OFFLINE to download"),
        _ => Some("run the same command again: finished files are kept and partial ones resume"),
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
