//! Suslik SDK: write workers and deciders, start processes, run actors.
//!
//! Suslik follows Taskurotta's model. A **process** starts with a task on a
//! **decider**. A decider does no work itself: it calls **workers** (and itself),
//! each call returning a [`Promise`] at once, wires promises into the arguments of
//! further calls, and replies with a value or a promise. The broker stores the
//! resulting promise graph and hands a task out only when the promises it waits for
//! have resolved. Workers poll for tasks, execute them and release the results.
//!
//! The pieces, one module each:
//! - [`WorkerBuilder`] / [`Worker`]: typed async methods of a worker actor;
//! - [`DeciderBuilder`] / [`Decider`] with [`DeciderContext`], [`Promise`],
//!   [`CallOptions`]: decider logic;
//! - [`ActorRunner`]: poll → execute → release loops with a graceful stop;
//! - [`ProcessClient`]: start processes, wait for their results;
//! - [`transport`]: [`HttpTransport`] (a cluster, with failover) or
//!   [`InProcessTransport`] (a broker in this process).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use suslik_client::*;
//!
//! # async fn demo() -> Result<()> {
//! let greeter = WorkerBuilder::new("greeter#1")
//!     .method("greet", |name: String| async move { Ok(format!("Hello, {name}!")) })
//!     .build()?;
//! let hello = DeciderBuilder::new("hello#1")
//!     .method("start", |ctx: DeciderContext, name: String| async move {
//!         let greeting: Promise<String> = ctx.call("greeter#1", "greet", (name,), CallOptions::new());
//!         Ok(greeting) // the process's result is the worker's result
//!     })
//!     .build()?;
//!
//! let transport = HttpTransport::new(["127.0.0.1:7070", "127.0.0.1:7071"])?;
//! let runner = ActorRunner::new(transport.clone()).worker(greeter).decider(hello).start();
//! let processes = ProcessClient::new(transport);
//! let id = processes.start("hello#1", "start", ("Suslik",), StartOptions::new()).await?;
//! let text: String = processes.wait_for_result(id, Duration::from_secs(10)).await?;
//! assert_eq!(text, "Hello, Suslik!");
//! runner.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Wire types ([`ActorId`], [`TaskId`], [`ErrorInfo`], ...) are the broker's own,
//! re-exported from `suslik_broker::model` so both ends agree by construction.

#![warn(missing_docs)]

mod actor;
mod actor_ref;
mod args;
mod context;
mod decider;
mod error;
mod heartbeat;
mod into_arg;
mod marker;
mod options;
mod process;
mod promise;
mod runner;
mod task_error;
pub mod transport;
mod worker;

pub use actor::Actor;
pub use actor_ref::IntoActorId;
pub use args::Args;
pub use context::TaskContext;
pub use decider::{
    Decider, DeciderBuilder, DeciderContext, DeciderOutput, IntoDeciderOutput, RetryPolicies,
    TypedDecider,
};
pub use error::{Error, Result};
pub use into_arg::{IntoArg, IntoArgs, RawArg};
pub use options::CallOptions;
pub use process::{ProcessClient, StartOptions};
pub use promise::{NoWait, Promise};
pub use runner::{ActorRunner, RunnerConfig, RunnerHandle, RunnerStats};
pub use task_error::TaskError;
pub use transport::{HttpConfig, HttpTransport, InProcessTransport, Transport, TransportWrapper};
pub use worker::{TypedWorker, Worker, WorkerBuilder};

/// Error types the SDK itself releases tasks with.
pub mod error_types {
    pub use crate::task_error::{
        INVALID_ARGUMENTS, INVALID_DECISION, INVALID_RESULT, PANIC, PROMISE_NOT_READY,
        UNKNOWN_METHOD,
    };
    /// A task not released within its [`crate::CallOptions::timeout`].
    pub use suslik_broker::state_machine::TIMEOUT_ERROR as TIMEOUT;
}

pub use suslik_broker::model::history::{EventKind, HistoryEvent};
pub use suslik_broker::model::ops::AbortAnswer;
pub use suslik_broker::model::schedule::{CreateSchedule, Schedule, ScheduleStart};
pub use suslik_broker::model::{
    ActorId, DeliveryId, ErrorInfo, JsonValue, Millis, ProcessId, ProcessState, RetryKind,
    RetryPolicy, TaskId, TaskKind, TaskList,
};
