//! [`Container`]: pools of pollers for the configured actors, and their shutdown.
//!
//! Each `[[actors]]` entry becomes one SDK [`ActorRunner`] with that entry's poller
//! count, poll wait and batch size on that entry's task list, so entries never share
//! pollers and a slow actor cannot starve another. The runner already turns actor
//! errors and panics into error releases (its pollers never die); the container adds
//! what a deployment needs around it: the profiler decorators, in-flight tracking,
//! automatic heartbeats for long-running methods (one a third into the lease, then every
//! third of it, so a slow task is not handed out twice), and a shutdown with a deadline.
//!
//! Shutdown stops every poll at once, lets tasks already received finish and be
//! released, and gives up at the deadline: tasks still running then are left to the
//! broker, which hands them out again when their leases expire (at-least-once).
//! Releasing them with an error instead would spend a retry attempt, or break the
//! process, for what is only a restart.

mod in_flight;

pub use in_flight::{InFlight, TrackingTransport};

use crate::profiler::{profiled_actor, ProfiledTransport, Profiler, TracingProfiler};
use crate::{BootstrapConfig, Registry};
use std::sync::Arc;
use std::time::{Duration, Instant};
use suslik_client::{
    ActorId, ActorRunner, RunnerConfig, RunnerHandle, TaskId, TaskList, Transport,
};

/// Why a container did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// A configured actor is not in the registry.
    #[error("actors[{index}]: unknown actor {id}")]
    UnknownActor {
        /// Its position in the config's `actors`.
        index: usize,
        /// Its id.
        id: ActorId,
    },
    /// The config lists no actor.
    #[error("no actors configured")]
    NoActors,
}

/// A container about to start: config, registry and profiler.
pub struct Container {
    config: BootstrapConfig,
    registry: Registry,
    profiler: Arc<dyn Profiler>,
}

impl Container {
    /// A container for `config`'s actors, implemented by `registry`, profiled by a
    /// [`TracingProfiler`].
    pub fn new(config: BootstrapConfig, registry: Registry) -> Self {
        Container {
            config,
            registry,
            profiler: Arc::new(TracingProfiler::default()),
        }
    }

    /// Replaces the profiler.
    pub fn with_profiler(mut self, profiler: Arc<dyn Profiler>) -> Self {
        self.profiler = profiler;
        self
    }

    /// Shorthand for `Container::new(config, registry).spawn(transport)`.
    pub fn start(
        config: BootstrapConfig,
        registry: Registry,
        transport: Arc<dyn Transport>,
    ) -> Result<ContainerHandle, StartError> {
        Container::new(config, registry).spawn(transport)
    }

    /// Starts every pool of pollers on the current Tokio runtime.
    ///
    /// # Panics
    /// Outside a Tokio runtime, like `tokio::spawn`.
    pub fn spawn(self, transport: Arc<dyn Transport>) -> Result<ContainerHandle, StartError> {
        if self.config.actors.is_empty() {
            return Err(StartError::NoActors);
        }
        let mut planned = Vec::with_capacity(self.config.actors.len());
        for (index, entry) in self.config.actors.iter().enumerate() {
            let actor =
                self.registry
                    .get(&entry.id)
                    .cloned()
                    .ok_or_else(|| StartError::UnknownActor {
                        index,
                        id: entry.id.clone(),
                    })?;
            planned.push((entry, actor));
        }
        let in_flight = Arc::new(InFlight::default());
        let mut pools = Vec::with_capacity(planned.len());
        for (entry, actor) in planned {
            let profiled: Arc<dyn Transport> = Arc::new(ProfiledTransport::new(
                transport.clone(),
                entry.id.clone(),
                self.profiler.clone(),
            ));
            let tracked: Arc<dyn Transport> =
                Arc::new(TrackingTransport::new(profiled, in_flight.clone()));
            let config = RunnerConfig {
                pollers_per_actor: entry.pollers,
                max_tasks_per_poll: entry.max_tasks,
                poll_wait: entry.poll_wait(),
                auto_heartbeat: true,
                ..RunnerConfig::default()
            };
            let runner = ActorRunner::with_transport(tracked)
                .config(config)
                .actor(
                    profiled_actor(actor, self.profiler.clone()),
                    entry.task_list.clone(),
                )
                .start();
            tracing::info!(
                actor = %entry.id,
                task_list = %entry.task_list,
                pollers = entry.pollers,
                poll_wait_ms = entry.poll_wait_ms,
                max_tasks = entry.max_tasks,
                "pollers started"
            );
            pools.push(Pool {
                actor: entry.id.clone(),
                task_list: entry.task_list.clone(),
                runner,
            });
        }
        self.profiler.on_start();
        Ok(ContainerHandle {
            pools,
            in_flight,
            profiler: self.profiler,
        })
    }
}

struct Pool {
    actor: ActorId,
    task_list: TaskList,
    runner: RunnerHandle,
}

/// A running container.
pub struct ContainerHandle {
    pools: Vec<Pool>,
    in_flight: Arc<InFlight>,
    profiler: Arc<dyn Profiler>,
}

/// How a shutdown went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every poller stopped and every received task was released in time.
    pub clean: bool,
    /// Tasks still running at the deadline, left to the broker's lease expiry.
    pub abandoned: Vec<TaskId>,
    /// How long the shutdown took.
    pub elapsed: Duration,
}

impl ContainerHandle {
    /// The (actor, task list) pools running.
    pub fn pools(&self) -> Vec<(ActorId, TaskList)> {
        self.pools
            .iter()
            .map(|p| (p.actor.clone(), p.task_list.clone()))
            .collect()
    }

    /// Tasks received and not yet released.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The runners' counters, summed over all pools.
    pub fn stats(&self) -> suslik_client::RunnerStats {
        let mut sum = suslik_client::RunnerStats::default();
        for p in &self.pools {
            let s = p.runner.stats();
            sum.polls += s.polls;
            sum.poll_errors += s.poll_errors;
            sum.received += s.received;
            sum.succeeded += s.succeeded;
            sum.failed += s.failed;
            sum.released += s.released;
            sum.release_errors += s.release_errors;
        }
        sum
    }

    /// Stops polling now, waits up to `deadline` for tasks in flight to finish and be
    /// released, then tells the profiler.
    pub async fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let started = Instant::now();
        let waiting = self.in_flight.len();
        tracing::info!(
            in_flight = waiting,
            deadline_ms = deadline.as_millis() as u64,
            "stopping pollers"
        );
        for p in &self.pools {
            p.runner.stop();
        }
        let all = futures::future::join_all(self.pools.into_iter().map(|p| p.runner.shutdown()));
        let clean = tokio::time::timeout(deadline, all).await.is_ok();
        let abandoned = if clean {
            Vec::new()
        } else {
            self.in_flight.ids()
        };
        if abandoned.is_empty() {
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "all pollers stopped, in-flight tasks released"
            );
        } else {
            let ids: Vec<String> = abandoned.iter().map(ToString::to_string).collect();
            tracing::warn!(
                tasks = %ids.join(","),
                "shutdown deadline passed with tasks still running; the broker hands them out again when their leases expire"
            );
        }
        self.profiler.on_shutdown();
        ShutdownReport {
            clean: clean && abandoned.is_empty(),
            abandoned,
            elapsed: started.elapsed(),
        }
    }
}
