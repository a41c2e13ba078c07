//! Handing out ready tasks (polls) and answering what needs no log entry.
//!
//! None of this changes the replicated state: a poll only moves tasks from a queue
//! into the lease table of the node that serves it.

use super::{CommandResult, LeaseExpiry, PromiseState, Resolution, State, TaskStatus};
use crate::model::{Arg, Decision, Delivery, Millis, QueueKey, ResolvedArg, TaskId};
use crate::queue::Lease;

impl State {
    /// Leases up to `max` ready tasks of `key` at `now` until `lease_until` (earlier
    /// for a task whose timeout comes first) and returns them with their promises
    /// resolved, each with a fresh delivery id. A blocked actor gets nothing.
    pub fn lease(
        &mut self,
        key: &QueueKey,
        max: usize,
        now: Millis,
        lease_until: Millis,
    ) -> Vec<Delivery> {
        if max == 0 || self.is_blocked(key) {
            return Vec::new();
        }
        let tasks = &self.tasks;
        let leased = self.queues.lease(key, max, |id| {
            let timeout = tasks.get(&id).and_then(|t| t.spec.options.timeout_ms);
            Lease::new(now, lease_until, timeout)
        });
        leased
            .into_iter()
            .filter_map(|(id, lease)| self.delivery(id, &lease))
            .collect()
    }

    /// Returns every leased task to its queue (this node lost or gained leadership).
    pub fn release_all_leases(&mut self) -> Vec<QueueKey> {
        self.queues.release_all_leases()
    }

    /// Ends the leases due at `now`: tasks whose lease ran out go back to their
    /// queues; tasks whose timeout passed come back as the error releases the leader
    /// proposes for them.
    pub fn expire_leases(&mut self, now: Millis) -> LeaseExpiry {
        let expired = self.queues.expire(now);
        LeaseExpiry {
            requeued: expired.requeued,
            timeouts: expired
                .timed_out
                .into_iter()
                .filter_map(|(id, lease)| self.timeout_decision(id, &lease))
                .collect(),
        }
    }

    /// The earliest lease deadline.
    pub fn next_lease_deadline(&self) -> Option<Millis> {
        self.queues.next_lease_deadline()
    }

    /// Answers a release that needs no log entry: a task already released (a repeated
    /// release gets the first answer if its outcome is the same, `already_released`
    /// otherwise), or a task of an aborted process (refused; an abort is final).
    /// `None`: it must be proposed.
    ///
    /// A task this replica does not know is proposed too, not answered "unknown": the
    /// replica may lag the committed log (a node serving a forwarded call after
    /// leadership moved, a new leader before it applied the old leader's last
    /// entries), and the task may exist. Applying the command gives the definitive
    /// answer.
    pub fn answer_without_log(&self, d: &Decision) -> Option<CommandResult> {
        let task = self.tasks.get(&d.task_id)?;
        if self.is_aborted(&task.process_id) {
            return Some(Err(super::CommandError::ProcessAborted(task.process_id)));
        }
        if d.attempt.is_some_and(|a| a < task.attempt) {
            return Some(super::release::resent_earlier_attempt(task, d));
        }
        match (&task.status, &task.receipt) {
            (TaskStatus::Released { .. } | TaskStatus::Scheduled { .. }, Some(_))
                if d.process_id.is_none_or(|p| p == task.process_id) =>
            {
                Some(super::deliveries::repeated_release(task, d))
            }
            _ => None,
        }
    }

    fn delivery(&self, id: TaskId, lease: &Lease) -> Option<Delivery> {
        let task = self.tasks.get(&id)?;
        Some(Delivery {
            task_id: id,
            process_id: task.process_id,
            actor_id: task.spec.actor_id.clone(),
            task_list: task.spec.options.task_list.clone(),
            method: task.spec.method.clone(),
            kind: task.spec.kind,
            args: task.spec.args.iter().map(|a| self.resolve_arg(a)).collect(),
            attempt: task.attempt,
            lease_until: lease.until,
            delivery_id: lease.delivery_id,
            delivered_at: lease.delivered_at,
        })
    }

    /// An argument with its promises replaced by their results (a no-wait promise that
    /// is not resolved yet stays pending).
    pub(super) fn resolve_arg(&self, arg: &Arg) -> ResolvedArg {
        match arg {
            Arg::Value(v) => ResolvedArg::Value(v.clone()),
            Arg::Array(items) => {
                ResolvedArg::Array(items.iter().map(|a| self.resolve_arg(a)).collect())
            }
            Arg::Promise { task_id, .. } => match self.tasks.get(task_id).map(|t| &t.promise) {
                Some(PromiseState::Resolved(Resolution::Value(v))) => ResolvedArg::Value(v.clone()),
                Some(PromiseState::Resolved(Resolution::Fail(e))) => ResolvedArg::Error(e.clone()),
                _ => ResolvedArg::Pending(*task_id),
            },
        }
    }
}
