//! [`TracingProfiler`]: per-actor counts and times, logged through `tracing`.
//!
//! Callbacks only update counters under a short lock. A reporter task logs a summary
//! of the actors that were busy, `interval` after activity begins, and then sleeps on
//! a notification until there is activity again: an idle container runs no timer.
//! Empty polls (a long poll that found nothing) are counted but are not activity. A
//! final summary of every actor is logged at shutdown.

use super::Profiler;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use suslik_client::{ActorId, TaskList};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Counts and times of one actor since the container started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActorStats {
    /// Polls answered.
    pub polls: u64,
    /// Polls answered with no task.
    pub empty_polls: u64,
    /// Polls that failed.
    pub poll_errors: u64,
    /// Tasks received.
    pub tasks: u64,
    /// Executions that returned a value (or a promise).
    pub succeeded: u64,
    /// Executions that returned an error or panicked.
    pub failed: u64,
    /// Total execution time.
    pub exec_total: Duration,
    /// Longest execution.
    pub exec_max: Duration,
    /// Tasks whose release the broker accepted.
    pub released: u64,
    /// Tasks whose release failed (or whose batch had a rejected item).
    pub release_errors: u64,
    /// Total time spent releasing.
    pub release_total: Duration,
}

impl ActorStats {
    /// Executions so far.
    pub fn executed(&self) -> u64 {
        self.succeeded + self.failed
    }

    /// Mean execution time.
    pub fn exec_avg(&self) -> Duration {
        match u32::try_from(self.executed()) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.exec_total / n,
            Err(_) => Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct Entry {
    stats: ActorStats,
    /// Changed since the last periodic report.
    dirty: bool,
}

struct Inner {
    actors: Mutex<BTreeMap<ActorId, Entry>>,
    activity: Notify,
    interval: Duration,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<ActorId, Entry>> {
        self.actors.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, actor: &ActorId, busy: bool, f: impl FnOnce(&mut ActorStats)) {
        {
            let mut map = self.lock();
            let entry = match map.get_mut(actor) {
                Some(e) => e,
                None => map.entry(actor.clone()).or_default(),
            };
            f(&mut entry.stats);
            entry.dirty |= busy;
        }
        if busy {
            self.activity.notify_one();
        }
    }

    /// Logs the actors that changed since the last report (all of them if `all`).
    fn report(&self, all: bool) {
        let rows: Vec<(ActorId, ActorStats)> = {
            let mut map = self.lock();
            map.iter_mut()
                .filter(|(_, e)| all || e.dirty)
                .map(|(id, e)| {
                    e.dirty = false;
                    (id.clone(), e.stats)
                })
                .collect()
        };
        for (actor, s) in rows {
            tracing::info!(
                target: "suslik_bootstrap::profiler",
                actor = %actor,
                tasks = s.tasks,
                ok = s.succeeded,
                failed = s.failed,
                exec_avg_ms = ms(s.exec_avg()),
                exec_max_ms = ms(s.exec_max),
                polls = s.polls,
                empty_polls = s.empty_polls,
                poll_errors = s.poll_errors,
                released = s.released,
                release_errors = s.release_errors,
                "{}",
                if all { "actor totals at shutdown" } else { "actor totals" }
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The built-in [`Profiler`]: counts and times tasks per actor and logs summaries.
pub struct TracingProfiler {
    inner: Arc<Inner>,
    reporter: Mutex<Option<JoinHandle<()>>>,
}

impl Default for TracingProfiler {
    fn default() -> Self {
        TracingProfiler::new(Duration::from_secs(10))
    }
}

impl TracingProfiler {
    /// A profiler that logs busy actors at most every `interval`.
    pub fn new(interval: Duration) -> Self {
        TracingProfiler {
            inner: Arc::new(Inner {
                actors: Mutex::new(BTreeMap::new()),
                activity: Notify::new(),
                interval: interval.max(Duration::from_millis(10)),
            }),
            reporter: Mutex::new(None),
        }
    }

    /// The counters so far, by actor.
    pub fn snapshot(&self) -> BTreeMap<ActorId, ActorStats> {
        self.inner
            .lock()
            .iter()
            .map(|(id, e)| (id.clone(), e.stats))
            .collect()
    }

    /// Logs the totals of every actor now.
    pub fn log_totals(&self) {
        self.inner.report(true);
    }

    fn stop_reporter(&self) {
        let handle = self
            .reporter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = handle {
            h.abort();
        }
    }
}

impl Drop for TracingProfiler {
    fn drop(&mut self) {
        self.stop_reporter();
    }
}

/// Sleeps until there is activity, waits one interval, logs, and again.
async fn report_loop(inner: Arc<Inner>) {
    loop {
        inner.activity.notified().await;
        tokio::time::sleep(inner.interval).await;
        inner.report(false);
    }
}

impl Profiler for TracingProfiler {
    fn on_poll(&self, actor: &ActorId, _list: &TaskList, tasks: usize, _e: Duration, ok: bool) {
        self.inner.update(actor, tasks > 0, |s| {
            if !ok {
                s.poll_errors += 1;
            } else if tasks == 0 {
                s.polls += 1;
                s.empty_polls += 1;
            } else {
                s.polls += 1;
                s.tasks += tasks as u64;
            }
        });
    }

    fn on_execute(&self, actor: &ActorId, _method: &str, elapsed: Duration, ok: bool) {
        self.inner.update(actor, true, |s| {
            if ok {
                s.succeeded += 1;
            } else {
                s.failed += 1;
            }
            s.exec_total += elapsed;
            s.exec_max = s.exec_max.max(elapsed);
        });
    }

    fn on_release(&self, actor: &ActorId, tasks: usize, elapsed: Duration, ok: bool) {
        self.inner.update(actor, true, |s| {
            if ok {
                s.released += tasks as u64;
            } else {
                s.release_errors += tasks as u64;
            }
            s.release_total += elapsed;
        });
    }

    fn on_start(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut slot = self.reporter.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(rt.spawn(report_loop(self.inner.clone())));
        }
    }

    fn on_shutdown(&self) {
        self.stop_reporter();
        self.inner.report(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_times_per_actor() {
        let p = TracingProfiler::default();
        let a = ActorId::new("a#1").expect("valid");
        let list = TaskList::default_list();
        p.on_poll(&a, &list, 0, Duration::from_millis(5), true);
        p.on_poll(&a, &list, 2, Duration::from_millis(1), true);
        p.on_poll(&a, &list, 0, Duration::from_millis(1), false);
        p.on_execute(&a, "m", Duration::from_millis(10), true);
        p.on_execute(&a, "m", Duration::from_millis(30), false);
        p.on_release(&a, 2, Duration::from_millis(2), true);
        let s = p.snapshot()[&a];
        assert_eq!(
            (s.polls, s.empty_polls, s.poll_errors, s.tasks),
            (2, 1, 1, 2)
        );
        assert_eq!((s.succeeded, s.failed, s.executed()), (1, 1, 2));
        assert_eq!(s.exec_avg(), Duration::from_millis(20));
        assert_eq!(s.exec_max, Duration::from_millis(30));
        assert_eq!((s.released, s.release_errors), (2, 0));
    }

    #[tokio::test]
    async fn the_reporter_sleeps_while_idle() {
        let p = TracingProfiler::new(Duration::from_millis(20));
        p.on_start();
        let a = ActorId::new("a#1").expect("valid");
        // Empty polls are not activity: nothing becomes dirty.
        p.on_poll(&a, &TaskList::default_list(), 0, Duration::ZERO, true);
        assert!(!p.inner.lock()[&a].dirty);
        p.on_execute(&a, "m", Duration::ZERO, true);
        assert!(p.inner.lock()[&a].dirty);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while p.inner.lock()[&a].dirty {
            assert!(std::time::Instant::now() < deadline, "never reported");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        p.on_shutdown();
    }
}
