//! Worker and decider decorators that time each execution for a [`Profiler`].
//!
//! A panicking actor is reported as a failed execution and the panic is then
//! resumed, so the SDK still turns it into an error release of type `panic` with the
//! original message.

use super::Profiler;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;
use suslik_client::{
    Actor, ActorId, Args, Decider, DeciderContext, DeciderOutput, JsonValue, TaskContext,
    TaskError, Worker,
};

/// Wraps an actor of either kind.
pub fn profiled_actor(actor: Actor, profiler: Arc<dyn Profiler>) -> Actor {
    match actor {
        Actor::Worker(inner) => Actor::Worker(Arc::new(ProfiledWorker { inner, profiler })),
        Actor::Decider(inner) => Actor::Decider(Arc::new(ProfiledDecider { inner, profiler })),
    }
}

/// A [`Worker`] that reports each execution to a [`Profiler`].
pub struct ProfiledWorker {
    inner: Arc<dyn Worker>,
    profiler: Arc<dyn Profiler>,
}

impl ProfiledWorker {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Worker>, profiler: Arc<dyn Profiler>) -> Self {
        ProfiledWorker { inner, profiler }
    }
}

impl Worker for ProfiledWorker {
    fn actor_id(&self) -> ActorId {
        self.inner.actor_id()
    }

    fn execute<'a>(
        &'a self,
        ctx: &'a TaskContext,
        method: &'a str,
        args: Args,
    ) -> BoxFuture<'a, Result<JsonValue, TaskError>> {
        timed(&*self.profiler, self.inner.actor_id(), method, || {
            self.inner.execute(ctx, method, args)
        })
    }
}

/// A [`Decider`] that reports each execution to a [`Profiler`].
pub struct ProfiledDecider {
    inner: Arc<dyn Decider>,
    profiler: Arc<dyn Profiler>,
}

impl ProfiledDecider {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Decider>, profiler: Arc<dyn Profiler>) -> Self {
        ProfiledDecider { inner, profiler }
    }
}

impl Decider for ProfiledDecider {
    fn actor_id(&self) -> ActorId {
        self.inner.actor_id()
    }

    fn retry_policies(&self) -> Option<Arc<suslik_client::RetryPolicies>> {
        self.inner.retry_policies()
    }

    fn decide<'a>(
        &'a self,
        ctx: DeciderContext,
        method: &'a str,
        args: Args,
    ) -> BoxFuture<'a, Result<DeciderOutput, TaskError>> {
        timed(&*self.profiler, self.inner.actor_id(), method, || {
            self.inner.decide(ctx, method, args)
        })
    }
}

/// Runs `make()` and its future, reporting the time and the outcome; panics are
/// reported as failures and resumed.
fn timed<'a, T: Send + 'a>(
    profiler: &'a dyn Profiler,
    actor: ActorId,
    method: &'a str,
    make: impl FnOnce() -> BoxFuture<'a, Result<T, TaskError>>,
) -> BoxFuture<'a, Result<T, TaskError>> {
    let started = Instant::now();
    let fut = match catch_unwind(AssertUnwindSafe(make)) {
        Ok(fut) => fut,
        Err(payload) => {
            profiler.on_execute(&actor, method, started.elapsed(), false);
            resume_unwind(payload)
        }
    };
    Box::pin(async move {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(result) => {
                profiler.on_execute(&actor, method, started.elapsed(), result.is_ok());
                result
            }
            Err(payload) => {
                profiler.on_execute(&actor, method, started.elapsed(), false);
                resume_unwind(payload)
            }
        }
    })
}
