//! Fan-out benchmark runs: start the servers (one node or a cluster, unless `--url`),
//! drive the load, check sampled results, measure disk use and idle CPU, print the
//! report. With `--compare-single` and a list of `--target`s, several runs in a row,
//! each on fresh servers, and a comparison table at the end.

use crate::api::Api;
use crate::cli::{FanoutArgs, Target};
use crate::cluster::{self, Cluster};
use crate::load::{self, LoadConfig, LoadOutcome};
use crate::report::{comparison_json, comparison_table, loadavg_1m, Report, ServerFigures};
use crate::stats::Latency;
use crate::workload::{expected_result, TASKS_PER_PROCESS};
use crate::{disk, procfs};
use anyhow::{bail, Context};
use std::time::Duration;
use suslik_broker::model::ProcessState;

const MIB: f64 = 1024.0 * 1024.0;

/// Runs the benchmark described by `args` and prints its report(s).
pub fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut plan: Vec<(u64, Option<Target>)> = Vec::new();
    if args.url.is_some() || args.nodes == 1 {
        plan.push((1, None));
    } else {
        if args.compare_single {
            plan.push((1, None));
        }
        let mut targets = args.target.clone();
        targets.dedup();
        plan.extend(targets.into_iter().map(|t| (args.nodes, Some(t))));
    }
    let mut reports = Vec::new();
    for (nodes, target) in plan {
        let report = run_one(&runtime, &args, nodes, target)?;
        print!("{}", report.table());
        println!("{}", report.json());
        reports.push(report);
    }
    if reports.len() > 1 {
        println!();
        print!("{}", comparison_table(&reports));
        println!("{}", comparison_json(&reports));
    }
    let errors: u64 = reports.iter().map(|r| r.errors.total()).sum();
    if errors > 0 {
        bail!("{errors} errors (see the report)");
    }
    Ok(())
}

/// One run on fresh servers (or on `--url`). Also the Suslik rows of `race`.
pub fn run_one(
    runtime: &tokio::runtime::Runtime,
    args: &FanoutArgs,
    nodes: u64,
    target: Option<Target>,
) -> anyhow::Result<Report> {
    let loadavg_before = loadavg_1m();
    let cluster = match &args.url {
        Some(_) => None,
        None => Some(Cluster::start(nodes, args.load.data_dir.as_deref())?),
    };
    let bases = match (&args.url, &cluster) {
        (Some(url), _) => vec![url.clone()],
        (None, Some(c)) => c.bases(),
        (None, None) => bail!("no server to drive"),
    };
    eprintln!(
        "suslik-bench fanout: {} processes, concurrency {}, {} pollers/actor, batch {}, {}{}",
        args.processes,
        args.load.concurrency,
        args.load.pollers,
        args.load.batch,
        match target {
            Some(t) => format!("{nodes} nodes, load to the {}", t.name()),
            None => "one node".into(),
        },
        cluster
            .as_ref()
            .map(|c| {
                let pids: Vec<String> = (0..c.len())
                    .map(|i| format!("{} pid {}", bases[i], c.pid(i).unwrap_or(0)))
                    .collect();
                format!(" ({}; data {})", pids.join(", "), c.root().display())
            })
            .unwrap_or_else(|| format!(" at {}", bases[0]))
    );
    // On Ctrl-C, return normally so the drop guard stops the servers and removes data.
    let report = runtime
        .block_on(async {
            tokio::select! {
                r = measure(args, bases, cluster.as_ref(), target) => r,
                _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            }
        })
        .map(|mut r| {
            r.loadavg_1m_before = loadavg_before;
            r
        });
    if let Some(c) = cluster {
        if let Some(dir) = &args.load.keep_logs {
            if let Err(e) = c.keep_logs(dir) {
                eprintln!("keeping the logs: {e:#}");
            }
        }
        let logs = c.log_summary(3);
        if !logs.is_empty() {
            eprint!("{logs}");
        }
        c.stop();
    }
    report
}

/// Nodes `placement` sends clients to, by index.
pub fn placement(target: Option<Target>, leader: usize, n: usize) -> Vec<usize> {
    match target {
        None | Some(Target::Leader) => vec![leader],
        // The first node that does not lead.
        Some(Target::Follower) => vec![(leader + 1) % n.max(1)],
        Some(Target::Spread) => (0..n).collect(),
    }
}

/// CPU seconds of each running node (0 for one that cannot be read).
fn cpu_of(c: &Cluster, ticks: u64) -> anyhow::Result<Vec<f64>> {
    (0..c.len())
        .map(|i| {
            let pid = c.pid(i).context("a node is not running")?;
            Ok(procfs::cpu_seconds(pid, ticks)?)
        })
        .collect()
}

async fn measure(
    args: &FanoutArgs,
    bases: Vec<String>,
    cluster: Option<&Cluster>,
    target: Option<Target>,
) -> anyhow::Result<Report> {
    let poll_wait = Duration::from_millis(args.load.poll_wait_ms);
    let n = bases.len();
    let api = Api::cluster(bases, poll_wait + Duration::from_secs(30), None)?;
    let leader = if n == 1 {
        api.wait_ready(Duration::from_secs(30)).await?;
        0
    } else {
        let all: Vec<usize> = (0..n).collect();
        let id = cluster::wait_for_leader(&api, &all, Duration::from_secs(30)).await?;
        cluster
            .and_then(|c| c.index_of(id))
            .with_context(|| format!("leader {id} is not one of the nodes"))?
    };
    let leader_api = api.homed(leader);
    let ticks = procfs::clock_ticks();
    let own_pid = std::process::id();

    let log0 = leader_api.last_log_index().await.ok().flatten();
    let cpu0 = cluster.map(|c| cpu_of(c, ticks)).transpose()?;
    let client_cpu0 = procfs::cpu_seconds(own_pid, ticks)?;
    let cfg = LoadConfig {
        processes: args.processes,
        concurrency: args.load.concurrency,
        pollers: args.load.pollers,
        batch: args.load.batch,
        poll_wait,
        process_timeout: Duration::from_secs(args.process_timeout_secs),
        samples: args.verify,
        placement: placement(target, leader, n),
        keep_acked: false,
        check_after: None,
    };
    let mut outcome = load::run(api.clone(), cfg).await?;
    let cpu1 = cluster.map(|c| cpu_of(c, ticks)).transpose()?;
    let client_cpu = procfs::cpu_seconds(own_pid, ticks)? - client_cpu0;
    let peaks = cluster
        .map(|c| {
            (0..c.len())
                .map(|i| procfs::memory(c.pid(i).unwrap_or(0)))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let loadavg = loadavg_1m();
    let log1 = leader_api.last_log_index().await.ok().flatten();
    let log_entries = log0.zip(log1).map(|(a, b)| b.saturating_sub(a));
    if n > 1 {
        let all: Vec<usize> = (0..n).collect();
        if let Ok(now) = cluster::wait_for_leader(&api, &all, Duration::from_secs(5)).await {
            if cluster.and_then(|c| c.index_of(now)) != Some(leader) {
                eprintln!("warning: the leader changed during the run (now node {now})");
            }
        }
    }

    if outcome.tasks < outcome.finished * TASKS_PER_PROCESS {
        eprintln!(
            "warning: {} task completions for {} finished processes (expected {} each)",
            outcome.tasks, outcome.finished, TASKS_PER_PROCESS
        );
    }
    let verified = verify(&leader_api, &mut outcome).await;

    let mut servers = Vec::new();
    if let (Some(c), Some(cpu0), Some(cpu1), Some(peaks)) = (cluster, cpu0, cpu1, peaks) {
        let idle_cpu_pct = if args.idle_secs > 0 {
            // Let the aborted pollers' connections and any late work settle first.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = cpu_of(c, ticks)?;
            tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
            let after = cpu_of(c, ticks)?;
            Some(
                before
                    .iter()
                    .zip(after)
                    .map(|(b, a)| (a - b) / args.idle_secs as f64 * 100.0)
                    .collect::<Vec<_>>(),
            )
        } else {
            None
        };
        for i in 0..c.len() {
            let usage = disk::usage(c.data_dir(i)).context("measuring a data directory")?;
            let end = procfs::memory(c.pid(i).unwrap_or(0))?;
            let cpu = cpu1[i] - cpu0[i];
            servers.push(ServerFigures {
                pid: c.pid(i).unwrap_or(0),
                node_id: c.id(i),
                leader: i == leader,
                peak_rss_mib: peaks[i].peak_kb as f64 / 1024.0,
                end_rss_mib: end.rss_kb as f64 / 1024.0,
                cpu_s: cpu,
                cpu_s_per_1000_processes: cpu / (outcome.finished.max(1) as f64) * 1000.0,
                data_mib: usage.allocated as f64 / MIB,
                data_apparent_mib: usage.apparent as f64 / MIB,
                idle_cpu_pct: idle_cpu_pct.as_ref().map(|v| v[i]),
                idle_secs: args.idle_secs,
            });
        }
    }
    let mut report = build_report(args, outcome, servers, client_cpu, verified, loadavg);
    report.nodes = n as u64;
    report.target = target.filter(|_| n > 1).map(Target::name);
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
    servers: Vec<ServerFigures>,
    client_cpu_s: f64,
    verified: usize,
    loadavg_1m: Option<f64>,
) -> Report {
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    Report {
        bench: "fanout",
        processes: outcome.finished,
        concurrency: args.load.concurrency,
        pollers: args.load.pollers,
        batch: args.load.batch,
        seconds: secs,
        processes_per_s: outcome.finished as f64 / secs,
        tasks_per_s: outcome.tasks as f64 / secs,
        tasks: outcome.tasks,
        latency: Latency::of(&mut outcome.latencies_us),
        nodes: 1,
        target: None,
        server: servers.iter().find(|s| s.leader).cloned(),
        servers,
        client_cpu_s,
        polls: outcome.polls,
        empty_polls: outcome.empty_polls,
        releases: outcome.releases,
        log_entries: None,
        verified,
        errors: outcome.errors,
        loadavg_1m,
        loadavg_1m_before: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_follows_the_target() {
        assert_eq!(placement(None, 0, 1), vec![0]);
        assert_eq!(placement(Some(Target::Leader), 2, 3), vec![2]);
        assert_eq!(placement(Some(Target::Follower), 2, 3), vec![0]);
        assert_eq!(placement(Some(Target::Follower), 0, 3), vec![1]);
        assert_eq!(placement(Some(Target::Spread), 1, 3), vec![0, 1, 2]);
    }
}
