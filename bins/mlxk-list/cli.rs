//! Command line of mlxk-list.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use mlxk_core::cli::Generate;

/// List, show and health-check models in the Hugging Face cache.
///
/// Reads the cache at HF_HUB_CACHE, else HF_HOME/hub, else
/// ~/.cache/huggingface/hub. Never writes to it.
#[derive(Debug, Parser)]
#[command(
    name = "mlxk-list",
    version,
    after_help = "Exit status: 0 ok; 1 a model is unhealthy (--health, --check) or the pattern matched nothing; 2 usage or fatal error.\n\nExamples:\n  mlxk-list                      table of cached models\n  mlxk-list qwen --json | jq .   NDJSON, one model per line, then a summary\n  mlxk-list --health             health verdicts with reasons\n  mlxk-list --check              for cron: silent and 0 when all are healthy\n  mlxk-list --show Qwen3-4B --files"
)]
pub struct Args {
    /// Only models whose name contains PATTERN (case-insensitive).
    pub pattern: Option<String>,

    /// Print NDJSON: one model object per line, then a summary line.
    #[arg(long)]
    pub json: bool,

    /// Show the health verdict and its reason; exit 1 if any model is unhealthy.
    #[arg(long)]
    pub health: bool,

    /// For cron: print only unhealthy models; exit 1 if there are any, else print nothing.
    #[arg(long, conflicts_with_all = ["show"])]
    pub check: bool,

    /// Show one model in depth (org/name, a unique part of it, name@hash, or a directory).
    #[arg(long, value_name = "MODEL", conflicts_with = "pattern")]
    pub show: Option<String>,

    /// With --show (or --json): list the snapshot's files.
    #[arg(long)]
    pub files: bool,

    /// With --show (or --json): include config.json.
    #[arg(long)]
    pub config: bool,

    /// Cache directory to read instead of the environment's.
    #[arg(long, value_name = "DIR", env = "HF_HUB_CACHE", hide_env_values = true)]
    pub cache_dir: Option<PathBuf>,

    /// Print the man page or a shell completion script.
    #[arg(long, value_name = "WHAT", hide = true)]
    pub generate: Option<Generate>,
}

pub fn command() -> clap::Command {
    Args::command()
}
