//! Aborting processes (Taskurotta's terminate): an operator stops a running or broken
//! process for good.
//!
//! Its queued tasks leave their queues (leases included) and its delayed tasks lose
//! their timers; waiting tasks stay where they are (nothing can resolve their promises
//! any more, as releases of the process's tasks are refused from now on). The process
//! ends as `aborted`, so garbage collection and delete treat it like any ended one.

use super::{Detail, Event, State, TaskStatus};
use crate::model::history::EventKind;
use crate::model::{Millis, ProcessId, ProcessState};

impl State {
    /// Aborts the running or broken ones of `ids`; returns how many.
    pub(super) fn abort_processes(
        &mut self,
        now: Millis,
        ids: &[ProcessId],
        reason: Option<&str>,
    ) -> u32 {
        let mut aborted = 0;
        for pid in ids {
            let Some(p) = self.processes.get_mut(pid) else {
                continue;
            };
            if !matches!(p.state, ProcessState::Running | ProcessState::Broken) {
                continue;
            }
            p.state = ProcessState::Aborted;
            if let Some(at) = p.ended_at.replace(now) {
                self.ended.remove(&(at, *pid));
            }
            if let Some(b) = &p.broken {
                self.broken.remove(&(b.at, *pid));
            }
            self.ended.insert((now, *pid));
            self.effects.ended.push(*pid);
            let tasks = p.tasks.clone();
            for id in &tasks {
                let Some(t) = self.tasks.get(id) else {
                    continue;
                };
                match t.status {
                    TaskStatus::Ready { .. } => {
                        self.queues.remove(id);
                    }
                    TaskStatus::Scheduled { at } => {
                        self.timers.cancel(*id, at);
                    }
                    TaskStatus::Waiting => {
                        // An external promise's timeout.
                        if let Some(at) = super::signal::promise_deadline(t) {
                            self.timers.cancel(*id, at);
                        }
                    }
                    TaskStatus::Purged { .. } | TaskStatus::Released { .. } => {}
                }
            }
            let mut event = Event::new(EventKind::Aborted, now);
            if let Some(r) = reason.filter(|r| !r.is_empty()) {
                event = event.detail(Detail::text(r));
            }
            self.record(*pid, event);
            tracing::info!(process_id = %pid, "process aborted");
            aborted += 1;
        }
        aborted
    }
}
