//! Resolving promises and everything that follows: waiting tasks become ready,
//! forwarded promises resolve in turn, and a process finishes when its start task's
//! promise resolved and none of its tasks is unfinished (Taskurotta's "graph empty"
//! rule: a no-wait side task still running keeps the process running, though its
//! result is already visible).

use super::{Event, PromiseState, Resolution, State};
use crate::model::history::EventKind;
use crate::model::{Millis, ProcessId, ProcessState, TaskId};

impl State {
    /// Resolves `id`'s promise and propagates. Iterative (a worklist), so long chains of
    /// forwarded promises cannot overflow the stack. Cost: O(dependents reached).
    pub(super) fn resolve(&mut self, id: TaskId, resolution: Resolution, now: Millis) {
        let mut work = vec![(id, resolution)];
        while let Some((id, resolution)) = work.pop() {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            if matches!(task.promise, PromiseState::Resolved(_)) {
                continue;
            }
            // A forwarded fail that the forwarding task's caller does not accept breaks
            // the process, exactly as if the task had failed itself.
            if let (Resolution::Fail(e), PromiseState::Forwarded(_)) = (&resolution, &task.promise)
            {
                if !e.matches_any(&task.spec.options.accept_fail) {
                    let e = e.clone();
                    self.break_process(id, &e, now);
                    continue;
                }
            }
            task.promise = PromiseState::Resolved(resolution.clone());
            let process_id = task.process_id;
            self.end_process_if_start(process_id, id, &resolution, now);
            let outcome = self.graph.resolve(id);
            for f in outcome.forwarded {
                work.push((f, resolution.clone()));
            }
            for ready in outcome.ready {
                self.make_ready(ready, now);
            }
        }
    }

    /// Makes `id`'s promise follow `target`'s.
    pub(super) fn forward(&mut self, id: TaskId, target: TaskId, now: Millis) {
        let resolved = self
            .tasks
            .get(&target)
            .and_then(|t| t.resolution().cloned());
        if let Some(task) = self.tasks.get_mut(&id) {
            task.promise = PromiseState::Forwarded(target);
            task.forwarded_to = Some(target);
        }
        match resolved {
            Some(r) => self.resolve(id, r, now),
            None => self.graph.forward(id, target),
        }
    }

    /// Stores the process's result when `task` is its start task; the result is
    /// visible at once, the process finishes when nothing is left unfinished.
    fn end_process_if_start(
        &mut self,
        process_id: ProcessId,
        task: TaskId,
        resolution: &Resolution,
        now: Millis,
    ) {
        let Some(p) = self.processes.get_mut(&process_id) else {
            return;
        };
        if p.start_task != task || p.result.is_some() {
            return;
        }
        p.result = Some(resolution.clone());
        self.finish_process_if_done(process_id, now);
    }

    /// Finishes a running process whose start promise resolved and whose tasks are all
    /// released. O(1).
    pub(super) fn finish_process_if_done(&mut self, process_id: ProcessId, now: Millis) {
        let Some(p) = self.processes.get_mut(&process_id) else {
            return;
        };
        if p.state != ProcessState::Running || p.result.is_none() || p.unfinished > 0 {
            return;
        }
        p.state = ProcessState::Finished;
        p.ended_at = Some(now);
        self.effects.ended.push(process_id);
        self.ended.insert((now, process_id));
        tracing::debug!(%process_id, "process finished");
        self.record(process_id, Event::new(EventKind::Finished, now));
    }
}
