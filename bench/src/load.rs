//! The closed-loop load driver.
//!
//! - `concurrency` *slots*: each starts a process, waits until a poller sees it finish,
//!   records its latency and starts the next, until `processes` have been started or
//!   the run is told to stop.
//! - `pollers` tasks per actor: long-poll up to `batch` tasks, decide them
//!   ([`crate::workload::decide`]) and release all the answers with one request.
//!
//! A process's latency runs from just before its start request is sent to the moment a
//! poller reads a release receipt whose `process_state` is no longer `running` (the
//! receipt of its `sum` task). Failures are counted, never fatal.
//!
//! Every slot and poller has its own client ([`Api::homed`]): [`LoadConfig::placement`]
//! says which node each one talks to first. With failover on (the `failover` bench), a
//! batch release whose decisions come back `no_leader`/`unavailable` (the node lost its
//! leadership mid-batch) or `unknown_task` (a new leader that has not yet applied the
//! entry that created the task) is sent again for those decisions, and a slot that saw
//! no receipt for a while asks for its process with `GET` (the receipt may have been
//! lost with the old leader).

use crate::api::{backoff, Api};
use crate::workload::{self, DECIDER, WORKER};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use suslik_broker::model::wire::{PollRequest, ReleaseResult};
use suslik_broker::model::{ActorId, Decision, ProcessId, ProcessState, TaskList};
use tokio::sync::{oneshot, watch};

/// Shape of the load.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub processes: u64,
    pub concurrency: usize,
    pub pollers: usize,
    pub batch: u32,
    pub poll_wait: Duration,
    pub process_timeout: Duration,
    /// How many finished processes to remember for result verification.
    pub samples: usize,
    /// Client `k` talks to node `placement[k % len]` first (empty: node 0). Pollers are
    /// clients `0..2·pollers` (decider and worker alternating), slots come after them.
    pub placement: Vec<usize>,
    /// Keep every acknowledged process (not only `samples`) for verification.
    pub keep_acked: bool,
    /// With failover: a slot that saw no receipt of its process for this long asks the
    /// broker for the process's state.
    pub check_after: Option<Duration>,
}

impl LoadConfig {
    /// The node client number `k` starts at.
    pub fn home(&self, k: usize) -> usize {
        match self.placement.len() {
            0 => 0,
            n => self.placement[k % n],
        }
    }
}

/// Failure counts; all zero in a clean run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Errors {
    /// Start requests that failed.
    pub start: u64,
    /// Poll requests that failed.
    pub poll: u64,
    /// Decisions whose release request failed as a whole.
    pub release: u64,
    /// Decisions the broker answered with an error in a batch.
    pub rejected: u64,
    /// Deliveries the workload did not expect (released as errors).
    pub bad_task: u64,
    /// Processes that ended broken.
    pub broken: u64,
    /// Processes not finished within the timeout.
    pub timeout: u64,
    /// Sampled processes whose stored result was wrong or unreadable.
    pub verify: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.start
            + self.poll
            + self.release
            + self.rejected
            + self.bad_task
            + self.broken
            + self.timeout
            + self.verify
    }
}

/// Answers that were sent again and then succeeded (failover only); not errors.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Resent {
    /// Decisions answered `no_leader`/`unavailable` inside a batch, then resent.
    pub unavailable: u64,
    /// Decisions answered `unknown_task` by a new leader, then resent.
    pub unknown_task: u64,
    /// Processes whose end was learned with `GET` (their last receipt was lost).
    pub checked_by_get: u64,
}

/// What a load run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// From the first start to the last process finished.
    pub elapsed: Duration,
    pub finished: u64,
    /// Successful release receipts (task completions).
    pub tasks: u64,
    /// Process latencies in microseconds.
    pub latencies_us: Vec<u64>,
    pub errors: Errors,
    pub resent: Resent,
    /// Finished processes and their `n`, to verify.
    pub samples: Vec<(ProcessId, i64)>,
    /// Every acknowledged start (with [`LoadConfig::keep_acked`]).
    pub acked: Vec<(ProcessId, i64)>,
    /// Poll requests made, and how many came back empty.
    pub polls: u64,
    pub empty_polls: u64,
    /// Release requests made.
    pub releases: u64,
}

/// When, after a moment of interest (a leader kill), polls first succeeded again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollWatch {
    armed_at: Option<Instant>,
    /// First poll sent after `armed_at` that was answered: when, and by which node.
    pub first_ok: Option<(Instant, usize)>,
    /// First such poll that delivered at least one task.
    pub first_tasks: Option<(Instant, usize)>,
}

impl PollWatch {
    /// Starts watching for polls sent at or after `at`.
    pub fn arm(&mut self, at: Instant) {
        *self = PollWatch {
            armed_at: Some(at),
            ..PollWatch::default()
        };
    }

    /// A poll sent at `sent` was answered at `answered` by node `node` with `tasks` tasks.
    pub fn observe(&mut self, sent: Instant, answered: Instant, node: usize, tasks: usize) {
        let Some(armed) = self.armed_at else {
            return;
        };
        if sent < armed {
            return;
        }
        if self.first_ok.is_none() {
            self.first_ok = Some((answered, node));
        }
        if tasks > 0 && self.first_tasks.is_none() {
            self.first_tasks = Some((answered, node));
        }
    }
}

/// Live view of a run, for a driver that acts while the load runs.
#[derive(Default)]
pub struct Probe {
    pub finished: AtomicU64,
    pub tasks: AtomicU64,
    pub polls: Mutex<PollWatch>,
    /// See [`Resent`].
    pub resent_unavailable: AtomicU64,
    pub resent_unknown: AtomicU64,
    pub checked_by_get: AtomicU64,
}

impl Probe {
    /// The resend counters so far.
    pub fn resent(&self) -> Resent {
        Resent {
            unavailable: self.resent_unavailable.load(Ordering::Relaxed),
            unknown_task: self.resent_unknown.load(Ordering::Relaxed),
            checked_by_get: self.checked_by_get.load(Ordering::Relaxed),
        }
    }

    pub fn watch(&self) -> std::sync::MutexGuard<'_, PollWatch> {
        self.polls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counters shared by all tasks of a run.
#[derive(Default)]
struct Counters {
    start_errors: AtomicU64,
    poll_errors: AtomicU64,
    release_errors: AtomicU64,
    rejected: AtomicU64,
    bad_tasks: AtomicU64,
    polls: AtomicU64,
    empty_polls: AtomicU64,
    releases: AtomicU64,
}

type Done = oneshot::Sender<(ProcessState, Instant)>;

/// State shared by slots and pollers.
struct Shared {
    cfg: LoadConfig,
    counters: Counters,
    probe: Arc<Probe>,
    /// Set to `true`: slots start no new process.
    stop: watch::Receiver<bool>,
    /// Next process number to start.
    next: AtomicU64,
    /// Processes in flight → who waits for their end. A `std` mutex: held for one
    /// insert or remove, never across an await.
    inflight: Mutex<HashMap<ProcessId, Done>>,
}

impl Shared {
    fn inflight(&self) -> std::sync::MutexGuard<'_, HashMap<ProcessId, Done>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What one slot measured.
#[derive(Default)]
struct SlotOutcome {
    finished: u64,
    broken: u64,
    timeouts: u64,
    latencies_us: Vec<u64>,
    samples: Vec<(ProcessId, i64)>,
    acked: Vec<(ProcessId, i64)>,
}

/// Runs the load to completion against `api` (each client homed per `cfg.placement`).
pub async fn run(api: Api, cfg: LoadConfig) -> anyhow::Result<LoadOutcome> {
    let (_keep, stop) = watch::channel(false);
    run_with(api, cfg, Arc::new(Probe::default()), stop).await
}

/// Runs the load until `cfg.processes` have been started or `stop` turns `true`, and
/// then until the processes in flight end. `probe` shows progress meanwhile.
pub async fn run_with(
    api: Api,
    cfg: LoadConfig,
    probe: Arc<Probe>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<LoadOutcome> {
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        counters: Counters::default(),
        probe,
        stop,
        next: AtomicU64::new(0),
        inflight: Mutex::new(HashMap::new()),
    });
    let pollers_per_actor = cfg.pollers.max(1);
    let mut pollers = AbortOnDrop(Vec::new());
    for i in 0..pollers_per_actor {
        for (a, actor) in [DECIDER, WORKER].into_iter().enumerate() {
            let actor_id = ActorId::new(actor)?;
            let client = api.homed(cfg.home(2 * i + a));
            pollers
                .0
                .push(tokio::spawn(poller(shared.clone(), client, actor_id)));
        }
    }
    let t0 = Instant::now();
    let mut slots = AbortOnDrop(
        (0..cfg.concurrency.max(1))
            .map(|j| {
                let client = api.homed(cfg.home(2 * pollers_per_actor + j));
                tokio::spawn(slot(shared.clone(), client))
            })
            .collect(),
    );
    let mut out = LoadOutcome::default();
    for s in slots.0.iter_mut() {
        let s = s.await?;
        out.finished += s.finished;
        out.errors.broken += s.broken;
        out.errors.timeout += s.timeouts;
        out.latencies_us.extend(s.latencies_us);
        out.samples.extend(s.samples);
        out.acked.extend(s.acked);
    }
    out.elapsed = t0.elapsed();
    drop(pollers);
    let c = &shared.counters;
    out.tasks = shared.probe.tasks.load(Ordering::Relaxed);
    out.polls = c.polls.load(Ordering::Relaxed);
    out.empty_polls = c.empty_polls.load(Ordering::Relaxed);
    out.releases = c.releases.load(Ordering::Relaxed);
    out.errors.start = c.start_errors.load(Ordering::Relaxed);
    out.errors.poll = c.poll_errors.load(Ordering::Relaxed);
    out.errors.release = c.release_errors.load(Ordering::Relaxed);
    out.errors.rejected = c.rejected.load(Ordering::Relaxed);
    out.errors.bad_task = c.bad_tasks.load(Ordering::Relaxed);
    out.resent = shared.probe.resent();
    out.samples.sort_by_key(|(_, n)| *n);
    out.samples.truncate(cfg.samples);
    out.acked.sort_by_key(|(_, n)| *n);
    Ok(out)
}

/// Aborts its tasks when dropped: when the run ends, and when the caller drops the run
/// (Ctrl-C), so that no poller goes on calling servers that are shutting down.
struct AbortOnDrop<T>(Vec<tokio::task::JoinHandle<T>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// How a slot's wait for its process ended.
enum Ended {
    Receipt(ProcessState, Instant),
    /// Learned with `GET` after the receipt went missing.
    Checked(ProcessState),
    TimedOut,
}

/// Waits for the end of `pid`: a receipt, or (with `check_after`) a `GET` that shows it.
async fn wait_end(
    shared: &Shared,
    api: &Api,
    pid: ProcessId,
    mut rx: oneshot::Receiver<(ProcessState, Instant)>,
    t0: Instant,
) -> Ended {
    let deadline = t0 + shared.cfg.process_timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = shared.cfg.check_after.map_or(left, |c| c.min(left));
        match tokio::time::timeout(wait, &mut rx).await {
            Ok(Ok((state, at))) => return Ended::Receipt(state, at),
            Ok(Err(_)) => return Ended::TimedOut,
            Err(_) if Instant::now() >= deadline => return Ended::TimedOut,
            Err(_) => {
                if let Ok(view) = api.process(pid).await {
                    if view.state != ProcessState::Running {
                        shared.probe.checked_by_get.fetch_add(1, Ordering::Relaxed);
                        return Ended::Checked(view.state);
                    }
                }
            }
        }
    }
}

/// One closed-loop lane: start, wait for the end, repeat.
async fn slot(shared: Arc<Shared>, api: Api) -> SlotOutcome {
    let mut out = SlotOutcome::default();
    let every = (shared.cfg.processes / shared.cfg.samples.max(1) as u64).max(1);
    loop {
        if *shared.stop.borrow() {
            return out;
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.cfg.processes {
            return out;
        }
        let n = i as i64;
        let Ok((pid, req)) = workload::start_request(n) else {
            shared.counters.start_errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let (tx, rx) = oneshot::channel();
        shared.inflight().insert(pid, tx);
        let t0 = Instant::now();
        if let Err(e) = api.start(&req).await {
            shared.inflight().remove(&pid);
            if shared.counters.start_errors.fetch_add(1, Ordering::Relaxed) < 3 {
                eprintln!("start failed: {e:#}");
            }
            continue;
        }
        if shared.cfg.keep_acked {
            out.acked.push((pid, n));
        }
        let ended = wait_end(&shared, &api, pid, rx, t0).await;
        let state = match ended {
            Ended::Receipt(state, at) => {
                if state == ProcessState::Finished {
                    out.latencies_us
                        .push(at.saturating_duration_since(t0).as_micros() as u64);
                }
                state
            }
            Ended::Checked(state) => {
                shared.inflight().remove(&pid);
                if state == ProcessState::Finished {
                    out.latencies_us.push(t0.elapsed().as_micros() as u64);
                }
                state
            }
            Ended::TimedOut => {
                shared.inflight().remove(&pid);
                out.timeouts += 1;
                continue;
            }
        };
        if state == ProcessState::Finished {
            out.finished += 1;
            shared.probe.finished.fetch_add(1, Ordering::Relaxed);
            if i.checked_rem(every) == Some(0) {
                out.samples.push((pid, n));
            }
        } else {
            out.broken += 1;
        }
    }
}

/// Error codes of a batch item that another attempt may fix, and whether the client
/// should move to another node for it.
pub fn resend_code(code: &str) -> Option<bool> {
    match code {
        "no_leader" | "unavailable" => Some(true),
        "unknown_task" => Some(false),
        _ => None,
    }
}

/// Polls one actor's queue and releases what it gets, until aborted.
async fn poller(shared: Arc<Shared>, api: Api, actor_id: ActorId) {
    let c = &shared.counters;
    let req = PollRequest {
        actor_id,
        task_list: TaskList::default_list(),
        max: shared.cfg.batch.max(1),
        wait_ms: shared.cfg.poll_wait.as_millis() as u64,
    };
    loop {
        c.polls.fetch_add(1, Ordering::Relaxed);
        let tasks = match api.poll(&req).await {
            Ok(served) => {
                shared.probe.watch().observe(
                    served.sent,
                    Instant::now(),
                    served.node,
                    served.value.tasks.len(),
                );
                served.value.tasks
            }
            Err(e) => {
                if c.poll_errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("poll failed: {e:#}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if tasks.is_empty() {
            c.empty_polls.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let decisions: Vec<_> = tasks
            .iter()
            .map(|d| {
                workload::decide(d).unwrap_or_else(|why| {
                    if c.bad_tasks.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("unexpected task: {why}");
                    }
                    workload::error_decision(d, &why)
                })
            })
            .collect();
        release(&shared, &api, decisions).await;
    }
}

/// Releases `decisions`, resending (with failover) those a node could not take yet.
async fn release(shared: &Shared, api: &Api, mut decisions: Vec<Decision>) {
    let c = &shared.counters;
    let first = Instant::now();
    let mut round = 0u32;
    loop {
        c.releases.fetch_add(1, Ordering::Relaxed);
        let results = match api.release(&decisions).await {
            Ok(r) => r,
            Err(e) => {
                let n = decisions.len() as u64;
                if c.release_errors.fetch_add(n, Ordering::Relaxed) < 3 {
                    eprintln!("release failed: {e:#}");
                }
                return;
            }
        };
        let at = Instant::now();
        let failover = api.failover().filter(|f| first.elapsed() < f.give_up);
        let mut again = Vec::new();
        let mut move_on = false;
        for (d, r) in decisions.into_iter().zip(results) {
            match r {
                ReleaseResult::Receipt(receipt) => {
                    shared.probe.tasks.fetch_add(1, Ordering::Relaxed);
                    if receipt.process_state != ProcessState::Running {
                        if let Some(done) = shared.inflight().remove(&receipt.process_id) {
                            let _ = done.send((receipt.process_state, at));
                        }
                    }
                }
                ReleaseResult::Error(e) => match (failover, resend_code(&e.error)) {
                    (Some(_), Some(rotate)) => {
                        let counter = if rotate {
                            &shared.probe.resent_unavailable
                        } else {
                            &shared.probe.resent_unknown
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        move_on |= rotate;
                        again.push(d);
                    }
                    // A task delivered twice across a leader change and released
                    // first by the other delivery: this one's decision (fresh task
                    // ids) is refused and changes nothing; the process goes on.
                    _ if failover.is_some()
                        && matches!(e.error.as_str(), "already_released" | "stale_delivery") => {}
                    _ => {
                        if c.rejected.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("release rejected: {}: {}", e.error, e.message);
                        }
                    }
                },
            }
        }
        let Some(f) = failover else { return };
        if again.is_empty() {
            return;
        }
        if move_on {
            api.rotate();
        }
        round += 1;
        tokio::time::sleep(backoff(round, f.backoff, f.max_backoff)).await;
        decisions = again;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_watch_counts_only_polls_sent_after_arming() {
        let t0 = Instant::now();
        let ms = |m| t0 + Duration::from_millis(m);
        let mut w = PollWatch::default();
        // Not armed: nothing is recorded.
        w.observe(ms(1), ms(2), 0, 3);
        assert_eq!(w.first_ok, None);
        w.arm(ms(100));
        // Sent before the kill, answered after: not a poll on the new leader.
        w.observe(ms(90), ms(120), 0, 1);
        assert_eq!(w.first_ok, None);
        w.observe(ms(150), ms(900), 1, 0);
        w.observe(ms(950), ms(960), 2, 4);
        w.observe(ms(970), ms(980), 1, 4);
        assert_eq!(w.first_ok, Some((ms(900), 1)));
        assert_eq!(w.first_tasks, Some((ms(960), 2)));
        // Re-arming forgets the previous round.
        w.arm(ms(2000));
        assert_eq!((w.first_ok, w.first_tasks), (None, None));
    }

    #[test]
    fn placement_cycles_over_clients() {
        let mut cfg = LoadConfig {
            processes: 1,
            concurrency: 1,
            pollers: 1,
            batch: 1,
            poll_wait: Duration::ZERO,
            process_timeout: Duration::ZERO,
            samples: 0,
            placement: vec![],
            keep_acked: false,
            check_after: None,
        };
        assert_eq!(cfg.home(7), 0);
        cfg.placement = vec![2];
        assert_eq!((cfg.home(0), cfg.home(5)), (2, 2));
        cfg.placement = vec![0, 1, 2];
        let homes: Vec<_> = (0..7).map(|k| cfg.home(k)).collect();
        assert_eq!(homes, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn which_batch_errors_are_resent() {
        assert_eq!(resend_code("no_leader"), Some(true));
        assert_eq!(resend_code("unavailable"), Some(true));
        assert_eq!(resend_code("unknown_task"), Some(false));
        assert_eq!(resend_code("conflict"), None);
        assert_eq!(resend_code("invalid"), None);
    }
}
