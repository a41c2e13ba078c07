//! Graceful shutdown: a runner asked to stop lets the task it is executing finish
//! and releases it before `shutdown` returns, so nothing is left leased for the
//! broker to hand out again later.

use std::sync::Arc;
use std::time::Duration;
use suslik_broker::model::wire::TaskStatus;
use suslik_client::{
    CallOptions, DeciderBuilder, DeciderContext, ProcessState, StartOptions, WorkerBuilder,
};
use suslik_tests::Broker;
use tokio::sync::Notify;

const SLOW: &str = "tests.shutdown.Slow#1";
const DECIDER: &str = "tests.shutdown.Decider#1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_releases_the_task_in_flight() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let started = Arc::new(Notify::new());
    let signal = started.clone();
    let slow = WorkerBuilder::new(SLOW)
        .method("work", move |ms: u64| {
            let signal = signal.clone();
            async move {
                signal.notify_one();
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(ms * 2)
            }
        })
        .build()?;
    let decider = DeciderBuilder::new(DECIDER)
        .method("start", |ctx: DeciderContext, ms: u64| async move {
            Ok(ctx.call::<u64>(SLOW, "work", (ms,), CallOptions::new()))
        })
        .build()?;
    let deciders = broker.runner().decider(decider).start();
    let workers = broker.runner().worker(slow).start();
    let processes = broker.processes();
    let result = async {
        let id = processes
            .start(DECIDER, "start", (300u64,), StartOptions::new())
            .await?;
        started.notified().await;
        let stats = workers.stats();
        assert_eq!(
            (stats.received, stats.released),
            (1, 0),
            "mid-task: {stats:?}"
        );

        workers.shutdown().await;

        // No waiting: the release reached the broker before shutdown returned.
        let view = processes.state(id).await?;
        assert_eq!(view.state, ProcessState::Finished, "{view:#?}");
        assert_eq!(
            view.result.map(|v| v.decode::<u64>()).transpose()?,
            Some(600)
        );
        let work = view
            .tasks
            .iter()
            .find(|t| t.actor_id.as_str() == SLOW)
            .ok_or_else(|| anyhow::anyhow!("no worker task"))?;
        assert_eq!(work.status, TaskStatus::Released, "{work:#?}");
        assert!(view.tasks.iter().all(|t| !t.leased), "{:#?}", view.tasks);
        let task = processes.task(work.task_id).await?;
        assert!(!task.leased && task.released_at.is_some(), "{task:#?}");
        anyhow::Ok(())
    }
    .await;
    deciders.shutdown().await;
    broker.stop().await?;
    result
}
