//! Scale: what a large backlog costs the broker, and how long it takes to come back
//! after a crash with it.
//!
//! One node runs as a child process (fsync on, as always). `--tasks` processes are
//! started and nobody polls, so each leaves its start task in one of `--queues` decider
//! queues; the starts go `--concurrency` at a time, each one command that the broker's
//! group commit batches into shared log entries. Measured:
//! - memory: the server's RSS before and after (per queued task), its peak;
//! - disk: the data directory, the current snapshot (the largest sled blob), the log;
//! - the broker's own counts (`GET /api/v1/stats`);
//! - recovery: the server is SIGKILLed and started again on the same data directory;
//!   times from spawn to `LISTENING`, to `/ready` 200, and to the first poll that
//!   returns a task; the RSS of the recovered process and its counts, which must equal
//!   those before the kill;
//! - with `--drain`: every queued task polled and released, and the throughput.

use crate::api::Api;
use crate::cli::ScaleArgs;
use crate::cluster::Cluster;
use crate::report::loadavg_1m;
use crate::scale_report::{DrainFigures, RestartFigures, ScaleReport};
use crate::{disk, procfs};
use anyhow::{bail, Context};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use suslik_broker::model::wire::{PollRequest, ReleaseResult, StartProcessRequest};
use suslik_broker::model::{
    ActorId, Arg, Decision, Delivery, JsonValue, Outcome, ProcessState, TaskList, TaskOptions,
};

const MIB: f64 = 1024.0 * 1024.0;
/// How long one HTTP call may take (a start waits for its group commit's fsync).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often recovery is probed (`/ready`, then polls): the resolution of its times.
const PROBE_EVERY: Duration = Duration::from_millis(20);
/// A drain poller gives up on its queue after this many failed calls in a row.
const MAX_FAILURES_IN_A_ROW: u32 = 10;

/// The decider actor of queue `q`.
pub fn queue_actor(q: u64) -> String {
    format!("scale.Queue{q}#1")
}

/// Runs the scale benchmark and prints its report.
pub fn run(args: ScaleArgs) -> anyhow::Result<()> {
    if args.tasks == 0 {
        bail!("--tasks must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let loadavg_before = loadavg_1m();
    let mut cluster = Cluster::start(1, args.data_dir.as_deref())?;
    eprintln!(
        "suslik-bench scale: {} tasks over {} queues, {} starts in flight, one node at {} \
         (pid {}; data {}){}",
        args.tasks,
        args.queues,
        args.concurrency,
        cluster.bases()[0],
        cluster.pid(0).unwrap_or(0),
        cluster.root().display(),
        if args.drain { ", then drain" } else { "" }
    );
    let result = measure(&runtime, &args, &mut cluster);
    cluster.stop();
    let mut report = result?;
    report.loadavg_1m_before = loadavg_before;
    print!("{}", report.table());
    println!("{}", report.json());
    let problems = report.problems();
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// Runs `fut` to completion on `runtime`, or fails at Ctrl-C (the caller's drop guards
/// then stop the server and remove its data).
fn block<T>(
    runtime: &tokio::runtime::Runtime,
    fut: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    runtime.block_on(async {
        tokio::select! {
            r = fut => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    })
}

fn client(base: &str) -> anyhow::Result<Api> {
    Api::cluster(vec![base.to_string()], CALL_TIMEOUT, None)
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Bytes of resident memory per task between two RSS readings (kB).
fn bytes_per_task(before_kb: u64, after_kb: u64, tasks: u64) -> f64 {
    (after_kb as f64 - before_kb as f64) * 1024.0 / tasks.max(1) as f64
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    args: &ScaleArgs,
    cluster: &mut Cluster,
) -> anyhow::Result<ScaleReport> {
    let ticks = procfs::clock_ticks();
    let settle = Duration::from_secs(args.settle_secs);
    let pid = cluster.pid(0).context("the server is not running")?;
    let api = client(&cluster.bases()[0])?;
    block(runtime, api.wait_ready(Duration::from_secs(30)))?;
    let rss_before = procfs::memory(pid)?;
    let log0 = block(runtime, api.last_log_index())?;
    let cpu0 = procfs::cpu_seconds(pid, ticks)?;

    let enqueued = block(runtime, enqueue(&api, args, pid))?;
    let server_cpu_s = procfs::cpu_seconds(pid, ticks)? - cpu0;
    let log1 = block(runtime, api.last_log_index())?;
    let loadavg_enqueue = loadavg_1m();
    let rss_at_end = procfs::memory(pid)?;
    std::thread::sleep(settle);
    let rss_after = procfs::memory(pid)?;
    let stats = block(runtime, api.stats())?;
    let status = block(runtime, api.cluster_status())?;
    let data_dir = cluster.data_dir(0).to_path_buf();
    let usage = disk::usage(&data_dir).context("measuring the data directory")?;
    let snapshot_bytes = disk::largest_file(&data_dir.join("raft").join("blobs"))
        .context("measuring the snapshot")?;
    drop(api);

    eprintln!("scale: SIGKILL and restart on the same data directory");
    cluster.kill(0);
    let spawned = Instant::now();
    let timeout = Duration::from_secs(args.restart_timeout_secs);
    cluster.restart_within(0, timeout)?;
    let listening_s = spawned.elapsed().as_secs_f64();
    let pid = cluster
        .pid(0)
        .context("the restarted server is not running")?;
    // A new pool: the old connections went with the killed process.
    let api = client(&cluster.bases()[0])?;
    let first_actor = ActorId::new(&queue_actor(0))?;
    let (ready_s, first_task_s, first) =
        block(runtime, recover(&api, spawned, timeout, first_actor))?;
    let rss_recovered = procfs::memory(pid)?;
    let stats_after = block(runtime, api.stats())?;
    std::thread::sleep(settle);
    let rss_restarted = procfs::memory(pid)?;
    let restart = RestartFigures {
        listening_s,
        ready_s,
        first_task_s,
        rss_at_first_task_mib: mib(rss_recovered.rss_kb),
        rss_mib: mib(rss_restarted.rss_kb),
        peak_rss_mib: mib(rss_restarted.peak_kb),
        bytes_per_task: bytes_per_task(rss_before.rss_kb, rss_restarted.rss_kb, enqueued.started),
        stats: stats_after,
    };

    let drain = if args.drain {
        Some(block(runtime, drain(&api, args, first, pid))?)
    } else {
        None
    };

    Ok(ScaleReport {
        bench: "scale",
        tasks: args.tasks,
        queues: args.queues,
        concurrency: args.concurrency,
        started: enqueued.started,
        start_errors: enqueued.errors,
        enqueue_s: enqueued.seconds,
        starts_per_s: enqueued.started as f64 / enqueued.seconds.max(1e-9),
        log_entries: log0.zip(log1).map(|(a, b)| b.saturating_sub(a)),
        server_cpu_s,
        rss_before_mib: mib(rss_before.rss_kb),
        rss_at_end_mib: mib(rss_at_end.rss_kb),
        rss_after_mib: mib(rss_after.rss_kb),
        peak_rss_mib: mib(rss_after.peak_kb),
        bytes_per_task: bytes_per_task(rss_before.rss_kb, rss_after.rss_kb, enqueued.started),
        settle_s: args.settle_secs,
        data_mib: usage.allocated as f64 / MIB,
        data_apparent_mib: usage.apparent as f64 / MIB,
        snapshot_mib: snapshot_bytes.map(|b| b as f64 / MIB),
        snapshot_index: status.snapshot,
        last_log_index: status.last_log_index,
        stats,
        restart,
        drain,
        loadavg_1m_before: None,
        loadavg_1m_enqueue: loadavg_enqueue,
        loadavg_1m: loadavg_1m(),
    })
}

/// What the start phase did.
struct Enqueued {
    started: u64,
    errors: u64,
    seconds: f64,
}

/// The start of task number `i`: process and task ids minted by the broker.
fn start_request(actors: &[ActorId], i: u64) -> anyhow::Result<StartProcessRequest> {
    Ok(StartProcessRequest {
        actor_id: actors[(i % actors.len() as u64) as usize].clone(),
        method: "run".into(),
        args: vec![Arg::Value(JsonValue::from_serialize(&i)?)],
        options: TaskOptions::default(),
        custom_id: None,
        unique_custom_id: false,
        task_id: None,
        process_id: None,
        idempotency_key: None,
    })
}

/// Prints `what` done so far every `every`, with the recent and average rate and the
/// server's RSS, until aborted.
fn progress(
    what: &'static str,
    done: Arc<AtomicU64>,
    total: u64,
    every: Duration,
    server_pid: u32,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let t0 = Instant::now();
        let mut last = (t0, 0u64);
        loop {
            tokio::time::sleep(every).await;
            let now = Instant::now();
            let n = done.load(Ordering::Relaxed);
            let recent = (n - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-9);
            let avg = n as f64 / (now - t0).as_secs_f64().max(1e-9);
            let rss = procfs::memory(server_pid)
                .map(|m| format!("{:.0} MiB", mib(m.rss_kb)))
                .unwrap_or_else(|_| "?".into());
            eprintln!(
                "scale: {n}/{total} {what}, {recent:.0}/s now, {avg:.0}/s average, server RSS {rss}"
            );
            last = (now, n);
        }
    })
}

/// Starts `args.tasks` processes, `args.concurrency` requests in flight.
async fn enqueue(api: &Api, args: &ScaleArgs, server_pid: u32) -> anyhow::Result<Enqueued> {
    let actors: Arc<[ActorId]> = (0..args.queues)
        .map(|q| ActorId::new(&queue_actor(q)))
        .collect::<Result<Vec<_>, _>>()?
        .into();
    let next = Arc::new(AtomicU64::new(0));
    let started = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let total = args.tasks;
    let t0 = Instant::now();
    let reporter = progress(
        "started",
        started.clone(),
        total,
        Duration::from_secs(args.progress_secs.max(1)),
        server_pid,
    );
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (api, actors) = (api.clone(), actors.clone());
            let (next, started, errors) = (next.clone(), started.clone(), errors.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return;
                    }
                    let result = match start_request(&actors, i) {
                        Ok(req) => api.start(&req).await.map(|_| ()),
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(()) => started.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            if errors.load(Ordering::Relaxed) < 3 {
                                eprintln!("start failed: {e:#}");
                            }
                            errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    let mut joined = Ok(());
    for w in workers {
        if let Err(e) = w.await {
            joined = Err(e);
        }
    }
    reporter.abort();
    joined.context("a start task failed")?;
    Ok(Enqueued {
        started: started.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// After a restart: seconds from `spawned` until `/ready` answers 200 and until a poll
/// of `actor`'s queue returns a task, and that task (now leased).
async fn recover(
    api: &Api,
    spawned: Instant,
    timeout: Duration,
    actor: ActorId,
) -> anyhow::Result<(f64, f64, Delivery)> {
    while !api.is_ready().await {
        if spawned.elapsed() > timeout {
            bail!("the restarted server was not ready within {timeout:?}");
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    let ready_s = spawned.elapsed().as_secs_f64();
    let req = PollRequest {
        actor_id: actor,
        task_list: TaskList::default_list(),
        max: 1,
        wait_ms: 0,
    };
    loop {
        match api.poll(&req).await {
            Ok(served) => {
                if let Some(task) = served.value.tasks.into_iter().next() {
                    return Ok((ready_s, spawned.elapsed().as_secs_f64(), task));
                }
            }
            Err(e) => eprintln!("poll after the restart: {e:#}"),
        }
        if spawned.elapsed() > timeout {
            bail!("no queued task was handed out within {timeout:?} of the restart");
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// The release that ends a drained start task: a plain value, so its process finishes.
fn release_decision(d: &Delivery, value: &JsonValue) -> Decision {
    Decision {
        task_id: d.task_id,
        process_id: Some(d.process_id),
        outcome: Outcome::Value(value.clone()),
        tasks: Vec::new(),
        restart_at: None,
        execution_ms: None,
        attempt: Some(d.attempt),
        delivery_id: Some(d.delivery_id),
        delivered_at: None,
    }
}

/// Counters of the drain, shared by its pollers.
#[derive(Default)]
struct DrainCounters {
    released: AtomicU64,
    finished: AtomicU64,
    polls: AtomicU64,
    /// Decisions the broker refused, or whose release request failed.
    rejected: AtomicU64,
    /// Poll or release requests that failed as a whole.
    failed_calls: AtomicU64,
}

impl DrainCounters {
    fn count(&self, results: &[ReleaseResult]) {
        for r in results {
            match r {
                ReleaseResult::Receipt(receipt) => {
                    self.released.fetch_add(1, Ordering::Relaxed);
                    if receipt.process_state == ProcessState::Finished {
                        self.finished.fetch_add(1, Ordering::Relaxed);
                    }
                }
                ReleaseResult::Error(body) => {
                    if self.rejected.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("release refused: {} {}", body.error, body.message);
                    }
                }
            }
        }
    }
}

/// Polls and releases every queued task (`first`, leased by [`recover`], included).
async fn drain(
    api: &Api,
    args: &ScaleArgs,
    first: Delivery,
    server_pid: u32,
) -> anyhow::Result<DrainFigures> {
    let counters = Arc::new(DrainCounters::default());
    let released = Arc::new(AtomicU64::new(0));
    let null = JsonValue::from_text("null")?;
    let t0 = Instant::now();
    counters.count(&api.release(&[release_decision(&first, &null)]).await?);
    let reporter = progress(
        "released",
        released.clone(),
        args.tasks,
        Duration::from_secs(args.progress_secs.max(1)),
        server_pid,
    );
    let mut pollers = Vec::new();
    for q in 0..args.queues {
        let actor = ActorId::new(&queue_actor(q))?;
        for _ in 0..args.drain_pollers.max(1) {
            let req = PollRequest {
                actor_id: actor.clone(),
                task_list: TaskList::default_list(),
                max: args.drain_batch.max(1),
                wait_ms: 0,
            };
            let (api, counters, released) = (api.clone(), counters.clone(), released.clone());
            let null = null.clone();
            pollers.push(tokio::spawn(async move {
                let mut failures = 0;
                while failures < MAX_FAILURES_IN_A_ROW {
                    counters.polls.fetch_add(1, Ordering::Relaxed);
                    let tasks = match api.poll(&req).await {
                        Ok(served) => served.value.tasks,
                        Err(e) => {
                            eprintln!("drain poll failed: {e:#}");
                            counters.failed_calls.fetch_add(1, Ordering::Relaxed);
                            failures += 1;
                            continue;
                        }
                    };
                    if tasks.is_empty() {
                        // Nobody else adds to or polls this queue: it is drained.
                        return;
                    }
                    let decisions: Vec<Decision> =
                        tasks.iter().map(|d| release_decision(d, &null)).collect();
                    match api.release(&decisions).await {
                        Ok(results) => {
                            failures = 0;
                            counters.count(&results);
                            released.fetch_add(results.len() as u64, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("drain release failed: {e:#}");
                            counters.failed_calls.fetch_add(1, Ordering::Relaxed);
                            counters
                                .rejected
                                .fetch_add(decisions.len() as u64, Ordering::Relaxed);
                            failures += 1;
                        }
                    }
                }
            }));
        }
    }
    let mut joined = Ok(());
    for p in pollers {
        if let Err(e) = p.await {
            joined = Err(e);
        }
    }
    reporter.abort();
    joined.context("a drain poller failed")?;
    let seconds = t0.elapsed().as_secs_f64();
    let tasks = counters.released.load(Ordering::Relaxed);
    let stats = api.stats().await?;
    let rss = procfs::memory(server_pid)?;
    Ok(DrainFigures {
        tasks,
        finished: counters.finished.load(Ordering::Relaxed),
        seconds,
        tasks_per_s: tasks as f64 / seconds.max(1e-9),
        polls: counters.polls.load(Ordering::Relaxed),
        rejected: counters.rejected.load(Ordering::Relaxed),
        failed_calls: counters.failed_calls.load(Ordering::Relaxed),
        rss_mib: mib(rss.rss_kb),
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_go_round_robin_over_valid_queue_actors() {
        let actors: Vec<ActorId> = (0..3)
            .map(|q| ActorId::new(&queue_actor(q)).unwrap())
            .collect();
        let queues: Vec<String> = (0..6)
            .map(|i| start_request(&actors, i).unwrap().actor_id.to_string())
            .collect();
        assert_eq!(
            queues,
            [0, 1, 2, 0, 1, 2].map(queue_actor).to_vec(),
            "task i goes to queue i mod 3"
        );
        let req = start_request(&actors, 7).unwrap();
        assert!(req.process_id.is_none() && req.task_id.is_none());
        assert_eq!(
            req.args,
            vec![Arg::Value(JsonValue::from_text("7").unwrap())]
        );
    }

    #[test]
    fn memory_per_task_is_the_growth_over_the_count() {
        assert_eq!(bytes_per_task(1000, 2000, 1024), 1000.0);
        assert_eq!(bytes_per_task(2000, 1000, 1024), -1000.0);
        assert_eq!(bytes_per_task(0, 1, 0), 1024.0);
    }
}
