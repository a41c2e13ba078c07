//! The profiler hook (Taskurotta's `Profiler`): callbacks around poll, execute and
//! release.
//!
//! The SDK's [`ActorRunner`](suslik_client::ActorRunner) has no hook points, and it
//! should not need any: the container wraps what the runner is given instead. The
//! actors are wrapped in [`ProfiledWorker`] / [`ProfiledDecider`] (timing each
//! execution, panics included) and the transport in [`ProfiledTransport`] (timing each
//! poll and release). The SDK stays untouched and the same decorators work around any
//! runner.
//!
//! [`TracingProfiler`] is the built-in implementation: per-actor counts and times,
//! logged through `tracing`.

mod actors;
mod tracing_profiler;
mod transport;

pub use actors::{profiled_actor, ProfiledDecider, ProfiledWorker};
pub use tracing_profiler::{ActorStats, TracingProfiler};
pub use transport::ProfiledTransport;

use std::time::Duration;
use suslik_client::{ActorId, TaskList};

/// Callbacks the container makes around each step of a poller. All have empty
/// defaults; implementations must be cheap (they run on the pollers' tasks).
pub trait Profiler: Send + Sync + 'static {
    /// A poll for `actor` on `task_list` returned `tasks` tasks (`ok == false`: the
    /// poll failed). `elapsed` includes the long-poll wait.
    fn on_poll(
        &self,
        actor: &ActorId,
        task_list: &TaskList,
        tasks: usize,
        elapsed: Duration,
        ok: bool,
    ) {
        let _ = (actor, task_list, tasks, elapsed, ok);
    }

    /// `actor` executed `method` (`ok == false`: it returned an error or panicked).
    fn on_execute(&self, actor: &ActorId, method: &str, elapsed: Duration, ok: bool) {
        let _ = (actor, method, elapsed, ok);
    }

    /// A release of `tasks` decisions of `actor` (one call, or one batch) ended
    /// (`ok == false`: the call failed; rejected items of a batch count as failed).
    fn on_release(&self, actor: &ActorId, tasks: usize, elapsed: Duration, ok: bool) {
        let _ = (actor, tasks, elapsed, ok);
    }

    /// The container has started its pollers (called inside the Tokio runtime).
    fn on_start(&self) {}

    /// The container has stopped (after in-flight tasks were released, or the
    /// shutdown deadline passed).
    fn on_shutdown(&self) {}
}

/// A profiler that records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopProfiler;

impl Profiler for NoopProfiler {}
