//! Read-side views for monitoring: queue snapshots (size, leases, blocked, oldest ready
//! task), repeated tasks (many error attempts) and the lifecycle of ended processes.
//!
//! These are operator endpoints and scrape-time reads, so they may walk the queues or
//! the tasks; nothing on the poll or release path calls them.

use super::State;
use crate::model::{ActorId, ErrorInfo, Millis, ProcessId, ProcessState, QueueKey, TaskId};
use serde::Serialize;

/// One queue as monitoring sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSnapshot {
    pub key: QueueKey,
    /// Ready tasks waiting in the queue (not counting leased ones).
    pub size: usize,
    /// Tasks of the queue handed out and not released yet (this node's leases).
    pub leased: usize,
    pub blocked: bool,
    /// When the longest-waiting ready task became ready (only if asked for).
    pub oldest_ready_at: Option<Millis>,
}

/// A task that failed and was retried at least `min_attempts - 1` times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RepeatedTask {
    pub task_id: TaskId,
    pub process_id: ProcessId,
    pub actor_id: ActorId,
    pub method: String,
    pub attempt: u32,
    pub last_error: Option<ErrorInfo>,
}

impl State {
    /// Every queue with ready or leased tasks, sorted by actor and task list. With
    /// `oldest`, each carries its oldest ready time (a walk over the queue).
    pub fn queue_snapshots(&self, oldest: bool) -> Vec<QueueSnapshot> {
        let mut leased = self.queues.leased_per_queue();
        let mut out: Vec<QueueSnapshot> = self
            .queues
            .sizes()
            .map(|(k, size)| QueueSnapshot {
                key: k.clone(),
                size,
                leased: leased.remove(k).unwrap_or(0),
                blocked: self.is_blocked(k),
                oldest_ready_at: if oldest {
                    self.queues.oldest_ready(k)
                } else {
                    None
                },
            })
            .collect();
        out.extend(leased.into_iter().map(|(k, n)| QueueSnapshot {
            key: k.clone(),
            size: 0,
            leased: n,
            blocked: self.is_blocked(k),
            oldest_ready_at: None,
        }));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Ready tasks in all queues (not counting leased ones).
    pub fn total_queued(&self) -> usize {
        self.queues.sizes().map(|(_, n)| n).sum()
    }

    /// Tasks whose current attempt is at least `min_attempts`, most attempts first (then
    /// by task id): `(total, page)`. Walks every task: an operator view.
    pub fn repeated_tasks(
        &self,
        min_attempts: u32,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<RepeatedTask>) {
        let mut hits: Vec<(u32, TaskId)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.attempt >= min_attempts)
            .map(|(id, t)| (t.attempt, *id))
            .collect();
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let total = hits.len();
        let page = hits
            .into_iter()
            .skip(offset)
            .take(limit)
            .filter_map(|(_, id)| {
                let t = self.tasks.get(&id)?;
                Some(RepeatedTask {
                    task_id: id,
                    process_id: t.process_id,
                    actor_id: t.spec.actor_id.clone(),
                    method: t.spec.method.clone(),
                    attempt: t.attempt,
                    last_error: t.last_error.clone(),
                })
            })
            .collect();
        (total, page)
    }

    /// A process's state, when it started and when it ended (if it did).
    pub fn lifecycle_of(&self, id: &ProcessId) -> Option<(ProcessState, Millis, Option<Millis>)> {
        let p = self.processes.get(id)?;
        Some((p.state, p.started_at, p.ended_at))
    }

    /// How many processes are broken right now (alerts): the size of the broken index.
    pub fn broken_count(&self) -> usize {
        self.broken.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Decision, JsonValue, Outcome, TaskKind, TaskList, TaskOptions, TaskSpec};
    use crate::state_machine::Command;

    fn key() -> QueueKey {
        QueueKey::new(ActorId::new("w#1").unwrap(), TaskList::default_list())
    }

    /// A started process whose start task is handed out at `delivered`.
    fn delivered(s: &mut State, delivered: u64) -> TaskId {
        let task_id = TaskId::random();
        s.apply(&Command::StartProcess {
            now: Millis(0),
            process_id: ProcessId::random(),
            custom_id: None,
            idempotency_key: None,
            start: TaskSpec {
                task_id,
                actor_id: key().actor_id,
                method: "run".into(),
                kind: TaskKind::DeciderStart,
                args: vec![],
                options: TaskOptions::default(),
            },
        })
        .unwrap();
        s.lease(&key(), 1, Millis(delivered), Millis(delivered + 60_000));
        task_id
    }

    fn released(s: &mut State, task_id: TaskId, execution_ms: Option<u64>) -> Option<u64> {
        s.take_effects();
        let decision = Decision {
            task_id,
            process_id: None,
            outcome: Outcome::Value(JsonValue::from_text("1").unwrap()),
            tasks: vec![],
            restart_at: None,
            execution_ms,
            attempt: None,
            delivery_id: None,
            delivered_at: Some(Millis(100)),
        };
        s.apply(&Command::Release {
            now: Millis(350),
            decision,
        })
        .unwrap();
        let effects = s.take_effects();
        assert_eq!(effects.releases.len(), 1);
        assert_eq!(effects.releases[0].outcome, "value");
        effects.releases[0].processing_ms
    }

    #[test]
    fn processing_time_is_the_actors_own_else_delivery_to_release() {
        let mut s = State::default();
        let t = delivered(&mut s, 100);
        assert_eq!(released(&mut s, t, Some(40)), Some(40));
        let t = delivered(&mut s, 100);
        assert_eq!(released(&mut s, t, None), Some(250));
    }

    #[test]
    fn queue_snapshots_count_ready_and_leased_tasks() {
        let mut s = State::default();
        delivered(&mut s, 5);
        delivered(&mut s, 5);
        let t = delivered(&mut s, 5);
        s.queues.remove(&t);
        // Two leased, none ready; another start makes one ready.
        let _ = delivered(&mut s, 5);
        let snaps = s.queue_snapshots(true);
        assert_eq!(snaps.len(), 1);
        assert_eq!((snaps[0].size, snaps[0].leased), (0, 3));
        assert_eq!(s.total_queued(), 0);
    }
}
