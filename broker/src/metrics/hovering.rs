//! Hovering queues (Taskurotta's term): queues holding ready tasks that nobody has
//! polled for a while. Used by `GET /api/v1/queues/hovering` and the
//! `queue_not_polled` alert.

use crate::core::BrokerCore;
use crate::model::{ActorId, Millis, TaskList};
use serde::Serialize;

/// One hovering queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoveringQueue {
    pub actor_id: ActorId,
    pub task_list: TaskList,
    /// Ready tasks waiting.
    pub size: usize,
    /// When this node last saw a poll of it (`None`: not since it became leader).
    pub last_poll_at: Option<Millis>,
    /// When its longest-waiting task became ready.
    pub oldest_ready_at: Option<Millis>,
}

/// Non-empty queues whose tasks have waited at least `idle_ms` with no poll in that
/// time: the later of the last poll and the oldest ready time is `idle_ms` or more ago.
/// (A queue that was empty while nobody polled is not hovering until its task waited.)
pub fn hovering(core: &BrokerCore, idle_ms: u64, now: Millis) -> Vec<HoveringQueue> {
    let snapshots = core.lock().queue_snapshots(true);
    snapshots
        .into_iter()
        .filter(|q| q.size > 0)
        .filter_map(|q| {
            let last_poll_at = core.metrics.activity.last_poll(&q.key);
            let waited_since = last_poll_at.max(q.oldest_ready_at)?;
            (now.0.saturating_sub(waited_since.0) >= idle_ms).then_some(HoveringQueue {
                actor_id: q.key.actor_id,
                task_list: q.key.task_list,
                size: q.size,
                last_poll_at,
                oldest_ready_at: q.oldest_ready_at,
            })
        })
        .collect()
}
