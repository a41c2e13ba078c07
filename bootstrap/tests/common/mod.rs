//! Shared test helpers: a real single-node broker, a process client on it, and
//! waiting for a task to be handed out.

#![allow(dead_code)]

use std::time::{Duration, Instant};
use suslik_broker::{Node, NodeConfig};
use suslik_client::{InProcessTransport, ProcessClient, ProcessId};

/// A started one-node broker in a temporary directory (kept with it).
pub struct Broker {
    pub node: Node,
    pub dir: tempfile::TempDir,
}

impl Broker {
    pub async fn start() -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = Node::start(NodeConfig::single(dir.path().to_path_buf()))
            .await
            .expect("broker starts");
        Broker { node, dir }
    }

    pub fn address(&self) -> String {
        format!("http://{}", self.node.local_addr())
    }

    pub fn processes(&self) -> ProcessClient {
        ProcessClient::new(InProcessTransport::new(self.node.api()))
    }

    pub async fn stop(self) {
        self.node.shutdown().await.expect("broker stops");
    }
}

/// Waits until a task of `method` in process `id` is handed out and not released.
pub async fn wait_until_leased(p: &ProcessClient, id: ProcessId, method: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let view = p.state(id).await.expect("process exists");
        if view.tasks.iter().any(|t| t.method == method && t.leased) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {method} task was handed out within {timeout:?}: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
