//! What an actor method knows about the task it is executing, and the one thing it
//! can do about it: extend its lease with a heartbeat.
//!
//! Kept separate from the arguments so that methods that do not care can ignore it,
//! and cheap to clone (shared) so that typed closures can take it by value into
//! their `async move` blocks without lifetime gymnastics.

use crate::transport::Transport;
use crate::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use suslik_broker::api::HeartbeatRequest;
use suslik_broker::model::{
    ActorId, Delivery, DeliveryId, Millis, ProcessId, TaskId, TaskKind, TaskList,
};

/// The delivered task's identity and delivery facts. Cheap to clone.
#[derive(Clone)]
pub struct TaskContext {
    inner: Arc<Info>,
    /// The broker that delivered the task, for heartbeats (none in unit tests).
    transport: Option<Arc<dyn Transport>>,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("info", &self.inner)
            .field("connected", &self.transport.is_some())
            .finish()
    }
}

#[derive(Debug)]
struct Info {
    task_id: TaskId,
    process_id: ProcessId,
    actor_id: ActorId,
    task_list: TaskList,
    method: String,
    kind: TaskKind,
    attempt: u32,
    delivery_id: DeliveryId,
    delivered_at: Millis,
    /// The lease's end in broker time; heartbeats move it.
    lease_until: AtomicU64,
}

impl TaskContext {
    /// The context of a delivery (arguments aside), without a broker connection:
    /// [`heartbeat`](Self::heartbeat) fails until [`with_transport`](Self::with_transport).
    pub fn from_delivery(d: &Delivery) -> Self {
        TaskContext {
            inner: Arc::new(Info {
                task_id: d.task_id,
                process_id: d.process_id,
                actor_id: d.actor_id.clone(),
                task_list: d.task_list.clone(),
                method: d.method.clone(),
                kind: d.kind,
                attempt: d.attempt,
                delivery_id: d.delivery_id,
                delivered_at: d.delivered_at,
                lease_until: AtomicU64::new(d.lease_until.0),
            }),
            transport: None,
        }
    }

    /// This context, heartbeating through `transport` (the runner attaches the
    /// transport that delivered the task).
    pub fn with_transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// A context for calling an actor directly in a unit test: fresh ids, first
    /// attempt, default task list, a lease a minute from now, no broker connection.
    pub fn for_test(actor_id: ActorId, method: &str, kind: TaskKind) -> Self {
        let now = Millis::now();
        TaskContext {
            inner: Arc::new(Info {
                task_id: TaskId::random(),
                process_id: ProcessId::random(),
                actor_id,
                task_list: TaskList::default_list(),
                method: method.to_string(),
                kind,
                attempt: 1,
                delivery_id: DeliveryId::random(),
                delivered_at: now,
                lease_until: AtomicU64::new(now.plus(60_000).0),
            }),
            transport: None,
        }
    }

    /// The task being executed.
    pub fn task_id(&self) -> TaskId {
        self.inner.task_id
    }

    /// The process the task belongs to.
    pub fn process_id(&self) -> ProcessId {
        self.inner.process_id
    }

    /// The actor executing it (this actor).
    pub fn actor_id(&self) -> &ActorId {
        &self.inner.actor_id
    }

    /// The task list it was polled from.
    pub fn task_list(&self) -> &TaskList {
        &self.inner.task_list
    }

    /// The method called.
    pub fn method(&self) -> &str {
        &self.inner.method
    }

    /// Start task of a process, decider step, or worker task.
    pub fn kind(&self) -> TaskKind {
        self.inner.kind
    }

    /// 1 on the first attempt, 2 on the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// This delivery's id: releases and heartbeats carry it.
    pub fn delivery_id(&self) -> DeliveryId {
        self.inner.delivery_id
    }

    /// When the broker handed the task out (broker clock).
    pub fn delivered_at(&self) -> Millis {
        self.inner.delivered_at
    }

    /// The broker hands the task to someone else if it is not released (or its lease
    /// extended) by then. Heartbeats move it.
    pub fn lease_until(&self) -> Millis {
        Millis(self.inner.lease_until.load(Ordering::Relaxed))
    }

    /// Same as [`lease_until`](Self::lease_until): the deadline to release by or to
    /// heartbeat before.
    pub fn deadline(&self) -> Millis {
        self.lease_until()
    }

    /// The lease length the broker gave this delivery.
    pub fn lease_length(&self) -> Duration {
        self.inner.delivered_at.until(Millis(
            self.inner
                .lease_until
                .load(Ordering::Relaxed)
                .max(self.inner.delivered_at.0),
        ))
    }

    /// Tells the broker this task is still being worked on: extends its lease by the
    /// broker's lease length (never past the task's timeout). Returns the new deadline.
    ///
    /// Fails with [`Error::Rejected`] code `stale_delivery` or `not_leased` once the
    /// task is no longer this delivery's (its lease ran out and it was handed out
    /// again, it timed out, or it was released): stop working on it then.
    pub async fn heartbeat(&self) -> Result<Millis> {
        self.send_heartbeat(None).await
    }

    /// [`heartbeat`](Self::heartbeat) asking for `extend` from now (capped by the
    /// broker's limit and the task's timeout).
    pub async fn heartbeat_for(&self, extend: Duration) -> Result<Millis> {
        self.send_heartbeat(Some(u64::try_from(extend.as_millis()).unwrap_or(u64::MAX)))
            .await
    }

    async fn send_heartbeat(&self, extend_ms: Option<u64>) -> Result<Millis> {
        let transport = self.transport.as_ref().ok_or_else(|| {
            Error::Invalid("this task context has no broker connection to heartbeat to".into())
        })?;
        let req = HeartbeatRequest {
            delivery_id: self.inner.delivery_id,
            extend_ms,
        };
        let until = transport
            .heartbeat(self.inner.task_id, req)
            .await?
            .lease_until;
        self.inner.lease_until.fetch_max(until.0, Ordering::Relaxed);
        Ok(until)
    }
}
