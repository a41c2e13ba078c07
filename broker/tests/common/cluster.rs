//! Test support for clusters of real `suslik serve` processes on loopback.
//!
//! [`Cluster::start`] picks every node's port up front (each node's `--peers` names all
//! of them; see [`launch_members`] for why and how a taken port is handled), starts the
//! nodes and waits for an agreed leader. Nodes keep their address
//! across restarts. [`FailoverApi`] is a client that talks to any node and moves on to
//! the next one on a connection error or a 503, the way a cluster-aware client would.

use super::{Api, Failure, Server};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use suslik_broker::api::cluster::ClusterStatus;
use suslik_broker::model::wire::{
    ProcessView, ReleaseReceipt, StartProcessRequest, StartProcessResponse, TaskView,
};
use suslik_broker::model::{Decision, Delivery, ProcessId, TaskId};
use tokio::time::Instant;

/// Generous bound for anything the cluster has to get done (an election, a catch-up,
/// a call that fails over).
pub const WAIT: Duration = Duration::from_secs(60);

/// How many times [`launch_members`] starts a cluster on fresh ports before giving up.
const START_ATTEMPTS: usize = 4;

/// A loopback address with a port nobody listens on right now (and may take before the
/// caller does: only [`launch_members`] uses it, and retries when that happens).
fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Starts Raft members `1..=n` of a new cluster on loopback, each with the flags
/// `flags(id, peers)` (`peers` is the `--peers` value naming every member), without
/// waiting for a leader.
///
/// Why not port 0: every member's `--peers` must name every member's address before
/// any of them starts, so the ports are picked up front (bind port 0, read it, let it
/// go), and another process may take one before its node binds it. A member that
/// exits without printing its address is taken for such a clash: all members are
/// killed and the whole start is redone on fresh ports and fresh data directories (the
/// first member persists the initial membership, addresses included), up to
/// [`START_ATTEMPTS`] times. Holding the ports instead until the children bind them is
/// not possible across processes (the server would need `SO_REUSEPORT`). A member
/// restarted later takes its old port again: that cannot move (its peers know it), but
/// it is only free for a moment between the kill and the restart.
pub async fn launch_members(
    n: u64,
    flags: impl Fn(u64, &str) -> Vec<String>,
) -> BTreeMap<u64, Server> {
    launch_members_of(n, &super::this_build(), flags).await
}

/// [`launch_members`] running the `suslik` binary at `bin`.
pub async fn launch_members_of(
    n: u64,
    bin: &std::path::Path,
    flags: impl Fn(u64, &str) -> Vec<String>,
) -> BTreeMap<u64, Server> {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let addrs: BTreeMap<u64, SocketAddr> = (1..=n).map(|id| (id, free_addr())).collect();
        let peers = addrs
            .iter()
            .map(|(id, a)| format!("{id}={a}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = BTreeMap::new();
        for (id, addr) in &addrs {
            let label = format!("n{id}");
            match Server::try_launch_bin(&label, *addr, &flags(*id, &peers), bin.into()).await {
                Ok(node) => {
                    nodes.insert(*id, node);
                }
                Err(e) => {
                    failures.push(e);
                    break;
                }
            }
        }
        if nodes.len() as u64 == n {
            return nodes;
        }
        eprintln!("cluster start failed, retrying on fresh ports: {failures:?}");
    }
    panic!("no cluster of {n} started in {START_ATTEMPTS} attempts: {failures:#?}");
}

/// Runs `suslik <args>` (the CLI, e.g. `cluster status`) to completion off the async
/// threads; returns whether it exited 0, its stdout and its stderr.
pub async fn suslik_cli(args: &[&str]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_suslik"))
            .args(&args)
            .output()
            .expect("run suslik");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("cli task")
}

/// Nodes by id. Killing a node keeps it here (to restart it); [`Cluster::take`] removes it.
pub struct Cluster {
    nodes: BTreeMap<u64, Server>,
    /// Extra `serve` flags of every node.
    args: Vec<String>,
}

impl Cluster {
    /// `n` nodes with ids `1..=n` and default settings, with an agreed leader.
    pub async fn start(n: u64) -> Cluster {
        Cluster::with_args(n, &[]).await
    }

    /// `n` nodes with extra `serve` flags (e.g. `["--snapshot-every", "50"]`).
    pub async fn with_args(n: u64, args: &[&str]) -> Cluster {
        Cluster::of_binary(n, &super::this_build(), args).await
    }

    /// `n` nodes running the `suslik` binary at `bin`, with extra `serve` flags.
    pub async fn of_binary(n: u64, bin: &std::path::Path, args: &[&str]) -> Cluster {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let nodes = launch_members_of(n, bin, |id, peers| {
            let mut flags = vec![
                "--node-id".to_string(),
                id.to_string(),
                "--peers".into(),
                peers.to_string(),
            ];
            flags.extend(args.iter().cloned());
            flags
        })
        .await;
        let cluster = Cluster { nodes, args };
        cluster.leader().await;
        cluster
    }

    /// Starts node `id` with `--join` on a port of its own choosing (not a member until
    /// added with `suslik cluster add-node`). Returns its address.
    pub async fn launch_joiner(&mut self, id: u64) -> SocketAddr {
        assert!(!self.nodes.contains_key(&id), "node {id} exists");
        let mut flags = vec!["--node-id".to_string(), id.to_string(), "--join".into()];
        flags.extend(self.args.iter().cloned());
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let node = Server::launch(&format!("n{id}"), any_port, &flags).await;
        let addr = node.addr();
        self.nodes.insert(id, node);
        addr
    }

    pub fn node(&self, id: u64) -> &Server {
        self.nodes
            .get(&id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    pub fn node_mut(&mut self, id: u64) -> &mut Server {
        self.nodes
            .get_mut(&id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Ids of the nodes whose process runs.
    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.is_running())
            .map(|(id, _)| *id)
            .collect()
    }

    /// `http://…` of the given nodes.
    pub fn bases(&self, ids: &[u64]) -> Vec<String> {
        ids.iter().map(|id| self.node(*id).base()).collect()
    }

    /// A failover client over the running nodes.
    pub fn client(&self) -> FailoverApi {
        FailoverApi::new(&self.bases(&self.running()))
    }

    /// SIGKILLs node `id` (it stays in the cluster object, to be restarted).
    pub fn kill(&mut self, id: u64) {
        self.node_mut(id).kill();
    }

    /// Starts a killed node again on its data directory and address, and waits until
    /// it knows a leader.
    pub async fn restart(&mut self, id: u64) {
        let node = self.node_mut(id);
        node.relaunch().await;
        node.wait_ready().await;
    }

    /// Removes node `id` from this object (dropping the result kills it).
    pub fn take(&mut self, id: u64) -> Server {
        self.nodes
            .remove(&id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// `GET /cluster/status` of node `id`: that node's own view.
    pub async fn try_status(&self, id: u64) -> Result<ClusterStatus, String> {
        let (code, body) = match tokio::time::timeout(
            Duration::from_secs(10),
            self.node(id).api().try_get_value("/cluster/status"),
        )
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(format!("{e:?}")),
            Err(_) => return Err("status timed out".into()),
        };
        if code != 200 {
            return Err(format!("status {code}: {body}"));
        }
        serde_json::from_value(body).map_err(|e| e.to_string())
    }

    /// [`Cluster::try_status`], panicking on failure.
    pub async fn status(&self, id: u64) -> ClusterStatus {
        self.try_status(id)
            .await
            .unwrap_or_else(|e| panic!("status of node {id}: {e}"))
    }

    /// Waits until every running node names the same leader, that leader is one of
    /// them and calls itself leader at the same term. Returns its id and the term.
    pub async fn leader(&self) -> (u64, u64) {
        self.leader_among(&self.running()).await
    }

    /// [`Cluster::leader`] over the nodes `among`.
    pub async fn leader_among(&self, among: &[u64]) -> (u64, u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut views = Vec::new();
            for id in among {
                views.push(self.try_status(*id).await);
            }
            if let Some(found) = agreed_leader(among, &views) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "nodes {among:?} agreed on no leader within {WAIT:?}; last views: {views:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until node `id` has applied at least `index`; returns its status.
    pub async fn wait_applied(&self, id: u64, index: u64) -> ClusterStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.try_status(id).await;
            if let Ok(s) = &s {
                if s.last_applied.is_some_and(|a| a >= index) {
                    return s.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "node {id} did not apply up to {index} within {WAIT:?}: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn agreed_leader(among: &[u64], views: &[Result<ClusterStatus, String>]) -> Option<(u64, u64)> {
    let mut leader = None;
    for v in views {
        let v = v.as_ref().ok()?;
        let l = v.leader?;
        if *leader.get_or_insert(l) != l {
            return None;
        }
    }
    let leader = leader?;
    let i = among.iter().position(|id| *id == leader)?;
    let lv = views[i].as_ref().ok()?;
    let term = lv.term;
    (lv.role == "Leader" && views.iter().flatten().all(|v| v.term == term))
        .then_some((leader, term))
}

/// A client that talks to any of a list of nodes: on a connection error or a 503 it
/// moves on to the next node and tries again, for up to [`WAIT`]. Any other answer
/// (success or error) is returned as is. Clones share the node list and the position.
#[derive(Clone)]
pub struct FailoverApi {
    nodes: Arc<RwLock<Vec<Api>>>,
    next: Arc<AtomicUsize>,
    /// How many times a call moved on to another node.
    pub failovers: Arc<AtomicUsize>,
}

impl FailoverApi {
    pub fn new(bases: &[String]) -> FailoverApi {
        assert!(!bases.is_empty(), "no nodes");
        FailoverApi {
            nodes: Arc::new(RwLock::new(bases.iter().map(|b| Api::new(b)).collect())),
            next: Arc::default(),
            failovers: Arc::default(),
        }
    }

    /// A handle on the same node list that starts at node `i` (mod the count) and
    /// keeps its own position: spreads clients over the nodes.
    pub fn starting_at(&self, i: usize) -> FailoverApi {
        FailoverApi {
            nodes: self.nodes.clone(),
            next: Arc::new(AtomicUsize::new(i)),
            failovers: self.failovers.clone(),
        }
    }

    /// Replaces the node list of every handle.
    pub fn set_nodes(&self, bases: &[String]) {
        assert!(!bases.is_empty(), "no nodes");
        *self.nodes.write().unwrap() = bases.iter().map(|b| Api::new(b)).collect();
    }

    /// Every node of the list.
    pub fn all(&self) -> Vec<Api> {
        self.nodes.read().unwrap().clone()
    }

    /// The node the next call goes to.
    pub fn current(&self) -> Api {
        let nodes = self.nodes.read().unwrap();
        nodes[self.next.load(Ordering::Relaxed) % nodes.len()].clone()
    }

    /// Runs `call` against the current node, moving on to the next one while the
    /// answer is a connection error or a 503.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, Failure>
    where
        F: Fn(Api) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            let r = call(self.current()).await;
            let retry = matches!(r, Err(Failure::Transport(_)) | Err(Failure::Status(503, _)));
            if !retry || Instant::now() >= deadline {
                return r;
            }
            self.next.fetch_add(1, Ordering::Relaxed);
            self.failovers.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn start(&self, req: &StartProcessRequest) -> Result<StartProcessResponse, Failure> {
        self.call(|api| async move { api.try_start(req).await })
            .await
    }

    pub async fn poll(
        &self,
        actor: &str,
        max: u32,
        wait_ms: u64,
    ) -> Result<Vec<Delivery>, Failure> {
        self.call(|api| async move { api.try_poll(actor, "", max, wait_ms).await })
            .await
    }

    pub async fn release(&self, d: &Decision) -> Result<ReleaseReceipt, Failure> {
        self.call(|api| async move { api.try_release(d).await })
            .await
    }

    pub async fn process(&self, id: ProcessId) -> Result<ProcessView, Failure> {
        self.call(|api| async move { api.try_process(id).await })
            .await
    }

    pub async fn task(&self, id: TaskId) -> Result<TaskView, Failure> {
        self.call(|api| async move { api.try_task(id).await }).await
    }
}
