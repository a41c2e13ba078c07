//! Built-in diagnostic actors, always in the binary's registry.
//!
//! They let an operator smoke-test a deployment (is the container polling? do
//! releases reach the broker? does a panic come back as an error?) without deploying
//! business actors, and they give the container's own tests a slow task to shut down
//! on and a panic to survive.
//!
//! - worker [`DIAG_WORKER`] methods: `echo(v) -> v`, `sleep(ms) -> ms`,
//!   `fail([type, message])` (an error release), `panic(message)` (a panic);
//! - decider [`DIAG_DECIDER`] method `run(method, arg)`: calls the worker's `method`
//!   with `arg` and replies with its promise, so a process's result is the worker's.

use crate::Registry;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use suslik_client::{
    Actor, CallOptions, DeciderBuilder, DeciderContext, Promise, TaskError, WorkerBuilder,
};

/// The diagnostic worker's id.
pub const DIAG_WORKER: &str = "bootstrap.Diag#1";
/// The diagnostic decider's id.
pub const DIAG_DECIDER: &str = "bootstrap.DiagProcess#1";
/// Longest `sleep` the diagnostic worker accepts.
pub const MAX_SLEEP_MS: u64 = 600_000;

/// A registry holding the two diagnostic actors.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    for a in actors() {
        // Two fixed, distinct ids: registering cannot collide.
        let _ = r.register(a);
    }
    r
}

/// The diagnostic worker and decider.
pub fn actors() -> Vec<Actor> {
    let mut out = Vec::new();
    match worker() {
        Ok(w) => out.push(Actor::Worker(Arc::new(w))),
        Err(e) => tracing::error!(error = %e, "diagnostic worker unavailable"),
    }
    match decider() {
        Ok(d) => out.push(Actor::Decider(Arc::new(d))),
        Err(e) => tracing::error!(error = %e, "diagnostic decider unavailable"),
    }
    out
}

fn worker() -> suslik_client::Result<suslik_client::TypedWorker> {
    WorkerBuilder::new(DIAG_WORKER)
        .method("echo", |v: Value| async move { Ok(v) })
        .method("sleep", |ms: u64| async move {
            if ms > MAX_SLEEP_MS {
                return Err(TaskError::new(
                    "bootstrap.diag.TooLong",
                    format!("sleep of {ms} ms is longer than {MAX_SLEEP_MS} ms"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(ms)
        })
        .method(
            "fail",
            |(error_type, message): (String, String)| async move {
                Err::<(), _>(TaskError::new(error_type, message))
            },
        )
        .method("panic", |message: String| async move {
            if message.is_empty() {
                return Ok(());
            }
            panic!("{message}")
        })
        .build()
}

fn decider() -> suslik_client::Result<suslik_client::TypedDecider> {
    DeciderBuilder::new(DIAG_DECIDER)
        .method(
            "run",
            |ctx: DeciderContext, (method, arg): (String, Value)| async move {
                let result: Promise<Value> =
                    ctx.call(DIAG_WORKER, &method, (arg,), CallOptions::new());
                Ok(result)
            },
        )
        .build()
}
