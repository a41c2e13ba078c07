//! Brokers on loopback: one node, or a Raft cluster of several, each a child process.
//!
//! Every node's port is chosen up front (each node's `--peers` names all of them) and
//! kept across restarts, so a killed node comes back at the same address with the same
//! data directory. Node `i` (0-based index) has Raft id `i + 1`; the lowest id
//! initializes the cluster. [`Cluster`] is a drop guard: every child is killed and
//! reaped before the data directories (one temporary directory) are removed.

use crate::api::Api;
use crate::server::{NodeSpec, ServerProcess};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};
use suslik_broker::api::cluster::ClusterStatus;

/// One node: how to start it and, while it runs, its process.
struct ClusterNode {
    spec: NodeSpec,
    process: Option<ServerProcess>,
}

/// Broker child processes and their data. Killed and removed on drop.
pub struct Cluster {
    nodes: Vec<ClusterNode>,
    root: tempfile::TempDir,
}

/// `n` loopback addresses that nobody listened on a moment ago, all different.
fn free_addrs(n: usize) -> anyhow::Result<Vec<SocketAddr>> {
    // Hold every listener until all are bound, so no port comes out twice.
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("finding free loopback ports")?;
    listeners
        .iter()
        .map(|l| l.local_addr().context("reading a bound port"))
        .collect()
}

impl Cluster {
    /// Starts `n` nodes under a fresh temporary directory (in `parent` if given). One
    /// node runs without peers, like `suslik serve`; its log goes to our stderr. With
    /// several, each node's log goes to `node-<id>.log` (see [`Cluster::log_summary`]).
    pub fn start(n: u64, parent: Option<&Path>) -> anyhow::Result<Cluster> {
        if n == 0 {
            bail!("a cluster needs at least one node");
        }
        let root = match parent {
            Some(p) => {
                std::fs::create_dir_all(p)?;
                tempfile::Builder::new()
                    .prefix("suslik-bench-")
                    .tempdir_in(p)?
            }
            None => tempfile::Builder::new().prefix("suslik-bench-").tempdir()?,
        };
        let mut cluster = Cluster {
            nodes: Vec::new(),
            root,
        };
        if n == 1 {
            let data = cluster.root.path().join("node-1");
            cluster.nodes.push(ClusterNode {
                spec: NodeSpec::single(&data),
                process: None,
            });
        } else {
            let addrs = free_addrs(n as usize)?;
            let peers: BTreeMap<u64, SocketAddr> = (1..=n).zip(addrs.iter().copied()).collect();
            for (id, addr) in &peers {
                let spec = NodeSpec {
                    data_dir: cluster.root.path().join(format!("node-{id}")),
                    listen: *addr,
                    node_id: *id,
                    peers: peers.clone(),
                    log: Some(cluster.root.path().join(format!("node-{id}.log"))),
                };
                cluster.nodes.push(ClusterNode {
                    spec,
                    process: None,
                });
            }
        }
        // From here on, `cluster` owns whatever runs: an error kills it on drop.
        for i in 0..cluster.nodes.len() {
            cluster.restart(i)?;
        }
        Ok(cluster)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Raft id of the node at `idx`.
    pub fn id(&self, idx: usize) -> u64 {
        self.nodes[idx].spec.node_id
    }

    /// The index of the node with Raft id `id`.
    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.nodes.iter().position(|n| n.spec.node_id == id)
    }

    /// `http://host:port` of every node, by index.
    pub fn bases(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| match &n.process {
                Some(p) => format!("http://{}", p.addr()),
                None => format!("http://{}", n.spec.listen),
            })
            .collect()
    }

    pub fn data_dir(&self, idx: usize) -> &Path {
        &self.nodes[idx].spec.data_dir
    }

    /// The pid of the node at `idx` while it runs.
    pub fn pid(&self, idx: usize) -> Option<u32> {
        self.nodes[idx].process.as_ref().map(|p| p.pid())
    }

    /// Indexes of the running nodes.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].process.is_some())
            .collect()
    }

    /// SIGKILLs the node at `idx` (no shutdown, no flush); its data stays.
    pub fn kill(&mut self, idx: usize) {
        if let Some(p) = self.nodes[idx].process.take() {
            p.kill();
        }
    }

    /// Starts the node at `idx` (again) on its address and data directory.
    pub fn restart(&mut self, idx: usize) -> anyhow::Result<()> {
        self.restart_within(idx, crate::server::START_TIMEOUT)
    }

    /// [`Cluster::restart`], allowing the node `timeout` to replay its state and serve.
    pub fn restart_within(&mut self, idx: usize, timeout: Duration) -> anyhow::Result<()> {
        self.kill(idx);
        let node = &mut self.nodes[idx];
        let process = ServerProcess::spawn_node_within(&node.spec, timeout)
            .with_context(|| format!("starting node {}", node.spec.node_id))?;
        if node.spec.listen.port() == 0 {
            // A single node picked its own port: keep it for a restart.
            node.spec.listen = process.addr();
        }
        node.process = Some(process);
        Ok(())
    }

    /// Stops every node gracefully (closes their stdin), in parallel.
    pub fn stop(mut self) {
        let procs: Vec<_> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.process.take())
            .collect();
        let handles: Vec<_> = procs
            .into_iter()
            .map(|p| std::thread::spawn(move || p.stop()))
            .collect();
        for h in handles {
            let _ = h.join();
        }
    }

    /// Per node with a non-empty log: how many lines, and the last `tail` of them.
    pub fn log_summary(&self, tail: usize) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let Some(path) = &n.spec.log else { continue };
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "node {} logged {} lines (warn and above); the last {}:",
                n.spec.node_id,
                lines.len(),
                tail.min(lines.len())
            );
            for l in &lines[lines.len().saturating_sub(tail)..] {
                let _ = writeln!(out, "  {l}");
            }
        }
        out
    }
}

impl Cluster {
    /// Copies every node's log file into `dir` (created if needed).
    pub fn keep_logs(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for n in &self.nodes {
            let Some(path) = &n.spec.log else { continue };
            if let Some(name) = path.file_name() {
                std::fs::copy(path, dir.join(name))
                    .with_context(|| format!("copying {}", path.display()))?;
            }
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Children first: `root` (the data) is removed after this body returns.
        for n in &mut self.nodes {
            if let Some(p) = n.process.take() {
                p.kill();
            }
        }
    }
}

/// The leader every answering node agrees on: each status names the same leader and
/// term, and the leader itself answered as `Leader`. `None` while they disagree, no
/// leader is known, or nobody answered.
pub fn agreed_leader(statuses: &[ClusterStatus]) -> Option<u64> {
    let first = statuses.first()?;
    let leader = first.leader?;
    let agree = statuses
        .iter()
        .all(|s| s.leader == Some(leader) && s.term == first.term);
    let leader_says_so = statuses
        .iter()
        .any(|s| s.node_id == leader && s.role == "Leader");
    (agree && leader_says_so).then_some(leader)
}

/// `GET /cluster/status` of each node in `idxs` (`None` where it did not answer).
pub async fn statuses(api: &Api, idxs: &[usize]) -> Vec<Option<ClusterStatus>> {
    let calls: Vec<_> = idxs
        .iter()
        .map(|i| {
            let node = api.homed(*i).without_failover();
            tokio::spawn(async move { node.cluster_status().await.ok() })
        })
        .collect();
    let mut out = Vec::with_capacity(calls.len());
    for c in calls {
        out.push(c.await.ok().flatten());
    }
    out
}

/// Waits until the nodes in `idxs` all answer and agree on a leader among them;
/// returns the leader's Raft id.
pub async fn wait_for_leader(api: &Api, idxs: &[usize], within: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + within;
    loop {
        let got = statuses(api, idxs).await;
        let answered: Vec<ClusterStatus> = got.iter().flatten().cloned().collect();
        if answered.len() == idxs.len() {
            if let Some(leader) = agreed_leader(&answered) {
                return Ok(leader);
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "nodes {idxs:?} did not agree on a leader within {within:?} (last answers: {})",
                answered
                    .iter()
                    .map(|s| format!(
                        "node {} {} leader {:?} term {}",
                        s.node_id, s.role, s.leader, s.term
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until node `idx` follows `leader` and has applied at least what the leader had
/// applied when this wait began; returns how long that took.
pub async fn wait_caught_up(
    api: &Api,
    idx: usize,
    leader_idx: usize,
    within: Duration,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let leader = api.homed(leader_idx).without_failover();
    let node = api.homed(idx).without_failover();
    let target = leader
        .cluster_status()
        .await
        .context("asking the leader for its applied index")?;
    let want = target.last_applied.unwrap_or(0);
    loop {
        if let Ok(s) = node.cluster_status().await {
            if s.leader == Some(target.node_id) && s.last_applied.unwrap_or(0) >= want {
                return Ok(t0.elapsed());
            }
        }
        if t0.elapsed() >= within {
            bail!("node at index {idx} did not reach applied index {want} within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(node_id: u64, role: &str, leader: Option<u64>, term: u64) -> ClusterStatus {
        ClusterStatus {
            node_id,
            role: role.into(),
            leader,
            leader_addr: None,
            term,
            last_log_index: None,
            last_applied: None,
            snapshot: None,
            members: vec![],
            command_format: None,
        }
    }

    #[test]
    fn a_leader_counts_once_everyone_agrees_and_it_says_so() {
        let ok = [
            status(1, "Follower", Some(2), 3),
            status(2, "Leader", Some(2), 3),
            status(3, "Follower", Some(2), 3),
        ];
        assert_eq!(agreed_leader(&ok), Some(2));
        // One node still on an older term.
        let mut stale = ok.clone();
        stale[2] = status(3, "Follower", Some(2), 2);
        assert_eq!(agreed_leader(&stale), None);
        // One node names another leader.
        let mut split = ok.clone();
        split[0] = status(1, "Follower", Some(1), 3);
        assert_eq!(agreed_leader(&split), None);
        // The named leader is not among those asked (e.g. it was just killed).
        assert_eq!(agreed_leader(&[ok[0].clone(), ok[2].clone()]), None);
        // Nobody knows a leader; nobody answered.
        assert_eq!(agreed_leader(&[status(1, "Candidate", None, 4)]), None);
        assert_eq!(agreed_leader(&[]), None);
        // A lone node that leads itself.
        assert_eq!(agreed_leader(&[status(1, "Leader", Some(1), 1)]), Some(1));
    }

    #[test]
    fn free_addrs_are_distinct_loopback_ports() {
        let a = free_addrs(5).unwrap();
        let mut ports: Vec<u16> = a.iter().map(|x| x.port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 5);
        assert!(a.iter().all(|x| x.ip().is_loopback() && x.port() != 0));
    }
}
