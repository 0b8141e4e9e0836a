//! mlxk-run: generate text with a local MLX model; prompts from arguments
//! or stdin; streams NDJSON with --json.

mod answer;
mod cli;
mod failure;
mod session;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Some(what) = args.generate {
        return mlxk_core::cli::print(cli::command(), what).into();
    }
    let interrupt = mlxk_runner::interrupt::Interrupt::install();
    session::Session::new(&args, interrupt).run().into()
}
