//! At-least-once delivery: a worker that dies holding a task does not lose it.
//!
//! The broker leases every task it hands out; a task not released before its lease
//! ends goes back to its queue and is delivered again. Here the first worker takes a
//! fan-out step and hangs forever on it, then is dropped (its pollers stop, the hung
//! execution never releases anything — as if the process had been killed). With a
//! short lease, a second worker gets the same task again and the process still ends
//! with the right sum.

use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use suslik_client::{
    ActorId, ActorRunner, Args, JsonValue, RunnerConfig, StartOptions, TaskContext, TaskError,
    TaskId, Worker,
};
use suslik_recipes::fanout;
use suslik_tests::{runner_config, Broker, PATIENCE};
use tokio::sync::Notify;

/// Every delivery each task got, as (attempt number the broker sent) per task.
#[derive(Clone, Default)]
struct Deliveries(Arc<Mutex<HashMap<TaskId, Vec<u32>>>>);

impl Deliveries {
    /// Records a delivery; returns how many deliveries were recorded in all before it.
    fn record(&self, ctx: &TaskContext) -> usize {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let before = map.values().map(Vec::len).sum();
        map.entry(ctx.task_id()).or_default().push(ctx.attempt());
        before
    }

    fn of(&self, id: TaskId) -> Vec<u32> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&id).cloned().unwrap_or_default()
    }
}

/// The fan-out worker, recording deliveries; when `hang_first`, the very first
/// delivery it sees never finishes.
struct Recording {
    inner: Arc<dyn Worker>,
    deliveries: Deliveries,
    hang_first: bool,
    hung: Arc<Notify>,
    hung_task: Arc<Mutex<Option<TaskId>>>,
}

impl Worker for Recording {
    fn actor_id(&self) -> ActorId {
        self.inner.actor_id()
    }

    fn execute<'a>(
        &'a self,
        ctx: &'a TaskContext,
        method: &'a str,
        args: Args,
    ) -> BoxFuture<'a, Result<JsonValue, TaskError>> {
        let before = self.deliveries.record(ctx);
        if self.hang_first && before == 0 {
            *self.hung_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(ctx.task_id());
            self.hung.notify_one();
            return Box::pin(futures::future::pending());
        }
        self.inner.execute(ctx, method, args)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_held_by_a_killed_worker_is_delivered_again_and_the_process_finishes(
) -> anyhow::Result<()> {
    let broker = Broker::start_with(|cfg| cfg.limits.lease_ms = 800).await?;
    let deciders = broker.runner().decider(fanout::decider()).start();
    let deliveries = Deliveries::default();
    let hung = Arc::new(Notify::new());
    let hung_task = Arc::new(Mutex::new(None));
    let one_task_at_a_time = RunnerConfig {
        pollers_per_actor: 1,
        max_tasks_per_poll: 1,
        ..runner_config()
    };
    let doomed = ActorRunner::new(broker.transport())
        .config(one_task_at_a_time)
        .worker(Recording {
            inner: fanout::worker(),
            deliveries: deliveries.clone(),
            hang_first: true,
            hung: hung.clone(),
            hung_task: hung_task.clone(),
        })
        .start();
    let processes = broker.processes();
    let result = async {
        let id = processes
            .start(fanout::DECIDER, fanout::START, (7,), StartOptions::new())
            .await?;
        hung.notified().await;
        let stuck = hung_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ok_or_else(|| anyhow::anyhow!("no hung task recorded"))?;
        // Kill the worker: its pollers stop and the hung execution never releases.
        drop(doomed);
        // Nobody has released it (whether its lease still runs is timing: unchecked).
        assert!(processes.task(stuck).await?.released_at.is_none());

        let rescuer = ActorRunner::new(broker.transport())
            .config(runner_config())
            .worker(Recording {
                inner: fanout::worker(),
                deliveries: deliveries.clone(),
                hang_first: false,
                hung: Arc::new(Notify::new()),
                hung_task: Arc::new(Mutex::new(None)),
            })
            .start();
        let sum = processes.wait_for_result::<i64>(id, PATIENCE).await;
        rescuer.shutdown().await;
        assert_eq!(sum?, fanout::expected(7));

        let seen = deliveries.of(stuck);
        // Twice at least: to the dead worker, then again once its lease ended (a
        // third delivery would only mean the rescuer was slower than a lease).
        assert!(
            seen.len() >= 2,
            "delivered to the dead worker, then again: {seen:?}"
        );
        // A lost lease is not a failed attempt: the retry count is untouched.
        assert!(seen.iter().all(|&attempt| attempt == 1), "{seen:?}");
        let view = processes.task(stuck).await?;
        assert!(!view.leased && view.released_at.is_some(), "{view:#?}");
        anyhow::Ok(())
    }
    .await;
    deciders.shutdown().await;
    broker.stop().await?;
    result
}
