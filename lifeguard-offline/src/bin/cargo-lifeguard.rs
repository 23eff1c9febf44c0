//! `cargo lifeguard`: Lifeguard's cargo subcommand.
//!
//! ```text
//! cargo lifeguard prepare [--check] [--database-url URL] [--manifest-path PATH]
//! ```
//!
//! Cargo runs it as `cargo-lifeguard lifeguard prepare ...`; it also runs directly as
//! `cargo-lifeguard prepare ...`. Exit codes: 0 done (or, with `--check`, all fresh);
//! 1 something is missing, stale or orphaned (`--check`) or a statement failed to
//! describe; 2 the run could not be carried out (bad arguments, no `DATABASE_URL`, no
//! server, no workspace).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lifeguard_offline::prepare::{self, Options};

/// Lifeguard's cargo subcommand: keeps the offline query metadata in `.lifeguard/` fresh.
#[derive(Parser)]
#[command(name = "cargo-lifeguard", bin_name = "cargo lifeguard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe every query of the workspace on DATABASE_URL and make `.lifeguard/`
    /// complete and fresh: write missing and stale files, delete orphaned ones.
    Prepare(PrepareArgs),
}

#[derive(Args)]
struct PrepareArgs {
    /// Change nothing: exit 1 listing every missing, stale or orphaned file.
    #[arg(long)]
    check: bool,
    /// The database to describe on [default: $DATABASE_URL, from the environment or the
    /// workspace's .env].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Path to the workspace's (or a member's) Cargo.toml.
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
}

fn main() -> ExitCode {
    let mut args: Vec<_> = std::env::args_os().collect();
    // `cargo lifeguard ...` runs `cargo-lifeguard lifeguard ...`.
    if args.get(1).is_some_and(|a| a == "lifeguard") {
        args.remove(1);
    }
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Prepare(a) => {
            let options = Options {
                check: a.check,
                database_url: a.database_url,
                manifest_path: a.manifest_path,
                dir: PathBuf::new(),
            };
            match prepare::run(&options, &mut std::io::stdout(), &mut std::io::stderr()) {
                Ok(summary) => ExitCode::from(summary.exit_code() as u8),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
