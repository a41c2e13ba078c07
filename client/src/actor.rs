//! From a delivery to a release: running one task on a worker or a decider.
//!
//! This is the one place that knows how a delivered task becomes a [`Decision`]: it
//! builds the context, calls the actor, converts the reply (or the error, or a panic)
//! into an outcome, and measures the execution time. The runner calls it in its poll
//! loops; a container with its own loops (the bootstrap) can call it directly.

use crate::heartbeat;
use crate::task_error::PANIC;
use crate::transport::Transport;
use crate::{Args, Decider, DeciderContext, TaskContext, TaskError, Worker};
use futures::FutureExt;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;
use suslik_broker::model::{ActorId, Decision, Delivery, Outcome};

/// A worker or a decider, as the runner holds it. Cheap to clone.
#[derive(Clone)]
pub enum Actor {
    /// Executes worker tasks.
    Worker(Arc<dyn Worker>),
    /// Executes decider tasks.
    Decider(Arc<dyn Decider>),
}

impl Actor {
    /// Wraps a worker.
    pub fn worker(w: impl Worker) -> Self {
        Actor::Worker(Arc::new(w))
    }

    /// Wraps a decider.
    pub fn decider(d: impl Decider) -> Self {
        Actor::Decider(Arc::new(d))
    }

    /// The actor's id.
    pub fn actor_id(&self) -> ActorId {
        match self {
            Actor::Worker(w) => w.actor_id(),
            Actor::Decider(d) => d.actor_id(),
        }
    }

    /// Executes one delivered task and returns its release. Never fails and never
    /// panics: actor errors and panics become error outcomes. The task's context has
    /// no broker connection (its heartbeats fail); the runner uses
    /// [`execute_connected`](Self::execute_connected).
    pub async fn execute(&self, delivery: Delivery) -> Decision {
        let ctx = TaskContext::from_delivery(&delivery);
        self.run(ctx, delivery, false).await
    }

    /// [`execute`](Self::execute) with the task's context heartbeating through
    /// `transport`; with `auto_heartbeat`, heartbeats are also sent for the method
    /// while it runs (see [`RunnerConfig::auto_heartbeat`](crate::RunnerConfig::auto_heartbeat)).
    pub async fn execute_connected(
        &self,
        delivery: Delivery,
        transport: Arc<dyn Transport>,
        auto_heartbeat: bool,
    ) -> Decision {
        let ctx = TaskContext::from_delivery(&delivery).with_transport(transport);
        self.run(ctx, delivery, auto_heartbeat).await
    }

    async fn run(&self, ctx: TaskContext, delivery: Delivery, auto_heartbeat: bool) -> Decision {
        let started = Instant::now();
        let args = Args::new(delivery.args);
        let method = delivery.method;
        let elapsed = || Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        match self {
            Actor::Worker(w) => {
                let work = guarded(|| w.execute(&ctx, &method, args));
                let result = if auto_heartbeat {
                    heartbeat::while_running(&ctx, work).await
                } else {
                    work.await
                };
                let (outcome, restart_at) = match result {
                    Ok(v) => (Outcome::Value(v), None),
                    Err(e) => {
                        let (info, retry) = e.into_parts();
                        (Outcome::Error(info), retry)
                    }
                };
                Decision {
                    task_id: ctx.task_id(),
                    process_id: Some(ctx.process_id()),
                    outcome,
                    tasks: Vec::new(),
                    restart_at,
                    execution_ms: elapsed(),
                    attempt: Some(ctx.attempt()),
                    delivery_id: Some(ctx.delivery_id()),
                    delivered_at: None,
                }
            }
            Actor::Decider(d) => {
                let dctx = DeciderContext::new(ctx.clone()).with_retry_policies(d.retry_policies());
                let work = guarded(|| d.decide(dctx.clone(), &method, args));
                let reply = if auto_heartbeat {
                    heartbeat::while_running(&ctx, work).await
                } else {
                    work.await
                };
                dctx.into_decision(reply, elapsed())
            }
        }
    }
}

/// Runs an actor call, turning a panic — while creating the future or while polling
/// it — into an error of type `panic`.
async fn guarded<'a, T, F>(make: F) -> Result<T, TaskError>
where
    F: FnOnce() -> futures::future::BoxFuture<'a, Result<T, TaskError>>,
{
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(make)) {
        Ok(fut) => fut,
        Err(payload) => return Err(panic_error(payload.as_ref())),
    };
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(panic_error(payload.as_ref())),
    }
}

fn panic_error(payload: &(dyn Any + Send)) -> TaskError {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    };
    TaskError::new(PANIC, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeciderBuilder, WorkerBuilder};
    use suslik_broker::model::{
        JsonValue, Millis, ProcessId, ResolvedArg, TaskId, TaskKind, TaskList,
    };

    fn delivery(actor: &str, method: &str, kind: TaskKind, args: &[&str]) -> Delivery {
        Delivery {
            task_id: TaskId::random(),
            process_id: ProcessId::random(),
            actor_id: ActorId::new(actor).expect("valid"),
            task_list: TaskList::default_list(),
            method: method.into(),
            kind,
            args: args
                .iter()
                .filter_map(|t| JsonValue::from_text(t).ok().map(ResolvedArg::Value))
                .collect(),
            attempt: 1,
            lease_until: Millis::now().plus(60_000),
            delivery_id: suslik_broker::model::DeliveryId::random(),
            delivered_at: Millis::now(),
        }
    }

    #[tokio::test]
    async fn worker_results_errors_and_panics_become_outcomes() {
        let w = Actor::worker(
            WorkerBuilder::new("w#1")
                .method("ok", |x: i64| async move { Ok(x * 2) })
                .method("fail", |(): ()| async move {
                    Err::<(), _>(TaskError::new("biz.Nope", "no").retry_at(Millis(9)))
                })
                .method("boom", |(): ()| async move {
                    if Millis::now().0 > 0 {
                        panic!("kaput");
                    }
                    Ok(())
                })
                .build()
                .expect("valid"),
        );
        let d = delivery("w#1", "ok", TaskKind::Worker, &["21"]);
        let id = d.task_id;
        let ok = w.execute(d).await;
        assert_eq!(ok.task_id, id);
        assert_eq!(
            ok.outcome,
            Outcome::Value(JsonValue::from_text("42").expect("json"))
        );
        assert!(ok.execution_ms.is_some());

        let fail = w
            .execute(delivery("w#1", "fail", TaskKind::Worker, &[]))
            .await;
        assert!(matches!(fail.outcome, Outcome::Error(ref e) if e.error_type == "biz.Nope"));
        assert_eq!(fail.restart_at, Some(Millis(9)));

        let boom = w
            .execute(delivery("w#1", "boom", TaskKind::Worker, &[]))
            .await;
        assert!(
            matches!(boom.outcome, Outcome::Error(ref e) if e.error_type == PANIC && e.message == "kaput")
        );
    }

    struct SyncPanic;
    impl Worker for SyncPanic {
        fn actor_id(&self) -> ActorId {
            ActorId::new("p#1").expect("valid")
        }
        fn execute<'a>(
            &'a self,
            _ctx: &'a TaskContext,
            method: &'a str,
            _args: Args,
        ) -> futures::future::BoxFuture<'a, Result<JsonValue, TaskError>> {
            panic!("before the future: {method}")
        }
    }

    #[tokio::test]
    async fn a_panic_before_the_future_exists_is_caught_too() {
        let d = Actor::worker(SyncPanic)
            .execute(delivery("p#1", "m", TaskKind::Worker, &[]))
            .await;
        assert!(matches!(d.outcome, Outcome::Error(ref e) if e.message == "before the future: m"));
    }

    #[tokio::test]
    async fn decider_panics_drop_recorded_tasks() {
        let a = Actor::decider(
            DeciderBuilder::new("d#1")
                .method("start", |ctx: DeciderContext, (): ()| async move {
                    let _p: crate::Promise<i64> =
                        ctx.call("w#1", "ok", (1,), crate::CallOptions::new());
                    if Millis::now().0 > 0 {
                        std::panic::panic_any(String::from("owned message"));
                    }
                    Ok(())
                })
                .build()
                .expect("valid"),
        );
        let d = a
            .execute(delivery("d#1", "start", TaskKind::DeciderStart, &[]))
            .await;
        assert!(d.tasks.is_empty());
        assert!(
            matches!(d.outcome, Outcome::Error(ref e) if e.error_type == PANIC && e.message == "owned message")
        );
    }
}
