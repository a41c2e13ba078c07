//! Garbage collection: deleting ended processes with everything they own (tasks,
//! promise-graph entries, queue slots, timers), so a broker that runs for months keeps
//! only what is live plus a configurable tail of history.
//!
//! The `ended` index orders processes by end time, so collection walks only what is due
//! (O(deleted tasks)), never the live processes.

use super::{State, TaskStatus};
use crate::model::{Millis, ProcessId, ProcessState};

impl State {
    /// Deletes up to `max` processes that ended before `ended_before`, oldest first.
    /// Broken and aborted processes are kept unless `include_broken` (they wait for an
    /// operator).
    pub(super) fn collect_garbage(
        &mut self,
        ended_before: Millis,
        max: u32,
        include_broken: bool,
    ) -> u32 {
        let due: Vec<(Millis, ProcessId)> = self
            .collectable(include_broken)
            .take_while(|(at, _)| *at < ended_before)
            .take(max as usize)
            .collect();
        for (at, pid) in &due {
            self.ended.remove(&(*at, *pid));
            self.delete_process(pid);
        }
        due.len() as u32
    }

    /// Deletes the ended ones of `ids` (an operator's call); returns how many.
    pub(super) fn delete_processes(&mut self, ids: &[ProcessId]) -> u32 {
        let mut deleted = 0;
        for pid in ids {
            if self.processes.get(pid).is_some_and(|p| p.state.is_ended()) {
                self.delete_process(pid);
                deleted += 1;
            }
        }
        deleted
    }

    /// Deletes a process with everything it owns: tasks, queue slots and leases,
    /// timers, promise-graph entries, history and index entries.
    fn delete_process(&mut self, pid: &ProcessId) {
        let Some(process) = self.processes.remove(pid) else {
            return;
        };
        if let Some(at) = process.ended_at {
            self.ended.remove(&(at, *pid));
        }
        if let Some(b) = &process.broken {
            self.broken.remove(&(b.at, *pid));
        }
        if let Some(k) = &process.idempotency_key {
            self.idempotency.remove(k);
        }
        self.changed.remove(&(process.last_change, *pid));
        for id in &process.tasks {
            let Some(task) = self.remove_task(id) else {
                continue;
            };
            self.queues.remove(id);
            if let TaskStatus::Scheduled { at } = task.status {
                self.timers.cancel(*id, at);
            }
            if let Some(at) = super::signal::promise_deadline(&task) {
                self.timers.cancel(*id, at);
            }
            if let Some(at) = super::signal::promise_deadline(&task) {
                self.timers.cancel(*id, at);
            }
            let mut promises = Vec::new();
            task.spec.for_each_dependency(&mut |p| promises.push(p));
            if let super::PromiseState::Forwarded(target) = task.promise {
                promises.push(target);
            }
            self.graph.forget(id, promises);
        }
        tracing::debug!(process_id = %pid, tasks = process.tasks.len(), "process collected");
    }

    /// When the oldest ended process becomes due for collection after `delay_ms`
    /// (`None`: nothing has ended). Broken processes count only if `include_broken`.
    pub fn next_gc_due(&self, delay_ms: u64, include_broken: bool) -> Option<Millis> {
        self.collectable(include_broken)
            .next()
            .map(|(at, _)| at.plus(delay_ms))
    }

    /// Ended processes garbage collection may delete, oldest first: every one, or all
    /// but the broken and aborted ones.
    fn collectable(&self, include_broken: bool) -> impl Iterator<Item = (Millis, ProcessId)> + '_ {
        self.ended.iter().copied().filter(move |(_, pid)| {
            include_broken
                || self.processes.get(pid).is_none_or(|p| {
                    !matches!(p.state, ProcessState::Broken | ProcessState::Aborted)
                })
        })
    }
}
