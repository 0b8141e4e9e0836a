//! mlxk-audio: transcribe (or translate) speech with a local Whisper model; files
//! from arguments or standard input; text, subtitles, or NDJSON for pipelines.

mod cli;
mod failure;
mod input;
mod session;
mod writers;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Some(what) = args.generate {
        return mlxk_core::cli::print(cli::command(), what).into();
    }
    let interrupt = mlxk_runner::interrupt::Interrupt::install().flag().clone();
    session::Session::new(&args, interrupt).run().into()
}
