//! Command line of mlxk-run.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use mlxk_core::cli::{Generate, Sampling};

/// Generate text with a local MLX model.
///
/// The prompt comes from the arguments, --prompt, or standard input: plain
/// text (one prompt), or NDJSON `request` lines answered in order with the
/// model loaded once. Other tools' NDJSON is understood: an mlxk-list `model`
/// line chooses the model, and mlxk-vision chunks, mlxk-audio transcripts and
/// earlier results become context for --prompt (see docs/ndjson.md).
#[derive(Debug, Parser)]
#[command(
    name = "mlxk-run",
    version,
    after_help = "Exit status: 0 ok; 1 some requests failed; 2 usage or fatal error (unknown, ambiguous or unhealthy model, unsupported architecture, too little memory); 130 interrupted.\n\nEnvironment: HF_HUB_CACHE or HF_HOME (the cache); MLXK_MEMORY_LIMIT (e.g. 2G: cap on the memory a model may use; the gate refuses above it); MLXK_THREADS (threads for quantized matrix products on the CPU backend; default: every core); MLXK_CPU_KERNEL=mlx (quantized products through the MLX kernel instead).\n\nExamples:\n  mlxk-run SmolLM2 \"What is the capital of France?\"\n  echo \"Tell me a joke\" | mlxk-run SmolLM2 --system \"Be brief.\"\n  mlxk-run SmolLM2 --json < requests.ndjson\n  mlxk-list --json SmolLM2 | mlxk-run --prompt \"Hello\"\n  find photos -name '*.jpg' | mlxk-vision --chunk 4 | mlxk-run SmolLM2 --prompt \"Where were these taken?\""
)]
pub struct Args {
    /// Model: org/name, a unique part of it, name@hash, or a directory.
    /// Optional when standard input carries an mlxk-list `model` line (a
    /// first argument with a space in it is then taken as the prompt).
    pub model: Option<String>,

    /// Prompt words (joined with spaces).
    pub prompt_words: Vec<String>,

    /// Prompt; standard input, if any, is context placed before it.
    #[arg(short, long)]
    pub prompt: Option<String>,

    /// System prompt.
    #[arg(short, long)]
    pub system: Option<String>,

    /// Emit NDJSON: deltas as they come, a result per request, then a summary.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub sampling: Sampling,

    /// Send the prompt as is, without the model's chat template.
    #[arg(long)]
    pub no_chat_template: bool,

    /// Load even when the memory gate says the model will not fit.
    #[arg(long)]
    pub force: bool,

    /// Print prompt and generation speed and peak memory on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// Cache directory to read instead of the environment's.
    #[arg(long, value_name = "DIR", env = "HF_HUB_CACHE", hide_env_values = true)]
    pub cache_dir: Option<PathBuf>,

    /// Print the man page or a shell completion script.
    #[arg(long, value_name = "WHAT", hide = true)]
    pub generate: Option<Generate>,
}

impl Args {
    /// The model named on the command line. Model names have no spaces: a
    /// first argument with whitespace (`mlxk-run "a question"`) is a prompt.
    pub fn model_spec(&self) -> Option<String> {
        self.model.clone().filter(|m| !is_prompt_like(m))
    }

    /// The prompt given on the command line, if any; a blank one is none.
    pub fn argument_prompt(&self) -> Option<String> {
        let words: Vec<&str> = self
            .model
            .iter()
            .filter(|m| is_prompt_like(m))
            .chain(&self.prompt_words)
            .map(String::as_str)
            .collect();
        let prompt = match (&self.prompt, words.is_empty()) {
            (Some(p), true) => p.clone(),
            (Some(p), false) => format!("{} {p}", words.join(" ")),
            (None, false) => words.join(" "),
            (None, true) => return None,
        };
        (!prompt.trim().is_empty()).then_some(prompt)
    }
}

fn is_prompt_like(word: &str) -> bool {
    word.chars().any(char::is_whitespace)
}

pub fn command() -> clap::Command {
    Args::command()
}
