//! The shared heart of one broker node: the state machine behind a mutex, plus the
//! wake-up signals that connect applied commands to waiting pollers and timer loops.
//!
//! A `std::sync::Mutex` (not Tokio's): nothing awaits while holding it and every
//! critical section is short (apply one log entry, lease a few tasks), so a blocking
//! lock is both correct and cheaper.

use crate::metrics::Metrics;
use crate::model::{Millis, QueueKey};
use crate::raft::Applier;
use crate::state_machine::{Effects, Request, Response, State};
use dashmap::DashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// State plus the signals around it.
#[derive(Default)]
pub struct BrokerCore {
    state: Mutex<State>,
    /// One `Notify` per queue that has (or had) long-polling waiters.
    waiters: DashMap<QueueKey, Arc<Notify>>,
    /// Wakes the timer loop when an earlier timer may have been armed.
    pub timers_changed: Notify,
    /// Wakes the lease loop when a lease may now end sooner than it sleeps.
    pub leases_changed: Notify,
    /// Wakes the garbage-collection loop when a process ends.
    pub process_ended: Notify,
    /// Wakes the schedule loop when a schedule is created, changed or fired.
    pub schedules_changed: Notify,
    /// This node's metrics and activity counters.
    pub metrics: Metrics,
    /// Whether this node leads (set by the leadership watcher).
    pub leading: AtomicBool,
    /// Wakes the leader's webhook sender when lifecycle events entered the outbox.
    pub outbox_changed: Notify,
}

impl BrokerCore {
    pub fn new() -> Arc<Self> {
        Arc::new(BrokerCore::default())
    }

    /// Locks the state. A poisoned lock (a panic while holding it) is recovered: the
    /// state machine validates before it mutates, so the state is still consistent.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The notifier of `key`'s queue, created on first use.
    pub fn waiter(&self, key: &QueueKey) -> Arc<Notify> {
        if let Some(n) = self.waiters.get(key) {
            return n.clone();
        }
        self.waiters.entry(key.clone()).or_default().clone()
    }

    /// Wakes pollers of the given queues.
    pub fn wake(&self, keys: &[QueueKey]) {
        for k in keys {
            if let Some(n) = self.waiters.get(k) {
                n.notify_waiters();
            }
        }
    }

    fn publish(&self, effects: Effects) {
        let now = Millis::now();
        self.metrics.record_effects(&effects, now);
        if !effects.lifecycle.is_empty() {
            self.outbox_changed.notify_one();
        }
        self.wake(&effects.woken);
        if effects.timer_armed {
            self.timers_changed.notify_one();
        }
        if !effects.ended.is_empty() {
            self.process_ended.notify_one();
        }
        if effects.schedules_changed {
            self.schedules_changed.notify_one();
        }
    }

    /// Runs `f` on the locked state, then acts on the effects it produced.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let (out, effects, queued) = {
            let mut s = self.lock();
            let out = f(&mut s);
            let effects = s.take_effects();
            // Queue depth for the monitoring series: sampled once a minute.
            let queued = self
                .metrics
                .activity
                .wants_queued_sample(Millis::now())
                .then(|| s.total_queued());
            (out, effects, queued)
        };
        if let Some(q) = queued {
            self.metrics.activity.sample_queued(q as u64, Millis::now());
        }
        self.publish(effects);
        out
    }

    /// Leases ready tasks of `key` at `now` until `lease_until` (sooner for tasks with
    /// a timeout); wakes the lease loop if one of the new leases ends before it wakes.
    pub fn lease(
        &self,
        key: &QueueKey,
        max: usize,
        now: Millis,
        lease_until: Millis,
    ) -> Vec<crate::model::Delivery> {
        let (tasks, wake) = {
            let mut s = self.lock();
            let before = s.next_lease_deadline();
            let tasks = s.lease(key, max, now, lease_until);
            let earliest = tasks.iter().map(|t| t.lease_until).min();
            let wake = earliest.is_some_and(|e| before.is_none_or(|b| e < b));
            (tasks, wake)
        };
        if wake {
            self.leases_changed.notify_one();
        }
        tasks
    }
}

impl Applier for BrokerCore {
    fn apply(&self, request: &Request) -> Response {
        self.with_state(|s| s.apply_request(request))
    }

    fn snapshot(&self) -> Result<Vec<u8>, String> {
        self.lock().to_snapshot().map_err(|e| {
            tracing::error!(error = %e, "state snapshot failed to serialize");
            format!("state snapshot failed to serialize: {e}")
        })
    }

    fn restore(&self, data: &[u8]) -> Result<(), String> {
        let state = State::from_snapshot(data).map_err(|e| e.to_string())?;
        let keys: Vec<QueueKey> = state.queues().sizes().map(|(k, _)| k.clone()).collect();
        *self.lock() = state;
        self.wake(&keys);
        self.timers_changed.notify_one();
        self.schedules_changed.notify_one();
        Ok(())
    }
}
