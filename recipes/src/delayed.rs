//! `delayed`: a process that starts later, and a step scheduled for a set time.
//!
//! Taskurotta's `delayed` recipe (a task's start time). [`order`](crate::order) delays
//! one worker call by a relative amount; here the *start task itself* is delayed (the
//! starter passes a start time in the process's start options), and the decider
//! schedules its own next step for an absolute time computed from when it ran
//! (`call_self_with(…, CallOptions::new().start_at(due))`). Each step checks, from the
//! delivery time the broker gives it, that it was not handed out before its time, and
//! the postman reports both checks.
//!
//! The times compared are the broker's delivery times and times computed from them (or,
//! for the start, the starter's clock: the demo runs on one machine).

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, Millis, ProcessClient, Promise,
    StartOptions, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str = "a process whose start task waits for its start time, and a decider \
                         step scheduled for an absolute time";
/// The decider; start its processes with method [`START`] and a [`Reminder`].
pub const DECIDER: &str = "recipes.delayed.Scheduler#1";
/// The worker: `send(text, started_on_time, sent_on_time) -> String`.
pub const POSTMAN: &str = "recipes.delayed.Postman#1";
/// The decider's start method: `start(reminder: Reminder) -> String`.
pub const START: &str = "start";

/// A reminder to send `after_ms` after the process starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// What to send.
    pub text: String,
    /// The process's start time the starter asked for (0: at once).
    pub not_before: Millis,
    /// How long after the start to send it.
    pub after_ms: u64,
}

/// What the process for `text` should end with.
pub fn expected(text: &str) -> String {
    format!("'{text}' started on time, sent on time")
}

fn on_time(yes: bool) -> &'static str {
    if yes {
        "on time"
    } else {
        "TOO EARLY"
    }
}

/// The worker: `send(text, started_on_time, sent_on_time)` reports the checks.
pub fn postman() -> Arc<dyn Worker> {
    actors::worker(WorkerBuilder::new(POSTMAN).method(
        "send",
        |(text, started, sent): (String, bool, bool)| async move {
            Ok(format!(
                "'{text}' started {}, sent {}",
                on_time(started),
                on_time(sent)
            ))
        },
    ))
}

/// The decider: `start` schedules `remind` for `after_ms` after it ran; `remind`
/// calls the postman.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(
        DeciderBuilder::new(DECIDER)
            .method(START, |ctx: DeciderContext, r: Reminder| async move {
                let ran_at = ctx.task().delivered_at();
                let started_on_time = ran_at >= r.not_before;
                let due = ran_at.plus(r.after_ms);
                let at = CallOptions::new().start_at(due);
                Ok(ctx.call_self_with::<String>("remind", (r.text, started_on_time, due), at))
            })
            .method(
                "remind",
                |ctx: DeciderContext, (text, started, due): (String, bool, Millis)| async move {
                    let sent = ctx.task().delivered_at() >= due;
                    let done: Promise<String> =
                        ctx.call(POSTMAN, "send", (text, started, sent), CallOptions::new());
                    Ok(done)
                },
            ),
    )
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![postman()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// Starts the reminder `text`: the process starts `start_in` from now and sends it
/// `after_ms` after that.
pub async fn start_reminder(
    processes: &ProcessClient,
    text: &str,
    start_in: Duration,
    after_ms: u64,
) -> Result<suslik_client::ProcessId, Error> {
    let not_before = Millis::now().plus(u64::try_from(start_in.as_millis()).unwrap_or(u64::MAX));
    let reminder = Reminder {
        text: text.to_string(),
        not_before,
        after_ms,
    };
    let opts = StartOptions::new()
        .custom_id(format!("reminder-{text}"))
        .options(CallOptions::new().start_at(not_before));
    processes.start(DECIDER, START, (reminder,), opts).await
}

/// Two reminders: one started later, one sent later.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let plan = [
        ("water the plants", Duration::from_millis(300), 0),
        ("call mum", Duration::ZERO, 300),
    ];
    let mut started = Vec::new();
    for (text, start_in, after_ms) in plan {
        let id = start_reminder(processes, text, start_in, after_ms).await?;
        started.push((text, id));
    }
    for (text, id) in started {
        let actual = ended::<String>(processes, id, deadline)
            .await?
            .describe(|s| s);
        checks.expect(format!("reminder '{text}'"), actual, expected(text));
    }
    Ok(())
}
