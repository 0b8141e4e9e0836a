//! mlxk-pull: download models from the Hugging Face Hub into the cache.

mod cli;
mod input;
mod progress;
mod pull;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Some(what) = args.generate {
        return mlxk_core::cli::print(cli::command(), what).into();
    }
    pull::main(args).into()
}
