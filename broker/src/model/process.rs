//! Process lifecycle as clients see it.

use super::{ActorId, ErrorInfo, Millis, TaskId};
use serde::{Deserialize, Serialize};

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    /// Its start task's promise is not resolved yet.
    Running,
    /// Its start task's promise resolved (with a value, or with an accepted error).
    Finished,
    /// A task failed with an error nobody accepts and no retry is left.
    Broken,
}

/// Why a process is broken: the failed task and its error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenInfo {
    pub task_id: TaskId,
    pub actor_id: ActorId,
    pub error: ErrorInfo,
    pub at: Millis,
}
