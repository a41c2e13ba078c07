//! Leader failover under load.
//!
//! A cluster of `--nodes` brokers runs the fan-out workload with every client starting
//! at the leader and failing over across the node list (connection error or 503 → next
//! node, 20–200 ms backoff). Each round SIGKILLs the current leader and measures:
//!
//! - **elected**: until the survivors agree on a new leader (`/cluster/status`, 20 ms);
//! - **first poll**: until the first poll *sent after the kill* is answered (it can only
//!   be served by the new leader: a follower forwards it there), and the first one that
//!   delivered tasks;
//! - the requests that failed meanwhile (no answer, 503) and were retried, and the
//!   decisions resent inside batches;
//!
//! then keeps the load on the survivors for `--after-secs`, restarts the killed node on
//! its data directory and waits until it has caught up with the leader. At the end the
//! load stops starting processes, lets those in flight end, and checks **every**
//! acknowledged process: finished, the right result, exactly its 5 tasks.

use crate::api::{Api, Failover, FailoverCounts};
use crate::cli::FailoverArgs;
use crate::cluster::{self, Cluster};
use crate::load::{self, LoadConfig, LoadOutcome, Probe, Resent};
use crate::report::loadavg_1m;
use crate::stats::Latency;
use crate::workload::{expected_result, TASKS_PER_PROCESS};
use anyhow::{bail, Context};
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use suslik_broker::model::{ProcessId, ProcessState};
use tokio::sync::watch;

/// What one kill measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Round {
    pub round: usize,
    pub killed: u64,
    pub new_leader: u64,
    /// Seconds from the kill until the survivors agreed on the new leader.
    pub elected_s: f64,
    /// Seconds from the kill to the first successful poll (sent after the kill).
    pub first_poll_s: Option<f64>,
    /// Node that answered it (the new leader itself, or a follower that forwarded it).
    pub first_poll_node: Option<u64>,
    /// Seconds from the kill to the first poll that delivered tasks.
    pub first_tasks_s: Option<f64>,
    /// Failed attempts and retries from the kill to the restart of the killed node.
    pub failed: FailoverCounts,
    /// Decisions resent inside batches meanwhile.
    pub resent_unavailable: u64,
    pub resent_unknown_task: u64,
    /// Processes finished per second in the second before the kill, and on the
    /// survivors in the `--after-secs` after the first successful poll.
    pub proc_per_s_before: f64,
    pub proc_per_s_after: f64,
    /// Seconds for the restarted node to apply what the leader had applied.
    pub catch_up_s: Option<f64>,
}

/// Minimum, median and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

/// [`Spread`] of `values` (`None` if empty). The median of an even count is the mean of
/// the middle two.
pub fn spread(values: &[f64]) -> Option<Spread> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Spread {
        min: v[0],
        median,
        max: v[n - 1],
    })
}

/// The result of checking every acknowledged process.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    pub acked: usize,
    /// Finished with the right result and exactly [`TASKS_PER_PROCESS`] tasks.
    pub ok: usize,
    pub not_finished: usize,
    pub wrong_result: usize,
    /// More or fewer tasks than the workload makes (a decision applied twice would add).
    pub wrong_task_count: usize,
    pub unreadable: usize,
}

impl Verification {
    pub fn failures(&self) -> usize {
        self.acked - self.ok
    }
}

/// Everything a failover run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FailoverReport {
    pub bench: &'static str,
    pub nodes: u64,
    pub concurrency: usize,
    pub pollers: usize,
    pub batch: u32,
    pub rounds: Vec<Round>,
    pub first_poll_s: Option<Spread>,
    pub first_tasks_s: Option<Spread>,
    pub elected_s: Option<Spread>,
    pub seconds: f64,
    pub processes: u64,
    pub processes_per_s: f64,
    pub latency: Latency,
    pub failed_total: FailoverCounts,
    pub resent: Resent,
    pub load_errors: load::Errors,
    pub verification: Verification,
    pub loadavg_1m: Option<f64>,
    /// Load average (1 min) before the cluster started (other work on the machine).
    pub loadavg_1m_before: Option<f64>,
}

impl FailoverReport {
    /// Whether every round recovered, nothing failed for good and every process checks.
    pub fn clean(&self) -> bool {
        self.rounds.iter().all(|r| r.first_poll_s.is_some())
            && self.load_errors.total() == 0
            && self.failed_total.gave_up == 0
            && self.verification.failures() == 0
    }

    pub fn table(&self) -> String {
        let mut t = String::new();
        let opt = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.3}"));
        let _ = writeln!(
            t,
            "| round | killed | new leader | elected s | first poll s (via) | first tasks s | no answer | 503 | retries | resent | proc/s before | proc/s after | catch-up s |"
        );
        let _ = writeln!(
            t,
            "|-------|--------|------------|-----------|--------------------|---------------|-----------|-----|---------|--------|---------------|--------------|------------|"
        );
        for r in &self.rounds {
            let via = r
                .first_poll_node
                .map(|n| {
                    if n == r.new_leader {
                        " (leader)".to_string()
                    } else {
                        format!(" (node {n})")
                    }
                })
                .unwrap_or_default();
            let _ = writeln!(
                t,
                "| {:>5} | {:>6} | {:>10} | {:>9.3} | {:>18} | {:>13} | {:>9} | {:>3} | {:>7} | {:>6} | {:>13.0} | {:>12.0} | {:>10} |",
                r.round,
                r.killed,
                r.new_leader,
                r.elected_s,
                format!("{}{via}", opt(r.first_poll_s)),
                opt(r.first_tasks_s),
                r.failed.transport,
                r.failed.unavailable,
                r.failed.retries,
                r.resent_unavailable + r.resent_unknown_task,
                r.proc_per_s_before,
                r.proc_per_s_after,
                opt(r.catch_up_s),
            );
        }
        let fmt = |s: Option<Spread>| {
            s.map_or("–".into(), |s| {
                format!("{:.3} / {:.3} / {:.3}", s.min, s.median, s.max)
            })
        };
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "kill → first successful poll, s (min / median / max): {}",
            fmt(self.first_poll_s)
        );
        let _ = writeln!(
            t,
            "kill → first poll with tasks, s (min / median / max): {}",
            fmt(self.first_tasks_s)
        );
        let _ = writeln!(
            t,
            "kill → survivors agree on a leader, s (min / median / max): {}",
            fmt(self.elected_s)
        );
        let f = &self.failed_total;
        let _ = writeln!(
            t,
            "failed attempts, whole run: {} without answer, {} × 503; {} retries; {} calls gave up",
            f.transport, f.unavailable, f.retries, f.gave_up
        );
        let _ = writeln!(
            t,
            "decisions resent in batches: {} no_leader/unavailable, {} unknown_task; ends learned by GET: {}; duplicate executions fenced off: {}",
            self.resent.unavailable,
            self.resent.unknown_task,
            self.resent.checked_by_get,
            self.resent.superseded
        );
        let _ = writeln!(
            t,
            "load: {} processes in {:.1} s ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; load errors {}",
            self.processes,
            self.seconds,
            self.processes_per_s,
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.max_ms,
            self.load_errors.total()
        );
        let v = &self.verification;
        let _ = writeln!(
            t,
            "verified: {} of {} acknowledged processes finished with the right result and {} tasks \
             (not finished {}, wrong result {}, wrong task count {}, unreadable {})",
            v.ok, v.acked, TASKS_PER_PROCESS, v.not_finished, v.wrong_result, v.wrong_task_count, v.unreadable
        );
        let la = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
        let _ = writeln!(
            t,
            "load average (1 min) before / at the end: {} / {}",
            la(self.loadavg_1m_before),
            la(self.loadavg_1m)
        );
        t
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Runs the failover benchmark and prints its report.
pub fn run(args: FailoverArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let loadavg_before = loadavg_1m();
    let mut cluster = Cluster::start(args.nodes, args.load.data_dir.as_deref())?;
    eprintln!(
        "suslik-bench failover: {} nodes ({}), {} rounds, concurrency {}, {} pollers/actor, batch {}; data {}",
        args.nodes,
        cluster.bases().join(", "),
        args.rounds,
        args.load.concurrency,
        args.load.pollers,
        args.load.batch,
        cluster.root().display()
    );
    // On Ctrl-C, return normally so the drop guard kills the nodes and removes data.
    let result = runtime.block_on(async {
        tokio::select! {
            r = drive(&args, &mut cluster) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    if let Some(dir) = &args.load.keep_logs {
        if let Err(e) = cluster.keep_logs(dir) {
            eprintln!("keeping the logs: {e:#}");
        }
    }
    let logs = cluster.log_summary(3);
    if !logs.is_empty() {
        eprint!("{logs}");
    }
    cluster.stop();
    let mut report = result?;
    report.loadavg_1m_before = loadavg_before;
    print!("{}", report.table());
    println!("{}", report.json());
    if !report.clean() {
        bail!("the failover run was not clean (see the report)");
    }
    Ok(())
}

fn secs_since(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64()
}

async fn drive(args: &FailoverArgs, cluster: &mut Cluster) -> anyhow::Result<FailoverReport> {
    let n = cluster.len();
    let poll_wait = Duration::from_millis(args.load.poll_wait_ms);
    let give_up = Duration::from_secs(args.give_up_secs);
    let failover = Failover::new(give_up);
    let stats = failover.stats.clone();
    let api = Api::cluster(
        cluster.bases(),
        poll_wait + Duration::from_secs(10),
        Some(failover),
    )?;
    let all: Vec<usize> = (0..n).collect();
    let first_leader = cluster::wait_for_leader(&api, &all, Duration::from_secs(30)).await?;
    let leader_idx = cluster
        .index_of(first_leader)
        .context("the leader is not one of the nodes")?;

    let probe = Arc::new(Probe::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let cfg = LoadConfig {
        processes: u64::MAX,
        concurrency: args.load.concurrency,
        pollers: args.load.pollers,
        batch: args.load.batch,
        poll_wait,
        process_timeout: give_up + Duration::from_secs(30),
        samples: 0,
        placement: vec![leader_idx],
        keep_acked: true,
        check_after: Some(Duration::from_secs(3)),
    };
    let load = tokio::spawn(load::run_with(api.clone(), cfg, probe.clone(), stop_rx));
    // If this future is dropped (Ctrl-C), the load stops with it.
    let _abort = AbortGuard(load.abort_handle());
    // Whatever happens below, stop the load before returning.
    let rounds = kill_rounds(args, cluster, &api, &probe, &stats).await;
    let _ = stop_tx.send(true);
    let outcome: LoadOutcome = load.await.context("the load task failed")??;
    let rounds = rounds?;
    let verification = verify_all(&api, &outcome.acked).await;

    let mut latencies = outcome.latencies_us.clone();
    let collect =
        |f: fn(&Round) -> Option<f64>| -> Vec<f64> { rounds.iter().filter_map(f).collect() };
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    Ok(FailoverReport {
        bench: "failover",
        nodes: n as u64,
        concurrency: args.load.concurrency,
        pollers: args.load.pollers,
        batch: args.load.batch,
        first_poll_s: spread(&collect(|r| r.first_poll_s)),
        first_tasks_s: spread(&collect(|r| r.first_tasks_s)),
        elected_s: spread(&collect(|r| Some(r.elected_s))),
        rounds,
        seconds: secs,
        processes: outcome.finished,
        processes_per_s: outcome.finished as f64 / secs,
        latency: Latency::of(&mut latencies),
        failed_total: stats.snapshot(),
        resent: outcome.resent.clone(),
        load_errors: outcome.errors.clone(),
        verification,
        loadavg_1m: loadavg_1m(),
        loadavg_1m_before: None,
    })
}

/// Aborts a task when dropped (a no-op once it has finished).
struct AbortGuard(tokio::task::AbortHandle);

impl Drop for AbortGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Warm-up, then `--rounds` kills with recovery and restart.
async fn kill_rounds(
    args: &FailoverArgs,
    cluster: &mut Cluster,
    api: &Api,
    probe: &Probe,
    stats: &crate::api::FailoverStats,
) -> anyhow::Result<Vec<Round>> {
    let give_up = Duration::from_secs(args.give_up_secs);
    let finished = || probe.finished.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.warmup_secs.saturating_sub(1))).await;
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let running = cluster.running();
        let leader_id = cluster::wait_for_leader(api, &running, Duration::from_secs(30)).await?;
        let leader = cluster
            .index_of(leader_id)
            .context("the leader is not one of the nodes")?;
        if finished() == 0 {
            // Nothing has finished yet: the kill would not be "under load".
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let f0 = finished();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let f1 = finished();
        if f1 == f0 {
            bail!("round {round}: no process finished in the second before the kill");
        }

        let before = stats.snapshot();
        let resent_before = probe.resent();
        let kill_at = Instant::now();
        probe.watch().arm(kill_at);
        tokio::task::block_in_place(|| cluster.kill(leader));
        let survivors = cluster.running();
        let new_leader_id = cluster::wait_for_leader(api, &survivors, give_up)
            .await
            .with_context(|| format!("round {round}: no new leader"))?;
        let elected_s = kill_at.elapsed().as_secs_f64();
        // Wait for the first poll that delivers tasks (or give up).
        let watch = loop {
            let w = *probe.watch();
            if w.first_tasks.is_some() || kill_at.elapsed() >= give_up {
                break w;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let f2 = finished();
        tokio::time::sleep(Duration::from_secs(args.after_secs.max(1))).await;
        let f3 = finished();
        let failed = stats.snapshot() - before;
        let resent = probe.resent();

        tokio::task::block_in_place(|| cluster.restart(leader))
            .with_context(|| format!("round {round}: restarting the killed node"))?;
        let new_leader = cluster
            .index_of(new_leader_id)
            .context("the new leader is not one of the nodes")?;
        let catch_up = cluster::wait_caught_up(api, leader, new_leader, Duration::from_secs(60))
            .await
            .map_err(|e| eprintln!("round {round}: {e:#}"))
            .ok();
        let r = Round {
            round,
            killed: leader_id,
            new_leader: new_leader_id,
            elected_s,
            first_poll_s: watch.first_ok.map(|(t, _)| secs_since(kill_at, t)),
            first_poll_node: watch.first_ok.map(|(_, i)| cluster.id(i)),
            first_tasks_s: watch.first_tasks.map(|(t, _)| secs_since(kill_at, t)),
            failed,
            resent_unavailable: resent.unavailable - resent_before.unavailable,
            resent_unknown_task: resent.unknown_task - resent_before.unknown_task,
            proc_per_s_before: (f1 - f0) as f64,
            proc_per_s_after: (f3 - f2) as f64 / args.after_secs.max(1) as f64,
            catch_up_s: catch_up.map(|d| d.as_secs_f64()),
        };
        eprintln!(
            "round {round}: killed node {leader_id}, node {new_leader_id} leads after {:.3} s, first poll after {}",
            r.elected_s,
            r.first_poll_s.map_or("–".into(), |s| format!("{s:.3} s"))
        );
        rounds.push(r);
        if round < args.rounds {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(rounds)
}

/// Checks every acknowledged process, a few at a time.
async fn verify_all(api: &Api, acked: &[(ProcessId, i64)]) -> Verification {
    const PARALLEL: usize = 16;
    let mut v = Verification {
        acked: acked.len(),
        ..Default::default()
    };
    for chunk in acked.chunks(PARALLEL) {
        let checks: Vec<_> = chunk
            .iter()
            .map(|(pid, n)| {
                let api = api.clone();
                let (pid, n) = (*pid, *n);
                tokio::spawn(async move { (api.process(pid).await, n) })
            })
            .collect();
        for c in checks {
            match c.await {
                Ok((Ok(view), n)) => {
                    let result = view.result.as_ref().and_then(|r| r.decode::<i64>().ok());
                    if view.state != ProcessState::Finished {
                        v.not_finished += 1;
                    } else if result != Some(expected_result(n)) {
                        v.wrong_result += 1;
                    } else if view.tasks.len() as u64 != TASKS_PER_PROCESS {
                        v.wrong_task_count += 1;
                    } else {
                        v.ok += 1;
                    }
                }
                Ok((Err(e), _)) => {
                    if v.unreadable < 3 {
                        eprintln!("verifying a process: {e:#}");
                    }
                    v.unreadable += 1;
                }
                Err(_) => v.unreadable += 1,
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_odd_even_and_empty() {
        assert_eq!(
            spread(&[1.2, 0.8, 1.0]),
            Some(Spread {
                min: 0.8,
                median: 1.0,
                max: 1.2
            })
        );
        assert_eq!(spread(&[2.0, 1.0]).map(|s| s.median), Some(1.5));
        assert_eq!(spread(&[]), None);
        assert_eq!(spread(&[f64::NAN]), None);
    }

    #[test]
    fn a_report_is_clean_only_if_every_round_recovered_and_every_process_checks() {
        let round = |first_poll_s| Round {
            first_poll_s,
            ..Default::default()
        };
        let mut r = FailoverReport {
            rounds: vec![round(Some(1.0)), round(Some(1.5))],
            verification: Verification {
                acked: 10,
                ok: 10,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(r.clean());
        let t = r.table();
        assert!(t.contains("| round |"));
        assert!(t.contains("verified: 10 of 10"));
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["rounds"].as_array().unwrap().len(), 2);

        r.verification.ok = 9;
        r.verification.wrong_task_count = 1;
        assert!(!r.clean());
        r.verification.ok = 10;
        r.rounds.push(round(None));
        assert!(!r.clean());
    }
}
