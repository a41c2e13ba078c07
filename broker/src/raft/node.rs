//! Configuration and startup of one Raft node: opens sled, builds the stores and the
//! network, starts openraft, and bootstraps a fresh node as a one-member cluster.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use openraft::error::{InitializeError, RaftError};
use openraft::storage::RaftLogStorage;
use openraft::SnapshotPolicy;

use super::applier::Applier;
use super::log_store::SledLogStore;
use super::network::HttpNetworkFactory;
use super::state_machine_store::SledStateMachine;
use super::{BasicNode, NodeId, Raft, StartupLog};
use crate::formats::{data_dir, ClusterFormats};

/// Settings of one Raft node.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This node's id; must be stable across restarts.
    pub node_id: NodeId,
    /// `host:port` at which peers reach this node's HTTP server (where [`super::raft_routes`] is served).
    pub advertise_addr: String,
    /// Directory of the node's data; Raft state lives in `<data_dir>/raft`.
    pub data_dir: PathBuf,
    /// Build a snapshot every this many applied log entries.
    pub snapshot_every: u64,
    /// How many log entries to keep behind a snapshot (so slightly lagging followers catch
    /// up from the log instead of a full snapshot); older entries are purged.
    pub logs_kept_after_snapshot: u64,
    /// Leader heartbeat period, in milliseconds.
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout, in milliseconds.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the randomized election timeout, in milliseconds.
    pub election_timeout_max_ms: u64,
    /// Whether a pristine node (no vote, no log) initializes itself as a single-member
    /// cluster. Turn off for a node that will join an existing cluster as a learner.
    pub bootstrap: bool,
    /// Members to initialize a pristine cluster with (`id → host:port`); empty means
    /// this node alone. Only used when `bootstrap` is set.
    pub initial_members: BTreeMap<NodeId, String>,
    /// The cluster's shared secret, sent with every RPC to the peers.
    pub peer_secret: Option<String>,
    /// The formats the peers announced in their RPC answers (shared with the proposer,
    /// which writes the newest command format all members read).
    pub formats: Arc<ClusterFormats>,
}

impl RaftConfig {
    /// Defaults suitable for a loopback/LAN cluster: heartbeat 100 ms, election 400..800 ms
    /// (with openraft's leader lease, a survivor stands 1.2–1.6 s after the last heartbeat),
    /// a snapshot every 10 000 entries, bootstrap as a single node.
    pub fn new(
        node_id: NodeId,
        advertise_addr: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            node_id,
            advertise_addr: advertise_addr.into(),
            data_dir: data_dir.into(),
            snapshot_every: 10_000,
            logs_kept_after_snapshot: 1_000,
            heartbeat_ms: 100,
            election_timeout_min_ms: 400,
            election_timeout_max_ms: 800,
            bootstrap: true,
            initial_members: BTreeMap::new(),
            peer_secret: None,
            formats: Arc::new(ClusterFormats::new(node_id)),
        }
    }

    /// The openraft configuration derived from these settings (validated).
    pub fn openraft_config(&self) -> anyhow::Result<openraft::Config> {
        let config = openraft::Config {
            cluster_name: "suslik".to_string(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_timeout_min_ms,
            election_timeout_max: self.election_timeout_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot,
            snapshot_max_chunk_size: 1024 * 1024,
            install_snapshot_timeout: 3_000,
            ..Default::default()
        };
        config.validate().context("invalid raft configuration")
    }
}

/// Open the node's storage at `<data_dir>/raft` and start Raft over it, after checking
/// (and, if older, migrating) the data directory's format ([`data_dir::open`]).
///
/// `applier` must hold an empty state: it is restored from the latest snapshot (if any)
/// and openraft then re-applies the committed log after it. A pristine node with
/// `bootstrap` set initializes itself as the only member. Returns the Raft handle and the
/// sled `Db` (flush it after [`Raft::shutdown`] when stopping), and what the log held at
/// startup, which decides when a leader that resumes its term may serve
/// ([`super::is_serving_leader`]).
pub async fn start_raft(
    cfg: &RaftConfig,
    applier: Arc<dyn Applier>,
) -> anyhow::Result<(Raft, sled::Db, StartupLog)> {
    let config = Arc::new(cfg.openraft_config()?);
    let dir = cfg.data_dir.clone();
    let opened = tokio::task::spawn_blocking(move || data_dir::open(&dir))
        .await
        .context("data directory check failed")??;
    tracing::info!(data_dir = %cfg.data_dir.display(), found = ?opened.found, format = opened.format, "data directory format");
    let path = cfg.data_dir.join("raft");
    let (db, durable) = {
        let open_path = path.clone();
        tokio::task::spawn_blocking(move || super::durable::open_store(&open_path))
            .await
            .context("sled open task failed")?
            .with_context(|| format!("opening raft storage at {}", path.display()))?
    };
    let mut log_store = SledLogStore::open(&db, durable.clone()).context("opening raft log")?;
    let startup = StartupLog {
        term: log_store
            .read_vote()
            .await
            .context("reading the stored vote")?
            .map_or(0, |v| v.leader_id().term),
        last_index: log_store
            .get_log_state()
            .await
            .context("reading the log state")?
            .last_log_id
            .map(|l| l.index),
    };
    let state_machine = SledStateMachine::open(&db, durable, applier)
        .await
        .context("opening raft state machine")?;
    let network = HttpNetworkFactory::new(cfg.node_id)
        .context("building raft http client")?
        .with_peer_secret(cfg.peer_secret.clone())
        .with_formats(cfg.formats.clone());
    let raft = Raft::new(cfg.node_id, config, network, log_store, state_machine)
        .await
        .context("starting raft")?;

    if cfg.bootstrap && !raft.is_initialized().await? {
        let members: BTreeMap<NodeId, BasicNode> = if cfg.initial_members.is_empty() {
            BTreeMap::from([(cfg.node_id, BasicNode::new(&cfg.advertise_addr))])
        } else {
            cfg.initial_members
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect()
        };
        let members_len = members.len();
        match raft.initialize(members).await {
            Ok(()) => {
                tracing::info!(
                    node_id = cfg.node_id,
                    members = members_len,
                    "initialized raft cluster"
                )
            }
            Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
                tracing::info!(error = %e, "raft already initialized")
            }
            Err(e) => return Err(e).context("initializing raft"),
        }
    }
    tracing::info!(node_id = cfg.node_id, path = %path.display(), ?startup, "raft started");
    Ok((raft, db, startup))
}

/// Why [`wait_for_leader`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum WaitLeaderError {
    /// No leader was known within the timeout.
    #[error("no raft leader within {0:?}")]
    Timeout(Duration),
    /// The Raft node stopped.
    #[error("raft node stopped")]
    Stopped,
}

/// Wait until this node knows a leader (possibly itself) and return its id.
pub async fn wait_for_leader(raft: &Raft, timeout: Duration) -> Result<NodeId, WaitLeaderError> {
    let mut metrics = raft.metrics();
    let wait = async {
        loop {
            {
                let m = metrics.borrow_and_update();
                if m.running_state.is_err() {
                    return Err(WaitLeaderError::Stopped);
                }
                if let Some(leader) = m.current_leader {
                    return Ok(leader);
                }
            }
            if metrics.changed().await.is_err() {
                return Err(WaitLeaderError::Stopped);
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .unwrap_or(Err(WaitLeaderError::Timeout(timeout)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::test_support::{reopen_db, write, CountingApplier};

    const WAIT: Duration = Duration::from_secs(20);

    /// Stop a node and wait until its sled directory can be opened again.
    async fn stop(raft: Raft, db: sled::Db, cfg: &RaftConfig) {
        raft.shutdown().await.unwrap();
        drop(raft);
        db.flush_async().await.unwrap();
        drop(db);
        drop(reopen_db(&cfg.data_dir.join("raft")).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restart_replays_committed_log() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RaftConfig::new(1, "127.0.0.1:1", dir.path());

        let applier = Arc::new(CountingApplier::default());
        let (raft, db, _) = start_raft(&cfg, applier.clone()).await.unwrap();
        assert_eq!(wait_for_leader(&raft, WAIT).await.unwrap(), 1);
        let last = write(&raft, 5).await;
        assert_eq!(applier.applied(), 5);
        stop(raft, db, &cfg).await;

        let applier = Arc::new(CountingApplier::default());
        let (raft, db, _) = start_raft(&cfg, applier.clone()).await.unwrap();
        assert_eq!(wait_for_leader(&raft, WAIT).await.unwrap(), 1);
        raft.wait(Some(WAIT))
            .applied_index_at_least(Some(last), "replayed")
            .await
            .unwrap();
        assert_eq!(
            applier.applied(),
            5,
            "every committed request re-applied exactly once"
        );
        assert!(applier.restored().is_empty(), "no snapshot was taken");
        write(&raft, 2).await;
        assert_eq!(applier.applied(), 7);
        stop(raft, db, &cfg).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_leader_whose_committed_pointer_lagged_serves_only_with_every_write_applied(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RaftConfig::new(1, "127.0.0.1:1", dir.path());
        let applier = Arc::new(CountingApplier::default());
        let (raft, db, _) = start_raft(&cfg, applier.clone()).await.unwrap();
        wait_for_leader(&raft, WAIT).await.unwrap();
        let first = write(&raft, 1).await;
        let last = write(&raft, 4).await;
        let term = raft.metrics().borrow().current_term;
        stop(raft, db, &cfg).await;
        // A kill -9 loses the committed pointer's last update (it is not synced on its
        // own): the node restarts believing only the first write committed.
        {
            let (db, durable) =
                super::super::durable::open_store(&cfg.data_dir.join("raft")).unwrap();
            let mut store = SledLogStore::open(&db, durable).unwrap();
            store
                .save_committed(Some(crate::raft::test_support::log_id(term, first)))
                .await
                .unwrap();
            db.flush_async().await.unwrap();
        }

        let applier = Arc::new(CountingApplier::default());
        let (raft, db, startup) = start_raft(&cfg, applier.clone()).await.unwrap();
        assert_eq!(
            startup,
            StartupLog {
                term,
                last_index: Some(last)
            },
            "the log it restarted with"
        );
        raft.wait(Some(WAIT))
            .metrics(|m| crate::raft::is_serving_leader(m, startup), "serving")
            .await
            .unwrap();
        assert_eq!(
            applier.applied(),
            5,
            "every acknowledged write is there once it serves"
        );
        stop(raft, db, &cfg).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restart_restores_snapshot_then_replays_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = RaftConfig::new(1, "127.0.0.1:1", dir.path());
        cfg.snapshot_every = 3;
        cfg.logs_kept_after_snapshot = 0;

        let applier = Arc::new(CountingApplier::default());
        let (raft, db, _) = start_raft(&cfg, applier.clone()).await.unwrap();
        wait_for_leader(&raft, WAIT).await.unwrap();
        write(&raft, 10).await;
        assert_eq!(applier.applied(), 10);
        let m = raft
            .wait(Some(WAIT))
            .metrics(
                |m| m.snapshot.is_some() && m.purged.is_some(),
                "snapshot taken and log purged",
            )
            .await
            .unwrap();
        let snapshot_index = m.snapshot.unwrap().index;
        // One more write so that a log tail exists after the last snapshot.
        let last = write(&raft, 1).await;
        stop(raft, db, &cfg).await;

        let applier = Arc::new(CountingApplier::default());
        let (raft, db, _) = start_raft(&cfg, applier.clone()).await.unwrap();
        wait_for_leader(&raft, WAIT).await.unwrap();
        raft.wait(Some(WAIT))
            .applied_index_at_least(Some(last), "caught up")
            .await
            .unwrap();
        let restored = applier.restored();
        assert_eq!(restored.len(), 1, "restored from the persisted snapshot");
        let restored_count: u64 = bincode::deserialize(&restored[0]).unwrap();
        assert!(
            (1..=11).contains(&restored_count),
            "snapshot at {snapshot_index} held {restored_count}"
        );
        assert_eq!(
            applier.applied(),
            11,
            "snapshot + replayed tail = every committed request once"
        );
        stop(raft, db, &cfg).await;
    }

    #[tokio::test]
    async fn config_is_valid_and_rejects_bad_timeouts() {
        let mut cfg = RaftConfig::new(7, "127.0.0.1:9", "/nonexistent");
        let c = cfg.openraft_config().unwrap();
        assert_eq!(c.snapshot_policy, SnapshotPolicy::LogsSinceLast(10_000));
        cfg.election_timeout_min_ms = 2000;
        assert!(cfg.openraft_config().is_err());
    }
}
