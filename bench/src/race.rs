//! `suslik-bench race`: the performance race of issue 7 in one command.
//!
//! The same fan-out/fan-in workload (N processes of 5 tasks, C in flight, closed loop,
//! every result checked) runs on each engine in turn, never two at once, so that each
//! has the machine to itself: first the Suslik set-ups through the `fanout` code path
//! ([`crate::fanout::run_one`]: broker children with the defaults of `suslik serve`,
//! every commit fdatasync'd), then each peer engine through its script under
//! `bench/peers/` ([`crate::race_peer`]). One table compares them ([`crate::race_table`]).
//! A run that fails becomes a row saying why; the exit status is then non-zero, after
//! the table. Ctrl-C stops the current run (its servers and data are removed) and the race.

use crate::cli::{FanoutArgs, LoadArgs, Peer, RaceArgs, SuslikSetup, Target};
use crate::race_peer;
use crate::race_table::{self, Row};
use crate::report::loadavg_1m;
use crate::{fanout, report::Report};
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// Suslik's durability: every acknowledged write is in a Raft log entry that was
/// fdatasync'd (docs/performance.md, "Durability setting").
const SUSLIK_DURABILITY: &str = "fdatasync per log append (group commit)";
const CLUSTER_DURABILITY: &str = "fdatasync per append on each node, majority commit";

/// A process not finished this long after its start counts as an error.
const PROCESS_TIMEOUT_SECS: u64 = 60;

/// Runs the race described by `args` and prints its table.
pub fn run(args: RaceArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Set once on Ctrl-C; the current run stops itself (see `fanout::run_one` and
    // `race_peer::run_script`) and no further one starts.
    let (interrupt_tx, interrupt) = watch::channel(false);
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = interrupt_tx.send(true);
        }
    });
    let interrupted = || *interrupt.borrow();

    let loadavg_before = loadavg_1m();
    let mut rows = Vec::new();
    for setup in &args.suslik {
        let (engine, durability, fanout_args, nodes, target) = suslik_run(&args, *setup);
        eprintln!("race: {engine}");
        match fanout::run_one(&runtime, &fanout_args, nodes, target) {
            Ok(report) => {
                eprint!("{}", report.table());
                rows.push(suslik_row(engine, durability, &report));
            }
            Err(_) if interrupted() => bail!("interrupted"),
            Err(e) => rows.push(Row::failed(
                engine,
                durability,
                fanout_args.load.concurrency,
                format!("{e:#}"),
            )),
        }
    }
    let dir = args
        .peers_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/peers")));
    for peer in &args.peers {
        if interrupted() {
            bail!("interrupted");
        }
        let (script, script_args) = race_peer::command_line(
            *peer,
            &dir,
            args.processes,
            args.concurrency,
            args.idle_secs,
            args.pg_workers,
        );
        let name = race_peer::name(*peer);
        eprintln!(
            "race: {name}: {} {}",
            script.display(),
            script_args.join(" ")
        );
        let result = runtime.block_on(race_peer::run_script(
            name,
            &script,
            &script_args,
            Duration::from_secs(args.peer_timeout_secs),
            interrupt.clone(),
        ));
        if interrupted() {
            bail!("interrupted");
        }
        rows.push(peer_row(*peer, args.concurrency, result));
    }

    let loadavg = (loadavg_before, loadavg_1m());
    let la = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
    println!(
        "race: {} processes, {} in flight, idle CPU over {} s; load average (1 min) {} before, {} at the end",
        args.processes,
        args.concurrency,
        args.idle_secs,
        la(loadavg.0),
        la(loadavg.1)
    );
    print!("{}", race_table::table(&rows));
    if args.json {
        println!(
            "{}",
            race_table::json(
                args.processes,
                args.concurrency,
                args.idle_secs,
                loadavg,
                &rows
            )
        );
    }
    let bad = rows
        .iter()
        .filter(|r| r.failed.is_some() || r.errors > 0)
        .count();
    if bad > 0 {
        bail!(
            "{bad} of {} runs failed or had errors (see the table)",
            rows.len()
        );
    }
    Ok(())
}

/// The row's name, durability, the fan-out settings and the cluster shape of a set-up.
fn suslik_run(
    args: &RaceArgs,
    setup: SuslikSetup,
) -> (&'static str, &'static str, FanoutArgs, u64, Option<Target>) {
    let (engine, durability, nodes, target) = match setup {
        SuslikSetup::Single => ("Suslik, one node", SUSLIK_DURABILITY, 1, None),
        SuslikSetup::Cluster => (
            "Suslik, three nodes",
            CLUSTER_DURABILITY,
            3,
            Some(Target::Leader),
        ),
        SuslikSetup::Batched => ("Suslik, one node, batched", SUSLIK_DURABILITY, 1, None),
    };
    let (processes, concurrency, batch) = match setup {
        SuslikSetup::Batched => (
            args.batched_processes,
            args.batched_concurrency,
            args.batched_batch,
        ),
        _ => (args.processes, args.concurrency, args.batch),
    };
    let fanout_args = FanoutArgs {
        processes,
        load: LoadArgs {
            concurrency,
            pollers: args.pollers,
            batch,
            poll_wait_ms: 1000,
            data_dir: args.data_dir.clone(),
            keep_logs: None,
        },
        nodes,
        target: target.into_iter().collect(),
        compare_single: false,
        url: None,
        idle_secs: args.idle_secs,
        verify: args
            .verify
            .unwrap_or_else(|| usize::try_from(processes).unwrap_or(usize::MAX)),
        process_timeout_secs: PROCESS_TIMEOUT_SECS,
    };
    (engine, durability, fanout_args, nodes, target)
}

/// A Suslik report as a row; results that were not all checked are said so.
fn suslik_row(engine: &str, durability: &str, report: &Report) -> Row {
    let mut row = Row::from_report(engine, durability, report);
    if (report.verified as u64) < report.processes {
        let checked = format!(
            "stored result checked for {} of {} processes",
            report.verified, report.processes
        );
        row.note = Some(match row.note {
            Some(n) => format!("{n}; {checked}"),
            None => checked,
        });
    }
    row
}

/// A peer script's result as a row: its figures, or why there are none.
fn peer_row(
    peer: Peer,
    concurrency: usize,
    result: anyhow::Result<race_peer::ScriptOutput>,
) -> Row {
    let name = race_peer::label(peer);
    match result {
        Err(e) => Row::failed(name, "–", concurrency, format!("{e:#}")),
        Ok(out) => match Row::from_peer_output(&out.stdout) {
            Ok(mut row) => {
                if !out.status.success() && row.errors == 0 {
                    // Figures were printed, but the script still failed: say so.
                    row.errors = 1;
                    row.note = Some(format!("script ended with {}", out.failure()));
                }
                row
            }
            Err(e) => Row::failed(
                name,
                "–",
                concurrency,
                format!("{e:#}; script: {}", out.failure()),
            ),
        },
    }
}
