//! `suslik-bench`: a load benchmark for the Suslik broker.
//!
//! `suslik-bench fanout` runs the fan-out/fan-in workload of the performance issue (the
//! same one the Restate peer figures were measured with) as a closed loop, and prints one
//! table plus a one-line JSON summary. Unless `--url` is given, the broker runs in a child
//! process (this same binary, hidden subcommand `__serve`) so that its memory and CPU are
//! measured apart from the load generator's; `--nodes 3` starts a Raft cluster of such
//! processes instead. `suslik-bench failover` kills the leader of a cluster under load
//! and measures how long until polls succeed again. `suslik-bench scale` fills one node
//! with a million queued tasks, then SIGKILLs it and measures its recovery.
//! `suslik-bench race` runs the fan-out workload on Suslik and on the peer engines of
//! `bench/peers/` and prints one table of all of them.
//!
//! Modules, one concept each:
//! - [`cli`]: the command line.
//! - [`server`]: the broker child process (spawn, drop guard) and the `__serve` side.
//! - [`cluster`]: one node or a cluster of them on loopback; leader agreement, catch-up.
//! - [`api`]: the thin HTTP client of `/api/v1`, with failover across nodes.
//! - [`workload`]: what the fan-out decider and workers decide (pure functions).
//! - [`load`]: the closed-loop driver (starters and pollers) and its counters.
//! - [`fanout`]: benchmark runs: servers, load, idle, verification, report, comparison.
//! - [`failover`]: leader kills under load, recovery times, full verification.
//! - [`scale`]: a large queued backlog: memory per task, disk, restart time, drain;
//!   [`scale_report`] is its table and JSON summary.
//! - [`stats`], [`procfs`], [`disk`]: percentiles, `/proc` parsing, disk usage.
//! - [`report`]: the table and the JSON summary.
//! - [`race`]: the race across engines; [`race_peer`] runs a peer script,
//!   [`race_table`] turns every run into a row and prints the table.

mod api;
mod cli;
mod cluster;
mod disk;
mod failover;
mod fanout;
mod load;
mod procfs;
mod race;
mod race_peer;
mod race_table;
mod report;
mod scale;
mod scale_report;
mod server;
mod stats;
mod store;
mod workload;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Fanout(args) => fanout::run(args),
        cli::Command::Failover(args) => failover::run(args),
        cli::Command::Scale(args) => scale::run(args),
        cli::Command::Race(args) => race::run(args),
        cli::Command::Store(args) => store::run(args),
        cli::Command::Serve(args) => server::serve_child(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("suslik-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
