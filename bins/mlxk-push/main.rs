//! mlxk-push: publish a model folder to the Hugging Face Hub.

mod cli;
mod input;
#[path = "../mlxk-pull/progress.rs"]
mod progress;
mod push;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Some(what) = args.generate {
        return mlxk_core::cli::print(cli::command(), what).into();
    }
    push::main(args).into()
}
