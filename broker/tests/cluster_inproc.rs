//! Three broker nodes in one test process, talking Raft over real loopback HTTP:
//! any node accepts any call (followers forward to the leader), and the cluster keeps
//! serving with every acknowledged process intact after the leader goes away.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use suslik_broker::model::wire::{PollResponse, ProcessView, ReleaseReceipt, StartProcessResponse};
use suslik_broker::model::ProcessState;
use suslik_broker::{Node, NodeConfig};

/// How many times [`start_cluster`] starts the cluster on fresh ports before giving up.
const START_ATTEMPTS: usize = 4;

/// Node `i` of the cluster gets data directory `dirs[i]`/`try<attempt>`.
///
/// Why not port 0: each node's `peers` must name every member's address before any of
/// them starts, so the ports are picked up front (bind port 0, read it, let it go) and
/// another process may take one first. A node that then cannot bind its port is such a
/// clash: the nodes started so far are shut down and the start is redone on fresh
/// ports in fresh data directories (node 1 persists the initial membership, addresses
/// included), up to [`START_ATTEMPTS`] times; any other start error fails the test.
async fn start_cluster(dirs: &[tempfile::TempDir]) -> Vec<Node> {
    for attempt in 0..START_ATTEMPTS {
        let addrs: Vec<SocketAddr> = (0..dirs.len())
            .map(|_| {
                let l = TcpListener::bind("127.0.0.1:0").expect("bind");
                l.local_addr().expect("addr")
            })
            .collect();
        let peers: BTreeMap<u64, String> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (i as u64 + 1, a.to_string()))
            .collect();
        let mut nodes = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            let mut cfg = NodeConfig::single(dir.path().join(format!("try{attempt}")));
            cfg.node_id = i as u64 + 1;
            cfg.listen = addrs[i];
            cfg.peers = peers.clone();
            match Node::start(cfg).await {
                Ok(node) => nodes.push(node),
                Err(e) if port_taken(&e) => {
                    eprintln!("port {} was taken, starting again: {e:#}", addrs[i]);
                    break;
                }
                Err(e) => panic!("node {} does not start: {e:#}", i + 1),
            }
        }
        if nodes.len() == dirs.len() {
            return nodes;
        }
        for n in nodes {
            n.shutdown().await.expect("shutdown");
        }
    }
    panic!("no cluster started in {START_ATTEMPTS} attempts: ports kept being taken");
}

/// Whether a node failed to start because its address was in use.
fn port_taken(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
    })
}

async fn leader_of(nodes: &[Node], not: Option<u64>) -> u64 {
    for _ in 0..200 {
        let leaders: Vec<Option<u64>> = nodes
            .iter()
            .map(|n| n.raft().metrics().borrow().current_leader)
            .collect();
        if let Some(Some(l)) = leaders.first() {
            if leaders.iter().all(|x| *x == Some(*l)) && not != Some(*l) {
                return *l;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no agreed leader");
}

async fn post<T: serde::de::DeserializeOwned>(
    c: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    body: serde_json::Value,
) -> (u16, T) {
    let r = c
        .post(format!("http://{addr}{path}"))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_forward_to_the_leader_and_the_cluster_survives_losing_it() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = start_cluster(&dirs).await;
    let leader = leader_of(&nodes, None).await;
    let follower = nodes
        .iter()
        .find(|n| n.raft().metrics().borrow().id != leader)
        .map(|n| n.local_addr())
        .unwrap();
    let c = reqwest::Client::new();

    // Start, poll and release through a follower.
    let (status, started): (u16, StartProcessResponse) = post(
        &c,
        follower,
        "/api/v1/processes",
        serde_json::json!({"actor_id": "d#1", "method": "start"}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, polled): (u16, PollResponse) = post(
        &c,
        follower,
        "/api/v1/tasks/poll",
        serde_json::json!({"actor_id": "d#1", "wait_ms": 5000}),
    )
    .await;
    assert_eq!(polled.tasks.len(), 1);
    assert_eq!(polled.tasks[0].task_id, started.task_id);
    let (status, receipt): (u16, ReleaseReceipt) = post(
        &c,
        follower,
        "/api/v1/tasks/release",
        serde_json::json!({"task_id": started.task_id, "outcome": {"value": 7}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(receipt.process_state, ProcessState::Finished);

    // A second process is acknowledged, then the leader goes away.
    let (_, second): (u16, StartProcessResponse) = post(
        &c,
        follower,
        "/api/v1/processes",
        serde_json::json!({"actor_id": "d#1", "method": "start"}),
    )
    .await;
    let idx = nodes
        .iter()
        .position(|n| n.raft().metrics().borrow().id == leader)
        .unwrap();
    nodes.remove(idx).shutdown().await.unwrap();
    let new_leader = leader_of(&nodes, Some(leader)).await;
    assert!(nodes
        .iter()
        .any(|n| n.raft().metrics().borrow().id == new_leader));

    // Both processes are there, and the unreleased start task is delivered by the new leader.
    for n in &nodes {
        let v: ProcessView = c
            .get(format!(
                "http://{}/api/v1/processes/{}",
                n.local_addr(),
                started.process_id
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v.state, ProcessState::Finished);
        assert_eq!(v.result.unwrap().as_str(), "7");
    }
    let any = nodes[0].local_addr();
    let (_, polled): (u16, PollResponse) = post(
        &c,
        any,
        "/api/v1/tasks/poll",
        serde_json::json!({"actor_id": "d#1", "wait_ms": 5000}),
    )
    .await;
    assert_eq!(polled.tasks.len(), 1);
    assert_eq!(polled.tasks[0].task_id, second.task_id);
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

/// A node whose Raft core stopped (as it does for good on a storage error such as a
/// full disk) says so on `/health` and `/ready`, so that a supervisor restarts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_raft_core_fails_health_and_readiness() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 0 (the default): the node binds a free port and says which.
    let cfg = NodeConfig::single(dir.path().to_path_buf());
    let node = Node::start(cfg).await.expect("node starts");
    let base = format!("http://{}", node.local_addr());
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);

    node.raft().shutdown().await.expect("raft stops");
    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.expect("json");
    assert_eq!(body["status"], "raft_stopped", "{body}");
    let ready = client
        .get(format!("{base}/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["failed"], "raft_stopped", "{body}");
}
