//! The client API: [`BrokerApi`] is the in-process form (used by the HTTP handlers
//! and by Taskurotta-style "no transport" embedding); [`http`] maps it onto `/api/v1`.

pub mod auth;
pub mod cluster;
pub mod cluster_client;
pub mod console;
mod error;
mod fencing;
pub mod forward;
pub mod http;
mod limits;
pub mod monitoring;
pub mod openapi;
pub mod process_ops;
pub mod promises;
pub mod recovery;
pub mod schedules;
pub mod strict_json;

pub use error::ApiError;
pub use fencing::{HeartbeatRequest, HeartbeatResponse};
pub use limits::Limits;

use crate::core::BrokerCore;
use crate::leader::Proposer;
use crate::model::wire::{
    PollRequest, PollResponse, ProcessView, QueueView, ReleaseBatchResponse, ReleaseReceipt,
    ReleaseResult, StartProcessRequest, StartProcessResponse, TaskView,
};
use crate::model::{
    ActorId, Decision, Millis, ProcessId, QueueKey, TaskId, TaskKind, TaskList, TaskSpec,
};
use crate::raft::{Raft, StartupLog};
use crate::state_machine::{Command, CommandResult, Reply};
use std::sync::Arc;
use std::time::Duration;

/// The broker's client operations, callable in process. Cheap to clone.
#[derive(Clone)]
pub struct BrokerApi {
    core: Arc<BrokerCore>,
    proposer: Proposer,
    raft: Raft,
    startup: StartupLog,
    limits: Limits,
}

/// How long a read waits for a leader that resumed its term to apply the log it
/// restarted with, before answering 503 (clients retry).
const SERVING_WAIT: Duration = Duration::from_secs(3);

impl BrokerApi {
    /// `startup` is what the node's log held when it started ([`crate::raft::StartupLog`]).
    pub fn new(
        core: Arc<BrokerCore>,
        proposer: Proposer,
        raft: Raft,
        startup: StartupLog,
        limits: Limits,
    ) -> Self {
        BrokerApi {
            core,
            proposer,
            raft,
            startup,
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Starts a process: registers it and enqueues its start task.
    pub async fn start_process(
        &self,
        req: StartProcessRequest,
    ) -> Result<StartProcessResponse, ApiError> {
        let idempotency_key = unique_key(&req)?;
        let start = TaskSpec {
            task_id: req.task_id.unwrap_or_else(TaskId::random),
            actor_id: req.actor_id,
            method: req.method,
            kind: TaskKind::DeciderStart,
            args: req.args,
            options: req.options,
        };
        self.limits.check_task(&start)?;
        if let Some(c) = &req.custom_id {
            if c.len() > self.limits.max_name_bytes {
                return Err(ApiError::invalid("custom_id is too long"));
            }
        }
        if let Some(k) = &req.idempotency_key {
            if k.is_empty() || k.len() > self.limits.max_name_bytes {
                return Err(ApiError::invalid(format!(
                    "idempotency_key must be 1 to {} bytes",
                    self.limits.max_name_bytes
                )));
            }
            if k.chars().any(char::is_control) {
                return Err(ApiError::invalid(
                    "idempotency_key must not contain control characters",
                ));
            }
        }
        let cmd = Command::StartProcess {
            now: Millis::now(),
            process_id: req.process_id.unwrap_or_else(ProcessId::random),
            custom_id: req.custom_id,
            idempotency_key,
            start,
        };
        match self.commit(cmd).await? {
            Reply::Started(r) => {
                tracing::debug!(process_id = %r.process_id, task_id = %r.task_id, "process started");
                Ok(r)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Hands out up to `max` ready tasks, waiting up to `wait_ms` for one to appear.
    pub async fn poll(&self, req: PollRequest) -> Result<PollResponse, ApiError> {
        let key = QueueKey::new(req.actor_id, req.task_list);
        let max = req.max.clamp(1, self.limits.max_poll_tasks) as usize;
        let wait = Duration::from_millis(req.wait_ms.min(self.limits.max_poll_wait_ms));
        let began = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + wait;
        let notify = self.core.waiter(&key);
        loop {
            self.require_leader()?;
            let notified = notify.notified();
            tokio::pin!(notified);
            // Register before looking, so a task enqueued in between still wakes us.
            notified.as_mut().enable();
            let now = Millis::now();
            let tasks = self
                .core
                .lease(&key, max, now, now.plus(self.limits.lease_ms));
            if !tasks.is_empty() {
                for t in &tasks {
                    tracing::debug!(task_id = %t.task_id, process_id = %t.process_id, actor = %t.actor_id, "task handed out");
                }
                self.core.metrics.record_poll(&key, &tasks, began.elapsed());
                return Ok(PollResponse { tasks });
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                self.core.metrics.record_poll(&key, &[], began.elapsed());
                return Ok(PollResponse::default());
            }
        }
    }

    /// Stores a decision. Idempotent by task id; fenced by delivery id (see
    /// [`fencing`]).
    pub async fn release(&self, mut decision: Decision) -> Result<ReleaseReceipt, ApiError> {
        self.limits.check_decision(&decision)?;
        // An already released task (or attempt) is answered first: a resend of the same
        // release is a duplicate even when a newer delivery holds the task now.
        let known = {
            let state = self.core.lock();
            match state.answer_without_log(&decision) {
                Some(answer) => Some(answer),
                None => {
                    decision.delivered_at = state.fence_release(&decision)?;
                    None
                }
            }
        };
        let result = match known {
            Some(answer) => answer,
            None => {
                let task_id = decision.task_id;
                let r = self
                    .proposer
                    .propose(Command::Release {
                        now: Millis::now(),
                        decision,
                    })
                    .await?;
                tracing::debug!(%task_id, ok = r.is_ok(), "decision committed");
                r
            }
        };
        match result? {
            Reply::Released(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Stores many decisions; they share log entries. Answers in the same order.
    pub async fn release_batch(&self, decisions: Vec<Decision>) -> ReleaseBatchResponse {
        let results =
            futures::future::join_all(decisions.into_iter().map(|d| self.release(d))).await;
        ReleaseBatchResponse {
            results: results
                .into_iter()
                .map(|r| match r {
                    Ok(receipt) => ReleaseResult::Receipt(receipt),
                    Err(e) => ReleaseResult::Error(e.body),
                })
                .collect(),
        }
    }

    /// A process with its tasks.
    pub async fn process(&self, id: ProcessId) -> Result<ProcessView, ApiError> {
        self.linearizable().await?;
        self.process_local(id)
    }

    /// A process as this node's replica has it, leader or not (no leadership check:
    /// for inspecting a follower, see `forward::LOCAL_READ_HEADER`).
    pub fn process_local(&self, id: ProcessId) -> Result<ProcessView, ApiError> {
        self.core
            .lock()
            .process_view(&id)
            .ok_or_else(|| ApiError::not_found("unknown_process", format!("unknown process {id}")))
    }

    /// One task.
    pub async fn task(&self, id: TaskId) -> Result<TaskView, ApiError> {
        self.linearizable().await?;
        self.task_local(id)
    }

    /// A task as this node's replica has it (see [`BrokerApi::process_local`]).
    pub fn task_local(&self, id: TaskId) -> Result<TaskView, ApiError> {
        self.core
            .lock()
            .task_view(&id)
            .ok_or_else(|| ApiError::not_found("unknown_task", format!("unknown task {id}")))
    }

    /// Every non-empty or blocked queue.
    pub fn queues(&self) -> Vec<QueueView> {
        self.core.lock().queue_views()
    }

    /// Blocks an actor (all its task lists, or one): its polls get nothing.
    pub async fn block(
        &self,
        actor_id: ActorId,
        task_list: Option<TaskList>,
    ) -> Result<bool, ApiError> {
        match self
            .commit(Command::BlockActor {
                actor_id,
                task_list,
            })
            .await?
        {
            Reply::Changed(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    /// Unblocks an actor.
    pub async fn unblock(
        &self,
        actor_id: ActorId,
        task_list: Option<TaskList>,
    ) -> Result<bool, ApiError> {
        match self
            .commit(Command::UnblockActor {
                actor_id,
                task_list,
            })
            .await?
        {
            Reply::Changed(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    /// Blocked actors: `(actor, None)` means every task list.
    pub fn blocked(&self) -> Vec<(ActorId, Option<TaskList>)> {
        self.core.lock().blocked()
    }

    /// The leader's node id, if one is known.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    /// Raft metrics summary for `/ready`.
    pub fn raft_status(&self) -> RaftStatus {
        let m = self.raft.metrics().borrow().clone();
        RaftStatus {
            node_id: m.id,
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            state: format!("{:?}", m.state),
        }
    }

    /// Whether this node leads and has caught up with its own term.
    pub fn is_serving_leader(&self) -> bool {
        crate::raft::is_serving_leader(&self.raft.metrics().borrow(), self.startup)
    }

    /// The state machine's sizes.
    pub fn counts(&self) -> crate::state_machine::Counts {
        self.core.lock().counts()
    }

    fn require_leader(&self) -> Result<(), ApiError> {
        let m = self.raft.metrics();
        let m = m.borrow();
        if crate::raft::is_serving_leader(&m, self.startup) {
            return Ok(());
        }
        if m.current_leader == Some(m.id) {
            return Err(ApiError::new(
                503,
                "no_leader",
                "this node was just elected and is applying the log; retry shortly",
            ));
        }
        let leader = m.current_leader.and_then(|id| {
            m.membership_config
                .membership()
                .get_node(&id)
                .map(|n| n.addr.clone())
        });
        Err(ApiError::new(
            503,
            "no_leader",
            match leader {
                Some(addr) => format!("this node is not the leader; the leader is at {addr}"),
                None => "no leader is known right now; retry shortly".into(),
            },
        ))
    }

    /// Confirms with a quorum that this node still leads and waits until it applied
    /// everything committed so far, so that a read sees every acknowledged write. A
    /// leader that was deposed without knowing it yet (a new one was elected while it
    /// still answered) would otherwise answer from a state that misses the newest
    /// starts: the chaos test saw such a 404 for a process whose start had been
    /// acknowledged. One heartbeat round trip; polls do not need it (a task handed out
    /// by a deposed leader is simply delivered again).
    ///
    /// openraft's read barrier is the leader's first entry of its term or its committed
    /// index, whichever is later; a leader that resumed its term after a restart may
    /// know a committed index older than writes it had acknowledged, so the read also
    /// waits until the node serves ([`crate::raft::is_serving_leader`]: every entry it
    /// held at startup applied).
    async fn linearizable(&self) -> Result<(), ApiError> {
        self.raft.ensure_linearizable().await.map_err(|e| {
            ApiError::new(
                503,
                "no_leader",
                format!("this node could not confirm it leads ({e}); retry shortly"),
            )
        })?;
        let startup = self.startup;
        self.raft
            .wait(Some(SERVING_WAIT))
            .metrics(
                |m| crate::raft::is_serving_leader(m, startup),
                "serving leader",
            )
            .await
            .map(|_| ())
            .map_err(|e| {
                ApiError::new(
                    503,
                    "no_leader",
                    format!("this node leads but has not applied the log it restarted with ({e}); retry shortly"),
                )
            })
    }

    async fn commit(&self, cmd: Command) -> Result<Reply, ApiError> {
        let r: CommandResult = self.proposer.propose(cmd).await?;
        Ok(r?)
    }
}

/// Raft status for readiness checks.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RaftStatus {
    pub node_id: u64,
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub state: String,
}

/// The key that makes a start idempotent: the caller's `idempotency_key`, or with
/// `unique_custom_id` the custom id in a namespace of its own (a control character
/// no caller's key may contain keeps the two from colliding).
fn unique_key(req: &StartProcessRequest) -> Result<Option<String>, ApiError> {
    if !req.unique_custom_id {
        return Ok(req.idempotency_key.clone());
    }
    if req.idempotency_key.is_some() {
        return Err(ApiError::invalid(
            "give either idempotency_key or unique_custom_id, not both",
        ));
    }
    match &req.custom_id {
        Some(c) if !c.is_empty() => Ok(Some(format!("\u{1}custom_id\u{1}{c}"))),
        _ => Err(ApiError::invalid(
            "unique_custom_id needs a non-empty custom_id",
        )),
    }
}

pub(crate) fn unexpected(r: Reply) -> ApiError {
    ApiError::new(500, "internal", format!("unexpected reply {r:?}"))
}
