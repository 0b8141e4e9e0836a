//! Generated documentation: every binary has a hidden `--generate WHAT`
//! that prints its man page or a shell completion script, made from the same
//! clap definition the parser uses. `scripts/gen-docs.sh` writes them into
//! `man/` and `completions/`; a test fails when the committed files differ.

use std::io::Write;

use clap::ValueEnum;

/// Date the man pages carry: that of the current release.
const RELEASE_DATE: &str = "2026-11-22";

/// What `--generate` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    Man,
    Bash,
    Zsh,
    Fish,
}

/// Writes the man page or completion script for `cmd` to `out`.
pub fn generate(
    mut cmd: clap::Command,
    what: Generate,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    match what {
        Generate::Man => clap_mangen::Man::new(cmd)
            .date(RELEASE_DATE)
            .manual("mlxk manual")
            .render(out),
        Generate::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, name, out);
            Ok(())
        }
        Generate::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, name, out);
            Ok(())
        }
        Generate::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, name, out);
            Ok(())
        }
    }
}

/// The whole of `--generate WHAT` for a binary: writes to stdout and gives
/// the exit status.
pub fn print(cmd: clap::Command, what: Generate) -> crate::exit::Exit {
    match generate(cmd, what, &mut std::io::stdout()) {
        Ok(()) => crate::exit::Exit::Ok,
        Err(_) => crate::exit::Exit::Fatal,
    }
}

/// The sampling options of every tool that generates text (mlxk-run,
/// mlxk-vision), flattened into each one's command line. Values outside
/// [`crate::sampling`]'s ranges are refused when the line is parsed.
#[derive(Debug, Clone, clap::Args)]
pub struct Sampling {
    /// Most tokens to generate per request (0: none, only the prompt is read).
    #[arg(
        short = 'n',
        long,
        default_value_t = 512,
        allow_negative_numbers = true
    )]
    pub max_tokens: u32,

    /// Sampling temperature, ≥ 0; 0 is greedy (mlx-lm's default).
    #[arg(short = 't', long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = temperature)]
    pub temperature: f32,

    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches P (0 to 1).
    #[arg(long, default_value_t = 1.0, value_name = "P", allow_negative_numbers = true, value_parser = top_p)]
    pub top_p: f32,

    /// Keep only the K most likely tokens (0: all).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "K",
        allow_negative_numbers = true
    )]
    pub top_k: u32,

    /// Drop tokens less likely than P times the most likely one (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "P", allow_negative_numbers = true, value_parser = min_p)]
    pub min_p: f32,

    /// Penalize tokens seen recently (≥ 0; 1.0: off).
    #[arg(long, value_name = "X", allow_negative_numbers = true, value_parser = repetition_penalty)]
    pub repetition_penalty: Option<f32>,

    /// Random seed, for reproducible sampling.
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
}

/// Parses a number and checks it against `rule`.
fn checked(text: &str, rule: crate::sampling::Rule) -> Result<f32, String> {
    rule(text.trim().parse().map_err(|e| format!("{e}"))?)
}

fn temperature(text: &str) -> Result<f32, String> {
    checked(text, crate::sampling::temperature)
}

fn top_p(text: &str) -> Result<f32, String> {
    checked(text, crate::sampling::top_p)
}

fn min_p(text: &str) -> Result<f32, String> {
    checked(text, crate::sampling::min_p)
}

fn repetition_penalty(text: &str) -> Result<f32, String> {
    checked(text, crate::sampling::repetition_penalty)
}
