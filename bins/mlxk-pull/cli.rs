//! Command line of mlxk-pull.

use clap::{CommandFactory, Parser};
use mlxk_core::cli::Generate;

/// Download models from the Hugging Face Hub into the cache, resumably.
///
/// Writes the layout huggingface_hub writes (blobs, snapshot links,
/// trees/<commit>.json, refs) into HF_HUB_CACHE, else HF_HOME/hub, else
/// ~/.cache/huggingface/hub. Interrupted downloads resume where they stopped.
/// Honours HF_ENDPOINT (mirrors), HF_TOKEN (never printed) and HF_HUB_OFFLINE
/// (no network: report what is cached).
#[derive(Debug, Parser)]
#[command(
    name = "mlxk-pull",
    version,
    after_help = "Exit status: 0 all pulled and healthy; 1 some repository failed or is unhealthy; 2 usage or fatal error; 130 interrupted.\n\nExamples:\n  mlxk-pull mlx-community/Qwen3-0.6B-4bit\n  mlxk-pull org/name@v1.0 --json | jq 'select(.type==\"result\")'\n  mlxk-pull --include '*.json' org/name      only the configs\n  mlxk-list --json | mlxk-pull --json        refresh every cached model\n  mlxk-pull --from ./my-model me/my-model    a local folder into the cache\n  HF_ENDPOINT=https://hf-mirror.com mlxk-pull org/name"
)]
pub struct Args {
    /// Repositories as ORG/NAME or ORG/NAME@REVISION. Without any, names are
    /// read from standard input: plain lines, or NDJSON objects with a `name`
    /// (and optional `revision`), such as mlxk-list --json prints.
    #[arg(value_name = "ORG/NAME[@REV]")]
    pub names: Vec<String>,

    /// Branch, tag or commit for names that give none.
    #[arg(long, short = 'r', value_name = "REV")]
    pub revision: Option<String>,

    /// Only files matching GLOB (repeatable; replaces the MLX default set of
    /// weights, configs, tokenizer, processor and template files, README).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,

    /// Leave out files matching GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Import the folder DIR (a model converted or trained locally) as the one
    /// repository named, instead of downloading: written the way a pull writes
    /// (blobs by sha256 or git sha1, snapshot links, trees json, refs last).
    #[arg(long, value_name = "DIR")]
    pub from: Option<std::path::PathBuf>,

    /// Every file of the repository, as `hf download` takes.
    #[arg(long, conflicts_with = "include")]
    pub all: bool,

    /// Print NDJSON: progress lines, a result per repository, then a summary.
    #[arg(long)]
    pub json: bool,

    /// Seconds without data before a connection counts as stalled (also the
    /// connect timeout).
    #[arg(long, value_name = "SECS", env = "MLXK_TIMEOUT", default_value = "30")]
    pub timeout: f64,

    /// Give up after SECS in all (retries, waits and transfers included);
    /// what was downloaded is kept and resumes next time.
    #[arg(long, value_name = "SECS")]
    pub deadline: Option<f64>,

    /// Retries of a failed request or file, with exponential backoff.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub retries: u32,

    /// Files downloaded at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,

    /// Print the man page or a shell completion script.
    #[arg(long, value_name = "WHAT", hide = true)]
    pub generate: Option<Generate>,
}

pub fn command() -> clap::Command {
    Args::command()
}
