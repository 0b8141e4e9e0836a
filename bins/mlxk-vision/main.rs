//! mlxk-vision: describe photos with a local vision model, passing their
//! EXIF (place, date, camera) along; `--metadata-only` reads the EXIF alone.

mod cli;
mod describe;
mod failure;
mod input;
mod session;
mod show;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Some(what) = args.generate {
        return mlxk_core::cli::print(cli::command(), what).into();
    }
    session::Session::new(&args).run().into()
}
