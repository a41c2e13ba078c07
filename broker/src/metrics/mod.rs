//! Metrics of one node, exposed at `/metrics` in the Prometheus text format.
//!
//! Two sources feed them:
//! - **Applied commands** (processes started/finished/broken/aborted, tasks enqueued,
//!   releases by outcome, retries, processing time: the actor's `execution_ms`, else
//!   the time from the delivery the leader wrote into the release to the release) come
//!   from the [`Effects`] every node publishes after applying a log entry, so every
//!   node counts them, and counts them the same way.
//! - **Polls and leases** (tasks polled, poll latency, lease expiries) happen only on
//!   the leader, in memory: these counters are leader-local and a follower's stay at
//!   what it counted while it led.
//!
//! Queue sizes and Raft positions are gauges read from the state and from openraft at
//! scrape time. On the hot paths (poll, apply) a metric update is an atomic add on a
//! handle looked up by reference (per-queue and per-actor handles are cached in a map
//! the first time a queue or an actor is seen), so steady state allocates nothing.

pub mod activity;
pub mod hovering;
mod ring;

use crate::model::{ActorId, Millis, ProcessState, QueueKey};
use crate::state_machine::{Effects, QueueSnapshot};
use activity::Activity;
use dashmap::DashMap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::Mutex;
use std::time::Duration;

/// Labels of a per-queue metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    actor_id: String,
    task_list: String,
}

impl QueueLabels {
    fn of(key: &QueueKey) -> Self {
        QueueLabels {
            actor_id: key.actor_id.as_str().to_owned(),
            task_list: key.task_list.as_str().to_owned(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabels {
    actor_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Buckets for durations in seconds: 1 ms to about 9 minutes.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

/// Cached per-queue counter handles (they share the family's atomics).
#[derive(Clone)]
struct QueueCounters {
    enqueued: Counter,
    polled: Counter,
}

/// Raft positions read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct RaftGauges {
    pub term: u64,
    pub is_leader: bool,
    pub last_log_index: u64,
    pub committed: u64,
    pub applied: u64,
}

/// The webhook outbox as it is at scrape time (from the replicated state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxGauges {
    /// Events not yet acknowledged.
    pub events: u64,
    /// How long ago the oldest of them happened (0 when there is none).
    pub oldest_age_ms: u64,
    /// Events ever dropped because the outbox was full.
    pub dropped: u64,
}

/// The metrics of one node. Held by [`crate::core::BrokerCore`].
pub struct Metrics {
    registry: Registry,
    queue_enqueued: Family<QueueLabels, Counter>,
    queue_polled: Family<QueueLabels, Counter>,
    queue_size: Family<QueueLabels, Gauge>,
    queue_leased: Family<QueueLabels, Gauge>,
    queue_handles: DashMap<QueueKey, QueueCounters>,
    poll_tasks: Histogram,
    poll_empty: Histogram,
    processing: HistogramFamily<ActorLabels>,
    actor_handles: DashMap<ActorId, Histogram>,
    releases: [Counter; 3],
    retries: Counter,
    processes: Family<EventLabels, Counter>,
    process_handles: [Counter; 4],
    lease_expiries: Counter,
    raft_term: Gauge,
    raft_is_leader: Gauge,
    raft_last_log_index: Gauge,
    raft_committed: Gauge,
    raft_applied: Gauge,
    raft_apply_lag: Gauge,
    gc_duration: Histogram,
    recovery_duration: Histogram,
    recovered_tasks: Counter,
    webhook_deliveries: Family<ResultLabels, Counter>,
    webhook_dropped: Counter,
    webhook_failed_attempts: Counter,
    outbox_events: Gauge,
    outbox_oldest_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    outbox_dropped: Counter,
    alerts_fired: Counter,
    /// Serializes scrapes (they rewrite the queue gauges).
    scrape: Mutex<()>,
    /// Minute-by-minute activity behind `/api/v1/queues/activity` and `/monitoring`.
    pub activity: Activity,
    /// Recent alert firings behind `/api/v1/alerts` (leader-local).
    pub alerts: crate::notify::AlertLog,
}

const OUTCOMES: [&str; 3] = ["value", "promise", "error"];
const PROCESS_EVENTS: [&str; 4] = ["started", "finished", "broken", "aborted"];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut root = Registry::default();
        let r = root.sub_registry_with_prefix("suslik");
        let queue_enqueued = Family::<QueueLabels, Counter>::default();
        r.register(
            "queue_enqueued",
            "Tasks put into a ready queue (applied log)",
            queue_enqueued.clone(),
        );
        let queue_polled = Family::<QueueLabels, Counter>::default();
        r.register(
            "queue_polled",
            "Tasks handed out by polls (leader-local)",
            queue_polled.clone(),
        );
        let queue_size = Family::<QueueLabels, Gauge>::default();
        r.register(
            "queue_size",
            "Ready tasks waiting in a queue, at scrape time",
            queue_size.clone(),
        );
        let queue_leased = Family::<QueueLabels, Gauge>::default();
        r.register(
            "queue_leased",
            "Tasks of a queue handed out and not released yet (leader-local)",
            queue_leased.clone(),
        );
        let poll = HistogramFamily::<ResultLabels>::new_with_constructor(seconds_histogram);
        r.register_with_unit(
            "poll_duration",
            "Duration of poll requests, by whether they returned tasks (leader-local)",
            Unit::Seconds,
            poll.clone(),
        );
        let poll_tasks = poll
            .get_or_create(&ResultLabels {
                result: "tasks".into(),
            })
            .clone();
        let poll_empty = poll
            .get_or_create(&ResultLabels {
                result: "empty".into(),
            })
            .clone();
        let processing = HistogramFamily::<ActorLabels>::new_with_constructor(seconds_histogram);
        r.register_with_unit(
            "task_processing",
            "Task processing time per actor: the release's execution_ms, else from hand-out to release",
            Unit::Seconds,
            processing.clone(),
        );
        let release_family = Family::<OutcomeLabels, Counter>::default();
        r.register(
            "releases",
            "Releases applied, by outcome",
            release_family.clone(),
        );
        let releases = OUTCOMES.map(|o| {
            release_family
                .get_or_create(&OutcomeLabels { outcome: o.into() })
                .clone()
        });
        let retries = Counter::default();
        r.register(
            "retries_scheduled",
            "Error releases that scheduled a retry",
            retries.clone(),
        );
        let processes = Family::<EventLabels, Counter>::default();
        r.register(
            "processes",
            "Process lifecycle events applied (started, finished, broken, aborted)",
            processes.clone(),
        );
        let process_handles = PROCESS_EVENTS.map(|e| {
            processes
                .get_or_create(&EventLabels { event: e.into() })
                .clone()
        });
        let lease_expiries = Counter::default();
        r.register(
            "lease_expiries",
            "Handed-out tasks whose lease expired; they are delivered again (leader-local)",
            lease_expiries.clone(),
        );
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let raft_term = gauge(r, "raft_term", "Current Raft term");
        let raft_is_leader = gauge(r, "raft_is_leader", "1 if this node leads");
        let raft_last_log_index = gauge(r, "raft_last_log_index", "Last Raft log index");
        let raft_committed = gauge(r, "raft_committed_index", "Raft commit index");
        let raft_applied = gauge(r, "raft_applied_index", "Last applied log index");
        let raft_apply_lag = gauge(r, "raft_apply_lag", "Committed log entries not applied yet");
        let gc_duration = seconds_histogram();
        r.register_with_unit(
            "gc_duration",
            "Duration of one garbage-collection step (propose and apply)",
            Unit::Seconds,
            gc_duration.clone(),
        );
        let recovery_duration = seconds_histogram();
        r.register_with_unit(
            "recovery_duration",
            "Duration of one recovery scan of stalled processes",
            Unit::Seconds,
            recovery_duration.clone(),
        );
        let recovered_tasks = Counter::default();
        r.register(
            "recovered_tasks",
            "Tasks of stalled processes put back into their queues by recovery (leader-local)",
            recovered_tasks.clone(),
        );
        let webhook_deliveries = Family::<ResultLabels, Counter>::default();
        r.register(
            "webhook_deliveries",
            "Webhook events by result (delivered, failed after retries)",
            webhook_deliveries.clone(),
        );
        let webhook_dropped = Counter::default();
        r.register(
            "webhook_dropped",
            "Webhook events dropped because the sender's queue was full",
            webhook_dropped.clone(),
        );
        let webhook_failed_attempts = Counter::default();
        r.register(
            "webhook_failed_attempts",
            "Webhook POSTs that failed (a transport error or a non-2xx answer), retries included",
            webhook_failed_attempts.clone(),
        );
        let outbox_events = Gauge::default();
        r.register(
            "webhook_outbox_events",
            "Lifecycle events in the replicated webhook outbox, not yet acknowledged",
            outbox_events.clone(),
        );
        let outbox_oldest_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        r.register(
            "webhook_outbox_oldest_age_seconds",
            "Age of the oldest unacknowledged outbox event (0 when the outbox is empty)",
            outbox_oldest_age.clone(),
        );
        let outbox_dropped = Counter::default();
        r.register(
            "webhook_outbox_dropped",
            "Lifecycle events dropped from a full webhook outbox (replicated: every node counts alike)",
            outbox_dropped.clone(),
        );
        let alerts_fired = Counter::default();
        r.register("alerts_fired", "Alert firings", alerts_fired.clone());
        Metrics {
            registry: root,
            queue_enqueued,
            queue_polled,
            queue_size,
            queue_leased,
            queue_handles: DashMap::new(),
            poll_tasks,
            poll_empty,
            processing,
            actor_handles: DashMap::new(),
            releases,
            retries,
            processes,
            process_handles,
            lease_expiries,
            raft_term,
            raft_is_leader,
            raft_last_log_index,
            raft_committed,
            raft_applied,
            raft_apply_lag,
            gc_duration,
            recovery_duration,
            recovered_tasks,
            webhook_deliveries,
            webhook_dropped,
            webhook_failed_attempts,
            outbox_events,
            outbox_oldest_age,
            outbox_dropped,
            alerts_fired,
            scrape: Mutex::new(()),
            activity: Activity::default(),
            alerts: crate::notify::AlertLog::default(),
        }
    }

    fn queue(&self, key: &QueueKey) -> QueueCounters {
        if let Some(h) = self.queue_handles.get(key) {
            return h.clone();
        }
        let labels = QueueLabels::of(key);
        let h = QueueCounters {
            enqueued: self.queue_enqueued.get_or_create_owned(&labels),
            polled: self.queue_polled.get_or_create_owned(&labels),
        };
        self.queue_handles.insert(key.clone(), h.clone());
        h
    }

    fn actor(&self, actor: &ActorId) -> Histogram {
        if let Some(h) = self.actor_handles.get(actor) {
            return h.clone();
        }
        let h = self.processing.get_or_create_owned(&ActorLabels {
            actor_id: actor.as_str().to_owned(),
        });
        self.actor_handles.insert(actor.clone(), h.clone());
        h
    }

    /// Counts what applying a log entry did.
    pub fn record_effects(&self, effects: &Effects, now: Millis) {
        let mut enqueued = 0u64;
        for (key, n) in &effects.enqueued {
            self.queue(key).enqueued.inc_by(u64::from(*n));
            self.activity.enqueued(key, u64::from(*n), now);
            enqueued += u64::from(*n);
        }
        for r in &effects.releases {
            if let Some(i) = OUTCOMES.iter().position(|o| *o == r.outcome) {
                self.releases[i].inc();
            }
            if r.retry_scheduled {
                self.retries.inc();
            }
            if let Some(ms) = r.processing_ms {
                self.actor(&r.actor_id)
                    .observe(Duration::from_millis(ms).as_secs_f64());
            }
        }
        for e in &effects.lifecycle {
            let event = e.name();
            if let Some(i) = PROCESS_EVENTS.iter().position(|n| *n == event) {
                self.process_handles[i].inc();
            } else {
                self.processes
                    .get_or_create(&EventLabels {
                        event: event.into(),
                    })
                    .inc();
            }
        }
        self.activity
            .cluster_applied(enqueued, effects.releases.len() as u64, now);
    }

    /// Counts a poll that handed out `tasks` after `took`.
    pub fn record_poll(&self, key: &QueueKey, tasks: &[crate::model::Delivery], took: Duration) {
        let now = Millis::now();
        if tasks.is_empty() {
            self.poll_empty.observe(took.as_secs_f64());
            self.activity.polled(key, 0, None, now);
            return;
        }
        self.poll_tasks.observe(took.as_secs_f64());
        self.queue(key).polled.inc_by(tasks.len() as u64);
        self.activity
            .polled(key, tasks.len() as u64, Some(took), now);
    }

    /// Counts tasks whose lease expired (they go back to their queue).
    pub fn record_lease_expiries(&self, n: u64) {
        self.lease_expiries.inc_by(n);
    }

    pub fn observe_gc(&self, took: Duration) {
        self.gc_duration.observe(took.as_secs_f64());
    }

    /// One recovery scan took `took` and put `tasks` back into their queues.
    pub fn record_recovery(&self, took: Duration, tasks: u32) {
        self.recovery_duration.observe(took.as_secs_f64());
        self.recovered_tasks.inc_by(u64::from(tasks));
    }

    /// Counts a webhook event delivered (`true`) or given up on (`false`).
    pub fn record_webhook(&self, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        self.webhook_deliveries
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
    }

    /// Counts a webhook POST that failed (each retry is one).
    pub fn record_webhook_failed_attempt(&self) {
        self.webhook_failed_attempts.inc();
    }

    /// Counts a webhook event dropped because the sender's queue was full.
    pub fn record_webhook_dropped(&self) {
        self.webhook_dropped.inc();
    }

    pub fn record_alert(&self) {
        self.alerts_fired.inc();
    }

    /// The Prometheus text exposition, with queue, Raft and outbox gauges set from
    /// `queues`, `raft` and `outbox` first.
    pub fn render(
        &self,
        queues: &[QueueSnapshot],
        raft: RaftGauges,
        outbox: OutboxGauges,
    ) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.outbox_events.set(gauge_value(outbox.events));
        self.outbox_oldest_age
            .set(outbox.oldest_age_ms as f64 / 1000.0);
        // The replicated drop count only grows (a snapshot carries it): add what is new.
        let counted = self.outbox_dropped.get();
        if outbox.dropped > counted {
            self.outbox_dropped.inc_by(outbox.dropped - counted);
        }
        self.queue_size.clear();
        self.queue_leased.clear();
        for q in queues {
            let labels = QueueLabels::of(&q.key);
            self.queue_size
                .get_or_create(&labels)
                .set(gauge_value(q.size as u64));
            self.queue_leased
                .get_or_create(&labels)
                .set(gauge_value(q.leased as u64));
        }
        self.raft_term.set(gauge_value(raft.term));
        self.raft_is_leader.set(i64::from(raft.is_leader));
        self.raft_last_log_index
            .set(gauge_value(raft.last_log_index));
        self.raft_committed.set(gauge_value(raft.committed));
        self.raft_applied.set(gauge_value(raft.applied));
        self.raft_apply_lag
            .set(gauge_value(raft.committed.saturating_sub(raft.applied)));
        let mut out = String::with_capacity(16 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The name of a process state in events and metrics.
pub fn state_name(state: ProcessState) -> &'static str {
    match state {
        ProcessState::Running => "running",
        ProcessState::Finished => "finished",
        ProcessState::Broken => "broken",
        ProcessState::Aborted => "aborted",
    }
}

#[cfg(test)]
mod tests;
