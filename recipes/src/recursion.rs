//! `recursion`: a decider calling itself asynchronously until it is done.
//!
//! Taskurotta's `recursion` recipe. `start(n)` computes `n!` one multiplication at a
//! time: each decider step `step(k, acc)` either replies with `acc` (when `k <= 1`) or
//! asks the worker for `acc · k` and calls *itself* again with `k - 1` and the
//! *promise* of that product, replying with the promise of that next step. No step
//! waits: each records two tasks and returns. The broker runs the next step only when
//! the product it takes has resolved, and the start task's promise follows the chain of
//! returned promises down to the last step's value.

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use std::sync::Arc;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise,
    StartOptions, TaskError, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str =
    "a decider step that calls itself asynchronously, one multiplication per step, until done";
/// The decider; start its processes with method [`START`] and a small integer.
pub const DECIDER: &str = "recipes.recursion.Factorial#1";
/// The worker: `multiply(a, b) -> a * b`.
pub const MULTIPLIER: &str = "recipes.recursion.Multiplier#1";
/// The decider's start method: `start(n: u32) -> u64` (`n!`).
pub const START: &str = "start";

/// `n!`, as process `n` should end with.
pub fn expected(n: u32) -> u64 {
    (1..=u64::from(n)).product()
}

/// The worker: `multiply(a, b) -> a * b`, refusing an overflow.
pub fn multiplier() -> Arc<dyn Worker> {
    actors::worker(WorkerBuilder::new(MULTIPLIER).method(
        "multiply",
        |(a, b): (u64, u64)| async move {
            a.checked_mul(b)
                .ok_or_else(|| TaskError::new("recursion.Overflow", format!("{a} * {b}")))
        },
    ))
}

/// The decider: `start(n)` runs `step(n, 1)`; `step(k, acc)` recurses until `k <= 1`.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(
        DeciderBuilder::new(DECIDER)
            .method(START, |ctx: DeciderContext, n: u32| async move {
                Ok(ctx.call_self::<u64>("step", (n, 1u64)))
            })
            .method(
                "step",
                |ctx: DeciderContext, (k, acc): (u32, Promise<u64>)| async move {
                    let acc = acc.get()?;
                    if k <= 1 {
                        return Ok(Promise::ready(acc));
                    }
                    let product: Promise<u64> = ctx.call(
                        MULTIPLIER,
                        "multiply",
                        (acc, u64::from(k)),
                        CallOptions::new(),
                    );
                    Ok(ctx.call_self::<u64>("step", (k - 1, &product)))
                },
            ),
    )
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![multiplier()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// The demo's inputs.
pub const DEMO_INPUTS: [u32; 3] = [1, 5, 10];

/// Runs [`DEMO_INPUTS`]: `5! → 120`.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let mut started = Vec::new();
    for n in DEMO_INPUTS {
        let opts = StartOptions::new().custom_id(format!("factorial-{n}"));
        started.push((n, processes.start(DECIDER, START, (n,), opts).await?));
    }
    for (n, id) in started {
        let actual = ended::<u64>(processes, id, deadline)
            .await?
            .describe(|v| v.to_string());
        checks.expect(format!("{n}!"), actual, expected(n).to_string());
    }
    Ok(())
}
