//! Applying `Release`: storing a decision.
//!
//! Order of work: validate everything (the task, its process, the new tasks and every
//! promise they reference), then register the new tasks in the promise graph, then act
//! on the outcome (resolve, forward, retry or break). Validation first is what keeps a
//! rejected release from leaving half a decision behind.

use super::{
    CommandError, CommandResult, Detail, Event, PromiseState, Reply, Resolution, State, TaskRecord,
    TaskStatus, MAX_ARG_DEPTH, MAX_TASKS_PER_DECISION,
};
use crate::model::history::EventKind;
use crate::model::wire::{ReleaseReceipt, ReleaseStatus};
use crate::model::{
    BrokenInfo, Decision, ErrorInfo, Millis, Outcome, ProcessState, TaskId, TaskKind, TaskSpec,
};
use crate::retry;
use std::collections::HashSet;

impl State {
    /// Stores decision `d`; `timed_out`: it is the leader's release of a delivery whose
    /// task's timeout passed (recorded as such in the history).
    pub(super) fn release(&mut self, now: Millis, d: &Decision, timed_out: bool) -> CommandResult {
        let task = self
            .tasks
            .get(&d.task_id)
            .ok_or(CommandError::UnknownTask(d.task_id))?;
        if let Some(pid) = d.process_id {
            if pid != task.process_id {
                return Err(CommandError::Invalid(format!(
                    "task {} belongs to process {}, not {pid}",
                    d.task_id, task.process_id
                )));
            }
        }
        if self.is_aborted(&task.process_id) {
            return Err(CommandError::ProcessAborted(task.process_id));
        }
        if d.attempt.is_some_and(|a| a < task.attempt) {
            return resent_earlier_attempt(task, d);
        }
        match task.status {
            TaskStatus::Released { .. } | TaskStatus::Scheduled { .. } => {
                // Already decided (or waiting for its retry): the same release again
                // gets the first answer.
                if task.receipt.is_some() {
                    return super::deliveries::repeated_release(task, d);
                }
                return Err(CommandError::Conflict(format!(
                    "task {} is scheduled for later and was not handed out",
                    d.task_id
                )));
            }
            TaskStatus::Waiting => {
                return Err(CommandError::Conflict(format!(
                    "task {} still waits for promises and was never handed out",
                    d.task_id
                )))
            }
            // A purged task may still be held by a worker: its release counts.
            TaskStatus::Ready { .. } | TaskStatus::Purged { .. } => {}
        }
        self.validate_decision(task, d)?;

        let process_id = task.process_id;
        let attempt = task.attempt;
        self.queues.remove(&d.task_id);
        let (detail, error_type) = match &d.outcome {
            Outcome::Value(_) => (Detail::Value, None),
            Outcome::Promise(_) => (Detail::Promise, None),
            Outcome::Error(e) => (Detail::Error, Some(e.error_type.as_str())),
        };
        if let Some(at) = d.delivered_at {
            let delivered = Event::new(EventKind::Delivered, at)
                .task(d.task_id)
                .attempt(attempt);
            self.record(process_id, delivered);
        }
        if timed_out {
            let event = Event::new(EventKind::TimedOut, now)
                .task(d.task_id)
                .attempt(attempt)
                .error_type(super::TIMEOUT_ERROR);
            self.record(process_id, event);
        }
        let mut event = Event::new(EventKind::Released, now)
            .task(d.task_id)
            .attempt(attempt)
            .detail(detail);
        if let Some(t) = error_type {
            event = event.error_type(t);
        }
        self.record(process_id, event);
        self.touch(process_id, now);
        self.register_children(now, d);

        let (status, retry_at) = match &d.outcome {
            Outcome::Value(v) => {
                self.finish_task(d.task_id, now);
                self.resolve(d.task_id, Resolution::Value(v.clone()), now);
                (ReleaseStatus::Resolved, None)
            }
            Outcome::Promise(target) => {
                self.finish_task(d.task_id, now);
                self.forward(d.task_id, *target, now);
                let status = match self.tasks.get(&d.task_id).map(|t| &t.promise) {
                    Some(PromiseState::Resolved(_)) => ReleaseStatus::Resolved,
                    _ => ReleaseStatus::AwaitingPromise,
                };
                (status, None)
            }
            Outcome::Error(e) => self.fail(d.task_id, e, d.restart_at, now),
        };
        let process_state = self
            .processes
            .get(&process_id)
            .map_or(ProcessState::Running, |p| p.state);
        let receipt = ReleaseReceipt {
            task_id: d.task_id,
            process_id,
            status,
            retry_at,
            attempt,
            process_state,
            duplicate: false,
        };
        if let Some(t) = self.tasks.get_mut(&d.task_id) {
            t.receipt = Some(receipt.clone());
            t.outcome_fingerprint = Some(super::deliveries::fingerprint(d));
            self.effects.releases.push(super::ReleaseEffect {
                task_id: d.task_id,
                actor_id: t.spec.actor_id.clone(),
                outcome: match d.outcome {
                    Outcome::Value(_) => "value",
                    Outcome::Promise(_) => "promise",
                    Outcome::Error(_) => "error",
                },
                retry_scheduled: receipt.status == ReleaseStatus::RetryScheduled,
                processing_ms: d
                    .execution_ms
                    .or_else(|| d.delivered_at.map(|at| now.0.saturating_sub(at.0))),
            });
        }
        Ok(Reply::Released(receipt))
    }

    /// Checks the decision's new tasks and promises against the current state.
    fn validate_decision(&self, task: &TaskRecord, d: &Decision) -> Result<(), CommandError> {
        if d.tasks.len() > MAX_TASKS_PER_DECISION {
            return Err(CommandError::Invalid(format!(
                "a decision may spawn at most {MAX_TASKS_PER_DECISION} tasks, this one has {}",
                d.tasks.len()
            )));
        }
        if matches!(d.outcome, Outcome::Error(_)) && !d.tasks.is_empty() {
            return Err(CommandError::Invalid(
                "an error release cannot spawn tasks".into(),
            ));
        }
        // A promise may name a task of this process that exists, or one spawned earlier
        // in this same decision: this keeps the graph acyclic by construction.
        let mut earlier: HashSet<TaskId> = HashSet::with_capacity(d.tasks.len());
        for spec in &d.tasks {
            if spec.kind == TaskKind::DeciderStart {
                return Err(CommandError::Invalid(format!(
                    "task {}: only a process start creates a decider_start task",
                    spec.task_id
                )));
            }
            if spec.method.is_empty() {
                return Err(CommandError::Invalid(format!(
                    "task {}: method is empty",
                    spec.task_id
                )));
            }
            check_args_depth(spec)?;
            super::signal::check_external(spec)?;
            let mut bad: Option<TaskId> = None;
            let mut check = |p: TaskId| {
                if bad.is_none() && !earlier.contains(&p) && !self.belongs(p, task) {
                    bad = Some(p);
                }
            };
            spec.args
                .iter()
                .for_each(|a| a.for_each_promise(&mut check));
            spec.options.wait_for.iter().copied().for_each(&mut check);
            if let Some(p) = bad {
                return Err(CommandError::Invalid(format!(
                    "task {} refers to promise {p}, which is neither a task of process {} nor spawned earlier in this decision",
                    spec.task_id, task.process_id
                )));
            }
            if self.tasks.contains_key(&spec.task_id) || !earlier.insert(spec.task_id) {
                return Err(CommandError::Conflict(format!(
                    "task id {} is already taken",
                    spec.task_id
                )));
            }
        }
        if let Outcome::Promise(target) = d.outcome {
            if !earlier.contains(&target) && !self.belongs(target, task) {
                return Err(CommandError::Invalid(format!(
                    "returned promise {target} is not a task of process {}",
                    task.process_id
                )));
            }
            if self.forwards_to(target, d.task_id) {
                return Err(CommandError::Invalid(format!(
                    "returning promise {target} would make task {} wait for itself",
                    d.task_id
                )));
            }
        }
        Ok(())
    }

    /// Whether `p` is a stored task of `task`'s process.
    fn belongs(&self, p: TaskId, task: &TaskRecord) -> bool {
        self.tasks
            .get(&p)
            .is_some_and(|t| t.process_id == task.process_id)
    }

    /// Whether following forwarded promises from `from` reaches `to`.
    fn forwards_to(&self, from: TaskId, to: TaskId) -> bool {
        let mut cur = from;
        for _ in 0..=self.tasks.len() {
            if cur == to {
                return true;
            }
            match self.tasks.get(&cur).map(|t| &t.promise) {
                Some(PromiseState::Forwarded(next)) => cur = *next,
                _ => return false,
            }
        }
        true
    }

    /// Registers the decision's new tasks and makes the ones with nothing to wait for ready.
    fn register_children(&mut self, now: Millis, d: &Decision) {
        let Some(process_id) = self.tasks.get(&d.task_id).map(|t| t.process_id) else {
            return;
        };
        for spec in &d.tasks {
            self.insert_task(Box::new(TaskRecord::new(
                spec.clone(),
                process_id,
                Some(d.task_id),
                now,
            )));
            if let Some(p) = self.processes.get_mut(&process_id) {
                p.tasks.push(spec.task_id);
                p.unfinished += 1;
            }
            if spec.kind == TaskKind::External {
                self.register_external(spec.task_id);
                continue;
            }
            let mut unresolved = Vec::new();
            spec.for_each_dependency(&mut |p| {
                if self.tasks.get(&p).is_some_and(|t| t.resolution().is_none()) {
                    unresolved.push(p);
                }
            });
            if self.graph.wait(spec.task_id, unresolved) == 0 {
                self.make_ready(spec.task_id, now);
            }
        }
    }

    /// Gives `id` its final status (released) and finishes its process if that was the
    /// last unfinished task and the start promise already resolved. Every task that
    /// reaches its final status goes through here, so the process's `unfinished`
    /// counter stays exact.
    pub(super) fn finish_task(&mut self, id: TaskId, now: Millis) {
        let Some(t) = self.tasks.get_mut(&id) else {
            return;
        };
        if matches!(t.status, TaskStatus::Released { .. }) {
            return;
        }
        t.status = TaskStatus::Released { at: now };
        let process_id = t.process_id;
        if let Some(p) = self.processes.get_mut(&process_id) {
            p.unfinished = p.unfinished.saturating_sub(1);
        }
        self.finish_process_if_done(process_id, now);
    }

    /// An error release: retry if the policy (or the decision) says so, else resolve
    /// with the error if the caller accepts it, else break the process.
    fn fail(
        &mut self,
        id: TaskId,
        e: &ErrorInfo,
        restart_at: Option<Millis>,
        now: Millis,
    ) -> (ReleaseStatus, Option<Millis>) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return (ReleaseStatus::ProcessBroken, None);
        };
        task.last_error = Some(e.clone());
        let retry_at = restart_at.map(|at| at.max(now)).or_else(|| {
            task.spec
                .options
                .retry
                .as_ref()
                .and_then(|p| retry::next_attempt_at(p, task.attempt, e, now))
        });
        if let Some(at) = retry_at {
            task.attempt += 1;
            tracing::debug!(task_id = %id, attempt = task.attempt, %at, "retry scheduled");
            self.schedule(id, at);
            self.record_task(id, EventKind::RetryScheduled, now, |ev| {
                ev.error_type(&e.error_type).detail(Detail::Due(at))
            });
            return (ReleaseStatus::RetryScheduled, Some(at));
        }
        let accepted = e.matches_any(&task.spec.options.accept_fail);
        if accepted {
            self.record_task(id, EventKind::Failed, now, |ev| {
                ev.error_type(&e.error_type)
            });
            self.finish_task(id, now);
            self.resolve(id, Resolution::Fail(e.clone()), now);
            (ReleaseStatus::Resolved, None)
        } else {
            // Break first: finishing the last task must not finish a process whose
            // start promise already resolved.
            self.break_process(id, e, now);
            self.finish_task(id, now);
            (ReleaseStatus::ProcessBroken, None)
        }
    }

    /// Marks `failed`'s process broken because of `e` (if it is still running).
    pub(super) fn break_process(&mut self, failed: TaskId, e: &ErrorInfo, now: Millis) {
        let Some(task) = self.tasks.get(&failed) else {
            return;
        };
        let actor_id = task.spec.actor_id.clone();
        if let Some(p) = self.processes.get_mut(&task.process_id) {
            if p.state == ProcessState::Running {
                p.state = ProcessState::Broken;
                p.ended_at = Some(now);
                p.broken = Some(BrokenInfo {
                    task_id: failed,
                    actor_id,
                    error: e.clone(),
                    at: now,
                });
                let process_id = p.process_id;
                self.effects.ended.push(process_id);
                self.ended.insert((now, process_id));
                self.broken.insert((now, process_id));
                tracing::info!(%process_id, task_id = %failed, error_type = %e.error_type, "process broken");
            }
        }
        // Recorded for every unaccepted final error, also one that comes after the
        // process broke: each such task is re-run by a restart.
        self.record_task(failed, EventKind::Broken, now, |ev| {
            ev.error_type(&e.error_type)
        });
    }
}

/// Answers a release of an attempt that already ended (a resend after its retry was
/// scheduled, or fired): the answer that attempt got, marked duplicate.
pub(super) fn resent_earlier_attempt(task: &TaskRecord, d: &Decision) -> CommandResult {
    match task
        .receipt
        .as_ref()
        .filter(|r| Some(r.attempt) == d.attempt)
    {
        Some(_) => super::deliveries::repeated_release(task, d),
        None => Err(CommandError::Conflict(format!(
            "task {} is on attempt {}; attempt {} already ended",
            d.task_id,
            task.attempt,
            d.attempt.unwrap_or_default()
        ))),
    }
}

/// Rejects argument arrays nested deeper than [`MAX_ARG_DEPTH`].
pub(super) fn check_args_depth(spec: &TaskSpec) -> Result<(), CommandError> {
    if spec.args.iter().any(|a| a.depth() > MAX_ARG_DEPTH) {
        return Err(CommandError::Invalid(format!(
            "task {}: arguments nest deeper than {MAX_ARG_DEPTH} levels",
            spec.task_id
        )));
    }
    Ok(())
}
