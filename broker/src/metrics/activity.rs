//! Minute-by-minute activity for the console: per queue, tasks enqueued and polled over
//! the last 24 hours plus the last poll time; cluster-wide, the last 60 minutes of
//! enqueued, polled, released, queue depth and poll latency percentiles.
//!
//! Leader-local and in memory: polls happen only on the leader, so these series start
//! empty on a new leader after a failover (enqueued/released counts come from applied
//! commands and are counted by every node). Losing them loses only a chart.
//!
//! Rings rotate lazily on write and read (see [`MinuteRing`]); nothing ticks.

use super::ring::{minute_of, MinuteRing, MINUTE_MS};
use crate::model::{Millis, QueueKey};
use dashmap::DashMap;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Minutes of per-queue history (24 h).
pub const QUEUE_MINUTES: usize = 24 * 60;
/// Minutes of cluster-wide history.
pub const CLUSTER_MINUTES: usize = 60;

/// Upper bounds (ms) of the poll latency buckets; one more bucket holds the rest.
const LATENCY_BOUNDS_MS: [u64; 16] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000,
];

#[derive(Debug, Clone, Copy, Default)]
struct QueueMinute {
    enqueued: u64,
    polled: u64,
}

/// One queue's history.
#[derive(Debug)]
struct QueueActivity {
    ring: MinuteRing<QueueMinute>,
    last_poll_at: Option<Millis>,
}

impl Default for QueueActivity {
    fn default() -> Self {
        QueueActivity {
            ring: MinuteRing::new(QUEUE_MINUTES),
            last_poll_at: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ClusterMinute {
    enqueued: u64,
    polled: u64,
    released: u64,
    /// Ready tasks in all queues, sampled during the minute.
    queued: Option<u64>,
    latency: [u32; LATENCY_BOUNDS_MS.len() + 1],
}

/// A queue's activity as `/api/v1/queues/activity` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct QueueActivityView {
    pub last_poll_at: Option<Millis>,
    pub enqueued_1h: u64,
    pub polled_1h: u64,
    pub enqueued_24h: u64,
    pub polled_24h: u64,
}

/// The cluster-wide series of `/api/v1/monitoring`, oldest minute first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Series {
    pub enqueued: Vec<u64>,
    pub polled: Vec<u64>,
    pub released: Vec<u64>,
    pub queued: Vec<u64>,
    pub poll_latency_p50_ms: Vec<u64>,
    pub poll_latency_p99_ms: Vec<u64>,
}

/// Activity counters of one node.
pub struct Activity {
    queues: DashMap<QueueKey, Mutex<QueueActivity>>,
    cluster: Mutex<MinuteRing<ClusterMinute>>,
    /// The last minute the queue depth was sampled in (saves a lock per apply).
    queued_sampled: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            queues: DashMap::new(),
            cluster: Mutex::new(MinuteRing::new(CLUSTER_MINUTES)),
            queued_sampled: AtomicU64::new(u64::MAX),
        }
    }
}

impl Activity {
    fn with_queue(&self, key: &QueueKey, f: impl FnOnce(&mut QueueActivity)) {
        if let Some(q) = self.queues.get(key) {
            f(&mut q.lock().unwrap_or_else(|p| p.into_inner()));
            return;
        }
        let q = self.queues.entry(key.clone()).or_default();
        f(&mut q.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn with_cluster<T>(&self, f: impl FnOnce(&mut MinuteRing<ClusterMinute>) -> T) -> T {
        f(&mut self.cluster.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// `n` tasks entered `key`'s queue.
    pub fn enqueued(&self, key: &QueueKey, n: u64, now: Millis) {
        self.with_queue(key, |q| q.ring.at(minute_of(now.0)).enqueued += n);
    }

    /// A poll of `key` handed out `n` tasks (maybe none) after `latency` (given when it
    /// handed out tasks: the latency series describe how long a worker waited for work).
    pub fn polled(&self, key: &QueueKey, n: u64, latency: Option<Duration>, now: Millis) {
        let minute = minute_of(now.0);
        // An empty poll of a queue never seen (any actor id a client makes up) must not
        // create an entry: that would let polls grow the map without bound.
        if n == 0 && !self.queues.contains_key(key) {
            return;
        }
        self.with_queue(key, |q| {
            q.last_poll_at = Some(now);
            q.ring.at(minute).polled += n;
        });
        if n > 0 || latency.is_some() {
            self.with_cluster(|c| {
                let m = c.at(minute);
                m.polled += n;
                if let Some(l) = latency {
                    let ms = l.as_millis() as u64;
                    let bucket = LATENCY_BOUNDS_MS
                        .iter()
                        .position(|b| ms <= *b)
                        .unwrap_or(LATENCY_BOUNDS_MS.len());
                    m.latency[bucket] = m.latency[bucket].saturating_add(1);
                }
            });
        }
    }

    /// An applied log entry enqueued and released this many tasks.
    pub fn cluster_applied(&self, enqueued: u64, released: u64, now: Millis) {
        if enqueued == 0 && released == 0 {
            return;
        }
        self.with_cluster(|c| {
            let m = c.at(minute_of(now.0));
            m.enqueued += enqueued;
            m.released += released;
        });
    }

    /// Whether the queue depth still needs a sample this minute.
    pub fn wants_queued_sample(&self, now: Millis) -> bool {
        self.queued_sampled.load(Ordering::Relaxed) != minute_of(now.0)
    }

    /// Records the total queue depth for the current minute.
    pub fn sample_queued(&self, queued: u64, now: Millis) {
        let minute = minute_of(now.0);
        self.queued_sampled.store(minute, Ordering::Relaxed);
        self.with_cluster(|c| c.at(minute).queued = Some(queued));
    }

    /// A queue's counters over the last hour and day.
    pub fn queue(&self, key: &QueueKey, now: Millis) -> Option<QueueActivityView> {
        let q = self.queues.get(key)?;
        let q = q.lock().unwrap_or_else(|p| p.into_inner());
        let minute = minute_of(now.0);
        let mut v = QueueActivityView {
            last_poll_at: q.last_poll_at,
            ..QueueActivityView::default()
        };
        for (i, m) in q.ring.last(minute, QUEUE_MINUTES).enumerate() {
            let Some(m) = m else { continue };
            v.enqueued_24h += m.enqueued;
            v.polled_24h += m.polled;
            if i >= QUEUE_MINUTES - 60 {
                v.enqueued_1h += m.enqueued;
                v.polled_1h += m.polled;
            }
        }
        Some(v)
    }

    /// Every queue with activity recorded in the last 24 hours. Queues without any
    /// are forgotten here (lazily, on this read), so the map follows the live queues.
    pub fn active_queues(&self, now: Millis) -> Vec<QueueKey> {
        let since = now.0.saturating_sub(QUEUE_MINUTES as u64 * MINUTE_MS);
        let minute = minute_of(now.0);
        self.queues.retain(|_, q| {
            let q = q.get_mut().unwrap_or_else(|p| p.into_inner());
            q.last_poll_at.is_some_and(|at| at.0 >= since)
                || q.ring.last(minute, QUEUE_MINUTES).any(|m| m.is_some())
        });
        let mut keys: Vec<QueueKey> = self.queues.iter().map(|e| e.key().clone()).collect();
        keys.sort();
        keys
    }

    /// When `key` was last polled on this node.
    pub fn last_poll(&self, key: &QueueKey) -> Option<Millis> {
        let q = self.queues.get(key)?;
        let at = q.lock().unwrap_or_else(|p| p.into_inner()).last_poll_at;
        at
    }

    /// The cluster-wide series of the last [`CLUSTER_MINUTES`] minutes, oldest first.
    /// `queued_now` fills the current minute's depth.
    pub fn series(&self, now: Millis, queued_now: u64) -> Series {
        self.sample_queued(queued_now, now);
        let minute = minute_of(now.0);
        self.with_cluster(|c| {
            let mut s = Series {
                enqueued: Vec::with_capacity(CLUSTER_MINUTES),
                polled: Vec::with_capacity(CLUSTER_MINUTES),
                released: Vec::with_capacity(CLUSTER_MINUTES),
                queued: Vec::with_capacity(CLUSTER_MINUTES),
                poll_latency_p50_ms: Vec::with_capacity(CLUSTER_MINUTES),
                poll_latency_p99_ms: Vec::with_capacity(CLUSTER_MINUTES),
            };
            let first = minute.saturating_sub(CLUSTER_MINUTES as u64 - 1);
            for m in first..=minute {
                let b = c.get(m).copied().unwrap_or_default();
                s.enqueued.push(b.enqueued);
                s.polled.push(b.polled);
                s.released.push(b.released);
                s.queued.push(b.queued.unwrap_or(0));
                s.poll_latency_p50_ms.push(percentile(&b.latency, 0.50));
                s.poll_latency_p99_ms.push(percentile(&b.latency, 0.99));
            }
            s
        })
    }
}

/// The upper bound (ms) of the bucket holding the `q` quantile; 0 without samples.
fn percentile(buckets: &[u32], q: f64) -> u64 {
    let total: u64 = buckets.iter().map(|n| u64::from(*n)).sum();
    if total == 0 {
        return 0;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for (i, n) in buckets.iter().enumerate() {
        seen += u64::from(*n);
        if seen >= rank {
            return LATENCY_BOUNDS_MS
                .get(i)
                .copied()
                .unwrap_or(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1]);
        }
    }
    LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActorId, TaskList};

    fn key(actor: &str) -> QueueKey {
        QueueKey::new(ActorId::new(actor).unwrap(), TaskList::default_list())
    }

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn queue_counts_split_into_the_last_hour_and_the_last_day() {
        let a = Activity::default();
        let k = key("w#1");
        a.enqueued(&k, 5, Millis(T0 - 3 * 60 * MINUTE_MS)); // 3 h ago: day only
        a.enqueued(&k, 2, Millis(T0 - 10 * MINUTE_MS));
        a.polled(&k, 1, Some(Duration::from_millis(3)), Millis(T0));
        a.enqueued(&k, 100, Millis(T0 - 25 * 60 * MINUTE_MS)); // older than a day
        let v = a.queue(&k, Millis(T0)).unwrap();
        assert_eq!(v.enqueued_1h, 2);
        assert_eq!(v.enqueued_24h, 7);
        assert_eq!((v.polled_1h, v.polled_24h), (1, 1));
        assert_eq!(v.last_poll_at, Some(Millis(T0)));
        assert!(a.queue(&key("other#1"), Millis(T0)).is_none());
    }

    #[test]
    fn an_empty_poll_sets_the_last_poll_time_but_counts_nothing() {
        let a = Activity::default();
        let k = key("w#1");
        a.enqueued(&k, 1, Millis(T0 - 1));
        a.polled(&k, 0, None, Millis(T0));
        assert_eq!(a.last_poll(&k), Some(Millis(T0)));
        let s = a.series(Millis(T0), 0);
        assert!(s.polled.iter().all(|n| *n == 0));
        assert!(s.poll_latency_p50_ms.iter().all(|n| *n == 0));
    }

    #[test]
    fn an_empty_poll_of_a_queue_never_seen_creates_nothing() {
        let a = Activity::default();
        let made_up = key("nobody.Such#9");
        a.polled(&made_up, 0, None, Millis(T0));
        assert_eq!(a.last_poll(&made_up), None);
        assert!(a.queues.is_empty(), "empty polls cannot grow the map");
    }

    #[test]
    fn the_cluster_series_has_sixty_minutes_oldest_first() {
        let a = Activity::default();
        let k = key("w#1");
        a.cluster_applied(4, 1, Millis(T0 - 59 * MINUTE_MS));
        a.cluster_applied(3, 2, Millis(T0));
        a.polled(&k, 2, Some(Duration::from_millis(7)), Millis(T0));
        a.sample_queued(9, Millis(T0 - 30 * MINUTE_MS));
        let s = a.series(Millis(T0), 11);
        for v in [&s.enqueued, &s.polled, &s.released, &s.queued] {
            assert_eq!(v.len(), CLUSTER_MINUTES);
        }
        assert_eq!((s.enqueued[0], s.enqueued[59]), (4, 3));
        assert_eq!((s.released[0], s.released[59]), (1, 2));
        assert_eq!(s.polled[59], 2);
        assert_eq!(s.queued[29], 9);
        assert_eq!(s.queued[59], 11);
        assert_eq!(s.poll_latency_p50_ms[59], 10);
    }

    #[test]
    fn percentiles_come_from_the_latency_buckets() {
        let mut b = [0u32; LATENCY_BOUNDS_MS.len() + 1];
        b[0] = 98; // <= 1 ms
        b[9] = 2; // <= 1 s
        assert_eq!(percentile(&b, 0.5), 1);
        assert_eq!(percentile(&b, 0.99), 1_000);
        b[LATENCY_BOUNDS_MS.len()] = 50; // beyond the last bound
        assert_eq!(percentile(&b, 0.99), 60_000);
        assert_eq!(percentile(&[0; 3], 0.5), 0);
    }

    #[test]
    fn only_queues_active_in_the_last_day_are_listed() {
        let a = Activity::default();
        a.enqueued(&key("old#1"), 1, Millis(T0 - 25 * 60 * MINUTE_MS));
        a.enqueued(&key("new#1"), 1, Millis(T0 - MINUTE_MS));
        assert_eq!(a.active_queues(Millis(T0)), vec![key("new#1")]);
        assert!(a.queue(&key("old#1"), Millis(T0)).is_none(), "forgotten");
    }
}
