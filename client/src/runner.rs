//! [`ActorRunner`]: poll → execute → release loops for a set of actors.
//!
//! Each registered actor (on its task list) gets its own pollers, so a slow actor
//! never starves another. A poller long-polls for up to `max_tasks_per_poll` tasks,
//! executes them concurrently (errors and panics become error releases, see
//! [`Actor::execute`]), and releases them in one round trip. Transport failures are
//! logged and retried with backoff; a release that still fails is dropped, and the
//! broker hands the task out again when its lease expires (at-least-once).
//!
//! Stopping is graceful: [`RunnerHandle::shutdown`] stops polling at once (an
//! interrupted long poll is simply abandoned) but lets tasks already received finish
//! and be released. Dropping the handle stops the pollers without waiting.

use crate::transport::{Backoff, Transport};
use crate::{Actor, Decider, Worker};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use suslik_broker::model::wire::{PollRequest, ReleaseResult};
use suslik_broker::model::{Decision, Outcome, TaskList};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Tuning of an [`ActorRunner`].
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Concurrent poll loops per registered actor (at least 1).
    pub pollers_per_actor: usize,
    /// Most tasks one poll asks for (executed concurrently, released as a batch).
    pub max_tasks_per_poll: u32,
    /// How long one poll waits on the broker when no task is ready.
    pub poll_wait: Duration,
    /// Sleep after a failed poll or release, growing with consecutive failures.
    pub error_backoff: Backoff,
    /// Tries for a release whose failure may be transient.
    pub release_attempts: u32,
    /// Heartbeat automatically for a method still running after a third of its
    /// lease, every third of the lease, until it ends (off by default: methods can
    /// call [`crate::TaskContext::heartbeat`] themselves).
    pub auto_heartbeat: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            pollers_per_actor: 2,
            max_tasks_per_poll: 8,
            poll_wait: Duration::from_secs(10),
            error_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
            release_attempts: 3,
            auto_heartbeat: false,
        }
    }
}

/// Runs pollers for a set of workers and deciders against one transport.
///
/// ```no_run
/// # async fn demo(transport: suslik_client::HttpTransport) -> suslik_client::Result<()> {
/// use suslik_client::{ActorRunner, WorkerBuilder};
///
/// let calc = WorkerBuilder::new("calc#1")
///     .method("add", |(a, b): (i64, i64)| async move { Ok(a + b) })
///     .build()?;
/// let runner = ActorRunner::new(transport).worker(calc).pollers(4).start();
/// // ... until it is time to stop:
/// runner.shutdown().await;
/// # Ok(()) }
/// ```
pub struct ActorRunner {
    transport: Arc<dyn Transport>,
    registrations: Vec<(Actor, TaskList)>,
    config: RunnerConfig,
}

impl ActorRunner {
    /// A runner without actors, with default tuning.
    pub fn new(transport: impl Transport) -> Self {
        ActorRunner::with_transport(Arc::new(transport))
    }

    /// A runner over a shared transport.
    pub fn with_transport(transport: Arc<dyn Transport>) -> Self {
        ActorRunner {
            transport,
            registrations: Vec::new(),
            config: RunnerConfig::default(),
        }
    }

    /// Replaces the tuning.
    pub fn config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the number of poll loops per actor.
    pub fn pollers(mut self, n: usize) -> Self {
        self.config.pollers_per_actor = n;
        self
    }

    /// Serves a worker on its default task list.
    pub fn worker(self, worker: impl Worker) -> Self {
        self.actor(Actor::worker(worker), TaskList::default_list())
    }

    /// Serves a decider on its default task list.
    pub fn decider(self, decider: impl Decider) -> Self {
        self.actor(Actor::decider(decider), TaskList::default_list())
    }

    /// Serves an actor on a given task list (register it again for more lists).
    pub fn actor(mut self, actor: Actor, task_list: TaskList) -> Self {
        self.registrations.push((actor, task_list));
        self
    }

    /// Spawns the pollers on the current Tokio runtime.
    ///
    /// # Panics
    /// Outside a Tokio runtime, like `tokio::spawn`.
    pub fn start(self) -> RunnerHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stats = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            transport: self.transport,
            config: self.config,
            stats: stats.clone(),
        });
        let mut tasks = Vec::new();
        for (actor, list) in self.registrations {
            for _ in 0..shared.config.pollers_per_actor.max(1) {
                let poller = Poller {
                    shared: shared.clone(),
                    actor: actor.clone(),
                    task_list: list.clone(),
                    stop: stop_rx.clone(),
                };
                tasks.push(tokio::spawn(poller.run()));
            }
        }
        RunnerHandle {
            stop: stop_tx,
            tasks,
            stats,
        }
    }
}

/// Controls running pollers. Dropping it stops them without waiting.
pub struct RunnerHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    stats: Arc<Counters>,
}

impl RunnerHandle {
    /// Counters since start.
    pub fn stats(&self) -> RunnerStats {
        self.stats.snapshot()
    }

    /// Asks the pollers to stop, without waiting for them.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Stops polling and waits until tasks already received are executed and released.
    pub async fn shutdown(mut self) {
        self.stop();
        for t in std::mem::take(&mut self.tasks) {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "poller ended abnormally");
            }
        }
    }
}

impl Drop for RunnerHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// What the runner has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunnerStats {
    /// Polls answered (with or without tasks).
    pub polls: u64,
    /// Polls that failed.
    pub poll_errors: u64,
    /// Tasks received.
    pub received: u64,
    /// Tasks whose outcome was a value or a promise.
    pub succeeded: u64,
    /// Tasks whose outcome was an error (including panics).
    pub failed: u64,
    /// Releases the broker accepted.
    pub released: u64,
    /// Releases that failed or were rejected.
    pub release_errors: u64,
    /// Releases refused because another delivery of the same task won (the task was
    /// handed out again after a lease expiry or a leader change, and that execution
    /// released first: `stale_delivery`, or `already_released` with another outcome).
    /// At-least-once delivery at work, not an error: the first release stands.
    pub superseded: u64,
}

#[derive(Default)]
struct Counters {
    polls: AtomicU64,
    poll_errors: AtomicU64,
    received: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    released: AtomicU64,
    release_errors: AtomicU64,
    superseded: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> RunnerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RunnerStats {
            polls: get(&self.polls),
            poll_errors: get(&self.poll_errors),
            received: get(&self.received),
            succeeded: get(&self.succeeded),
            failed: get(&self.failed),
            released: get(&self.released),
            release_errors: get(&self.release_errors),
            superseded: get(&self.superseded),
        }
    }
}

/// Whether a refused release lost to another delivery of the same task (fencing).
fn is_superseded(code: &str) -> bool {
    matches!(code, "stale_delivery" | "already_released")
}

fn bump(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

struct Shared {
    transport: Arc<dyn Transport>,
    config: RunnerConfig,
    stats: Arc<Counters>,
}

struct Poller {
    shared: Arc<Shared>,
    actor: Actor,
    task_list: TaskList,
    stop: watch::Receiver<bool>,
}

impl Poller {
    async fn run(mut self) {
        let actor_id = self.actor.actor_id();
        let cfg = &self.shared.config;
        let mut failures: u32 = 0;
        loop {
            if *self.stop.borrow() {
                break;
            }
            let req = PollRequest {
                actor_id: actor_id.clone(),
                task_list: self.task_list.clone(),
                max: cfg.max_tasks_per_poll.max(1),
                wait_ms: u64::try_from(cfg.poll_wait.as_millis()).unwrap_or(u64::MAX),
            };
            let polled = tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                r = self.shared.transport.poll(req) => r,
            };
            let deliveries = match polled {
                Ok(resp) => {
                    failures = 0;
                    bump(&self.shared.stats.polls, 1);
                    resp.tasks
                }
                Err(e) => {
                    bump(&self.shared.stats.poll_errors, 1);
                    tracing::warn!(actor = %actor_id, error = %e, "poll failed");
                    let delay = cfg.error_backoff.delay(failures);
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        _ = self.stop.changed() => break,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
            };
            if deliveries.is_empty() {
                continue;
            }
            bump(&self.shared.stats.received, deliveries.len());
            let decisions = futures::future::join_all(deliveries.into_iter().map(|d| {
                self.actor
                    .execute_connected(d, self.shared.transport.clone(), cfg.auto_heartbeat)
            }))
            .await;
            let failed = decisions
                .iter()
                .filter(|d| matches!(d.outcome, Outcome::Error(_)))
                .count();
            bump(&self.shared.stats.failed, failed);
            bump(&self.shared.stats.succeeded, decisions.len() - failed);
            self.release(decisions).await;
        }
        tracing::debug!(actor = %actor_id, "poller stopped");
    }

    /// Releases the decisions (one call, or one batch), retrying transient failures.
    async fn release(&self, decisions: Vec<Decision>) {
        let cfg = &self.shared.config;
        let stats = &self.shared.stats;
        let n = decisions.len();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = if n == 1 {
                self.shared
                    .transport
                    .release(decisions[0].clone())
                    .await
                    .map(|_| vec![None])
            } else {
                self.shared
                    .transport
                    .release_batch(decisions.clone())
                    .await
                    .map(|resp| {
                        resp.results
                            .into_iter()
                            .map(|r| match r {
                                ReleaseResult::Receipt(_) => None,
                                ReleaseResult::Error(body) => Some(body),
                            })
                            .collect::<Vec<_>>()
                    })
            };
            match result {
                Ok(per_item) => {
                    let refused: Vec<_> = per_item.into_iter().flatten().collect();
                    let mut rejected = 0;
                    for body in &refused {
                        if is_superseded(&body.error) {
                            tracing::debug!(code = %body.error, message = %body.message, "release superseded by another delivery");
                            bump(&stats.superseded, 1);
                        } else {
                            tracing::warn!(code = %body.error, message = %body.message, "release rejected");
                            rejected += 1;
                        }
                    }
                    bump(&stats.release_errors, rejected);
                    bump(&stats.released, n.saturating_sub(refused.len()));
                    return;
                }
                Err(e) if e.code().is_some_and(is_superseded) => {
                    tracing::debug!(error = %e, "release superseded by another delivery");
                    bump(&stats.superseded, n);
                    return;
                }
                Err(e) if e.is_retryable() && attempt < cfg.release_attempts => {
                    tracing::warn!(error = %e, attempt, "release failed, retrying");
                    tokio::time::sleep(cfg.error_backoff.delay(attempt - 1)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, tasks = n, "release failed; the broker will hand the tasks out again");
                    bump(&stats.release_errors, n);
                    return;
                }
            }
        }
    }
}
