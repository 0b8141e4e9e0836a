//! mlxk-pull: download models from the Hugging Face Hub into the cache.

mod cli;
mod input;
mod progress;
mod pull;

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
    pull::main(args).into()
}
