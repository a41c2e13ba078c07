//! The command line of `suslik-bench`.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "suslik-bench",
    version,
    about = "Load benchmark for the Suslik broker"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Fan-out/fan-in: a decider spawns step(n), step(n+1), step(n+2) and sum([...]);
    /// 5 tasks per process, `concurrency` processes in flight (closed loop).
    Fanout(FanoutArgs),
    /// Internal: run a broker node in this process and print its address (used by
    /// `fanout` to start the server as a separate, measurable process).
    #[command(name = "__serve", hide = true)]
    Serve(ServeArgs),
}

/// Settings of one fan-out run.
#[derive(clap::Args, Debug, Clone)]
pub struct FanoutArgs {
    /// Processes to complete.
    #[arg(long, default_value_t = 2000)]
    pub processes: u64,
    /// Processes in flight at once (a new one starts whenever one finishes).
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Polling tasks per actor (the decider and the worker each get this many).
    #[arg(long, default_value_t = 4)]
    pub pollers: usize,
    /// Most tasks per poll, and so most decisions per batch release.
    #[arg(long, default_value_t = 16)]
    pub batch: u32,
    /// Drive an already running broker at this base URL (e.g. http://127.0.0.1:7700)
    /// instead of starting one; server RSS, CPU and disk figures are then not measured.
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds of no load over which the server's idle CPU is measured (0 skips it).
    #[arg(long, default_value_t = 10)]
    pub idle_secs: u64,
    /// Parent directory for the server's temporary data directory (default: the
    /// system temp dir). The data directory is removed at the end.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Finished processes whose result is checked with GET /api/v1/processes/{id}.
    #[arg(long, default_value_t = 50)]
    pub verify: usize,
    /// Long-poll wait of each poll, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub poll_wait_ms: u64,
    /// A process not finished this many seconds after its start counts as an error.
    #[arg(long, default_value_t = 60)]
    pub process_timeout_secs: u64,
}

/// Settings of the hidden `__serve` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
}
