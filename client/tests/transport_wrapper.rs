//! A `TransportWrapper` writes only the calls it changes: those run its code, every
//! other call reaches the wrapped transport unchanged.

use futures::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use suslik_broker::model::wire::{PollRequest, PollResponse};
use suslik_broker::node::{Node, NodeConfig};
use suslik_client::{
    ActorId, InProcessTransport, ProcessClient, Result, StartOptions, TaskList, Transport,
    TransportWrapper,
};

/// Counts polls and the tasks they brought; nothing else.
struct CountingPolls {
    inner: InProcessTransport,
    polls: Arc<AtomicUsize>,
    tasks: Arc<AtomicUsize>,
}

impl TransportWrapper for CountingPolls {
    fn inner(&self) -> &dyn Transport {
        &self.inner
    }

    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        Box::pin(async move {
            self.polls.fetch_add(1, Ordering::SeqCst);
            let resp = self.inner.poll(req).await?;
            self.tasks.fetch_add(resp.tasks.len(), Ordering::SeqCst);
            Ok(resp)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overridden_calls_run_the_wrapper_and_the_rest_reach_the_inner_transport(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = Node::start(NodeConfig::single(dir.path().join("node"))).await?;
    let (polls, tasks) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let wrapped = CountingPolls {
        inner: InProcessTransport::new(node.api()),
        polls: polls.clone(),
        tasks: tasks.clone(),
    };
    let transport: Arc<dyn Transport> = Arc::new(wrapped);
    let result = async {
        // Not overridden: start_process and process go straight to the broker.
        let client = ProcessClient::new(transport.clone());
        let id = client
            .start("wrapped#1", "run", (), StartOptions::new())
            .await?;
        let view = transport.process(id).await?;
        assert_eq!(view.process_id, id);
        assert_eq!(polls.load(Ordering::SeqCst), 0, "no poll yet");

        // Overridden: the poll runs the wrapper's code and still gets the broker's answer.
        let resp = transport
            .poll(PollRequest {
                actor_id: ActorId::new("wrapped#1")?,
                task_list: TaskList::default_list(),
                max: 1,
                wait_ms: 5_000,
            })
            .await?;
        assert_eq!(resp.tasks.len(), 1);
        assert_eq!(resp.tasks[0].process_id, id);
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        assert_eq!(tasks.load(Ordering::SeqCst), 1);
        anyhow::Ok(())
    }
    .await;
    node.shutdown().await?;
    result
}
