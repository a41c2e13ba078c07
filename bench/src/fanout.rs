//! One fan-out benchmark run: start the server (unless `--url`), drive the load, check
//! sampled results, measure disk use and idle CPU, print the report.

use crate::api::Api;
use crate::cli::FanoutArgs;
use crate::load::{self, LoadConfig, LoadOutcome};
use crate::report::{loadavg_1m, Report, ServerFigures};
use crate::server::ServerProcess;
use crate::stats::Latency;
use crate::workload::{expected_result, TASKS_PER_PROCESS};
use crate::{disk, procfs};
use anyhow::{bail, Context};
use std::path::Path;
use std::time::Duration;
use suslik_broker::model::ProcessState;

const MIB: f64 = 1024.0 * 1024.0;

/// The server under test when the benchmark started it.
struct Local {
    server: ServerProcess,
    data: tempfile::TempDir,
    ticks: u64,
}

/// Runs the benchmark described by `args` and prints its report.
pub fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let local = match &args.url {
        Some(_) => None,
        None => Some(start_local(args.data_dir.as_deref())?),
    };
    let base = match (&args.url, &local) {
        (Some(url), _) => url.clone(),
        (None, Some(l)) => format!("http://{}", l.server.addr()),
        (None, None) => bail!("no server to drive"),
    };
    eprintln!(
        "suslik-bench fanout: {} processes, concurrency {}, {} pollers/actor, batch {}, broker {base}{}",
        args.processes,
        args.concurrency,
        args.pollers,
        args.batch,
        local
            .as_ref()
            .map(|l| format!(" (pid {}, data {})", l.server.pid(), l.data.path().display()))
            .unwrap_or_default()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // On Ctrl-C, return normally so the drop guards stop the server and remove its data.
    let report = runtime.block_on(async {
        tokio::select! {
            r = measure(&args, &base, local.as_ref()) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    })?;
    print!("{}", report.table());
    println!("{}", report.json());
    if let Some(l) = local {
        l.server.stop();
        drop(l.data);
    }
    if report.errors.total() > 0 {
        bail!("{} errors (see the report)", report.errors.total());
    }
    Ok(())
}

fn start_local(parent: Option<&Path>) -> anyhow::Result<Local> {
    let data = match parent {
        Some(p) => {
            std::fs::create_dir_all(p)?;
            tempfile::Builder::new()
                .prefix("suslik-bench-")
                .tempdir_in(p)?
        }
        None => tempfile::Builder::new().prefix("suslik-bench-").tempdir()?,
    };
    let server = ServerProcess::spawn(data.path())?;
    Ok(Local {
        server,
        data,
        ticks: procfs::clock_ticks(),
    })
}

async fn measure(args: &FanoutArgs, base: &str, local: Option<&Local>) -> anyhow::Result<Report> {
    let poll_wait = Duration::from_millis(args.poll_wait_ms);
    let api = Api::new(base, poll_wait + Duration::from_secs(30))?;
    api.wait_ready(Duration::from_secs(30)).await?;
    let server_cpu = |l: &Local| procfs::cpu_seconds(l.server.pid(), l.ticks);
    let own_pid = std::process::id();
    let ticks = local.map(|l| l.ticks).unwrap_or_else(procfs::clock_ticks);

    let log0 = api.last_log_index().await.ok().flatten();
    let cpu0 = local.map(server_cpu).transpose()?;
    let client_cpu0 = procfs::cpu_seconds(own_pid, ticks)?;
    let cfg = LoadConfig {
        processes: args.processes,
        concurrency: args.concurrency,
        pollers: args.pollers,
        batch: args.batch,
        poll_wait,
        process_timeout: Duration::from_secs(args.process_timeout_secs),
        samples: args.verify,
    };
    let mut outcome = load::run(api.clone(), cfg).await?;
    let cpu1 = local.map(server_cpu).transpose()?;
    let client_cpu = procfs::cpu_seconds(own_pid, ticks)? - client_cpu0;
    let peak = local.map(|l| procfs::memory(l.server.pid())).transpose()?;
    let loadavg = loadavg_1m();
    let log1 = api.last_log_index().await.ok().flatten();
    let log_entries = log0.zip(log1).map(|(a, b)| b.saturating_sub(a));

    if outcome.tasks < outcome.finished * TASKS_PER_PROCESS {
        eprintln!(
            "warning: {} task completions for {} finished processes (expected {} each)",
            outcome.tasks, outcome.finished, TASKS_PER_PROCESS
        );
    }
    let verified = verify(&api, &mut outcome).await;

    let mut server = None;
    if let (Some(l), Some(cpu0), Some(cpu1), Some(peak)) = (local, cpu0, cpu1, peak) {
        let usage = disk::usage(l.data.path()).context("measuring the data directory")?;
        let idle_cpu_pct = if args.idle_secs > 0 {
            // Let the aborted pollers' connections and any late work settle first.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = server_cpu(l)?;
            tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
            Some((server_cpu(l)? - before) / args.idle_secs as f64 * 100.0)
        } else {
            None
        };
        let end = procfs::memory(l.server.pid())?;
        let cpu = cpu1 - cpu0;
        server = Some(ServerFigures {
            pid: l.server.pid(),
            peak_rss_mib: peak.peak_kb as f64 / 1024.0,
            end_rss_mib: end.rss_kb as f64 / 1024.0,
            cpu_s: cpu,
            cpu_s_per_1000_processes: cpu / (outcome.finished.max(1) as f64) * 1000.0,
            data_mib: usage.allocated as f64 / MIB,
            data_apparent_mib: usage.apparent as f64 / MIB,
            idle_cpu_pct,
            idle_secs: args.idle_secs,
        });
    }
    let mut report = build_report(args, outcome, server, client_cpu, verified, loadavg);
    report.log_entries = log_entries;
    Ok(report)
}

/// Checks the stored result of every sampled process; counts mismatches as errors.
async fn verify(api: &Api, outcome: &mut LoadOutcome) -> usize {
    let mut checked = 0;
    for (pid, n) in &outcome.samples {
        checked += 1;
        let ok = match api.process(*pid).await {
            Ok(view) => {
                view.state == ProcessState::Finished
                    && view.result.as_ref().and_then(|r| r.decode::<i64>().ok())
                        == Some(expected_result(*n))
            }
            Err(e) => {
                eprintln!("verifying process {pid}: {e:#}");
                false
            }
        };
        if !ok {
            outcome.errors.verify += 1;
        }
    }
    checked
}

fn build_report(
    args: &FanoutArgs,
    mut outcome: LoadOutcome,
    server: Option<ServerFigures>,
    client_cpu_s: f64,
    verified: usize,
    loadavg_1m: Option<f64>,
) -> Report {
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    Report {
        bench: "fanout",
        processes: outcome.finished,
        concurrency: args.concurrency,
        pollers: args.pollers,
        batch: args.batch,
        seconds: secs,
        processes_per_s: outcome.finished as f64 / secs,
        tasks_per_s: outcome.tasks as f64 / secs,
        tasks: outcome.tasks,
        latency: Latency::of(&mut outcome.latencies_us),
        server,
        client_cpu_s,
        polls: outcome.polls,
        empty_polls: outcome.empty_polls,
        releases: outcome.releases,
        log_entries: None,
        verified,
        errors: outcome.errors,
        loadavg_1m,
    }
}
