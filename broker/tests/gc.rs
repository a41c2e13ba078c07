//! Garbage collection against a real server: an ended process is deleted with all its
//! tasks once the configured delay has passed, the state shrinks, broken processes wait
//! for an operator unless told otherwise, and the deletion survives a restart.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use suslik_broker::model::{ErrorInfo, Outcome, ProcessState};

/// Polls `/api/v1/stats` until `done` holds (or fails after a generous timeout).
async fn wait_for_stats(
    api: &Api,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..200 {
        let (status, stats) = api.get_json("/api/v1/stats").await;
        assert_eq!(status, 200);
        if done(&stats) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn an_ended_process_is_deleted_after_the_delay_and_stays_deleted() {
    let mut server = Server::with_args(&["--gc-delay-ms", "300"]).await;
    let api = server.api();

    // One process finishes; one breaks.
    let done = api.start(&start("d#1", "run", vec![])).await;
    let d = api.next_task("d#1").await;
    let w = worker("w#1", "work", vec![value(json!(1))]);
    let w_id = w.task_id;
    api.release(&decision(&d, Outcome::Promise(w_id), vec![w]))
        .await;
    let t = api.next_task("w#1").await;
    let r = api
        .release(&decision(&t, value_outcome(json!(2)), vec![]))
        .await;
    assert_eq!(r.process_state, ProcessState::Finished);
    let broken = api.start(&start("d#1", "run", vec![])).await;
    let b = api.next_task("d#1").await;
    let r = api
        .release(&decision(
            &b,
            Outcome::Error(ErrorInfo::new("x.Y", "no")),
            vec![],
        ))
        .await;
    assert_eq!(r.process_state, ProcessState::Broken);

    let stats = wait_for_stats(&api, "the finished process to be collected", |s| {
        s["processes"] == 1
    })
    .await;
    assert_eq!(
        stats["tasks"], 1,
        "only the broken process's task is left: {stats}"
    );
    let (status, body) = api
        .get_json(&format!("/api/v1/processes/{}", done.process_id))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = api.get_json(&format!("/api/v1/tasks/{w_id}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        api.process(broken.process_id).await.state,
        ProcessState::Broken
    );

    // A late release of a collected task is simply unknown.
    let (status, body) = api
        .post_json(
            "/api/v1/tasks/release",
            &decision(&t, value_outcome(json!(2)), vec![]),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_task"))
    );

    // The deletion was a replicated command: a restart does not bring it back.
    server.kill();
    server.restart().await;
    let api = server.api();
    let (status, _) = api
        .get_json(&format!("/api/v1/processes/{}", done.process_id))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        api.process(broken.process_id).await.state,
        ProcessState::Broken
    );
}

#[tokio::test]
async fn broken_processes_are_collected_when_configured() {
    let server = Server::with_args(&["--gc-delay-ms", "200", "--gc-include-broken"]).await;
    let api = server.api();
    api.start(&start("d#1", "run", vec![])).await;
    let b = api.next_task("d#1").await;
    api.release(&decision(
        &b,
        Outcome::Error(ErrorInfo::new("x", "")),
        vec![],
    ))
    .await;
    wait_for_stats(&api, "the broken process to be collected", |s| {
        s["processes"] == 0 && s["tasks"] == 0
    })
    .await;
}
