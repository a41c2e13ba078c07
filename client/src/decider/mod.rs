//! Deciders: actors that coordinate work by spawning tasks and wiring promises.
//!
//! A decider method runs quickly and does no work itself: through a
//! [`DeciderContext`] it records calls to workers (each returning a [`Promise`] at
//! once), passes promises as arguments of further calls, and replies with a value or
//! with the promise of one. The runner turns all of that into one release: the
//! recorded [`TaskSpec`](suslik_broker::model::TaskSpec)s plus the outcome. The broker
//! then runs each spawned task as soon as the promises it waits for resolve.
//!
//! To continue once some promises resolve (Taskurotta's `@Asynchronous`), a decider
//! calls one of its own methods with [`DeciderContext::call_self`]; that method
//! receives the promises resolved.

mod context;
mod output;
mod retry_policies;
mod typed;

pub use context::DeciderContext;
pub use output::{DeciderOutput, IntoDeciderOutput};
pub use retry_policies::RetryPolicies;
pub use typed::{DeciderBuilder, TypedDecider};

use crate::{Args, TaskError};
use futures::future::BoxFuture;
use std::sync::Arc;
use suslik_broker::model::ActorId;

#[cfg(doc)]
use crate::Promise;

/// An actor that executes decider tasks (process starts and decider steps).
pub trait Decider: Send + Sync + 'static {
    /// The actor this decider serves, `name#version`.
    fn actor_id(&self) -> ActorId;

    /// Retry policies of the actor methods this decider calls, applied to every call
    /// that names none in its [`crate::CallOptions`]. None by default.
    fn retry_policies(&self) -> Option<Arc<RetryPolicies>> {
        None
    }

    /// Runs `method` with `args`, recording calls on `ctx`, and replies with the
    /// method's result. On `Err` the recorded calls are discarded and the error is
    /// released as the task's outcome.
    fn decide<'a>(
        &'a self,
        ctx: DeciderContext,
        method: &'a str,
        args: Args,
    ) -> BoxFuture<'a, Result<DeciderOutput, TaskError>>;
}

impl<D: Decider + ?Sized> Decider for Arc<D> {
    fn actor_id(&self) -> ActorId {
        (**self).actor_id()
    }

    fn retry_policies(&self) -> Option<Arc<RetryPolicies>> {
        (**self).retry_policies()
    }

    fn decide<'a>(
        &'a self,
        ctx: DeciderContext,
        method: &'a str,
        args: Args,
    ) -> BoxFuture<'a, Result<DeciderOutput, TaskError>> {
        (**self).decide(ctx, method, args)
    }
}
