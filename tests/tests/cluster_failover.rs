//! Actors keep working when the leader dies: the SDK's HTTP transport knows every node
//! of a three-node cluster and fails over on its own, so a running container (here the
//! SDK runner the container is built on) finishes every process started before and
//! after the leader goes away.

use std::net::SocketAddr;
use std::time::Duration;
use suslik_broker::Node;
use suslik_client::{Actor, ActorRunner, HttpTransport, ProcessClient, StartOptions, TaskList};
use suslik_recipes::fanout;
use suslik_tests::cluster::start_cluster;
use suslik_tests::{runner_config, PATIENCE};

/// The leader every node agrees on, other than `not`.
async fn agreed_leader(nodes: &[Node], not: Option<u64>) -> anyhow::Result<u64> {
    for _ in 0..400 {
        let leaders: Vec<Option<u64>> = nodes
            .iter()
            .map(|n| n.raft().metrics().borrow().current_leader)
            .collect();
        if let Some(Some(l)) = leaders.first().copied() {
            if leaders.iter().all(|x| *x == Some(l)) && not != Some(l) {
                return Ok(l);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the nodes agreed on no leader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actors_on_a_node_list_keep_working_when_the_leader_dies() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut nodes = start_cluster(dir.path(), 3).await?;
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::local_addr).collect();
    let leader = agreed_leader(&nodes, None).await?;

    // The client side knows all three addresses, as a container's config would.
    let transport = HttpTransport::new(addrs.iter().map(|a| a.to_string()))?;
    let runner = ActorRunner::new(transport.clone())
        .config(runner_config())
        .actor(Actor::Worker(fanout::worker()), TaskList::default_list())
        .actor(Actor::Decider(fanout::decider()), TaskList::default_list())
        .start();
    let processes = ProcessClient::new(transport);

    let mut started = Vec::new();
    for n in 0..10i64 {
        let id = processes
            .start(fanout::DECIDER, fanout::START, (n,), StartOptions::new())
            .await?;
        started.push((n, id));
    }
    for (n, id) in &started[..5] {
        let sum: i64 = processes.wait_for_result(*id, PATIENCE).await?;
        assert_eq!(sum, fanout::expected(*n));
    }

    // The leader goes away while processes are in flight.
    let idx = nodes
        .iter()
        .position(|n| n.raft().metrics().borrow().id == leader)
        .ok_or_else(|| anyhow::anyhow!("leader {leader} is not among the nodes"))?;
    nodes.remove(idx).shutdown().await?;
    let new_leader = agreed_leader(&nodes, Some(leader)).await?;
    assert_ne!(new_leader, leader);

    for n in 10..20i64 {
        let id = processes
            .start(fanout::DECIDER, fanout::START, (n,), StartOptions::new())
            .await?;
        started.push((n, id));
    }
    for (n, id) in &started {
        let sum: i64 = processes.wait_for_result(*id, PATIENCE).await?;
        assert_eq!(sum, fanout::expected(*n), "process {n}");
    }

    runner.shutdown().await;
    for n in nodes {
        n.shutdown().await?;
    }
    Ok(())
}
