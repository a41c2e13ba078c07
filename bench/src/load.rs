//! The closed-loop load driver.
//!
//! - `concurrency` *slots*: each starts a process, waits until a poller sees it finish,
//!   records its latency and starts the next, until `processes` have been started.
//! - `pollers` tasks per actor: long-poll up to `batch` tasks, decide them
//!   ([`crate::workload::decide`]) and release all the answers with one request.
//!
//! A process's latency runs from just before its start request is sent to the moment a
//! poller reads a release receipt whose `process_state` is no longer `running` (the
//! receipt of its `sum` task). Failures are counted, never fatal.

use crate::api::Api;
use crate::workload::{self, DECIDER, WORKER};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use suslik_broker::model::wire::{PollRequest, ReleaseResult};
use suslik_broker::model::{ActorId, ProcessId, ProcessState, TaskList};
use tokio::sync::oneshot;

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
    /// Finished processes and their `n`, to verify.
    pub samples: Vec<(ProcessId, i64)>,
    /// Poll requests made, and how many came back empty.
    pub polls: u64,
    pub empty_polls: u64,
    /// Release requests made.
    pub releases: u64,
}

/// Counters shared by all tasks of a run.
#[derive(Default)]
struct Counters {
    start_errors: AtomicU64,
    poll_errors: AtomicU64,
    release_errors: AtomicU64,
    rejected: AtomicU64,
    bad_tasks: AtomicU64,
    tasks: AtomicU64,
    polls: AtomicU64,
    empty_polls: AtomicU64,
    releases: AtomicU64,
}

type Done = oneshot::Sender<(ProcessState, Instant)>;

/// State shared by slots and pollers.
struct Shared {
    api: Api,
    cfg: LoadConfig,
    counters: Counters,
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
}

/// Runs the load to completion against `api`.
pub async fn run(api: Api, cfg: LoadConfig) -> anyhow::Result<LoadOutcome> {
    let shared = Arc::new(Shared {
        api,
        cfg: cfg.clone(),
        counters: Counters::default(),
        next: AtomicU64::new(0),
        inflight: Mutex::new(HashMap::new()),
    });
    let mut pollers = Vec::new();
    for actor in [DECIDER, WORKER] {
        let actor_id = ActorId::new(actor)?;
        for _ in 0..cfg.pollers.max(1) {
            pollers.push(tokio::spawn(poller(shared.clone(), actor_id.clone())));
        }
    }
    let t0 = Instant::now();
    let slots: Vec<_> = (0..cfg.concurrency.max(1))
        .map(|_| tokio::spawn(slot(shared.clone())))
        .collect();
    let mut out = LoadOutcome::default();
    for s in slots {
        let s = s.await?;
        out.finished += s.finished;
        out.errors.broken += s.broken;
        out.errors.timeout += s.timeouts;
        out.latencies_us.extend(s.latencies_us);
        out.samples.extend(s.samples);
    }
    out.elapsed = t0.elapsed();
    for p in &pollers {
        p.abort();
    }
    let c = &shared.counters;
    out.tasks = c.tasks.load(Ordering::Relaxed);
    out.polls = c.polls.load(Ordering::Relaxed);
    out.empty_polls = c.empty_polls.load(Ordering::Relaxed);
    out.releases = c.releases.load(Ordering::Relaxed);
    out.errors.start = c.start_errors.load(Ordering::Relaxed);
    out.errors.poll = c.poll_errors.load(Ordering::Relaxed);
    out.errors.release = c.release_errors.load(Ordering::Relaxed);
    out.errors.rejected = c.rejected.load(Ordering::Relaxed);
    out.errors.bad_task = c.bad_tasks.load(Ordering::Relaxed);
    out.samples.sort_by_key(|(_, n)| *n);
    out.samples.truncate(cfg.samples);
    Ok(out)
}

/// One closed-loop lane: start, wait for the end, repeat.
async fn slot(shared: Arc<Shared>) -> SlotOutcome {
    let mut out = SlotOutcome::default();
    let every = (shared.cfg.processes / shared.cfg.samples.max(1) as u64).max(1);
    loop {
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
        if let Err(e) = shared.api.start(&req).await {
            shared.inflight().remove(&pid);
            if shared.counters.start_errors.fetch_add(1, Ordering::Relaxed) < 3 {
                eprintln!("start failed: {e:#}");
            }
            continue;
        }
        match tokio::time::timeout(shared.cfg.process_timeout, rx).await {
            Ok(Ok((ProcessState::Finished, at))) => {
                out.finished += 1;
                out.latencies_us
                    .push(at.saturating_duration_since(t0).as_micros() as u64);
                if i.checked_rem(every) == Some(0) {
                    out.samples.push((pid, n));
                }
            }
            Ok(Ok((_, _))) => out.broken += 1,
            Ok(Err(_)) | Err(_) => {
                shared.inflight().remove(&pid);
                out.timeouts += 1;
            }
        }
    }
}

/// Polls one actor's queue and releases what it gets, until aborted.
async fn poller(shared: Arc<Shared>, actor_id: ActorId) {
    let c = &shared.counters;
    let req = PollRequest {
        actor_id,
        task_list: TaskList::default_list(),
        max: shared.cfg.batch.max(1),
        wait_ms: shared.cfg.poll_wait.as_millis() as u64,
    };
    loop {
        c.polls.fetch_add(1, Ordering::Relaxed);
        let tasks = match shared.api.poll(&req).await {
            Ok(r) => r.tasks,
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
        let n = decisions.len() as u64;
        c.releases.fetch_add(1, Ordering::Relaxed);
        let results = match shared.api.release(decisions).await {
            Ok(r) => r,
            Err(e) => {
                if c.release_errors.fetch_add(n, Ordering::Relaxed) < 3 {
                    eprintln!("release failed: {e:#}");
                }
                continue;
            }
        };
        let at = Instant::now();
        for r in results {
            match r {
                ReleaseResult::Receipt(receipt) => {
                    c.tasks.fetch_add(1, Ordering::Relaxed);
                    if receipt.process_state != ProcessState::Running {
                        if let Some(done) = shared.inflight().remove(&receipt.process_id) {
                            let _ = done.send((receipt.process_state, at));
                        }
                    }
                }
                ReleaseResult::Error(e) => {
                    if c.rejected.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("release rejected: {}: {}", e.error, e.message);
                    }
                }
            }
        }
    }
}
