//! `suslik-bootstrap`: run actors from a config file, or the demo.
//!
//! ```text
//! suslik-bootstrap run --config config/bootstrap.toml   # serve the configured actors
//! suslik-bootstrap check --config config/bootstrap.toml # validate a config and exit
//! suslik-bootstrap actors                               # list the actors of this build
//! suslik-bootstrap demo [--config config/demo.toml]     # embedded broker + every recipe
//! ```
//!
//! Exit codes: 0 success; 1 a runtime failure (broker unreachable, a recipe failed,
//! tasks abandoned at the shutdown deadline); 2 a usage or config error, reported as
//! one line naming the file and the field.

mod cli;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Suslik's bootstrap container: runs workers and deciders from a config file.
#[derive(Debug, Parser)]
#[command(name = "suslik-bootstrap", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the container: poll the configured brokers for the configured actors until
    /// SIGINT or SIGTERM, then finish the tasks in flight and exit.
    Run {
        /// The config file (TOML), e.g. config/bootstrap.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file against this build's actors and exit (0 valid, 2 not).
    Check {
        /// The config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// List the actors this build can run.
    Actors,
    /// The main job: start an embedded single-node broker, run every recipe actor in
    /// the container against it over HTTP, run every recipe's processes, print their
    /// results, and exit 0 if all of them ended as expected.
    Demo {
        /// Container config (actors, pollers, logging); its `servers` are ignored.
        /// Default: every recipe actor on every task list the recipes use.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Broker data directory (default: a fresh temporary directory, removed at exit).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// How long each recipe may take, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => cli::run::main(&config),
        Command::Check { config } => cli::check(&config),
        Command::Actors => cli::list_actors(),
        Command::Demo {
            config,
            data_dir,
            timeout_secs,
        } => cli::demo::main(cli::demo::DemoArgs {
            config,
            data_dir,
            timeout: std::time::Duration::from_secs(timeout_secs),
        }),
    }
}
