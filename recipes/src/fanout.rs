//! `fanout`: fan-out/fan-in over promises — the bench workload.
//!
//! Taskurotta's `parallel`/`summator`/`pcollection` recipes: the decider calls the
//! worker three times *without waiting* (each call only records a task and returns
//! a promise), then makes a fourth call whose single argument is the collection of
//! the three promises, `Vec<Promise<i64>>`. The broker runs the three steps in
//! parallel and hands the summing task out only once all three have resolved, with
//! the array argument resolved to their values. The decider replies with the sum's
//! promise, so the process ends with the sum: five tasks per process.
//!
//! The shape is the one `suslik-bench fanout` drives: `step(x) = x + 1` on `n`,
//! `n + 1`, `n + 2`, so process `n` ends with `3n + 6`.

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use std::sync::Arc;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise,
    StartOptions, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str =
    "three parallel worker calls, then a summing call over their promises (the bench workload)";
/// The decider; start its processes with method [`START`] and an integer.
pub const DECIDER: &str = "recipes.fanout.Decider#1";
/// The worker of the `step` and `sum` tasks.
pub const WORKER: &str = "recipes.fanout.Worker#1";
/// The decider's start method: `start(n: i64) -> i64`.
pub const START: &str = "start";

/// The result process `n` ends with: `(n+1) + (n+2) + (n+3)`.
pub fn expected(n: i64) -> i64 {
    3 * n + 6
}

/// The worker: `step(x) -> x + 1` and `sum(xs) -> Σ xs`.
pub fn worker() -> Arc<dyn Worker> {
    actors::worker(
        WorkerBuilder::new(WORKER)
            .method("step", |x: i64| async move { Ok(x + 1) })
            .method(
                "sum",
                |xs: Vec<i64>| async move { Ok(xs.iter().sum::<i64>()) },
            ),
    )
}

/// The decider: `start(n)` fans out three steps and returns the promise of their sum.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(DeciderBuilder::new(DECIDER).method(
        START,
        |ctx: DeciderContext, n: i64| async move {
            let steps: Vec<Promise<i64>> = (n..n + 3)
                .map(|x| ctx.call(WORKER, "step", (x,), CallOptions::new()))
                .collect();
            let sum: Promise<i64> = ctx.call(WORKER, "sum", (steps,), CallOptions::new());
            Ok(sum)
        },
    ))
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![worker()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// The demo's inputs.
pub const DEMO_INPUTS: [i64; 3] = [1, 7, 100];

/// Runs [`DEMO_INPUTS`]: `fan-out 7 → 27`.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let mut started = Vec::new();
    for n in DEMO_INPUTS {
        let opts = StartOptions::new().custom_id(format!("fanout-{n}"));
        started.push((n, processes.start(DECIDER, START, (n,), opts).await?));
    }
    for (n, id) in started {
        let actual = ended::<i64>(processes, id, deadline)
            .await?
            .describe(|v| v.to_string());
        checks.expect(format!("fan-out {n}"), actual, expected(n).to_string());
    }
    Ok(())
}
