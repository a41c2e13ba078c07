//! The SDK against a real one-node broker, through both transports: deciders spawn
//! workers, promises flow through arrays and continuations, fails are accepted or
//! break the process.

use std::time::Duration;
use suslik_broker::node::{Node, NodeConfig};
use suslik_client::error_types::PANIC;
use suslik_client::{
    ActorRunner, CallOptions, DeciderBuilder, DeciderContext, Error, HttpTransport,
    InProcessTransport, ProcessClient, Promise, RunnerConfig, RunnerHandle, StartOptions,
    TaskError, Transport, TypedDecider, TypedWorker, WorkerBuilder,
};

const WAIT: Duration = Duration::from_secs(20);

fn greeter() -> suslik_client::Result<TypedWorker> {
    WorkerBuilder::new("greeter#1")
        .method("greet", |name: String| async move {
            Ok(format!("Hello, {name}!"))
        })
        .build()
}

fn hello() -> suslik_client::Result<TypedDecider> {
    DeciderBuilder::new("hello#1")
        .method("start", |ctx: DeciderContext, name: String| async move {
            let greeting: Promise<String> =
                ctx.call("greeter#1", "greet", (name,), CallOptions::new());
            Ok(greeting)
        })
        .build()
}

fn calc() -> suslik_client::Result<TypedWorker> {
    WorkerBuilder::new("calc#1")
        .method("add", |(a, b): (i64, i64)| async move { Ok(a + b) })
        .method(
            "sum",
            |xs: Vec<i64>| async move { Ok(xs.iter().sum::<i64>()) },
        )
        .method("fail", |(): ()| async move {
            Err::<i64, _>(TaskError::new("calc.Overflow", "too big"))
        })
        .method("boom", |(): ()| async move {
            if std::env::var_os("SUSLIK_NEVER_SET_THIS").is_none() {
                panic!("worker exploded");
            }
            Ok(0)
        })
        .build()
}

/// start(n): add(i, i) for i < n, then sum them in a worker and, in a continuation,
/// add 1000 if the accepted fail happened.
fn summator() -> suslik_client::Result<TypedDecider> {
    DeciderBuilder::new("summator#1")
        .method("start", |ctx: DeciderContext, n: i64| async move {
            let parts: Vec<Promise<i64>> = (0..n)
                .map(|i| ctx.call("calc#1", "add", (i, i), CallOptions::new()))
                .collect();
            let total: Promise<i64> =
                ctx.call("calc#1", "sum", (parts.clone(),), CallOptions::new());
            let failed: Promise<i64> =
                ctx.call("calc#1", "fail", (), CallOptions::new().accept_fail("calc"));
            Ok(ctx.call_self::<i64>("finish", (&total, &failed, parts)))
        })
        .method(
            "finish",
            |_ctx: DeciderContext,
             (total, failed, parts): (Promise<i64>, Promise<i64>, Vec<Promise<i64>>)| async move {
                let again: i64 = parts
                    .iter()
                    .map(|p| p.get())
                    .sum::<Result<i64, TaskError>>()?;
                assert_eq!(again, total.get()?);
                let bonus = match failed.get_fail() {
                    Some(e) if e.error_type == "calc.Overflow" => 1000,
                    _ => 0,
                };
                Ok(total.get()? + bonus)
            },
        )
        .method("explode", |ctx: DeciderContext, (): ()| async move {
            Ok(ctx.call::<i64>("calc#1", "boom", (), CallOptions::new()))
        })
        .build()
}

fn run_all(transport: impl Transport) -> suslik_client::Result<RunnerHandle> {
    let cfg = RunnerConfig {
        poll_wait: Duration::from_millis(500),
        ..RunnerConfig::default()
    };
    Ok(ActorRunner::new(transport)
        .config(cfg)
        .worker(greeter()?)
        .worker(calc()?)
        .decider(hello()?)
        .decider(summator()?)
        .start())
}

async fn scenarios(client: &ProcessClient) -> anyhow::Result<()> {
    let id = client
        .start(
            "hello#1",
            "start",
            ("Suslik",),
            StartOptions::new().custom_id("greeting-1"),
        )
        .await?;
    let text: String = client.wait_for_result(id, WAIT).await?;
    assert_eq!(text, "Hello, Suslik!");
    let view = client.state(id).await?;
    assert_eq!(view.custom_id.as_deref(), Some("greeting-1"));
    assert_eq!(view.tasks.len(), 2);

    let id = client
        .start("summator#1", "start", (4,), StartOptions::new())
        .await?;
    let total: i64 = client.wait_for_result(id, WAIT).await?;
    assert_eq!(total, 2 * (1 + 2 + 3) + 1000);

    let id = client
        .start("summator#1", "explode", (), StartOptions::new())
        .await?;
    match client.wait_for_result::<i64>(id, WAIT).await {
        Err(Error::ProcessBroken { process_id, broken }) => {
            assert_eq!(process_id, id);
            let b = broken.ok_or_else(|| anyhow::anyhow!("broken without details"))?;
            assert_eq!(b.error.error_type, PANIC);
            assert_eq!(b.error.message, "worker exploded");
        }
        other => anyhow::bail!("expected a broken process, got {other:?}"),
    }

    match client.state(suslik_client::ProcessId::random()).await {
        Err(e) => assert!(e.is_not_found(), "{e:?}"),
        Ok(v) => anyhow::bail!("unknown process found: {v:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_world_and_friends_in_process() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = Node::start(NodeConfig::single(dir.path().join("node"))).await?;
    let transport = InProcessTransport::new(node.api());
    let runner = run_all(transport.clone())?;
    let result = scenarios(&ProcessClient::new(transport)).await;
    let stats = runner.stats();
    runner.shutdown().await;
    node.shutdown().await?;
    result?;
    assert!(stats.received >= 10, "{stats:?}");
    assert_eq!(stats.release_errors, 0, "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_world_and_friends_over_http() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = Node::start(NodeConfig::single(dir.path().join("node"))).await?;
    let transport = HttpTransport::new([node.local_addr().to_string()])?;
    let runner = run_all(transport.clone())?;
    let result = scenarios(&ProcessClient::new(transport)).await;
    runner.shutdown().await;
    node.shutdown().await?;
    result
}

fn timing() -> suslik_client::Result<TypedWorker> {
    WorkerBuilder::new("timing#1")
        .method("sleep", |ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(ms)
        })
        .method_with_context(
            "flaky",
            |ctx: suslik_client::TaskContext, (): ()| async move {
                if ctx.attempt() < 2 {
                    return Err(TaskError::new("net.Flaky", "first attempt fails"));
                }
                Ok(ctx.attempt())
            },
        )
        .build()
}

/// no-wait arguments, `wait_for`, delays and retries, as the broker applies them.
fn options_decider() -> suslik_client::Result<TypedDecider> {
    DeciderBuilder::new("options#1")
        .method("no_wait", |ctx: DeciderContext, (): ()| async move {
            let slow: Promise<u64> = ctx.call("timing#1", "sleep", (300u64,), CallOptions::new());
            Ok(ctx.call_self::<(bool, bool)>("probe", (slow.no_wait(), slow.no_wait())))
        })
        .method("waited", |ctx: DeciderContext, (): ()| async move {
            let slow: Promise<u64> = ctx.call("timing#1", "sleep", (100u64,), CallOptions::new());
            let opts = CallOptions::new().wait_for(&slow);
            Ok(ctx.call_self_with::<(bool, bool)>("probe", (slow.no_wait(), slow.no_wait()), opts))
        })
        .method(
            "probe",
            |_ctx: DeciderContext, (a, _b): (Promise<u64>, Promise<u64>)| async move {
                Ok((a.is_ready(), a.task_id().is_some()))
            },
        )
        .method("delayed", |ctx: DeciderContext, (): ()| async move {
            let opts = CallOptions::new().delay(Duration::from_millis(400));
            Ok(ctx.call::<u64>("timing#1", "sleep", (1u64,), opts))
        })
        .method("retried", |ctx: DeciderContext, (): ()| async move {
            let policy = suslik_client::RetryPolicy {
                initial_interval_ms: 50,
                max_attempts: 3,
                ..suslik_client::RetryPolicy::default()
            };
            Ok(ctx.call::<u32>("timing#1", "flaky", (), CallOptions::new().retry(policy)))
        })
        .build()
}

/// The broker's own record of the delayed `sleep` task: scheduled with a due time,
/// enqueued and handed out only once due.
async fn assert_held_until_due(
    transport: &impl Transport,
    id: suslik_client::ProcessId,
) -> anyhow::Result<()> {
    use suslik_broker::model::history::EventKind;
    let view = transport.process(id).await?;
    let sleep = view
        .tasks
        .iter()
        .find(|t| t.method == "sleep")
        .map(|t| t.task_id)
        .ok_or_else(|| anyhow::anyhow!("no sleep task in {view:?}"))?;
    let history = transport.history(id, 0, 1000).await?.items;
    let of = |kind: EventKind| {
        history
            .iter()
            .find(|e| e.event == kind && e.task_id == Some(sleep))
            .ok_or_else(|| anyhow::anyhow!("no {kind:?} event for the sleep task: {history:?}"))
    };
    let scheduled = of(EventKind::Scheduled)?;
    let due: u64 = scheduled
        .detail
        .as_deref()
        .and_then(|d| d.strip_prefix("due "))
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no due time in {scheduled:?}"))?;
    assert!(due > scheduled.at.0, "due in the future: {scheduled:?}");
    let enqueued = of(EventKind::Enqueued)?;
    let delivered = of(EventKind::Delivered)?;
    assert!(enqueued.at.0 >= due, "enqueued before due: {history:?}");
    assert!(delivered.at.0 >= due, "delivered before due: {history:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_wait_for_delay_and_retry_in_process() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = Node::start(NodeConfig::single(dir.path().join("node"))).await?;
    let transport = InProcessTransport::new(node.api());
    let runner = ActorRunner::new(transport.clone())
        .worker(timing()?)
        .decider(options_decider()?)
        .start();
    let client = ProcessClient::new(transport.clone());
    let result = async {
        let id = client
            .start("options#1", "no_wait", (), StartOptions::new())
            .await?;
        let probe: (bool, bool) = client.wait_for_result(id, WAIT).await?;
        assert_eq!(probe, (false, true), "a no-wait promise arrives unresolved");

        let id = client
            .start("options#1", "waited", (), StartOptions::new())
            .await?;
        let probe: (bool, bool) = client.wait_for_result(id, WAIT).await?;
        assert_eq!(
            probe,
            (true, false),
            "wait_for holds the step until the promise resolves"
        );

        let id = client
            .start("options#1", "delayed", (), StartOptions::new())
            .await?;
        let _: u64 = client.wait_for_result(id, WAIT).await?;
        assert_held_until_due(&transport, id).await?;

        let id = client
            .start("options#1", "retried", (), StartOptions::new())
            .await?;
        let attempt: u32 = client.wait_for_result(id, WAIT).await?;
        assert_eq!(attempt, 2);
        anyhow::Ok(())
    }
    .await;
    runner.shutdown().await;
    node.shutdown().await?;
    result
}
