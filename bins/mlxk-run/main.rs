//! mlxk-run: generate text with a local MLX model; prompts from arguments
//! or stdin; streams NDJSON with --json.

mod answer;
mod cli;
mod failure;
mod interrupt;
mod session;

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
    let interrupt = interrupt::install();
    session::Session::new(&args, interrupt).run().into()
}
