//! What the state machine stores per process and per task.

use super::history::History;
use crate::model::wire::ReleaseReceipt;
use crate::model::{
    ActorId, BrokenInfo, ErrorInfo, JsonValue, Millis, ProcessId, ProcessState, QueueKey, TaskId,
    TaskSpec,
};
use serde::{Deserialize, Serialize};

/// How a promise resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    Value(JsonValue),
    /// An accepted fail: waiting tasks receive the error as their argument.
    Fail(ErrorInfo),
}

/// The state of a task's promise (its result as others see it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PromiseState {
    Pending,
    /// The task returned another task's promise; this one resolves with it.
    Forwarded(TaskId),
    Resolved(Resolution),
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    /// Waits for promises (the count lives in the promise graph).
    Waiting,
    /// Waits for its start time or retry time (armed in the timers).
    Scheduled { at: Millis },
    /// In its queue (or leased). `ready_at` and `seq` fix its queue position.
    Ready { ready_at: Millis, seq: u64 },
    /// A final decision was stored.
    Released { at: Millis },
    /// Was ready, and dropped from its queue by an operator's purge (`PurgeQueue`): in
    /// no queue, not even after a snapshot restore, until recovery puts it back.
    Purged { at: Millis },
}

/// One task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub spec: TaskSpec,
    pub process_id: ProcessId,
    /// The task whose decision spawned this one.
    pub parent: Option<TaskId>,
    pub created_at: Millis,
    /// 1-based number of the current attempt.
    pub attempt: u32,
    pub status: TaskStatus,
    pub promise: PromiseState,
    /// The answer to the latest release; returned again for a repeated release.
    pub receipt: Option<ReleaseReceipt>,
    /// The latest error this task failed with.
    pub last_error: Option<ErrorInfo>,
    /// The promise this task's result was forwarded to (a decider returned it); kept
    /// after the promise resolves so the console can draw the forward edge.
    pub forwarded_to: Option<TaskId>,
    /// Fingerprint of the outcome of the latest release (see `deliveries`): a repeated
    /// release is a duplicate only if its outcome has the same one.
    pub outcome_fingerprint: Option<u64>,
}

impl TaskRecord {
    /// A task just created by a start or a decision: first attempt, waiting.
    pub fn new(spec: TaskSpec, process_id: ProcessId, parent: Option<TaskId>, now: Millis) -> Self {
        TaskRecord {
            spec,
            process_id,
            parent,
            created_at: now,
            attempt: 1,
            status: TaskStatus::Waiting,
            promise: PromiseState::Pending,
            receipt: None,
            last_error: None,
            forwarded_to: None,
            outcome_fingerprint: None,
        }
    }

    pub fn queue_key(&self) -> QueueKey {
        QueueKey::new(
            self.spec.actor_id.clone(),
            self.spec.options.task_list.clone(),
        )
    }

    pub fn resolution(&self) -> Option<&Resolution> {
        match &self.promise {
            PromiseState::Resolved(r) => Some(r),
            _ => None,
        }
    }
}

/// One process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub process_id: ProcessId,
    pub custom_id: Option<String>,
    pub starter: ActorId,
    pub start_task: TaskId,
    pub state: ProcessState,
    pub result: Option<Resolution>,
    pub broken: Option<BrokenInfo>,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    /// Every task of the process, in creation order.
    pub tasks: Vec<TaskId>,
    /// How many of its tasks are not released yet (+1 when a task is registered, -1
    /// when it reaches its final status). The process finishes when its start promise
    /// resolved and this is zero: O(1), no scan of `tasks`.
    pub unfinished: u32,
    /// The idempotency key it was started with (removed from the index with it).
    pub idempotency_key: Option<String>,
    /// When the process last made progress (started, a release, a resolved external
    /// promise, a recovery): its key in the state's index of running processes by
    /// last change, which recovery walks oldest first.
    pub last_change: Millis,
    /// What happened to it, bounded (see `history`).
    pub history: History,
}
