//! The replicated state machine: processes, tasks, the promise graph, timers and
//! blocked actors, changed only by applying [`Command`]s.
//!
//! `apply` is deterministic: the same commands in the same order give the same state
//! on every replica (time comes inside the commands; no map iteration order leaks into
//! results). Apply validates a command completely before changing anything, so a
//! rejected command leaves the state untouched.
//!
//! The ready queues and leases ([`ReadyQueues`]) ride along but are derived: rebuilt
//! from task states on restore and never serialized. Polls touch only them.

mod abort;
mod actors;
mod broken;
mod command;
mod deliveries;
mod dispatch;
mod gc;
mod history;
mod listing;
mod monitoring;
pub mod outbox;
mod records;
mod recovery;
mod release;
mod resolve;
mod schedule;
mod signal;
mod start;
mod views;

pub use command::{Command, CommandError, CommandResult, Reply, Request, Response};
pub use deliveries::{DeliveryError, LeaseExpiry, TIMEOUT_ERROR};
pub use history::{Detail, Event, History, HISTORY_KEEP, MAX_DETAIL_BYTES};
pub use listing::{
    ActorView, EdgeKind, GraphEdge, GraphNode, Page, ProcessGraph, ProcessQuery, ProcessSummary,
    QueuedTask,
};
pub use monitoring::{QueueSnapshot, RepeatedTask};
pub use records::{ProcessRecord, PromiseState, Resolution, TaskRecord, TaskStatus};

use crate::graph::PromiseGraph;
use crate::model::history::EventKind;
use crate::model::{ActorId, Millis, ProcessId, ProcessState, QueueKey, TaskId, TaskList};
use crate::queue::{QueueEntry, ReadyQueues};
use crate::timers::Timers;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Most tasks one decision may spawn.
pub const MAX_TASKS_PER_DECISION: usize = 10_000;
/// Deepest nesting of argument arrays.
pub const MAX_ARG_DEPTH: usize = 32;

/// Side effects of applying commands that the node acts on after unlocking the
/// state: waking pollers of queues that got tasks, re-arming the timer loop.
#[derive(Debug, Default)]
pub struct Effects {
    /// Queues that received ready tasks.
    pub woken: Vec<QueueKey>,
    /// A timer was armed (the timer loop may need to sleep less).
    pub timer_armed: bool,
    /// Processes that finished or broke.
    pub ended: Vec<ProcessId>,
    /// The lifecycle events these commands appended to the webhook outbox (metrics).
    pub lifecycle: Vec<outbox::OutboxEvent>,
    /// A schedule was created, changed or fired (the schedule loop re-reads its tick).
    pub schedules_changed: bool,
    /// Processes started (metrics, webhooks).
    pub started: Vec<ProcessId>,
    /// Tasks put into a queue, counted per queue (metrics, activity).
    pub enqueued: Vec<(QueueKey, u32)>,
    /// Releases applied (metrics: outcome, retries, processing time per actor).
    pub releases: Vec<ReleaseEffect>,
}

/// One applied release, as metrics see it.
#[derive(Debug, Clone)]
pub struct ReleaseEffect {
    pub task_id: TaskId,
    pub actor_id: ActorId,
    /// `"value"`, `"promise"` or `"error"`.
    pub outcome: &'static str,
    /// The error scheduled a retry.
    pub retry_scheduled: bool,
    /// How long the task was processed: the actor's `execution_ms`, else hand-out to
    /// release (the delivery time the leader put in the decision).
    pub processing_ms: Option<u64>,
}

/// The first bytes of every state snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"SUSLIKST";

/// The layout of [`State`] in snapshots. Raise it whenever a serialized field of the
/// state or its records changes, so that a build never decodes another's snapshot.
/// (Snapshots written before versioning have no header: they are refused too.)
pub const SNAPSHOT_FORMAT: u32 = 4;

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(
        "the snapshot has no format header: it was written by a build older than format \
         {SNAPSHOT_FORMAT}, whose state layout this build cannot read"
    )]
    Unversioned,
    #[error("the snapshot is in state format {found}, this build reads format {SNAPSHOT_FORMAT}")]
    Version { found: u32 },
    #[error("the snapshot does not decode: {0}")]
    Decode(#[from] bincode::Error),
}

/// The whole replicated state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    processes: HashMap<ProcessId, Box<ProcessRecord>>,
    tasks: HashMap<TaskId, Box<TaskRecord>>,
    graph: PromiseGraph,
    timers: Timers,
    /// Blocked actors: `(actor, None)` blocks every task list of the actor.
    blocked: BTreeSet<(ActorId, Option<TaskList>)>,
    /// Ended processes by end time: what garbage collection walks, oldest first,
    /// without scanning live processes.
    ended: BTreeSet<(Millis, ProcessId)>,
    /// Idempotency key → the process a start with that key created.
    idempotency: HashMap<String, ProcessId>,
    /// Broken processes by the time they broke: what the broken listings walk, without
    /// scanning the others.
    broken: BTreeSet<(Millis, ProcessId)>,
    /// Monotonic counter giving FIFO order among equally ready tasks.
    seq: u64,
    /// Named schedules starting processes on a cron expression or an interval.
    schedules: schedule::Schedules,
    /// Running processes by last change (`ProcessRecord::last_change`), oldest first:
    /// what recovery walks, without scanning every process. Ended processes leave it
    /// when recovery meets them or garbage collection deletes them.
    changed: BTreeSet<(Millis, ProcessId)>,
    /// Lifecycle events waiting for the leader's webhook sender.
    outbox: outbox::Outbox,
    /// Derived dispatch structure (see module docs).
    #[serde(skip)]
    queues: ReadyQueues,
    /// Derived: task counts per actor and task list (the console's Actors view).
    #[serde(skip)]
    actors: actors::ActorIndex,
    #[serde(skip)]
    effects: Effects,
}

impl State {
    fn apply_command(&mut self, cmd: &Command) -> CommandResult {
        match cmd {
            Command::StartProcess {
                now,
                process_id,
                custom_id,
                idempotency_key,
                start,
            } => self.start_keyed_process(
                *now,
                *process_id,
                custom_id.clone(),
                idempotency_key.as_deref(),
                start,
            ),
            Command::Release { now, decision } => self.release(*now, decision, false),
            Command::TimeOut { now, decision } => self.release(*now, decision, true),
            Command::FireTimers { now } => Ok(Reply::Fired(self.fire_timers(*now))),
            Command::CollectGarbage {
                ended_before,
                max,
                include_broken,
            } => Ok(Reply::Collected(self.collect_garbage(
                *ended_before,
                *max,
                *include_broken,
            ))),
            Command::BlockActor {
                actor_id,
                task_list,
            } => Ok(Reply::Changed(
                self.blocked.insert((actor_id.clone(), task_list.clone())),
            )),
            Command::UnblockActor {
                actor_id,
                task_list,
            } => {
                let changed = self.blocked.remove(&(actor_id.clone(), task_list.clone()));
                if changed {
                    // Wake pollers: their queue is deliverable again.
                    self.wake_actor(actor_id, task_list.as_ref());
                }
                Ok(Reply::Changed(changed))
            }
            Command::CreateSchedule { now, request } => self.create_schedule(*now, request),
            Command::PauseSchedule { name } => self.set_schedule_paused(Millis(0), name, true),
            Command::ResumeSchedule { now, name } => self.set_schedule_paused(*now, name, false),
            Command::DeleteSchedule { name } => self.delete_schedule(name),
            Command::FireSchedule {
                now,
                name,
                tick,
                process_id,
                task_id,
            } => self.fire_schedule(*now, name, *tick, *process_id, *task_id),
            Command::RestartProcesses { now, process_ids } => {
                Ok(Reply::Restarted(self.restart_processes(*now, process_ids)))
            }
            Command::DeleteProcesses { process_ids } => {
                Ok(Reply::Deleted(self.delete_processes(process_ids)))
            }
            Command::AbortProcesses {
                now,
                process_ids,
                reason,
            } => Ok(Reply::Aborted(self.abort_processes(
                *now,
                process_ids,
                reason.as_deref(),
            ))),
            Command::ResolvePromise {
                now,
                task_id,
                resolution,
            } => self.resolve_promise(*now, *task_id, resolution),
            Command::PurgeQueue {
                now,
                actor_id,
                task_list,
            } => Ok(Reply::Purged(self.purge_queue(
                *now,
                actor_id,
                task_list.as_ref(),
            ))),
            Command::RecoverProcesses {
                now,
                stalled_before,
                max,
            } => Ok(self.recover_processes(*now, *stalled_before, *max)),
            Command::AckWebhook { upto } => Ok(Reply::Acked(self.outbox.ack(*upto))),
        }
    }

    /// Applies one command and appends the lifecycle events it caused (processes
    /// started or ended) to the webhook outbox: on every replica, in apply order.
    pub fn apply(&mut self, cmd: &Command) -> CommandResult {
        let (started, ended) = (self.effects.started.len(), self.effects.ended.len());
        let result = self.apply_command(cmd);
        let new_started = (started..self.effects.started.len()).map(|i| (i, true));
        let new_ended = (ended..self.effects.ended.len()).map(|i| (i, false));
        for (i, is_start) in new_started.chain(new_ended) {
            let id = if is_start {
                self.effects.started[i]
            } else {
                self.effects.ended[i]
            };
            if let Some((state, started_at, ended_at)) = self.lifecycle_of(&id) {
                let at = if is_start {
                    started_at
                } else {
                    ended_at.unwrap_or(started_at)
                };
                let event = self.outbox.push(is_start, id, state, at);
                self.effects.lifecycle.push(event);
            }
        }
        result
    }

    /// At most `max` outbox events after event `after`, oldest first.
    pub fn outbox_after(&self, after: u64, max: usize) -> Vec<outbox::OutboxEvent> {
        self.outbox.after(after, max)
    }

    /// The webhook outbox's depth, oldest age at `now` and drop count (`/metrics`).
    pub fn outbox_gauges(&self, now: Millis) -> crate::metrics::OutboxGauges {
        self.outbox.gauges(now)
    }

    /// Applies a batch of commands (one log entry).
    pub fn apply_request(&mut self, req: &Request) -> Response {
        Response {
            results: req.commands.iter().map(|c| self.apply(c)).collect(),
        }
    }

    /// Takes the effects accumulated since the last call.
    pub fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.effects)
    }

    /// Serializes the replicated part of the state (snapshot): [`SNAPSHOT_MAGIC`], the
    /// format version, then the bincode of the state.
    pub fn to_snapshot(&self) -> Result<Vec<u8>, bincode::Error> {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT.to_le_bytes());
        bincode::serialize_into(&mut out, self)?;
        Ok(out)
    }

    /// Restores a snapshot and rebuilds the derived ready queues. A snapshot of another
    /// format version (an older or newer build) is refused with a clear error rather
    /// than decoded into garbage.
    pub fn from_snapshot(bytes: &[u8]) -> Result<State, SnapshotError> {
        let header = SNAPSHOT_MAGIC.len() + 4;
        let found = match bytes.strip_prefix(SNAPSHOT_MAGIC) {
            Some(rest) if rest.len() >= 4 => {
                u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]])
            }
            _ => return Err(SnapshotError::Unversioned),
        };
        if found != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Version { found });
        }
        let mut state: State = bincode::deserialize(&bytes[header..])?;
        state.rebuild_queues();
        state.rebuild_actor_index();
        Ok(state)
    }

    fn rebuild_actor_index(&mut self) {
        self.actors = actors::ActorIndex::default();
        for task in self.tasks.values() {
            self.actors
                .add(&task.spec.actor_id, &task.spec.options.task_list);
        }
    }

    /// Adds a task to the state (and to the per-actor counts).
    fn insert_task(&mut self, record: Box<TaskRecord>) {
        self.actors
            .add(&record.spec.actor_id, &record.spec.options.task_list);
        self.tasks.insert(record.spec.task_id, record);
    }

    /// Takes a task out of the state (and out of the per-actor counts).
    fn remove_task(&mut self, id: &TaskId) -> Option<Box<TaskRecord>> {
        let record = self.tasks.remove(id)?;
        self.actors
            .remove(&record.spec.actor_id, &record.spec.options.task_list);
        Some(record)
    }

    fn rebuild_queues(&mut self) {
        self.queues = ReadyQueues::default();
        for task in self.tasks.values() {
            if self.is_aborted(&task.process_id) {
                continue; // an aborted process's tasks left their queues for good
            }
            if let TaskStatus::Ready { ready_at, seq } = task.status {
                let entry = QueueEntry {
                    priority: task.spec.options.priority,
                    ready_at,
                    seq,
                    task_id: task.spec.task_id,
                };
                self.queues.push(task.queue_key(), entry);
            }
        }
    }

    /// Makes every due timer's task ready. Returns how many fired.
    fn fire_timers(&mut self, now: Millis) -> u32 {
        let mut fired = 0;
        for id in self.timers.take_due(now) {
            let due = match self.tasks.get(&id).map(|t| (t.status, t.spec.kind)) {
                Some((TaskStatus::Scheduled { at }, _)) if at <= now => at,
                Some((TaskStatus::Waiting, crate::model::TaskKind::External)) => {
                    fired += u32::from(self.time_out_promise(id, now));
                    continue;
                }
                _ => continue,
            };
            self.enqueue(id, due);
            fired += 1;
        }
        fired
    }

    /// Puts a task whose dependencies are all resolved into its queue, or arms its
    /// timer if its start time is still ahead.
    fn make_ready(&mut self, id: TaskId, now: Millis) {
        let start_at = match self.tasks.get(&id) {
            Some(t) if !self.is_aborted(&t.process_id) => t.spec.options.start_at,
            _ => return,
        };
        match start_at {
            Some(at) if at > now => {
                self.schedule(id, at);
                self.record_task(id, EventKind::Scheduled, now, |e| e.detail(Detail::Due(at)));
            }
            _ => self.enqueue(id, now),
        }
    }

    /// Arms `id`'s timer for `at`.
    fn schedule(&mut self, id: TaskId, at: Millis) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.status = TaskStatus::Scheduled { at };
            self.timers.arm(id, at);
            self.effects.timer_armed = true;
        }
    }

    /// Puts `id` in its queue as ready since `ready_at`.
    fn enqueue(&mut self, id: TaskId, ready_at: Millis) {
        self.seq += 1;
        let seq = self.seq;
        if let Some(task) = self.tasks.get_mut(&id) {
            task.status = TaskStatus::Ready { ready_at, seq };
            let key = task.queue_key();
            let entry = QueueEntry {
                priority: task.spec.options.priority,
                ready_at,
                seq,
                task_id: id,
            };
            self.queues.push(key.clone(), entry);
            match self.effects.enqueued.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => self.effects.enqueued.push((key.clone(), 1)),
            }
            if !self.effects.woken.contains(&key) {
                self.effects.woken.push(key);
            }
            self.record_task(id, EventKind::Enqueued, ready_at, |e| e);
        }
    }

    /// Records an event about task `id` (with its current attempt) in its process's
    /// history; `with` adds details.
    fn record_task(
        &mut self,
        id: TaskId,
        kind: EventKind,
        at: Millis,
        with: impl FnOnce(Event) -> Event,
    ) {
        if let Some(t) = self.tasks.get(&id) {
            let event = with(Event::new(kind, at).task(id).attempt(t.attempt));
            self.record(t.process_id, event);
        }
    }

    fn wake_actor(&mut self, actor: &ActorId, list: Option<&TaskList>) {
        let keys: Vec<QueueKey> = self
            .queues
            .sizes()
            .map(|(k, _)| k)
            .filter(|k| &k.actor_id == actor && list.is_none_or(|l| &k.task_list == l))
            .cloned()
            .collect();
        for k in keys {
            if !self.effects.woken.contains(&k) {
                self.effects.woken.push(k);
            }
        }
    }

    /// Whether `process_id` was aborted (its tasks neither run nor take releases).
    fn is_aborted(&self, process_id: &ProcessId) -> bool {
        self.processes
            .get(process_id)
            .is_some_and(|p| p.state == ProcessState::Aborted)
    }

    /// Whether polls of `key` get nothing.
    pub fn is_blocked(&self, key: &QueueKey) -> bool {
        // Usually nothing is blocked: answer without building lookup keys.
        if self.blocked.is_empty() {
            return false;
        }
        self.blocked.contains(&(key.actor_id.clone(), None))
            || self
                .blocked
                .contains(&(key.actor_id.clone(), Some(key.task_list.clone())))
    }

    /// When the next timer is due.
    pub fn next_timer(&self) -> Option<Millis> {
        self.timers.next_due()
    }

    /// Read access to the ready queues and leases.
    pub fn queues(&self) -> &ReadyQueues {
        &self.queues
    }

    /// Counts for monitoring and tests.
    pub fn counts(&self) -> Counts {
        Counts {
            processes: self.processes.len(),
            tasks: self.tasks.len(),
            timers: self.timers.len(),
            pending_promises: self.graph.pending_promises(),
            leased: self.queues.leased(),
        }
    }
}

/// Sizes of the state, for monitoring and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Counts {
    pub processes: usize,
    pub tasks: usize,
    pub timers: usize,
    pub pending_promises: usize,
    pub leased: usize,
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_deliveries;
