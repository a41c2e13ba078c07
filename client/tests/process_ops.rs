//! The SDK's process operations against a real node, in process and over HTTP:
//! idempotent starts, a process's history and abort.

use std::time::Duration;
use suslik_broker::node::{Node, NodeConfig};
use suslik_client::{
    Error, EventKind, HttpTransport, InProcessTransport, ProcessClient, ProcessId, StartOptions,
    Transport,
};

async fn scenario(client: &ProcessClient) -> anyhow::Result<()> {
    // Nobody runs this decider: the process stays running until aborted.
    let opts = || StartOptions::new().idempotency_key("invoice-9");
    let id = client.start("idle#1", "start", (1,), opts()).await?;
    let again = client.start("idle#1", "start", (2,), opts()).await?;
    assert_eq!(again, id, "the same key started a second process");

    let events: Vec<EventKind> = client.history(id).await?.iter().map(|e| e.event).collect();
    assert_eq!(events, vec![EventKind::Started, EventKind::Enqueued]);

    let answer = client.abort([id], Some("not needed")).await?;
    assert_eq!((answer.aborted, answer.skipped), (1, 0));
    let answer = client.abort([id], None).await?;
    assert_eq!((answer.aborted, answer.skipped), (0, 1));
    let history = client.history(id).await?;
    let last = history.last().ok_or_else(|| anyhow::anyhow!("no events"))?;
    assert_eq!(last.event, EventKind::Aborted);
    assert_eq!(last.detail.as_deref(), Some("not needed"));
    match client
        .wait_for_result::<i64>(id, Duration::from_secs(5))
        .await
    {
        Err(Error::ProcessAborted { process_id }) => assert_eq!(process_id, id),
        other => anyhow::bail!("expected an aborted process, got {other:?}"),
    }
    match client.history(ProcessId::random()).await {
        Err(e) => assert!(e.is_not_found(), "{e:?}"),
        Ok(v) => anyhow::bail!("history of an unknown process: {v:?}"),
    }
    Ok(())
}

async fn run(transport: impl Transport, node: Node) -> anyhow::Result<()> {
    let result = scenario(&ProcessClient::new(transport)).await;
    node.shutdown().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_start_history_and_abort_in_process() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = Node::start(NodeConfig::single(dir.path().join("node"))).await?;
    run(InProcessTransport::new(node.api()), node).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_start_history_and_abort_over_http() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = Node::start(NodeConfig::single(dir.path().join("node"))).await?;
    let transport = HttpTransport::new([node.local_addr().to_string()])?;
    run(transport, node).await
}
