//! The commands of the replicated log and their results.
//!
//! Every state change is one of these, applied deterministically. Time is a field of
//! the command (read once by the leader), never read during apply.

use super::Resolution;
use crate::formats::CommandFormat;
use crate::model::schedule::{CreateSchedule, Schedule};
use crate::model::wire::{ReleaseReceipt, StartProcessResponse};
use crate::model::{ActorId, Decision, Millis, ProcessId, TaskId, TaskList, TaskSpec};
use serde::{Deserialize, Serialize};

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Register a process and its start task.
    StartProcess {
        now: Millis,
        process_id: ProcessId,
        custom_id: Option<String>,
        /// A start with a key already used answers with the process it started.
        idempotency_key: Option<String>,
        start: TaskSpec,
    },
    /// Store a decision: resolve the task's promise (or schedule a retry, or break the
    /// process) and register the tasks it spawns.
    Release { now: Millis, decision: Decision },
    /// The leader's release of a delivery whose task's timeout passed: a `Release` of
    /// the `suslik.Timeout` error that also records a `timed_out` event.
    TimeOut { now: Millis, decision: Decision },
    /// Make every delayed or retrying task due at `now` ready.
    FireTimers { now: Millis },
    /// Delete up to `max` processes that ended before `ended_before` (finished ones,
    /// and broken ones too if `include_broken`), with all their tasks.
    CollectGarbage {
        ended_before: Millis,
        max: u32,
        include_broken: bool,
    },
    /// Stop handing out an actor's tasks (all task lists, or one).
    BlockActor {
        actor_id: ActorId,
        task_list: Option<TaskList>,
    },
    /// Undo a [`Command::BlockActor`].
    UnblockActor {
        actor_id: ActorId,
        task_list: Option<TaskList>,
    },
    /// Create a named schedule; its first tick is the first one after `now`.
    CreateSchedule {
        now: Millis,
        request: CreateSchedule,
    },
    /// Stop a schedule's ticks (nothing is caught up on resume).
    PauseSchedule { name: String },
    /// Restart a paused schedule's ticks from `now`.
    ResumeSchedule { now: Millis, name: String },
    /// Delete a schedule (processes it started are unaffected).
    DeleteSchedule { name: String },
    /// Start the schedule's process: at `tick` (only if that is still its next tick,
    /// which makes a repeated proposal fire once) or, without a tick, now ("run now").
    FireSchedule {
        now: Millis,
        name: String,
        tick: Option<Millis>,
        process_id: ProcessId,
        task_id: TaskId,
    },
    /// Re-run every failed-and-unaccepted task of each broken process (attempt + 1),
    /// keeping everything released; the processes run again. Ids that are not broken
    /// (any more) are skipped.
    RestartProcesses {
        now: Millis,
        process_ids: Vec<ProcessId>,
    },
    /// Delete ended processes with everything they own; others are skipped.
    DeleteProcesses { process_ids: Vec<ProcessId> },
    /// Abort running or broken processes: their queued and delayed tasks are dropped,
    /// later releases of their tasks refused. Ended ones are skipped.
    AbortProcesses {
        now: Millis,
        process_ids: Vec<ProcessId>,
        reason: Option<String>,
    },
    /// Resolve an external promise from outside (a value, or an error the waiting
    /// tasks receive as an accepted fail).
    ResolvePromise {
        now: Millis,
        task_id: TaskId,
        resolution: Resolution,
    },
    /// Drop every ready task of an actor's queue (one task list, or all of them),
    /// handed out or not, leaving them `Purged` (stalled until recovery).
    PurgeQueue {
        now: Millis,
        actor_id: ActorId,
        task_list: Option<TaskList>,
    },
    /// Recover up to `max` running processes unchanged since before `stalled_before`:
    /// every unfinished task whose promises are resolved but which is in no queue (or
    /// whose timer is not armed) is put back. Nothing released runs again.
    RecoverProcesses {
        now: Millis,
        stalled_before: Millis,
        max: u32,
    },
    /// The leader delivered the webhook outbox up to event `upto`: drop those events.
    AckWebhook { upto: u64 },
}

/// What a successfully applied command answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Started(StartProcessResponse),
    Released(ReleaseReceipt),
    /// How many timers fired.
    Fired(u32),
    /// How many processes garbage collection deleted.
    Collected(u32),
    /// Block/unblock: whether anything changed.
    Changed(bool),
    /// A schedule after the command (a deleted one: as it was).
    Schedule(Box<Schedule>),
    /// The process a schedule firing started (`None`: the tick had already fired).
    ScheduleFired(Option<StartProcessResponse>),
    /// The processes a restart restarted, in selection order.
    Restarted(Vec<ProcessId>),
    /// How many processes were deleted.
    Deleted(u32),
    /// How many processes were aborted.
    Aborted(u32),
    /// An external promise resolved (`duplicate`: it already was, the same way).
    PromiseResolved {
        duplicate: bool,
    },
    /// How many ready tasks a purge dropped.
    Purged(u32),
    /// What a recovery scan did.
    Recovered {
        processes: u32,
        tasks: u32,
    },
    /// How many outbox events an acknowledgement dropped.
    Acked(u32),
}

/// Why a command was rejected. A rejected command changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    #[error("unknown process {0}")]
    UnknownProcess(ProcessId),
    #[error("unknown schedule {0:?}")]
    UnknownSchedule(String),
    #[error("{0}")]
    Conflict(String),
    #[error("process {0} was aborted: its tasks take no releases")]
    ProcessAborted(ProcessId),
    #[error("{0}")]
    Invalid(String),
    /// The task (or attempt) was already released with another outcome.
    #[error("{0}")]
    AlreadyReleased(String),
}

/// The result of one command.
pub type CommandResult = Result<Reply, CommandError>;

/// One Raft log entry's payload: a batch of commands proposed together (group commit).
///
/// Its encoding is versioned (`crate::formats::command` implements `Serialize` and
/// `Deserialize` for it): `format` says which command format the entry is written in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The command format of this entry: the newest one every member reads, as the
    /// leader found when it proposed it.
    pub format: CommandFormat,
    pub commands: Vec<Command>,
}

impl Request {
    /// `commands` in this build's newest command format.
    pub fn new(commands: Vec<Command>) -> Request {
        Request {
            format: CommandFormat::default(),
            commands,
        }
    }
}

/// The result of applying a [`Request`]: one result per command, in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Response {
    pub results: Vec<CommandResult>,
}
