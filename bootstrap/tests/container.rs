//! The container against a real broker (in process): failures never kill a poller,
//! and shutdown releases what is in flight or, past the deadline, leaves it to the
//! broker.

mod common;

use common::{wait_until_leased, Broker};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use suslik_bootstrap::diag::{self, DIAG_DECIDER, DIAG_WORKER};
use suslik_bootstrap::{
    ActorConfig, BootstrapConfig, Container, Registry, StartError, TracingProfiler,
};
use suslik_client::{
    error_types, ActorId, InProcessTransport, ProcessState, StartOptions, TaskList, Transport,
};

fn config(pollers: usize) -> BootstrapConfig {
    let entry = |id: &str| {
        let mut a = ActorConfig::new(ActorId::new(id).expect("valid"), TaskList::default_list());
        a.pollers = pollers;
        a.poll_wait_ms = 200;
        a
    };
    BootstrapConfig {
        actors: vec![entry(DIAG_WORKER), entry(DIAG_DECIDER)],
        ..BootstrapConfig::default()
    }
}

fn transport(b: &Broker) -> Arc<dyn Transport> {
    Arc::new(InProcessTransport::new(b.node.api()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_and_errors_become_error_releases_and_the_poller_survives() {
    let b = Broker::start().await;
    let profiler = Arc::new(TracingProfiler::default());
    // One poller: if a panic killed it, nothing after would run.
    let container = Container::new(config(1), diag::registry())
        .with_profiler(profiler.clone())
        .spawn(transport(&b))
        .expect("starts");
    let p = b.processes();
    let wait = Duration::from_secs(20);

    let id = p
        .start(DIAG_DECIDER, "run", ("panic", "kaput"), StartOptions::new())
        .await
        .expect("start");
    let view = p.wait_for_end(id, wait).await.expect("ends");
    assert_eq!(view.state, ProcessState::Broken);
    let broken = view.broken.expect("broken info");
    assert_eq!(broken.error.error_type, error_types::PANIC);
    assert_eq!(broken.error.message, "kaput");

    let id = p
        .start(
            DIAG_DECIDER,
            "run",
            ("fail", ("biz.Nope", "no luck")),
            StartOptions::new(),
        )
        .await
        .expect("start");
    let view = p.wait_for_end(id, wait).await.expect("ends");
    let broken = view.broken.expect("broken info");
    assert_eq!(
        (
            broken.error.error_type.as_str(),
            broken.error.message.as_str()
        ),
        ("biz.Nope", "no luck")
    );

    let id = p
        .start(
            DIAG_DECIDER,
            "run",
            ("echo", json!({"still": "alive"})),
            StartOptions::new(),
        )
        .await
        .expect("start");
    let v: Value = p.wait_for_result(id, wait).await.expect("result");
    assert_eq!(v, json!({"still": "alive"}));

    // The result is visible once the release is committed, a moment before the answer
    // reaches the worker's profiler: wait for that answer.
    let worker_id = ActorId::new(DIAG_WORKER).expect("valid");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let worker = loop {
        let worker = profiler.snapshot()[&worker_id];
        if worker.released == 3 || std::time::Instant::now() > deadline {
            break worker;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!((worker.failed, worker.succeeded), (2, 1), "{worker:?}");
    assert_eq!(worker.released, 3, "{worker:?}");
    let report = container.shutdown(Duration::from_secs(5)).await;
    assert!(report.clean, "{report:?}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_and_releases_tasks_in_flight() {
    let b = Broker::start().await;
    let container = Container::start(config(2), diag::registry(), transport(&b)).expect("starts");
    let p = b.processes();
    let id = p
        .start(DIAG_DECIDER, "run", ("sleep", 700), StartOptions::new())
        .await
        .expect("start");
    wait_until_leased(&p, id, "sleep", Duration::from_secs(20)).await;
    // The decider's own release may still be on its way back (its answer removes it
    // from the in-flight set): wait for the sleeper to be the only task in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while container.in_flight() != 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(container.in_flight(), 1);

    let report = container.shutdown(Duration::from_secs(10)).await;
    assert!(report.clean, "{report:?}");
    assert!(report.abandoned.is_empty());
    // Released by the stopping container, not re-delivered after a lease expiry.
    let view = p.state(id).await.expect("state");
    assert_eq!(view.state, ProcessState::Finished, "{view:?}");
    assert_eq!(
        view.result.map(|r| r.as_str().to_string()).as_deref(),
        Some("700")
    );
    let sleep = view
        .tasks
        .iter()
        .find(|t| t.method == "sleep")
        .expect("sleep task");
    assert_eq!(sleep.attempt, 1, "{sleep:?}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_running_past_the_deadline_are_left_to_the_broker() {
    let b = Broker::start().await;
    let container = Container::start(config(1), diag::registry(), transport(&b)).expect("starts");
    let p = b.processes();
    let id = p
        .start(DIAG_DECIDER, "run", ("sleep", 10_000), StartOptions::new())
        .await
        .expect("start");
    wait_until_leased(&p, id, "sleep", Duration::from_secs(20)).await;

    let report = container.shutdown(Duration::from_millis(200)).await;
    assert!(!report.clean);
    let view = p.state(id).await.expect("state");
    let sleep = view
        .tasks
        .iter()
        .find(|t| t.method == "sleep")
        .expect("sleep task");
    assert_eq!(report.abandoned, vec![sleep.task_id]);
    assert_eq!(view.state, ProcessState::Running);
    assert!(
        sleep.leased,
        "still leased: the broker re-delivers it on expiry"
    );
    b.stop().await;
}

#[tokio::test]
async fn a_container_needs_known_actors() {
    let t: Arc<dyn Transport> =
        Arc::new(suslik_client::HttpTransport::new(["127.0.0.1:9"]).expect("valid"));
    let err = Container::start(config(1), Registry::new(), t.clone()).err();
    assert_eq!(
        err,
        Some(StartError::UnknownActor {
            index: 0,
            id: ActorId::new(DIAG_WORKER).expect("valid")
        })
    );
    let empty = Container::start(BootstrapConfig::default(), diag::registry(), t).err();
    assert_eq!(empty, Some(StartError::NoActors));
}
