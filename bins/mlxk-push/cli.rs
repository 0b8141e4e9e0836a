//! Command line of mlxk-push.

use clap::{ArgGroup, CommandFactory, Parser};
use mlxk_core::cli::Generate;

/// Publish a model folder to the Hugging Face Hub, safely.
///
/// Checks the workspace first (the shared health rules; a folder inside the
/// Hugging Face cache is refused) and sends nothing from an unhealthy one
/// unless --force. Only files whose content differs from the remote (sha256
/// for LFS files, git blob sha1 for regular ones) travel; their hashes are
/// kept in DIR/.cache/huggingface/mlxk-push.json so a re-push does not read
/// the folder again. Uploads use the Hub's LFS protocol (basic and multipart,
/// no Xet), with retries, Retry-After and resumption: a re-run sends only
/// what the server lacks. Honours HF_ENDPOINT and HF_TOKEN (else the token
/// file); the token is never printed.
#[derive(Debug, Parser)]
#[command(
    name = "mlxk-push",
    version,
    group(ArgGroup::new("visibility").args(["private", "public"])),
    after_help = "Exit status: 0 pushed, nothing to push, dry run or check passed; 1 the push failed or the workspace is unhealthy; 2 usage or fatal error; 130 interrupted.\n\nExamples:\n  mlxk-push ./Qwen3-4bit me/Qwen3-4bit --create --private\n  mlxk-push ./Qwen3-4bit me/Qwen3-4bit --dry-run        what would change\n  mlxk-push ./Qwen3-4bit me/Qwen3-4bit --check-only     health only, no network\n  mlxk-list --json ./Qwen3-4bit | mlxk-push me/Qwen3-4bit --json"
)]
pub struct Args {
    /// The folder, then the repository. With only ORG/NAME, the folder is
    /// read from standard input: a plain line, or an NDJSON object with a
    /// `path` (as mlxk-list --json prints).
    #[arg(value_name = "DIR ORG/NAME", num_args = 1..=2, required_unless_present = "generate")]
    pub targets: Vec<String>,

    /// Create the repository when it does not exist (needs --private or --public).
    #[arg(long)]
    pub create: bool,

    /// A repository created by this push is private.
    #[arg(long)]
    pub private: bool,

    /// A repository created by this push is public.
    #[arg(long)]
    pub public: bool,

    /// Branch to commit to (created from the default branch when missing).
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    pub branch: String,

    /// Commit message.
    #[arg(long, short = 'm', visible_alias = "commit", value_name = "TEXT")]
    pub message: Option<String>,

    /// Only check the workspace's health; no network.
    #[arg(long, conflicts_with = "dry_run")]
    pub check_only: bool,

    /// Compare with the remote (read-only) and report what a push would add,
    /// change, delete and leave.
    #[arg(long)]
    pub dry_run: bool,

    /// Delete remote files that are not in the folder (.gitattributes is kept).
    #[arg(long)]
    pub delete: bool,

    /// Push even though the workspace is unhealthy.
    #[arg(long)]
    pub force: bool,

    /// Follow symbolic links that lead to files inside the folder (never one
    /// that leads outside it; links to folders are never walked). Without
    /// it, links are skipped and listed.
    #[arg(long)]
    pub follow_links: bool,

    /// Only files matching GLOB (repeatable; default: every file, less
    /// .hfignore, .git/ and .cache/huggingface/).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,

    /// Leave out files matching GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Print NDJSON: progress lines, the result, then a summary.
    #[arg(long)]
    pub json: bool,

    /// Print every file of the plan on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Seconds without progress before a transfer counts as stalled (also
    /// the connect timeout).
    #[arg(long, value_name = "SECS", env = "MLXK_TIMEOUT", default_value = "30")]
    pub timeout: f64,

    /// Give up after SECS in all (retries, waits and transfers included);
    /// nothing is committed, and a re-run sends only what the server lacks.
    #[arg(long, value_name = "SECS")]
    pub deadline: Option<f64>,

    /// Retries of a failed request or part, with exponential backoff.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub retries: u32,

    /// LFS files uploaded at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub jobs: usize,

    /// Print the man page or a shell completion script.
    #[arg(long, value_name = "WHAT", hide = true)]
    pub generate: Option<Generate>,
}

pub fn command() -> clap::Command {
    Args::command()
}
