//! Heartbeats and timeouts through the SDK, against a real one-node broker with a short
//! lease: a long task that heartbeats (by hand or automatically) is executed once, a
//! task past its timeout fails with `suslik.Timeout`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use suslik_broker::node::{Node, NodeConfig};
use suslik_client::error_types::TIMEOUT;
use suslik_client::{
    ActorRunner, CallOptions, DeciderBuilder, DeciderContext, HttpTransport, InProcessTransport,
    ProcessClient, Promise, RunnerConfig, StartOptions, TaskContext, TaskError, Transport,
    TypedDecider, TypedWorker, WorkerBuilder,
};

const WAIT: Duration = Duration::from_secs(30);
/// The broker's lease: the long tasks below run for several of these.
const LEASE_MS: u64 = 300;

async fn node(dir: &tempfile::TempDir) -> anyhow::Result<Node> {
    let mut cfg = NodeConfig::single(dir.path().join("node"));
    cfg.limits.lease_ms = LEASE_MS;
    let node = Node::start(cfg).await?;
    Ok(node)
}

/// `beating(ms)` heartbeats by hand while it works for `ms`; `quiet(ms)` just works.
/// Both count their executions.
fn long_worker(executions: Arc<AtomicUsize>) -> suslik_client::Result<TypedWorker> {
    let quiet_count = executions.clone();
    WorkerBuilder::new("long#1")
        .method_with_context("beating", move |ctx: TaskContext, ms: u64| {
            let executions = executions.clone();
            async move {
                executions.fetch_add(1, Ordering::SeqCst);
                let first_deadline = ctx.deadline();
                for _ in 0..ms / 50 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    ctx.heartbeat()
                        .await
                        .map_err(|e| TaskError::new("test.Heartbeat", e.to_string()))?;
                }
                assert!(
                    ctx.deadline() > first_deadline,
                    "heartbeats move the deadline"
                );
                Ok(ctx.attempt())
            }
        })
        .method("quiet", move |ms: u64| {
            let executions = quiet_count.clone();
            async move {
                executions.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(1u32)
            }
        })
        .build()
}

/// `run(method, ms)` calls the long worker; `bounded(ms)` calls its quiet method with a
/// timeout shorter than the work and reports the accepted timeout fail.
fn decider() -> suslik_client::Result<TypedDecider> {
    DeciderBuilder::new("long.Decider#1")
        .method(
            "run",
            |ctx: DeciderContext, (method, ms): (String, u64)| async move {
                Ok(ctx.call::<u32>("long#1", &method, (ms,), CallOptions::new()))
            },
        )
        .method("bounded", |ctx: DeciderContext, ms: u64| async move {
            let opts = CallOptions::new()
                .timeout(Duration::from_millis(LEASE_MS / 2))
                .accept_fail(TIMEOUT);
            let r: Promise<u32> = ctx.call("long#1", "quiet", (ms,), opts);
            Ok(ctx.call_self::<String>("report", (r,)))
        })
        .method(
            "report",
            |_ctx: DeciderContext, r: Promise<u32>| async move {
                Ok(match r.get_fail() {
                    Some(e) => e.error_type.clone(),
                    None => format!("value {}", r.get()?),
                })
            },
        )
        .build()
}

fn runner(
    transport: impl Transport,
    executions: Arc<AtomicUsize>,
    auto: bool,
) -> anyhow::Result<suslik_client::RunnerHandle> {
    let cfg = RunnerConfig {
        poll_wait: Duration::from_millis(200),
        auto_heartbeat: auto,
        ..RunnerConfig::default()
    };
    Ok(ActorRunner::new(transport)
        .config(cfg)
        .worker(long_worker(executions)?)
        .decider(decider()?)
        .start())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_heartbeating_by_hand_over_http_is_executed_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = node(&dir).await?;
    let transport = HttpTransport::new([node.local_addr().to_string()])?;
    let executions = Arc::new(AtomicUsize::new(0));
    let runner = runner(transport.clone(), executions.clone(), false)?;
    let client = ProcessClient::new(transport);
    let result = async {
        let id = client
            .start(
                "long.Decider#1",
                "run",
                ("beating", 5 * LEASE_MS),
                StartOptions::new(),
            )
            .await?;
        let attempt: u32 = client.wait_for_result(id, WAIT).await?;
        anyhow::Ok(attempt)
    }
    .await;
    let stats = runner.stats();
    runner.shutdown().await;
    node.shutdown().await?;
    assert_eq!(result?, 1);
    assert_eq!(
        executions.load(Ordering::SeqCst),
        1,
        "the heartbeating task was handed out again"
    );
    assert_eq!(stats.release_errors, 0, "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_heartbeats_keep_a_long_task_with_its_first_delivery() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = node(&dir).await?;
    let transport = InProcessTransport::new(node.api());
    let executions = Arc::new(AtomicUsize::new(0));
    let runner = runner(transport.clone(), executions.clone(), true)?;
    let client = ProcessClient::new(transport);
    let result = async {
        let id = client
            .start(
                "long.Decider#1",
                "run",
                ("quiet", 5 * LEASE_MS),
                StartOptions::new(),
            )
            .await?;
        let one: u32 = client.wait_for_result(id, WAIT).await?;
        anyhow::Ok(one)
    }
    .await;
    let stats = runner.stats();
    runner.shutdown().await;
    node.shutdown().await?;
    assert_eq!(result?, 1);
    assert_eq!(
        executions.load(Ordering::SeqCst),
        1,
        "the long task was handed out again"
    );
    assert_eq!(stats.release_errors, 0, "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_past_its_call_timeout_fails_with_suslik_timeout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = node(&dir).await?;
    let transport = InProcessTransport::new(node.api());
    let executions = Arc::new(AtomicUsize::new(0));
    // Automatic heartbeats do not help past the timeout.
    let runner = runner(transport.clone(), executions.clone(), true)?;
    let client = ProcessClient::new(transport);
    let result = async {
        let id = client
            .start(
                "long.Decider#1",
                "bounded",
                (3 * LEASE_MS,),
                StartOptions::new(),
            )
            .await?;
        let seen: String = client.wait_for_result(id, WAIT).await?;
        // The worker is still sleeping; its release comes after the process ended.
        let deadline = std::time::Instant::now() + WAIT;
        while runner.stats().superseded == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::Ok(seen)
    }
    .await;
    let stats = runner.stats();
    runner.shutdown().await;
    node.shutdown().await?;
    assert_eq!(result?, TIMEOUT);
    assert_eq!(executions.load(Ordering::SeqCst), 1);
    assert_eq!(
        (stats.superseded, stats.release_errors),
        (1, 0),
        "the late release is refused (the timeout's release stands), which is not an error: {stats:?}"
    );
    Ok(())
}
