//! Workers: actors that execute a method and return a value.
//!
//! [`Worker`] is the object-safe contract the runner dispatches to (the bootstrap
//! container holds `Arc<dyn Worker>`); [`WorkerBuilder`] is the pleasant way to make
//! one from typed async closures, one per method name.

mod typed;

pub use typed::{TypedWorker, WorkerBuilder};

use crate::{Args, TaskContext, TaskError};
use futures::future::BoxFuture;
use std::sync::Arc;
use suslik_broker::model::{ActorId, JsonValue};

/// An actor that executes worker tasks: a method name and arguments in, a JSON value
/// (or a [`TaskError`]) out.
pub trait Worker: Send + Sync + 'static {
    /// The actor this worker serves, `name#version`.
    fn actor_id(&self) -> ActorId;

    /// Executes `method` with `args`. An `Err` is released as the task's error (and
    /// retried if the task's retry policy says so); a panic is caught by the runner
    /// and released as an error of type `panic`.
    fn execute<'a>(
        &'a self,
        ctx: &'a TaskContext,
        method: &'a str,
        args: Args,
    ) -> BoxFuture<'a, Result<JsonValue, TaskError>>;
}

impl<W: Worker + ?Sized> Worker for Arc<W> {
    fn actor_id(&self) -> ActorId {
        (**self).actor_id()
    }

    fn execute<'a>(
        &'a self,
        ctx: &'a TaskContext,
        method: &'a str,
        args: Args,
    ) -> BoxFuture<'a, Result<JsonValue, TaskError>> {
        (**self).execute(ctx, method, args)
    }
}
