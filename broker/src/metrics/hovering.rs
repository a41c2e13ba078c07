//! Hovering queues (Taskurotta's term): queues holding ready tasks that nobody has
//! polled for a while. Used by `GET /api/v1/queues/hovering` and the
//! `queue_not_polled` alert.

use crate::core::BrokerCore;
use crate::model::{ActorId, Millis, TaskList};
use serde::Serialize;

/// One hovering queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ProcessId, QueueKey, TaskId, TaskKind, TaskOptions, TaskSpec};
    use crate::state_machine::Command;

    fn start(core: &BrokerCore, actor: &str, now: u64) {
        let cmd = Command::StartProcess {
            now: Millis(now),
            process_id: ProcessId::random(),
            custom_id: None,
            idempotency_key: None,
            start: TaskSpec {
                task_id: TaskId::random(),
                actor_id: ActorId::new(actor).unwrap(),
                method: "start".into(),
                kind: TaskKind::DeciderStart,
                args: vec![],
                options: TaskOptions::default(),
            },
        };
        core.with_state(|s| s.apply(&cmd)).unwrap();
    }

    fn actors(v: &[HoveringQueue]) -> Vec<&str> {
        v.iter().map(|q| q.actor_id.as_str()).collect()
    }

    #[test]
    fn a_task_waiting_longer_than_idle_with_no_poll_makes_its_queue_hover() {
        let core = BrokerCore::new();
        start(&core, "a#1", 1_000);
        assert!(hovering(&core, 500, Millis(1_400)).is_empty());
        let got = hovering(&core, 500, Millis(1_500));
        assert_eq!(actors(&got), ["a#1"]);
        assert_eq!(got[0].size, 1);
        assert_eq!(got[0].oldest_ready_at, Some(Millis(1_000)));
        assert_eq!(got[0].last_poll_at, None);
    }

    #[test]
    fn a_recent_poll_or_a_recent_task_keeps_a_queue_from_hovering() {
        let core = BrokerCore::new();
        start(&core, "polled#1", 0);
        let key = QueueKey::new(ActorId::new("polled#1").unwrap(), TaskList::default_list());
        core.metrics.activity.polled(&key, 0, None, Millis(9_000));
        // Polled long ago, but the task only just arrived: not hovering yet.
        start(&core, "fresh#1", 9_500);
        let old = QueueKey::new(ActorId::new("fresh#1").unwrap(), TaskList::default_list());
        core.metrics.activity.polled(&old, 0, None, Millis(100));
        assert!(hovering(&core, 1_000, Millis(9_900)).is_empty());
        assert_eq!(
            actors(&hovering(&core, 1_000, Millis(10_500))),
            ["fresh#1", "polled#1"]
        );
    }
}
