//! Building a [`Worker`] from typed async closures.
//!
//! Each method is a closure taking its decoded arguments (see [`Args::decode`]) and
//! returning a future of `Result<R, TaskError>` with `R: Serialize`. Closures are
//! stored type-erased, keyed by method name, so one worker type serves any number of
//! methods with different signatures. The context and arguments are passed by value,
//! which keeps the closures `'static` and free of higher-ranked lifetimes.

use super::Worker;
use crate::task_error::{INVALID_RESULT, UNKNOWN_METHOD};
use crate::{Args, Error, IntoActorId, Result, TaskContext, TaskError};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use suslik_broker::model::{ActorId, JsonValue};

type Handler = Arc<
    dyn Fn(TaskContext, Args) -> BoxFuture<'static, Result<JsonValue, TaskError>> + Send + Sync,
>;

/// Collects typed methods into a [`TypedWorker`].
///
/// ```
/// use suslik_client::{TaskError, WorkerBuilder};
///
/// let calc = WorkerBuilder::new("calc#1")
///     .method("add", |(a, b): (i64, i64)| async move { Ok(a + b) })
///     .method("div", |(a, b): (i64, i64)| async move {
///         if b == 0 {
///             return Err(TaskError::new("calc.DivByZero", "b is zero"));
///         }
///         Ok(a / b)
///     })
///     .method("parse", |s: String| async move { Ok(s.parse::<i64>()?) }) // `?` on any std error
///     .build()
///     .expect("valid actor id");
/// ```
pub struct WorkerBuilder {
    actor: Result<ActorId>,
    methods: HashMap<String, Handler>,
}

impl WorkerBuilder {
    /// Starts a worker for actor `name#version`. A malformed id is reported by
    /// [`build`](Self::build).
    pub fn new(actor: impl IntoActorId) -> Self {
        WorkerBuilder {
            actor: actor.into_actor_id().map_err(Error::from),
            methods: HashMap::new(),
        }
    }

    /// Adds method `name`, taking its decoded arguments `A`.
    pub fn method<A, R, F, Fut>(self, name: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, TaskError>> + Send + 'static,
    {
        self.method_with_context(name, move |_ctx: TaskContext, a: A| f(a))
    }

    /// Adds method `name`, taking the task's context and its decoded arguments `A`.
    pub fn method_with_context<A, R, F, Fut>(mut self, name: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize,
        F: Fn(TaskContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, TaskError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |ctx: TaskContext, args: Args| {
            let decoded = args.decode::<A>();
            let fut = decoded.map(|a| f(ctx, a));
            Box::pin(async move {
                let value = fut?.await?;
                JsonValue::from_serialize(&value)
                    .map_err(|e| TaskError::new(INVALID_RESULT, e.to_string()))
            })
        });
        self.methods.insert(name.to_string(), handler);
        self
    }

    /// The worker, or the error of a malformed actor id.
    pub fn build(self) -> Result<TypedWorker> {
        Ok(TypedWorker {
            actor: self.actor?,
            methods: self.methods,
        })
    }
}

/// A [`Worker`] made of typed closures by [`WorkerBuilder`].
pub struct TypedWorker {
    actor: ActorId,
    methods: HashMap<String, Handler>,
}

impl TypedWorker {
    /// The method names it serves.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.methods.keys().map(String::as_str)
    }
}

impl Worker for TypedWorker {
    fn actor_id(&self) -> ActorId {
        self.actor.clone()
    }

    fn execute<'a>(
        &'a self,
        ctx: &'a TaskContext,
        method: &'a str,
        args: Args,
    ) -> BoxFuture<'a, Result<JsonValue, TaskError>> {
        match self.methods.get(method) {
            Some(h) => h(ctx.clone(), args),
            None => {
                let err = TaskError::new(
                    UNKNOWN_METHOD,
                    format!("actor {} has no method {method:?}", self.actor),
                );
                Box::pin(async move { Err(err) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suslik_broker::model::{ResolvedArg, TaskKind};

    fn args(texts: &[&str]) -> Args {
        Args::new(
            texts
                .iter()
                .filter_map(|t| JsonValue::from_text(t).ok().map(ResolvedArg::Value))
                .collect(),
        )
    }

    #[tokio::test]
    async fn dispatches_by_method_with_typed_arguments() {
        let w = WorkerBuilder::new("calc#1")
            .method("add", |(a, b): (i64, i64)| async move { Ok(a + b) })
            .method_with_context("who", |ctx: TaskContext, (): ()| async move {
                Ok(ctx.actor_id().to_string())
            })
            .build()
            .expect("valid");
        let ctx = TaskContext::for_test(w.actor_id(), "add", TaskKind::Worker);
        let sum = w
            .execute(&ctx, "add", args(&["2", "3"]))
            .await
            .map(|v| v.to_string());
        assert_eq!(sum.ok().as_deref(), Some("5"));
        let who = w
            .execute(&ctx, "who", args(&[]))
            .await
            .map(|v| v.to_string());
        assert_eq!(who.ok().as_deref(), Some("\"calc#1\""));
        let bad = w.execute(&ctx, "add", args(&["\"x\"", "3"])).await;
        assert_eq!(
            bad.err().map(|e| e.error_type().to_string()).as_deref(),
            Some(crate::task_error::INVALID_ARGUMENTS)
        );
        let missing = w.execute(&ctx, "mul", args(&[])).await;
        assert_eq!(
            missing.err().map(|e| e.error_type().to_string()).as_deref(),
            Some(UNKNOWN_METHOD)
        );
    }

    #[test]
    fn a_bad_actor_id_is_reported_by_build() {
        assert!(matches!(
            WorkerBuilder::new("no-version").build(),
            Err(Error::InvalidId(_))
        ));
    }
}
