//! What a poll hands out: a task with its promises replaced by their results.

use super::{
    ActorId, DeliveryId, ErrorInfo, JsonValue, Millis, ProcessId, TaskId, TaskKind, TaskList,
};
use serde::{Deserialize, Serialize};

/// An argument as the actor receives it.
///
/// JSON: `{"value": …}`, `{"error": {…}}` (a promise resolved with an accepted fail),
/// `{"pending": "<task id>"}` (a no-wait promise not resolved yet), `{"array": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolvedArg {
    Value(JsonValue),
    Error(ErrorInfo),
    Pending(TaskId),
    #[schema(no_recursion)]
    Array(Vec<ResolvedArg>),
}

/// One task handed to an actor by a poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub task_id: TaskId,
    pub process_id: ProcessId,
    pub actor_id: ActorId,
    pub task_list: TaskList,
    pub method: String,
    pub kind: TaskKind,
    pub args: Vec<ResolvedArg>,
    /// 1 on the first attempt, 2 after one retry, ...
    pub attempt: u32,
    /// The broker returns the task to its queue if it is not released (or its lease
    /// extended by a heartbeat) by then.
    pub lease_until: Millis,
    /// This delivery's id: a release or heartbeat carrying it is refused once the task
    /// has been handed out again (`409 stale_delivery`).
    pub delivery_id: DeliveryId,
    /// When the broker handed the task out (the broker's clock).
    pub delivered_at: Millis,
}
