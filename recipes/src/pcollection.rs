//! `pcollection`: a collection of promises as one argument, nested and with failures.
//!
//! Taskurotta's `pcollection` recipe. [`fanout`](crate::fanout) passes a flat
//! `Vec<Promise<_>>` to a worker; here the collection is *nested* — one inner list per
//! group, `Vec<Vec<Promise<i64>>>` — its size comes from the input, some of its
//! promises resolve with an (accepted) error, and it goes to a *decider* step. The
//! broker holds that step until every promise in every inner list has resolved, then
//! hands it the whole structure resolved: values and errors in place. The step sums
//! each group's values and counts the failed measurements.

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise,
    StartOptions, TaskError, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str = "a nested collection of promises, some failing with an accepted \
                         error, passed whole to a decider step";
/// The decider; start its processes with method [`START`] and groups of readings.
pub const DECIDER: &str = "recipes.pcollection.Survey#1";
/// The worker: `measure(x) -> x * x`, failing for a negative reading.
pub const SENSOR: &str = "recipes.pcollection.Sensor#1";
/// The decider's start method: `start(groups: Vec<Vec<i64>>) -> Totals`.
pub const START: &str = "start";
/// The error type of a negative reading (accepted by the survey).
pub const BAD_READING: &str = "pcollection.BadReading";

/// What a survey ends with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Per group, the sum of its measurements that succeeded.
    pub per_group: Vec<i64>,
    /// Measurements that failed.
    pub failed: usize,
}

/// What a survey of `groups` should end with.
pub fn expected(groups: &[Vec<i64>]) -> Totals {
    Totals {
        per_group: groups
            .iter()
            .map(|g| g.iter().filter(|x| **x >= 0).map(|x| x * x).sum())
            .collect(),
        failed: groups.iter().flatten().filter(|x| **x < 0).count(),
    }
}

/// The worker: `measure(x) -> x²`, or a [`BAD_READING`] error for `x < 0`.
pub fn sensor() -> Arc<dyn Worker> {
    actors::worker(
        WorkerBuilder::new(SENSOR).method("measure", |x: i64| async move {
            if x < 0 {
                return Err(TaskError::new(BAD_READING, format!("reading {x}")));
            }
            Ok(x * x)
        }),
    )
}

/// The decider: `start(groups)` measures every reading and hands the nested
/// collection of promises to `total`.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(
        DeciderBuilder::new(DECIDER)
            .method(
                START,
                |ctx: DeciderContext, groups: Vec<Vec<i64>>| async move {
                    let opts = CallOptions::new().accept_fail(BAD_READING);
                    let measured: Vec<Vec<Promise<i64>>> = groups
                        .iter()
                        .map(|g| {
                            g.iter()
                                .map(|x| ctx.call(SENSOR, "measure", (*x,), opts.clone()))
                                .collect()
                        })
                        .collect();
                    Ok(ctx.call_self::<Totals>("total", (measured,)))
                },
            )
            .method(
                "total",
                |_ctx: DeciderContext, groups: Vec<Vec<Promise<i64>>>| async move {
                    let mut totals = Totals {
                        per_group: Vec::with_capacity(groups.len()),
                        failed: 0,
                    };
                    for group in &groups {
                        let mut sum = 0;
                        for p in group {
                            match p.get_fail() {
                                Some(_) => totals.failed += 1,
                                None => sum += p.get()?,
                            }
                        }
                        totals.per_group.push(sum);
                    }
                    Ok(totals)
                },
            ),
    )
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![sensor()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// The demo's surveys.
pub fn demo_inputs() -> Vec<Vec<Vec<i64>>> {
    vec![
        vec![vec![1, 2, 3], vec![4], vec![]],
        vec![vec![5, -1], vec![-2, -3], vec![6, 7]],
    ]
}

fn describe(t: &Totals) -> String {
    format!("sums {:?}, {} failed", t.per_group, t.failed)
}

/// Runs [`demo_inputs`]: `survey [[5, -1], [-2, -3], [6, 7]] → sums [25, 0, 85], 3 failed`.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let mut started = Vec::new();
    for groups in demo_inputs() {
        let id = processes
            .start(DECIDER, START, (groups.clone(),), StartOptions::new())
            .await?;
        started.push((groups, id));
    }
    for (groups, id) in started {
        let actual = ended::<Totals>(processes, id, deadline)
            .await?
            .describe(|t| describe(&t));
        checks.expect(
            format!("survey {groups:?}"),
            actual,
            describe(&expected(&groups)),
        );
    }
    Ok(())
}
