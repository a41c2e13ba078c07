//! Read-side views of the state for the API and the console.

use super::{ProcessRecord, PromiseState, Resolution, State, TaskRecord, TaskStatus};
use crate::model::wire::{self, ProcessView, QueueView, TaskView};
use crate::model::{ActorId, ProcessId, TaskId};

impl State {
    /// A process with all its tasks.
    pub fn process_view(&self, id: &ProcessId) -> Option<ProcessView> {
        let p = self.processes.get(id)?;
        Some(self.view_of(p))
    }

    /// One task.
    pub fn task_view(&self, id: &TaskId) -> Option<TaskView> {
        self.tasks.get(id).map(|t| self.task_view_of(t))
    }

    /// Whether a task exists.
    pub fn has_task(&self, id: &TaskId) -> bool {
        self.tasks.contains_key(id)
    }

    /// The process of a task.
    pub fn process_of(&self, id: &TaskId) -> Option<ProcessId> {
        self.tasks.get(id).map(|t| t.process_id)
    }

    /// Every non-empty queue and every blocked one.
    pub fn queue_views(&self) -> Vec<QueueView> {
        let mut out: Vec<QueueView> = self
            .queues
            .sizes()
            .map(|(k, n)| QueueView {
                actor_id: k.actor_id.clone(),
                task_list: k.task_list.clone(),
                queued: n,
                blocked: self.is_blocked(k),
            })
            .collect();
        out.sort_by(|a, b| (&a.actor_id, &a.task_list).cmp(&(&b.actor_id, &b.task_list)));
        out
    }

    /// Blocked (actor, task list) pairs; `None` means every list of the actor.
    pub fn blocked(&self) -> Vec<(ActorId, Option<crate::model::TaskList>)> {
        self.blocked.iter().cloned().collect()
    }

    fn view_of(&self, p: &ProcessRecord) -> ProcessView {
        let (result, error) = split(p.result.as_ref());
        ProcessView {
            process_id: p.process_id,
            custom_id: p.custom_id.clone(),
            starter: p.starter.clone(),
            start_task_id: p.start_task,
            state: p.state,
            result,
            error,
            broken: p.broken.clone(),
            started_at: p.started_at,
            ended_at: p.ended_at,
            tasks: p
                .tasks
                .iter()
                .filter_map(|t| self.tasks.get(t))
                .map(|t| self.task_view_of(t))
                .collect(),
        }
    }

    fn task_view_of(&self, t: &TaskRecord) -> TaskView {
        let (result, error) = match &t.promise {
            PromiseState::Resolved(r) => split(Some(r)),
            _ => (None, t.last_error.clone()),
        };
        let mut depends_on = Vec::new();
        t.spec.for_each_dependency(&mut |p| {
            if !depends_on.contains(&p) {
                depends_on.push(p)
            }
        });
        TaskView {
            task_id: t.spec.task_id,
            process_id: t.process_id,
            actor_id: t.spec.actor_id.clone(),
            task_list: t.spec.options.task_list.clone(),
            method: t.spec.method.clone(),
            kind: t.spec.kind,
            status: match t.status {
                TaskStatus::Waiting => wire::TaskStatus::Waiting,
                TaskStatus::Scheduled { .. } => wire::TaskStatus::Scheduled,
                TaskStatus::Ready { .. } => wire::TaskStatus::Ready,
                TaskStatus::Released { .. } => wire::TaskStatus::Released,
                TaskStatus::Purged { .. } => wire::TaskStatus::Purged,
            },
            leased: self.queues.is_leased(&t.spec.task_id),
            attempt: t.attempt,
            missing: self.graph.missing(&t.spec.task_id),
            scheduled_at: match t.status {
                TaskStatus::Scheduled { at } => Some(at),
                _ => None,
            },
            created_at: t.created_at,
            released_at: match t.status {
                TaskStatus::Released { at } => Some(at),
                _ => None,
            },
            result,
            error,
            parent: t.parent,
            depends_on,
            args: t.spec.args.clone(),
        }
    }
}

fn split(
    r: Option<&Resolution>,
) -> (
    Option<crate::model::JsonValue>,
    Option<crate::model::ErrorInfo>,
) {
    match r {
        Some(Resolution::Value(v)) => (Some(v.clone()), None),
        Some(Resolution::Fail(e)) => (None, Some(e.clone())),
        None => (None, None),
    }
}
