//! `renoir`: inspect and maintain renoir shared memory on this host.
//!
//! One file per subcommand under `cmd/` (each with an `Args` struct and a
//! `run`), so adding a subcommand means adding a file and one enum variant.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;

#[derive(Parser, Debug)]
#[command(
    name = "renoir",
    version,
    about = "Inspect and clean renoir shared memory"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Platform facts that matter for shared memory (sizes, limits).
    Info(cmd::info::Args),
    /// List regions (segments) and their owners.
    Ls(cmd::ls::Args),
    /// Remove regions whose creating process is dead.
    Clean(cmd::clean::Args),
    /// Measure renoir_core topics between two processes.
    Bench(cmd::bench::Args),
    /// Validate, compare, diff and migrate message schemas (.json/.yaml/.msg).
    Schema(cmd::schema::Args),
}

fn main() -> ExitCode {
    if cmd::bench::echo_if_child() {
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Info(a) => cmd::info::run(a),
        Cmd::Ls(a) => cmd::ls::run(a),
        Cmd::Clean(a) => cmd::clean::run(a),
        Cmd::Bench(a) => cmd::bench::run(a),
        Cmd::Schema(a) => cmd::schema::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("renoir: {e}");
            ExitCode::FAILURE
        }
    }
}
