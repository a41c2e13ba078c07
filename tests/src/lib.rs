//! Shared harness of the cross-crate integration tests in `tests/tests/`.
//!
//! Every test starts its own one-node broker ([`Broker`]) in a temporary directory,
//! talks to it over real HTTP ([`HttpTransport`] to the node's bound address), and
//! stops it at the end. Runners use a short long-poll wait so that stopping them
//! never waits long, and nothing here sleeps for a fixed time: waits are for
//! conditions ([`eventually`]), with generous deadlines.

pub mod cluster;
pub mod privileged;
pub mod serve;
mod suslik_bin;
pub mod webdriver;

pub use suslik_bin::suslik_bin;

use std::future::Future;
use std::time::Duration;
use suslik_broker::{Node, NodeConfig};
use suslik_client::transport::Backoff;
use suslik_client::{
    Actor, ActorRunner, HttpTransport, ProcessClient, RunnerConfig, RunnerHandle, TaskList,
};

/// Deadline for a process or a recipe to end: far above what they need, so a slow
/// machine never fails a test, while a hang still ends it.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A one-node broker on a free port, with its data in a temporary directory.
pub struct Broker {
    node: Node,
    _dir: tempfile::TempDir,
    transport: HttpTransport,
}

impl Broker {
    /// Starts a broker with default settings.
    pub async fn start() -> anyhow::Result<Broker> {
        Broker::start_with(|_| {}).await
    }

    /// Starts a broker after letting `tune` change its settings (e.g. the lease).
    pub async fn start_with(tune: impl FnOnce(&mut NodeConfig)) -> anyhow::Result<Broker> {
        let dir = tempfile::tempdir()?;
        let mut cfg = NodeConfig::single(dir.path().join("node"));
        tune(&mut cfg);
        let node = Node::start(cfg).await?;
        let transport = HttpTransport::new([node.local_addr().to_string()])?;
        Ok(Broker {
            node,
            _dir: dir,
            transport,
        })
    }

    /// The address the node serves HTTP on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.node.local_addr()
    }

    /// An HTTP transport to this broker.
    pub fn transport(&self) -> HttpTransport {
        self.transport.clone()
    }

    /// A process client over HTTP.
    pub fn processes(&self) -> ProcessClient {
        ProcessClient::new(self.transport())
    }

    /// A runner over HTTP with [`runner_config`], no actors yet.
    pub fn runner(&self) -> ActorRunner {
        ActorRunner::new(self.transport()).config(runner_config())
    }

    /// Starts every recipe actor the way the container does: each worker and
    /// decider on its default list, plus each worker on every list of
    /// [`suslik_recipes::task_lists`].
    pub fn run_recipes(&self) -> RunnerHandle {
        let workers = suslik_recipes::workers();
        let mut runner = self.runner();
        for (actor, list) in suslik_recipes::task_lists() {
            if let Some(w) = workers.iter().find(|w| w.actor_id() == actor) {
                runner = runner.actor(Actor::Worker(w.clone()), list);
            }
        }
        for w in workers {
            runner = runner.actor(Actor::Worker(w), TaskList::default_list());
        }
        for d in suslik_recipes::deciders() {
            runner = runner.actor(Actor::Decider(d), TaskList::default_list());
        }
        runner.start()
    }

    /// Stops the node (its directory goes with `self`).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.node.shutdown().await
    }
}

/// Runner tuning for tests: 2 pollers per actor, short long-polls, fast error backoff.
pub fn runner_config() -> RunnerConfig {
    RunnerConfig {
        pollers_per_actor: 2,
        max_tasks_per_poll: 8,
        poll_wait: Duration::from_millis(500),
        error_backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(500)),
        release_attempts: 3,
        auto_heartbeat: false,
    }
}

/// Checks `condition` every 20 ms until it holds, failing after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if condition().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {PATIENCE:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The recipe called `name`.
pub fn recipe(name: &str) -> anyhow::Result<suslik_recipes::Recipe> {
    suslik_recipes::all()
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| anyhow::anyhow!("no recipe {name}"))
}
