//! `heartbeat`: a long worker task that keeps its lease with heartbeats.
//!
//! Taskurotta's `updateTaskTimeout`. The broker leases a handed-out task for a while
//! (`--lease-ms`) and hands it out again if it is not released by then, so a task that
//! works longer than the lease would run twice. The cruncher works in chunks and calls
//! [`TaskContext::heartbeat`] after each one: every heartbeat extends the lease of
//! *this* delivery, so the task is never handed to anyone else while it works, however
//! many leases that takes. (A container can do this automatically for any method:
//! `RunnerConfig::auto_heartbeat`, on in the bootstrap container.)
//!
//! The cruncher counts how many times it was handed each task, and reports it: `1`
//! shows the task was not delivered again.

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise,
    StartOptions, TaskContext, TaskError, TaskId, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str =
    "a long worker task heartbeating after each chunk of work, never handed out twice";
/// The decider; start its processes with method [`START`] and a [`Job`].
pub const DECIDER: &str = "recipes.heartbeat.Batch#1";
/// The worker: `crunch(job) -> Crunched`.
pub const CRUNCHER: &str = "recipes.heartbeat.Cruncher#1";
/// The decider's start method: `start(job: Job) -> Crunched`.
pub const START: &str = "start";

/// A long job: `chunks` pieces of `chunk_ms` each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Pieces of work.
    pub chunks: u32,
    /// How long each piece takes.
    pub chunk_ms: u64,
}

/// What the cruncher reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crunched {
    /// Pieces done.
    pub chunks: u32,
    /// Heartbeats the broker accepted.
    pub heartbeats: u32,
    /// Times this worker was handed the task (1: never delivered again).
    pub executions: u32,
}

/// What a job should end with.
pub fn expected(job: &Job) -> Crunched {
    Crunched {
        chunks: job.chunks,
        heartbeats: job.chunks,
        executions: 1,
    }
}

/// The worker: `crunch(job)` works chunk by chunk, heartbeating after each.
pub fn cruncher() -> Arc<dyn Worker> {
    let handed: Arc<Mutex<HashMap<TaskId, u32>>> = Arc::default();
    let count = move |task: TaskId, delta: i32| -> u32 {
        let mut m = handed.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(task).or_default();
        *n = n.saturating_add_signed(delta);
        let now = *n;
        if now == 0 {
            m.remove(&task);
        }
        now
    };
    actors::worker(WorkerBuilder::new(CRUNCHER).method_with_context(
        "crunch",
        move |ctx: TaskContext, job: Job| {
            let count = count.clone();
            async move {
                count(ctx.task_id(), 1);
                let mut heartbeats = 0;
                for _ in 0..job.chunks {
                    tokio::time::sleep(Duration::from_millis(job.chunk_ms)).await;
                    match ctx.heartbeat().await {
                        Ok(_) => heartbeats += 1,
                        Err(e) if e.is_retryable() => {}
                        // The task is someone else's now: stop working on it.
                        Err(e) => {
                            count(ctx.task_id(), -1);
                            return Err(TaskError::new("heartbeat.Lost", e.to_string()));
                        }
                    }
                }
                let executions = count(ctx.task_id(), 0);
                count(ctx.task_id(), -1);
                Ok(Crunched {
                    chunks: job.chunks,
                    heartbeats,
                    executions,
                })
            }
        },
    ))
}

/// The decider: `start(job)` hands the job to the cruncher.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(DeciderBuilder::new(DECIDER).method(
        START,
        |ctx: DeciderContext, job: Job| async move {
            let done: Promise<Crunched> = ctx.call(CRUNCHER, "crunch", (job,), CallOptions::new());
            Ok(done)
        },
    ))
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![cruncher()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

fn describe(c: &Crunched) -> String {
    format!(
        "{} chunks, {} heartbeats, handed out {} time(s)",
        c.chunks, c.heartbeats, c.executions
    )
}

/// Starts a job.
pub async fn start_job(
    processes: &ProcessClient,
    job: &Job,
) -> Result<suslik_client::ProcessId, Error> {
    processes
        .start(DECIDER, START, (job.clone(),), StartOptions::new())
        .await
}

/// One job of four chunks: `4 × 50 ms → 4 chunks, 4 heartbeats, handed out 1 time(s)`.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let job = Job {
        chunks: 4,
        chunk_ms: 50,
    };
    let id = start_job(processes, &job).await?;
    let actual = ended::<Crunched>(processes, id, deadline)
        .await?
        .describe(|c| describe(&c));
    checks.expect(
        format!("{} × {} ms", job.chunks, job.chunk_ms),
        actual,
        describe(&expected(&job)),
    );
    Ok(())
}
