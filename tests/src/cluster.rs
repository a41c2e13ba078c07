//! A Raft cluster of broker nodes inside the test process, on loopback.
//!
//! Why the ports are not port 0: each node's `peers` must name every member's address
//! before any of them starts, so the ports are picked up front (bind port 0, read it,
//! let it go) and another process may take one before its node binds it. A node that
//! then cannot bind its port is such a clash: the nodes started so far are shut down
//! and the whole start is redone on fresh ports in fresh data directories (node 1
//! persists the initial membership, addresses included), up to [`START_ATTEMPTS`]
//! times. Any other start error is returned at once.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use suslik_broker::{Node, NodeConfig};

/// How many times [`start_cluster`] starts the cluster on fresh ports before giving up.
pub const START_ATTEMPTS: usize = 4;

/// Starts nodes `1..=n` of a new cluster with data under `root` (node `i` of attempt
/// `a` in `root/node<i>-try<a>`), without waiting for a leader. The nodes' addresses
/// are their [`Node::local_addr`]s.
pub async fn start_cluster(root: &Path, n: u64) -> anyhow::Result<Vec<Node>> {
    for attempt in 0..START_ATTEMPTS {
        let addrs = (1..=n)
            .map(|id| Ok((id, TcpListener::bind("127.0.0.1:0")?.local_addr()?)))
            .collect::<anyhow::Result<BTreeMap<u64, SocketAddr>>>()?;
        let peers: BTreeMap<u64, String> =
            addrs.iter().map(|(id, a)| (*id, a.to_string())).collect();
        let mut nodes = Vec::new();
        let mut clash = None;
        for (id, addr) in &addrs {
            let mut cfg = NodeConfig::single(root.join(format!("node{id}-try{attempt}")));
            cfg.node_id = *id;
            cfg.listen = *addr;
            cfg.peers = peers.clone();
            match Node::start(cfg).await {
                Ok(node) => nodes.push(node),
                Err(e) if port_taken(&e) => {
                    clash = Some(e);
                    break;
                }
                Err(e) => return Err(e.context(format!("starting node {id}"))),
            }
        }
        match clash {
            None => return Ok(nodes),
            Some(e) => eprintln!("a port was taken, starting the cluster again: {e:#}"),
        }
        for node in nodes {
            node.shutdown().await?;
        }
    }
    anyhow::bail!("no cluster started in {START_ATTEMPTS} attempts: ports kept being taken")
}

/// Whether a node failed to start because its address was in use.
pub fn port_taken(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_node_whose_port_is_taken_fails_with_an_error_taken_for_a_clash() {
        let held = TcpListener::bind("127.0.0.1:0").expect("bind");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = NodeConfig::single(dir.path().join("node"));
        cfg.listen = held.local_addr().expect("addr");
        let err = Node::start(cfg).await.err().expect("the port is taken");
        assert!(port_taken(&err), "{err:#}");

        // Any other start error is not a clash.
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"not a directory").expect("write");
        let err = Node::start(NodeConfig::single(file.join("node")))
            .await
            .err()
            .expect("no data directory under a file");
        assert!(!port_taken(&err), "{err:#}");
    }
}
