//! Delivery fencing, heartbeats and per-task timeouts.
//!
//! Each poll hands a task out as a new *delivery* (a lease with a fresh id, see
//! [`crate::queue::Lease`]). Leases are leader-local: they are not replicated, and a
//! new leader starts without any (every ready task is delivered again). That is why
//! the checks here run on the leader before a command is proposed, never in `apply`:
//!
//! - a release naming a delivery other than the task's current lease is refused
//!   (`stale_delivery`); a task not leased at all accepts it (its lease ran out and
//!   nobody polled it since, or leadership moved);
//! - a heartbeat extends the current delivery's lease, never past the task's timeout;
//! - a lease that reaches the task's timeout becomes an error release of type
//!   [`TIMEOUT_ERROR`] that the leader proposes like any release.
//!
//! What *is* replicated is the fingerprint of each stored release's outcome: a release
//! of an already released task (or attempt) is answered as a duplicate only when its
//! outcome has the same fingerprint, and refused as `already_released` otherwise, on
//! every replica alike.

use super::{CommandError, CommandResult, Reply, State, TaskRecord};
use crate::model::{Decision, DeliveryId, ErrorInfo, Millis, Outcome, QueueKey, TaskId};
use crate::queue::{ExtendError, Lease};

/// The error type of a task that was not released within its timeout.
pub const TIMEOUT_ERROR: &str = "suslik.Timeout";

/// What [`State::expire_leases`] produced.
#[derive(Debug, Default)]
pub struct LeaseExpiry {
    /// Queues that got tasks back (their lease ran out).
    pub requeued: Vec<QueueKey>,
    /// Error releases of the deliveries whose task timed out, for the leader to propose.
    pub timeouts: Vec<Decision>,
}

/// Why a release or heartbeat of a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    #[error(
        "task {task} was handed out again (delivery {current}); delivery {stale} no longer owns it"
    )]
    Stale {
        task: TaskId,
        stale: DeliveryId,
        current: DeliveryId,
    },
    #[error("task {0} is not leased (released, back in its queue, or past its timeout)")]
    NotLeased(TaskId),
}

impl State {
    /// Checks a release against the task's current lease; returns when the released
    /// delivery was handed out, if the task is leased to it.
    pub fn fence_release(&self, d: &Decision) -> Result<Option<Millis>, DeliveryError> {
        let Some(lease) = self.queues.lease_of(&d.task_id) else {
            return Ok(None);
        };
        match d.delivery_id {
            Some(id) if id != lease.delivery_id => Err(DeliveryError::Stale {
                task: d.task_id,
                stale: id,
                current: lease.delivery_id,
            }),
            _ => Ok(Some(lease.delivered_at)),
        }
    }

    /// A heartbeat: extends the lease of `task`'s delivery `delivery` to `until` (not
    /// past the task's timeout, never shorter than it is). Returns the lease's end.
    pub fn heartbeat(
        &mut self,
        task: TaskId,
        delivery: DeliveryId,
        until: Millis,
    ) -> Result<Millis, DeliveryError> {
        if !self.tasks.contains_key(&task) {
            return Err(DeliveryError::UnknownTask(task));
        }
        let current = self.queues.lease_of(&task).map(|l| l.delivery_id);
        self.queues
            .extend(&task, delivery, until)
            .map_err(|e| match (e, current) {
                (ExtendError::Stale, Some(current)) => DeliveryError::Stale {
                    task,
                    stale: delivery,
                    current,
                },
                _ => DeliveryError::NotLeased(task),
            })
    }

    /// Puts a timed-out task back in its queue when its timeout release could not be
    /// committed (still leased to `delivery`). Returns its queue, to wake.
    pub fn requeue_timed_out(&mut self, task: TaskId, delivery: DeliveryId) -> Option<QueueKey> {
        self.queues.requeue_timed_out(&task, delivery)
    }

    /// The error release of a delivery whose task's timeout passed.
    pub(super) fn timeout_decision(&self, id: TaskId, lease: &Lease) -> Option<Decision> {
        let task = self.tasks.get(&id)?;
        let timeout_ms = lease
            .timeout_at
            .map_or(0, |t| t.0.saturating_sub(lease.delivered_at.0));
        Some(Decision {
            task_id: id,
            process_id: Some(task.process_id),
            outcome: Outcome::Error(ErrorInfo::new(
                TIMEOUT_ERROR,
                format!("not released within its timeout of {timeout_ms} ms after delivery"),
            )),
            tasks: Vec::new(),
            restart_at: None,
            execution_ms: Some(timeout_ms),
            attempt: Some(task.attempt),
            delivery_id: Some(lease.delivery_id),
            delivered_at: Some(lease.delivered_at),
        })
    }
}

/// The answer to a release of a task (or attempt) whose release is already stored:
/// the stored receipt marked duplicate if the outcome is the same, else
/// `already_released`.
pub(super) fn repeated_release(task: &TaskRecord, d: &Decision) -> CommandResult {
    let Some(receipt) = &task.receipt else {
        return Err(CommandError::Conflict(format!(
            "task {} has no stored release",
            d.task_id
        )));
    };
    if task.outcome_fingerprint != Some(fingerprint(d)) {
        return Err(CommandError::AlreadyReleased(format!(
            "attempt {} of task {} was already released with another outcome ({:?})",
            receipt.attempt, d.task_id, receipt.status
        )));
    }
    let mut again = receipt.clone();
    again.duplicate = true;
    Ok(Reply::Released(again))
}

/// A stable 64-bit fingerprint of a release's outcome: its kind, its value text,
/// returned promise or error type, and the ids of the tasks it spawns. Two releases
/// with the same fingerprint are the same release sent twice. (FNV-1a: the same on
/// every replica and every build, unlike `std`'s hasher.)
pub(super) fn fingerprint(d: &Decision) -> u64 {
    let mut h = Fnv::default();
    match &d.outcome {
        Outcome::Value(v) => {
            h.write(b"v");
            h.write(v.as_str().as_bytes());
        }
        Outcome::Promise(t) => {
            h.write(b"p");
            h.write(t.0.as_bytes());
        }
        Outcome::Error(e) => {
            h.write(b"e");
            h.write(e.error_type.as_bytes());
        }
    }
    for t in &d.tasks {
        h.write(t.task_id.0.as_bytes());
    }
    h.0
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }
}
