//! The SDK against a broker with tokens: the actor token runs a process end to end over
//! HTTP; without it (or with a wrong one) the broker's 401 comes back as a rejection.

use std::time::Duration;
use suslik_broker::api::auth::AuthConfig;
use suslik_broker::node::{Node, NodeConfig};
use suslik_client::{
    ActorRunner, CallOptions, DeciderBuilder, DeciderContext, HttpTransport, ProcessClient,
    Promise, RunnerConfig, StartOptions, WorkerBuilder,
};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_token_runs_a_process_and_no_token_is_rejected() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut cfg = NodeConfig::single(dir.path().join("node"));
    cfg.auth = AuthConfig {
        actor_token: Some("actor-secret".into()),
        operator_token: Some("operator-secret".into()),
        peer_secret: None,
    };
    let node = Node::start(cfg).await?;
    let addr = node.local_addr().to_string();

    let transport = HttpTransport::with_token([addr.clone()], "actor-secret")?;
    let greeter = WorkerBuilder::new("greeter#1")
        .method("greet", |name: String| async move {
            Ok(format!("Hello, {name}!"))
        })
        .build()?;
    let hello = DeciderBuilder::new("hello#1")
        .method("start", |ctx: DeciderContext, name: String| async move {
            let greeting: Promise<String> =
                ctx.call("greeter#1", "greet", (name,), CallOptions::new());
            Ok(greeting)
        })
        .build()?;
    let runner = ActorRunner::new(transport.clone())
        .config(RunnerConfig {
            poll_wait: Duration::from_millis(500),
            ..RunnerConfig::default()
        })
        .worker(greeter)
        .decider(hello)
        .start();
    let client = ProcessClient::new(transport);
    let id = client
        .start("hello#1", "start", ("Suslik",), StartOptions::new())
        .await?;
    let text: String = client.wait_for_result(id, WAIT).await?;
    assert_eq!(text, "Hello, Suslik!");
    runner.shutdown().await;

    for transport in [
        HttpTransport::new([addr.clone()])?,
        HttpTransport::with_token([addr.clone()], "wrong")?,
    ] {
        let err = ProcessClient::new(transport)
            .start("hello#1", "start", ("x",), StartOptions::new())
            .await
            .expect_err("no valid token");
        assert_eq!(err.status(), Some(401), "{err:?}");
        assert_eq!(err.code(), Some("unauthorized"), "{err:?}");
    }
    node.shutdown().await?;
    Ok(())
}
