//! Delivery fencing, heartbeats and per-task timeouts against a real `suslik serve`.
//!
//! Short leases (`--lease-ms`) make re-deliveries happen within a test; assertions are
//! about who may release what and what is handed out again, never about how fast.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use suslik_broker::model::wire::{ReleaseStatus, TaskStatus};
use suslik_broker::model::{
    Delivery, ErrorInfo, Millis, Outcome, ProcessState, RetryKind, RetryPolicy, TaskId,
};

const DECIDER: &str = "fence.Decider#1";

fn heartbeat_body(d: &Delivery) -> Value {
    json!({ "delivery_id": d.delivery_id })
}

async fn heartbeat(api: &Api, d: &Delivery, body: &Value) -> (u16, Value) {
    api.post_json(&format!("/api/v1/tasks/{}/heartbeat", d.task_id), body)
        .await
}

#[tokio::test]
async fn a_release_of_a_stale_delivery_is_refused_and_changes_nothing() {
    let server = Server::with_args(&["--lease-ms", "300"]).await;
    let api = server.api();
    let started = api.start(&start(DECIDER, "m", vec![])).await;
    let first = api.next_task(DECIDER).await;
    // Not released within its lease: handed out again, as a new delivery.
    let second = api.next_task(DECIDER).await;
    assert_eq!(second.task_id, first.task_id);
    assert_eq!(second.attempt, first.attempt);
    assert_ne!(second.delivery_id, first.delivery_id);
    assert!(second.delivered_at >= first.lease_until);

    let before = api.process(started.process_id).await;
    let stale = api
        .try_release(&decision(
            &first,
            value_outcome(json!("from the first")),
            vec![],
        ))
        .await
        .expect_err("a release of the first delivery while the second holds the task");
    assert_eq!(stale.code(), Some("stale_delivery"));
    assert_eq!(api.process(started.process_id).await, before);
    assert!(api.task(started.task_id).await.leased);

    // The same stale release in a batch is refused the same way, item by item.
    let (status, batch) = api
        .post_json(
            "/api/v1/tasks/release/batch",
            &json!({ "decisions": [decision(&first, value_outcome(json!(1)), vec![])] }),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(
        batch["results"][0]["error"]["error"],
        json!("stale_delivery")
    );
    assert_eq!(api.process(started.process_id).await, before);

    // The current delivery releases normally.
    let r = api
        .release(&decision(
            &second,
            value_outcome(json!("from the second")),
            vec![],
        ))
        .await;
    assert!(!r.duplicate);
    assert_eq!(r.process_state, ProcessState::Finished);
    let p = api.process(started.process_id).await;
    assert_eq!(p.result, Some(json(json!("from the second"))));
}

#[tokio::test]
async fn a_late_release_of_an_old_delivery_is_a_duplicate_only_with_the_same_outcome() {
    let server = Server::with_args(&["--lease-ms", "300"]).await;
    let api = server.api();
    let started = api.start(&start(DECIDER, "m", vec![])).await;
    let first = api.next_task(DECIDER).await;
    let second = api.next_task(DECIDER).await;
    let receipt = api
        .release(&decision(&second, value_outcome(json!(42)), vec![]))
        .await;

    // The task is released now, so nothing holds a lease: the first delivery's
    // release with the same outcome repeats the receipt...
    let same = api
        .release(&decision(&first, value_outcome(json!(42)), vec![]))
        .await;
    assert!(same.duplicate);
    assert_eq!(same.status, receipt.status);
    // ...and with another outcome it is refused.
    let other = api
        .try_release(&decision(&first, value_outcome(json!(7)), vec![]))
        .await
        .expect_err("another outcome for a released task");
    assert_eq!(other.code(), Some("already_released"));
    let p = api.process(started.process_id).await;
    assert_eq!(p.result, Some(json(json!(42))));

    // A delivery whose lease ran out with nobody polling since may still release.
    let next = api.start(&start(DECIDER, "m", vec![])).await;
    let only = api.next_task(DECIDER).await;
    assert_eq!(only.task_id, next.task_id);
    let mut waited = 0;
    while api.task(next.task_id).await.leased {
        assert!(waited < 600, "the lease never ran out");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let late = api
        .release(&decision(&only, value_outcome(json!("late")), vec![]))
        .await;
    assert!(!late.duplicate);
    assert_eq!(late.process_state, ProcessState::Finished);
}

#[tokio::test]
async fn heartbeats_keep_a_long_task_from_redelivery_and_it_is_redelivered_once_they_stop() {
    let server = Server::with_args(&["--lease-ms", "1000"]).await;
    let api = server.api();
    let started = api.start(&start(DECIDER, "long", vec![])).await;
    let d = api.next_task(DECIDER).await;

    // Beat every fifth of the lease for three leases: nobody else gets the task.
    let mut last_until = d.lease_until;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, body) = heartbeat(&api, &d, &heartbeat_body(&d)).await;
        assert_eq!(status, 200, "{body}");
        let until = Millis(body["lease_until"].as_u64().expect("lease_until"));
        assert!(until >= last_until, "a heartbeat moved the lease back");
        last_until = until;
        assert!(
            api.poll(DECIDER, 1, 0).await.is_empty(),
            "a heartbeating task was handed out again"
        );
    }
    assert!(last_until > d.lease_until);
    assert!(api.task(started.task_id).await.leased);

    // Beats stop: after the lease it is handed out again, to a new delivery.
    let again = api.next_task(DECIDER).await;
    assert_eq!(again.task_id, d.task_id);
    assert_ne!(again.delivery_id, d.delivery_id);
    let (status, body) = heartbeat(&api, &d, &heartbeat_body(&d)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], json!("stale_delivery"));

    // An explicit extension is honoured (within the node's cap).
    let (status, body) = heartbeat(
        &api,
        &again,
        &json!({"delivery_id": again.delivery_id, "extend_ms": 5000}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["lease_until"].as_u64() >= Some(again.delivered_at.0 + 5000));

    api.release(&decision(&again, value_outcome(json!("done")), vec![]))
        .await;
    let (status, body) = heartbeat(&api, &again, &heartbeat_body(&again)).await;
    assert_eq!((status, body["error"].clone()), (409, json!("not_leased")));
}

#[tokio::test]
async fn heartbeats_of_unknown_tasks_and_malformed_requests_are_rejected() {
    let server = Server::start().await;
    let api = server.api();
    let (status, body) = api
        .post_json(
            &format!("/api/v1/tasks/{}/heartbeat", TaskId::random()),
            &json!({"delivery_id": TaskId::random()}),
        )
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (404, json!("unknown_task"))
    );
    let (status, body) = api
        .post_json(
            "/api/v1/tasks/not-a-uuid/heartbeat",
            &json!({"delivery_id": TaskId::random()}),
        )
        .await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid")));
    let (status, body) = api
        .post_json(
            &format!("/api/v1/tasks/{}/heartbeat", TaskId::random()),
            &json!({}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_timeout_fails_the_attempt_and_the_retry_runs() {
    let server = Server::start().await;
    let api = server.api();
    let mut req = start(DECIDER, "slow", vec![]);
    req.options.timeout_ms = Some(400);
    req.options.retry = Some(RetryPolicy {
        kind: RetryKind::Linear,
        initial_interval_ms: 50,
        max_attempts: 2,
        ..RetryPolicy::default()
    });
    let started = api.start(&req).await;
    let first = api.next_task(DECIDER).await;
    assert_eq!(
        first.lease_until,
        first.delivered_at.plus(400),
        "the lease ends at the timeout"
    );
    // A heartbeat cannot pass the timeout.
    let (status, body) = heartbeat(
        &api,
        &first,
        &json!({"delivery_id": first.delivery_id, "extend_ms": 60000}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lease_until"].as_u64(), Some(first.lease_until.0));

    // Not released in time: attempt 1 fails with suslik.Timeout and attempt 2 runs.
    let second = api.next_task(DECIDER).await;
    assert_eq!(second.task_id, first.task_id);
    assert_eq!(second.attempt, 2);
    let view = api.task(started.task_id).await;
    assert_eq!(
        view.error.map(|e| e.error_type).as_deref(),
        Some("suslik.Timeout")
    );

    // The late real release of attempt 1 is refused: that attempt already ended.
    let late = api
        .try_release(&decision(&first, value_outcome(json!("late")), vec![]))
        .await
        .expect_err("a release of the timed-out attempt");
    assert!(
        matches!(late.code(), Some("already_released" | "stale_delivery")),
        "{late:?}"
    );
    let r = api
        .release(&decision(&second, value_outcome(json!("in time")), vec![]))
        .await;
    assert_eq!(r.status, ReleaseStatus::Resolved);
    let p = api.process(started.process_id).await;
    assert_eq!(p.state, ProcessState::Finished);
    assert_eq!(p.result, Some(json(json!("in time"))));

    // The history tells the story: each delivery, the timeout of attempt 1, the retry.
    let (status, history) = api
        .get_json(&format!(
            "/api/v1/processes/{}/history?limit=100",
            started.process_id
        ))
        .await;
    assert_eq!(status, 200, "{history}");
    let events: Vec<(String, Option<u64>)> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["task_id"] == json!(started.task_id))
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_string(),
                e["attempt"].as_u64(),
            )
        })
        .filter(|(kind, _)| kind != "enqueued")
        .collect();
    let expected = [
        ("started", None),
        ("delivered", Some(1)),
        ("timed_out", Some(1)),
        ("released", Some(1)),
        ("retry_scheduled", Some(2)),
        ("delivered", Some(2)),
        ("released", Some(2)),
    ];
    let expected: Vec<(String, Option<u64>)> =
        expected.iter().map(|(k, a)| (k.to_string(), *a)).collect();
    assert_eq!(events, expected, "{history}");
}

#[tokio::test]
async fn a_timeout_with_no_retry_left_breaks_the_process_unless_accepted() {
    let server = Server::start().await;
    let api = server.api();
    let mut req = start(DECIDER, "slow", vec![]);
    req.options.timeout_ms = Some(200);
    let started = api.start(&req).await;
    let d = api.next_task(DECIDER).await;
    let mut waited = 0;
    while api.process(started.process_id).await.state == ProcessState::Running {
        assert!(waited < 600, "the timeout never fired");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let p = api.process(started.process_id).await;
    assert_eq!(p.state, ProcessState::Broken);
    let broken = p.broken.expect("broken info");
    assert_eq!(broken.error.error_type, "suslik.Timeout");
    assert_eq!(api.task(started.task_id).await.status, TaskStatus::Released);
    let late = api
        .try_release(&decision(
            &d,
            Outcome::Error(ErrorInfo::new("suslik.Timeout", "")),
            vec![],
        ))
        .await
        .expect("the same outcome again is a duplicate");
    assert!(late.duplicate);
}
