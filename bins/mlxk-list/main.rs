//! mlxk-list: list, show and health-check models in the Hugging Face cache.

mod cli;
mod list;
mod render;

use std::process::ExitCode;

use clap::Parser;
use mlxk_core::exit::Exit;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Some(what) = args.generate {
        let generated = mlxk_core::cli::generate(cli::command(), what, &mut std::io::stdout());
        return if generated.is_ok() {
            Exit::Ok
        } else {
            Exit::Fatal
        }
        .into();
    }
    // A closed stdout pipe ends the program quietly, with status 0.
    list::run(&args).unwrap_or(Exit::Ok).into()
}
