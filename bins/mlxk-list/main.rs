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
        return mlxk_core::cli::print(cli::command(), what).into();
    }
    // A closed stdout pipe ends the program quietly, with status 0.
    list::run(&args).unwrap_or(Exit::Ok).into()
}
