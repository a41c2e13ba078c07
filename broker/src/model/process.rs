//! Process lifecycle as clients see it.

use super::{ActorId, ErrorInfo, Millis, TaskId};
use serde::{Deserialize, Serialize};

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    /// Its start task's promise is not resolved yet, or some of its tasks (a no-wait
    /// side task, say) are not released yet. The result is visible once the start
    /// task's promise resolves, even while the process still runs.
    Running,
    /// Its start task's promise resolved (with a value, or with an accepted error) and
    /// every task of the process is released.
    Finished,
    /// A task failed with an error nobody accepts and no retry is left.
    Broken,
    /// An operator aborted it: its queued tasks were removed and later releases of its
    /// tasks are refused.
    Aborted,
}

impl ProcessState {
    /// Whether the process ended (finished, broken or aborted): garbage collection may
    /// delete it, an operator may delete it.
    pub fn is_ended(self) -> bool {
        self != ProcessState::Running
    }
}

/// Why a process is broken: the failed task and its error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokenInfo {
    pub task_id: TaskId,
    pub actor_id: ActorId,
    pub error: ErrorInfo,
    pub at: Millis,
}
