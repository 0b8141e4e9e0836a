//! What mlxk-list does: gather the model objects, then render them for
//! people or as NDJSON — one data path, two renderings.

use std::time::Instant;

use mlxk_core::cache::{Cache, Repo};
use mlxk_core::exit::Exit;
use mlxk_core::model::{self, Detail};
use mlxk_core::ndjson::{Health, ListMessage, Model, Summary};
use mlxk_core::output::{report, Closed, Out};
use mlxk_core::Error;

use crate::cli::Args;
use crate::render;

pub fn run(args: &Args) -> Result<Exit, Closed> {
    let started = Instant::now();
    let cache = Cache::given_or_env(args.cache_dir.as_deref());
    let detail = Detail {
        files: args.files,
        config: args.config,
    };
    let mut out = Out::new(args.json);

    let models = match &args.show {
        Some(spec) => model::inspect(&cache, spec, detail).map(|m| vec![m]),
        None => cache.repos().map(|repos| {
            let pattern = args.pattern.as_deref().unwrap_or("").to_lowercase();
            let chosen: Vec<Repo> = repos
                .into_iter()
                .filter(|r| r.name.to_lowercase().contains(&pattern))
                .collect();
            describe_all(&chosen, detail)
        }),
    };
    let models = match models {
        Ok(m) => m,
        Err(e) => return fail(&mut out, args.json, &e, started),
    };
    if models.is_empty() {
        if let Some(p) = &args.pattern {
            return fail(
                &mut out,
                args.json,
                &Error::ModelNotFound(p.clone()),
                started,
            );
        }
    }

    let unhealthy = models
        .iter()
        .filter(|m| m.health == Health::Unhealthy)
        .count() as u64;
    let judged = args.health || args.check;
    let exit = if judged {
        Exit::from_failures(unhealthy)
    } else {
        Exit::Ok
    };
    let shown: Vec<&Model> = models
        .iter()
        .filter(|m| !args.check || m.health == Health::Unhealthy)
        .collect();

    if args.json {
        for m in &shown {
            out.json(&ListMessage::Model((*m).clone()))?;
        }
        out.json(&ListMessage::Summary(summary(
            &models, unhealthy, exit, started,
        )))?;
    } else if args.show.is_some() {
        out.text(&render::show(&models[0]))?;
    } else if !(args.check && shown.is_empty()) {
        let owned: Vec<Model> = shown.into_iter().cloned().collect();
        out.text(&render::table(&owned, judged))?;
    }
    out.flush()?;
    Ok(exit)
}

/// Describes repos on all cores; the order of `repos` is kept.
fn describe_all(repos: &[Repo], detail: Detail) -> Vec<Model> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if repos.len() < 8 || workers == 1 {
        return repos
            .iter()
            .map(|r| model::describe_repo(r, None, detail))
            .collect();
    }
    let per = repos.len().div_ceil(workers);
    std::thread::scope(|s| {
        let handles: Vec<_> = repos
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|r| model::describe_repo(r, None, detail))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("describe does not panic"))
            .collect()
    })
}

fn summary(models: &[Model], unhealthy: u64, exit: Exit, started: Instant) -> Summary {
    Summary {
        tool: "mlxk-list".into(),
        total: models.len() as u64,
        ok: models.len() as u64 - unhealthy,
        failed: unhealthy,
        exit_code: exit.code(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// Reports an error that stops the listing: exit 1 for a name that matches
/// nothing (as grep does), 2 for anything else.
fn fail(out: &mut Out, json: bool, error: &Error, started: Instant) -> Result<Exit, Closed> {
    let exit = match error {
        Error::ModelNotFound(_) | Error::AmbiguousMatch { .. } | Error::RevisionNotFound { .. } => {
            Exit::Partial
        }
        _ => Exit::Fatal,
    };
    if json {
        out.json(&ListMessage::Error(error.to_message()))?;
        let mut s = summary(&[], 0, exit, started);
        s.failed = 1;
        out.json(&ListMessage::Summary(s))?;
    }
    report(&error.to_string(), error.hint().as_deref());
    Ok(exit)
}
