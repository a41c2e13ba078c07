//! `scheduled`: processes started by a schedule, on an interval or on demand.
//!
//! Taskurotta's `scheduled` recipe. A schedule is a named, replicated recurring start:
//! every `interval_ms` (or on a cron expression) the leader starts one process from
//! the schedule's start request, and "run now" starts one at once. The demo creates a
//! schedule ringing a bell every [`INTERVAL_MS`], waits until it has fired a few times,
//! runs it once more on demand and checks that process's result, then deletes the
//! schedule (the processes it started go on by themselves).

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use std::sync::Arc;
use std::time::Duration;
use suslik_client::{
    CallOptions, CreateSchedule, Decider, DeciderBuilder, DeciderContext, Error, IntoActorId,
    IntoArgs, ProcessClient, ProcessId, Promise, ScheduleStart, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str = "a schedule starting a process on an interval and on demand, then deleted";
/// The decider the schedule starts: `start(label) -> String`.
pub const DECIDER: &str = "recipes.scheduled.Clock#1";
/// The worker: `ring(label) -> "ding: {label}"`.
pub const BELL: &str = "recipes.scheduled.Bell#1";
/// The decider's start method.
pub const START: &str = "start";
/// The demo schedule's interval.
pub const INTERVAL_MS: u64 = 200;
/// Firings the demo waits for before running the schedule on demand.
pub const DEMO_FIRINGS: u64 = 3;

/// What a process started by the schedule labelled `label` ends with.
pub fn expected(label: &str) -> String {
    format!("ding: {label}")
}

/// The worker: `ring(label)`.
pub fn bell() -> Arc<dyn Worker> {
    actors::worker(
        WorkerBuilder::new(BELL)
            .method("ring", |label: String| async move { Ok(expected(&label)) }),
    )
}

/// The decider: `start(label)` returns the promise of `ring(label)`.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(DeciderBuilder::new(DECIDER).method(
        START,
        |ctx: DeciderContext, label: String| async move {
            let rung: Promise<String> = ctx.call(BELL, "ring", (label,), CallOptions::new());
            Ok(rung)
        },
    ))
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![bell()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// The request creating schedule `name`: every `interval_ms`, a process of
/// [`DECIDER`] ringing `label`.
pub fn schedule_request(
    name: &str,
    label: &str,
    interval_ms: u64,
) -> Result<CreateSchedule, Error> {
    Ok(CreateSchedule {
        name: name.to_string(),
        cron: None,
        interval_ms: Some(interval_ms),
        start: ScheduleStart {
            actor_id: DECIDER.into_actor_id()?,
            method: START.to_string(),
            args: (label,).into_args()?,
            options: Default::default(),
        },
    })
}

/// Waits until schedule `name` has fired `n` times, or `timeout` passed; answers how
/// many times it fired.
pub async fn wait_for_firings(
    processes: &ProcessClient,
    name: &str,
    n: u64,
    timeout: Duration,
) -> Result<u64, Error> {
    let deadline = Deadline::after(timeout);
    loop {
        let fired = processes.schedule(name).await?.fired;
        if fired >= n || deadline.remaining().is_zero() {
            return Ok(fired);
        }
        tokio::time::sleep(Duration::from_millis(INTERVAL_MS / 4).min(deadline.remaining())).await;
    }
}

/// Creates a schedule, lets it fire, runs it on demand, deletes it.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    // A fresh name per run: schedules are replicated state and outlive the demo.
    let name = format!("recipes-scheduled-{}", ProcessId::random());
    let label = "tick";
    processes
        .create_schedule(schedule_request(&name, label, INTERVAL_MS)?)
        .await?;
    let fired = wait_for_firings(processes, &name, DEMO_FIRINGS, deadline.remaining()).await?;
    checks.expect(
        format!("every {INTERVAL_MS} ms"),
        format!("fired {}", fired.min(DEMO_FIRINGS)),
        format!("fired {DEMO_FIRINGS}"),
    );
    let id = processes.run_schedule(&name).await?;
    let actual = ended::<String>(processes, id, deadline)
        .await?
        .describe(|s| s);
    checks.expect("run now", actual, expected(label));
    processes.delete_schedule(&name).await?;
    Ok(())
}
