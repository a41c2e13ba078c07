//! One broker node assembled: Raft over sled, the state machine core, the leader
//! loops and the HTTP server (client API + Raft RPC) on one listening socket.

use crate::api::auth::{AuthConfig, RequireToken};
use crate::api::cluster::ClusterAdmin;
use crate::api::forward::Forwarder;
use crate::api::{http, BrokerApi, Limits};
use crate::core::BrokerCore;
use crate::leader::{
    run_gc, run_lease_expiry, run_recovery, run_schedules, run_timers, run_webhook_outbox,
    watch_leadership, GcConfig, Proposer, RecoveryConfig,
};
use crate::notify::{run_alerts, AlertsConfig, Webhook, WebhookConfig};
use crate::raft::{raft_routes, start_raft, wait_for_leader, Raft, RaftConfig};
use anyhow::Context;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Settings of one node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Stable id of this node in the Raft cluster.
    pub node_id: u64,
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where the Raft log, vote and snapshots live.
    pub data_dir: PathBuf,
    /// Client API limits and lease length.
    pub limits: Limits,
    /// Build a snapshot every this many log entries (node 1; other nodes a little
    /// later, so they do not all snapshot at the same moment).
    pub snapshot_every: u64,
    /// Garbage collection of ended processes.
    pub gc: GcConfig,
    /// Recovery of stalled processes.
    pub recovery: RecoveryConfig,
    /// Raft heartbeat period (ms); failover takes roughly the election timeout plus
    /// openraft's leader lease (the maximum election timeout).
    pub heartbeat_ms: u64,
    /// Raft election timeout range (ms), randomized per node.
    pub election_timeout_ms: (u64, u64),
    /// `host:port` the other nodes reach this one at (default: the bound address).
    pub advertise: Option<String>,
    /// The initial members of a new cluster, `node id → host:port`, this node included.
    /// Empty: a one-node cluster. The member with the lowest id initializes the cluster
    /// on first start; the others wait to be contacted.
    pub peers: BTreeMap<u64, String>,
    /// Start empty and wait to be added with `suslik cluster add-node` (never
    /// initialize a cluster of its own).
    pub join: bool,
    /// Client tokens and the peer secret (all unset: open, for loopback use).
    pub auth: AuthConfig,
    /// Where process lifecycle events and alerts are POSTed (none: no webhook).
    pub webhook: Option<WebhookConfig>,
    /// Alerts the leader checks.
    pub alerts: AlertsConfig,
}

impl NodeConfig {
    /// A one-node broker on 127.0.0.1 with a free port, storing under `data_dir`.
    pub fn single(data_dir: PathBuf) -> Self {
        NodeConfig {
            node_id: 1,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            limits: Limits::default(),
            snapshot_every: 10_000,
            gc: GcConfig::default(),
            recovery: RecoveryConfig::default(),
            heartbeat_ms: 100,
            election_timeout_ms: (400, 800),
            advertise: None,
            peers: BTreeMap::new(),
            join: false,
            auth: AuthConfig::default(),
            webhook: None,
            alerts: AlertsConfig::default(),
        }
    }
}

/// A running broker node.
pub struct Node {
    api: BrokerApi,
    raft: Raft,
    db: sled::Db,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    loops: Vec<JoinHandle<()>>,
}

impl Node {
    /// Opens the data directory, starts Raft (bootstrapping a one-node cluster on first
    /// start), waits for a leader and serves HTTP on `cfg.listen`.
    pub async fn start(cfg: NodeConfig) -> anyhow::Result<Node> {
        let listener = std::net::TcpListener::bind(cfg.listen)
            .with_context(|| format!("listening on {}", cfg.listen))?;
        Node::start_on(cfg, listener).await
    }

    /// [`Node::start`] serving on an already bound `listener` (`cfg.listen` is ignored):
    /// whoever bound it may keep a duplicate of it, so that the address stays bound
    /// across a restart of the node (see [`crate::supervisor`]).
    pub async fn start_on(
        cfg: NodeConfig,
        listener: std::net::TcpListener,
    ) -> anyhow::Result<Node> {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;

        let core = BrokerCore::new();
        let advertise = cfg.advertise.clone().unwrap_or_else(|| addr.to_string());
        if !cfg.peers.is_empty() && !cfg.peers.contains_key(&cfg.node_id) {
            anyhow::bail!(
                "node id {} is not among the peers {:?}",
                cfg.node_id,
                cfg.peers.keys().collect::<Vec<_>>()
            );
        }
        let mut raft_cfg = RaftConfig::new(cfg.node_id, advertise, &cfg.data_dir);
        // Stagger snapshots across nodes (node 1: every N entries, node 2: N + N/16, …)
        // so a cluster never stalls on serializing its state everywhere at once.
        raft_cfg.snapshot_every =
            cfg.snapshot_every + cfg.snapshot_every / 16 * (cfg.node_id.saturating_sub(1) % 8);
        raft_cfg.heartbeat_ms = cfg.heartbeat_ms;
        (
            raft_cfg.election_timeout_min_ms,
            raft_cfg.election_timeout_max_ms,
        ) = cfg.election_timeout_ms;
        raft_cfg.initial_members = cfg.peers.clone();
        raft_cfg.peer_secret = cfg.auth.peer_secret().map(str::to_string);
        // One node initializes a new cluster: the lowest id among the peers.
        raft_cfg.bootstrap = !cfg.join
            && cfg
                .peers
                .keys()
                .next()
                .is_none_or(|first| *first == cfg.node_id);
        // Alerts go straight to the webhook; lifecycle events through the outbox loop.
        let (webhook, webhook_tasks) = match cfg.webhook.clone() {
            Some(w) => {
                let (hook, tasks) = Webhook::start(core.clone(), w)?;
                (Some(hook), tasks)
            }
            None => (None, Vec::new()),
        };
        let (raft, db, startup) = start_raft(&raft_cfg, core.clone()).await?;
        let proposer = Proposer::start(raft.clone(), raft_cfg.formats.clone());
        let mut loops = vec![
            tokio::spawn(run_timers(core.clone(), raft.clone(), proposer.clone())),
            tokio::spawn(run_lease_expiry(core.clone(), proposer.clone())),
            tokio::spawn(watch_leadership(core.clone(), raft.clone())),
            tokio::spawn(run_gc(
                core.clone(),
                raft.clone(),
                proposer.clone(),
                cfg.gc.clone(),
            )),
            tokio::spawn(run_schedules(core.clone(), raft.clone(), proposer.clone())),
            tokio::spawn(run_alerts(core.clone(), cfg.alerts.clone(), webhook)),
            tokio::spawn(run_recovery(
                core.clone(),
                raft.clone(),
                proposer.clone(),
                cfg.recovery.clone(),
            )),
            tokio::spawn(run_webhook_outbox(
                core.clone(),
                raft.clone(),
                proposer.clone(),
                cfg.webhook.clone(),
            )),
        ];
        loops.extend(webhook_tasks);
        let api = BrokerApi::new(core, proposer, raft.clone(), startup, cfg.limits.clone());

        let forwarder = Forwarder::new(
            raft.clone(),
            startup,
            cfg.limits.max_body_bytes,
            cfg.limits.max_poll_wait_ms,
        )?;
        // Access control is the outermost layer: a refused call is never forwarded.
        let app = http::router(
            api.clone(),
            ClusterAdmin::new(raft.clone(), raft_cfg.formats.clone()).with_store(db.clone()),
            forwarder,
        )
        .merge(raft_routes(raft.clone()))
        .layer(RequireToken::new(cfg.auth.clone()));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "http server failed");
            }
        });
        // A lone node elects itself within a second; in a cluster the peers may not be
        // up yet, so serve at once and let clients retry (503) until a leader exists.
        if cfg.peers.len() <= 1 && !cfg.join {
            match wait_for_leader(&raft, Duration::from_secs(10)).await {
                Ok(leader) => {
                    // Serve once the log of earlier terms is applied (a restart replays it).
                    let mut m = raft.metrics();
                    let caught_up = m.wait_for(|m| crate::raft::is_serving_leader(m, startup));
                    let _ = tokio::time::timeout(Duration::from_secs(60), caught_up).await;
                    tracing::info!(%addr, leader, "broker node ready")
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "broker node serving without a leader yet")
                }
            }
        } else {
            tracing::info!(%addr, node_id = cfg.node_id, "cluster node serving");
        }
        Ok(Node {
            api,
            raft,
            db,
            addr,
            stop: Some(stop),
            server,
            loops,
        })
    }

    /// The in-process client API.
    pub fn api(&self) -> BrokerApi {
        self.api.clone()
    }

    /// The HTTP address the node listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Raft handle (cluster management, metrics).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Completes when the Raft core has stopped for good (openraft does so on a storage
    /// error such as a full disk), with the reason.
    pub async fn stopped(&self) -> String {
        let mut metrics = self.raft.metrics();
        loop {
            if let Err(fatal) = &metrics.borrow_and_update().running_state {
                return fatal.to_string();
            }
            if metrics.changed().await.is_err() {
                return "the Raft core is gone".to_string();
            }
        }
    }

    /// Stops serving, shuts Raft down and flushes storage.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Long polls may hold connections; do not wait on them forever.
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.server).await;
        self.server.abort();
        for l in &self.loops {
            l.abort();
        }
        self.raft.shutdown().await.context("raft shutdown")?;
        self.db.flush_async().await.context("flushing storage")?;
        Ok(())
    }
}
