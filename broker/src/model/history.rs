//! A process's history as the API shows it: `GET /api/v1/processes/{id}/history`.
//!
//! These are JSON shapes only (absent fields are omitted); the state machine stores its
//! own compact form and converts on read.

use super::{Millis, TaskId};
use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The process was started (`task_id`: its start task).
    Started,
    /// A task entered its ready queue.
    Enqueued,
    /// A task waits for its start time (`detail`: when it becomes due).
    Scheduled,
    /// A task was handed out (recorded when its release arrives; polls are not logged).
    Delivered,
    /// A release arrived (`detail`: `value`, `promise` or `error`; `error_type` for an
    /// error).
    Released,
    /// A failed attempt will be retried (`attempt`: the next attempt, `detail`: when).
    RetryScheduled,
    /// A task failed with an error its caller accepts: its promise holds the error.
    Failed,
    /// A task failed with an error nobody accepts: the process is broken.
    Broken,
    /// An operator restarted a failed task of a broken process (`attempt`: the new one).
    Restarted,
    /// An operator aborted the process (`detail`: the reason, if given).
    Aborted,
    /// The process finished.
    Finished,
    /// An external promise was resolved through the API.
    PromiseResolved,
    /// A task ran out of time.
    TimedOut,
    /// Recovery put a stalled task back in its queue.
    Recovered,
}

/// One event of a process's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEvent {
    /// Position in the process's history, from 0.
    pub seq: u64,
    pub at: Millis,
    pub event: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<TaskId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A page of a process's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryPage {
    /// Events stored (what `offset` pages through).
    pub total: usize,
    /// Events dropped from the middle of a long history: the broker keeps a process's
    /// first and latest events (1,000 each). `seq` counts the dropped ones, so the
    /// first event after the gap has `seq` = its position in the whole history.
    /// Omitted when nothing was dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated: u64,
    pub items: Vec<HistoryEvent>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
