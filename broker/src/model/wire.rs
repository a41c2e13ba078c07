//! Request and response bodies of the client API (`/api/v1`), shared by the HTTP
//! handlers, the in-process API and the SDK so that both ends agree by construction.

use super::{
    ActorId, Arg, BrokenInfo, Decision, Delivery, ErrorInfo, JsonValue, Millis, ProcessId,
    ProcessState, TaskId, TaskKind, TaskList, TaskOptions,
};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/processes`: start a process by creating its start task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StartProcessRequest {
    /// The decider that runs the start task, `name#version`.
    pub actor_id: ActorId,
    pub method: String,
    #[serde(default)]
    pub args: Vec<Arg>,
    /// Task list, priority, start time, retry, accepted fails of the start task.
    #[serde(default)]
    pub options: TaskOptions,
    /// A business id to find the process by (not required to be unique).
    #[serde(default)]
    pub custom_id: Option<String>,
    /// Id for the start task; minted by the broker if absent.
    #[serde(default)]
    pub task_id: Option<TaskId>,
    /// Id for the process; minted by the broker if absent.
    #[serde(default)]
    pub process_id: Option<ProcessId>,
    /// Starting again with a key already used returns the process that key started
    /// (`existing: true`) instead of starting another, for as long as that process is
    /// kept (until it is deleted).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Treats `custom_id` as unique: a start with a custom id that a kept process
    /// already has (started with this flag too) returns that process (`existing:
    /// true`), like an idempotency key. Needs `custom_id`; excludes `idempotency_key`.
    #[serde(default)]
    pub unique_custom_id: bool,
}

/// Answer to a start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StartProcessResponse {
    pub process_id: ProcessId,
    pub task_id: TaskId,
    /// The idempotency key was used before: this is the process it started (HTTP 200
    /// instead of 201).
    #[serde(default)]
    pub existing: bool,
}

/// `POST /api/v1/tasks/poll`: ask for ready tasks of one actor and task list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PollRequest {
    pub actor_id: ActorId,
    #[serde(default)]
    pub task_list: TaskList,
    /// At most this many tasks (1 if absent; capped by the server).
    #[serde(default = "one")]
    pub max: u32,
    /// Long-poll: wait up to this long for a task if none is ready (0 = answer at once).
    #[serde(default)]
    pub wait_ms: u64,
}

fn one() -> u32 {
    1
}

/// Answer to a poll: possibly empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct PollResponse {
    pub tasks: Vec<Delivery>,
}

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    /// The task's promise resolved with a value (or with an accepted error).
    Resolved,
    /// The task returned another task's promise; it resolves when that one does.
    AwaitingPromise,
    /// The error will be retried at `retry_at`.
    RetryScheduled,
    /// The error was not accepted and no retry is left: the process is broken.
    ProcessBroken,
}

/// Answer to a release. A repeated release of the same task returns the first
/// answer with `duplicate: true` and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseReceipt {
    pub task_id: TaskId,
    pub process_id: ProcessId,
    pub status: ReleaseStatus,
    #[serde(default)]
    pub retry_at: Option<Millis>,
    /// The attempt this release ended.
    pub attempt: u32,
    /// The process's state right after this release.
    pub process_state: ProcessState,
    #[serde(default)]
    pub duplicate: bool,
}

/// `POST /api/v1/tasks/release/batch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseBatchRequest {
    pub decisions: Vec<Decision>,
}

/// One decision's answer in a batch: `{"receipt": {…}}` or `{"error": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseResult {
    Receipt(ReleaseReceipt),
    Error(ErrorBody),
}

/// Answer to a batch release, in the order of the decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseBatchResponse {
    pub results: Vec<ReleaseResult>,
}

/// Every error answer: `{"error": "unknown_task", "message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub error: String,
    pub message: String,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Some awaited promises are unresolved.
    Waiting,
    /// Its start time or retry time has not come.
    Scheduled,
    /// In its queue, or handed out and not yet released.
    Ready,
    /// Released.
    Released,
    /// Dropped from its queue by a purge; waits for recovery to be put back.
    Purged,
}

/// A task as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskView {
    pub task_id: TaskId,
    pub process_id: ProcessId,
    pub actor_id: ActorId,
    pub task_list: TaskList,
    pub method: String,
    pub kind: TaskKind,
    pub status: TaskStatus,
    /// Handed out and not released (only meaningful on the leader).
    pub leased: bool,
    /// Attempts made so far (deliveries that ended in an error count).
    pub attempt: u32,
    /// Promises it still waits for.
    pub missing: u32,
    /// When scheduled: when it becomes ready.
    pub scheduled_at: Option<Millis>,
    pub created_at: Millis,
    pub released_at: Option<Millis>,
    /// The promise's value, once resolved with one.
    pub result: Option<JsonValue>,
    /// The promise's error, or the last error of the task.
    pub error: Option<ErrorInfo>,
    /// Task whose decision created this one (none for a start task).
    pub parent: Option<TaskId>,
    /// Promises this task waits for (its dependency edges).
    pub depends_on: Vec<TaskId>,
    pub args: Vec<Arg>,
}

/// A process as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcessView {
    pub process_id: ProcessId,
    pub custom_id: Option<String>,
    pub starter: ActorId,
    pub start_task_id: TaskId,
    pub state: ProcessState,
    pub result: Option<JsonValue>,
    pub error: Option<ErrorInfo>,
    pub broken: Option<BrokenInfo>,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    pub tasks: Vec<TaskView>,
}

/// `GET /api/v1/queues`: one queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueView {
    pub actor_id: ActorId,
    pub task_list: TaskList,
    /// Ready tasks waiting to be polled.
    pub queued: usize,
    pub blocked: bool,
}
