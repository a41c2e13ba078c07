//! `hello`: one decider, one worker.
//!
//! The smallest Taskurotta process. The start task runs on the decider
//! [`DECIDER`], which does no work itself: it calls the worker [`GREETER`] and
//! replies with the *promise* of the worker's result. The call returns at once; the
//! broker records the worker task, runs it, and — because the decider replied with
//! that promise — makes the worker's result the process's result, with no second
//! decider step.

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use std::sync::Arc;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise,
    StartOptions, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str = "one decider calls one worker; the worker's result is the process's result";
/// The decider; start its processes with method [`START`] and a name.
pub const DECIDER: &str = "recipes.hello.Decider#1";
/// The worker.
pub const GREETER: &str = "recipes.hello.Greeter#1";
/// The decider's start method: `start(name: String) -> String`.
pub const START: &str = "start";

/// The greeting for `name`, as the process should end with.
pub fn expected(name: &str) -> String {
    format!("Hello, {name}!")
}

/// The worker: `greet(name) -> "Hello, {name}!"`.
pub fn greeter() -> Arc<dyn Worker> {
    actors::worker(
        WorkerBuilder::new(GREETER)
            .method("greet", |name: String| async move { Ok(expected(&name)) }),
    )
}

/// The decider: `start(name)` returns the promise of `greet(name)`.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(DeciderBuilder::new(DECIDER).method(
        START,
        |ctx: DeciderContext, name: String| async move {
            let greeting: Promise<String> = ctx.call(GREETER, "greet", (name,), CallOptions::new());
            Ok(greeting)
        },
    ))
}

/// The recipe's workers.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    vec![greeter()]
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

/// Greets two names: `hello Suslik → Hello, Suslik!`.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let names = ["Suslik", "Taskurotta"];
    let mut started = Vec::new();
    for name in names {
        let opts = StartOptions::new().custom_id(format!("hello-{name}"));
        started.push((name, processes.start(DECIDER, START, (name,), opts).await?));
    }
    for (name, id) in started {
        let actual = ended::<String>(processes, id, deadline)
            .await?
            .describe(|s| s);
        checks.expect(format!("hello {name}"), actual, expected(name));
    }
    Ok(())
}
