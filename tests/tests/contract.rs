//! The crate's contract with the container: run every actor, then every recipe;
//! an unreachable broker is an error, not a failed report.

use std::time::Duration;
use suslik_client::{HttpConfig, HttpTransport, ProcessClient};
use suslik_tests::{recipe, Broker, PATIENCE};

/// What the container does: run every actor, then every recipe, one after another
/// on one broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recipe_passes_when_run_like_the_container_does() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let runner = broker.run_recipes();
    let processes: ProcessClient = broker.processes();
    let result = async {
        let mut names = Vec::new();
        for recipe in suslik_recipes::all() {
            let report = recipe.run(&processes, PATIENCE).await?;
            assert!(report.ok, "{report}");
            assert!(!report.lines.is_empty(), "{report}");
            assert!(report
                .to_string()
                .starts_with(&format!("recipe {}: ok\n", recipe.name)));
            names.push(report.recipe);
        }
        assert_eq!(
            names,
            [
                "hello",
                "fanout",
                "priority",
                "retry",
                "order",
                "subprocess",
                "signal",
                "delayed",
                "pcollection",
                "recursion",
                "nowait",
                "heartbeat",
                "scheduled",
                "wait"
            ]
        );
        anyhow::Ok(())
    }
    .await;
    let stats = runner.stats();
    runner.shutdown().await;
    broker.stop().await?;
    result?;
    assert_eq!(stats.release_errors, 0, "{stats:?}");
    Ok(())
}

/// Recipes report unreachable brokers as errors rather than as failed lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipe_against_a_stopped_broker_is_an_error() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let give_up_soon = HttpConfig {
        max_attempts: 3,
        give_up_after: Duration::from_secs(1),
        ..HttpConfig::default()
    };
    let transport = HttpTransport::with_config([broker.addr().to_string()], give_up_soon)?;
    let processes = ProcessClient::new(transport);
    broker.stop().await?;
    let outcome =
        tokio::time::timeout(PATIENCE, recipe("hello")?.run(&processes, PATIENCE)).await?;
    assert!(outcome.is_err(), "{outcome:?}");
    Ok(())
}
