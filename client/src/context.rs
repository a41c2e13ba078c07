//! What an actor method knows about the task it is executing.
//!
//! Kept separate from the arguments so that methods that do not care can ignore it,
//! and cheap to clone (shared) so that typed closures can take it by value into
//! their `async move` blocks without lifetime gymnastics.

use std::sync::Arc;
use suslik_broker::model::{ActorId, Delivery, Millis, ProcessId, TaskId, TaskKind, TaskList};

/// The delivered task's identity and delivery facts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TaskContext {
    inner: Arc<Info>,
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
    lease_until: Millis,
}

impl TaskContext {
    /// The context of a delivery (arguments aside).
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
                lease_until: d.lease_until,
            }),
        }
    }

    /// A context for calling an actor directly in a unit test: fresh ids, first
    /// attempt, default task list, a lease a minute from now.
    pub fn for_test(actor_id: ActorId, method: &str, kind: TaskKind) -> Self {
        TaskContext {
            inner: Arc::new(Info {
                task_id: TaskId::random(),
                process_id: ProcessId::random(),
                actor_id,
                task_list: TaskList::default_list(),
                method: method.to_string(),
                kind,
                attempt: 1,
                lease_until: Millis::now().plus(60_000),
            }),
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

    /// The broker hands the task to someone else if it is not released by then.
    pub fn lease_until(&self) -> Millis {
        self.inner.lease_until
    }
}
