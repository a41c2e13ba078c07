//! The HTTP API against a real `suslik serve` process: each test starts its own server
//! on a temporary data directory and a free port.
//!
//! Behaviour only: where time matters (retries, delayed starts, leases) the tests assert
//! order and causality ("not handed out before its time"), never how fast something was.

mod common;

use common::*;
use serde_json::json;
use suslik_broker::model::wire::{ReleaseReceipt, ReleaseStatus, TaskStatus};
use suslik_broker::model::{
    Arg, ErrorInfo, Millis, Outcome, ProcessId, ProcessState, ResolvedArg, RetryKind, RetryPolicy,
    TaskId, TaskKind, TaskList,
};

const DECIDER: &str = "hello.Decider#1";
const WORKER: &str = "hello.Worker#1";

fn error(error_type: &str, message: &str) -> Outcome {
    Outcome::Error(ErrorInfo::new(error_type, message))
}

#[tokio::test]
async fn hello_process_runs_end_to_end() {
    let server = Server::start().await;
    let api = server.api();

    let mut req = start(DECIDER, "greet", vec![value(json!("world"))]);
    req.custom_id = Some("hello-1".into());
    let started = api.start(&req).await;

    // The decider receives the start task with its argument.
    let d = api.next_task(DECIDER).await;
    assert_eq!(d.task_id, started.task_id);
    assert_eq!(d.process_id, started.process_id);
    assert_eq!(d.kind, TaskKind::DeciderStart);
    assert_eq!(d.method, "greet");
    assert_eq!(d.attempt, 1);
    assert_eq!(d.args.len(), 1);
    assert_eq!(arg_json(&d.args[0]), json!("world"));

    // It spawns a worker task and returns that task's promise.
    let w = worker(WORKER, "format", vec![value(json!("world"))]);
    let receipt = api
        .release(&decision(&d, Outcome::Promise(w.task_id), vec![w.clone()]))
        .await;
    assert_eq!(receipt.task_id, d.task_id);
    assert_eq!(receipt.process_id, started.process_id);
    assert_eq!(receipt.status, ReleaseStatus::AwaitingPromise);
    assert_eq!(receipt.process_state, ProcessState::Running);
    assert!(!receipt.duplicate);
    assert_eq!(
        api.process(started.process_id).await.state,
        ProcessState::Running
    );

    // The worker gets the spawned task and resolves it.
    let wd = api.next_task(WORKER).await;
    assert_eq!(wd.task_id, w.task_id);
    assert_eq!(wd.process_id, started.process_id);
    assert_eq!(wd.kind, TaskKind::Worker);
    assert_eq!(wd.method, "format");
    assert_eq!(arg_json(&wd.args[0]), json!("world"));
    let receipt = api
        .release(&decision(
            &wd,
            value_outcome(json!("Hello, world!")),
            vec![],
        ))
        .await;
    assert_eq!(receipt.status, ReleaseStatus::Resolved);
    assert_eq!(receipt.process_state, ProcessState::Finished);

    // The process finished with the worker's value, through the returned promise.
    let p = api.process(started.process_id).await;
    assert_eq!(p.state, ProcessState::Finished);
    assert_eq!(p.result, Some(json(json!("Hello, world!"))));
    assert_eq!(p.error, None);
    assert_eq!(p.custom_id.as_deref(), Some("hello-1"));
    assert_eq!(p.starter, actor_id(DECIDER));
    assert_eq!(p.start_task_id, started.task_id);
    assert!(p.ended_at.is_some());
    let ids: Vec<TaskId> = p.tasks.iter().map(|t| t.task_id).collect();
    assert_eq!(ids, vec![started.task_id, w.task_id]);
    assert!(p.tasks.iter().all(|t| t.status == TaskStatus::Released));
    assert_eq!(p.tasks[1].parent, Some(started.task_id));
}

#[tokio::test]
async fn fan_in_task_is_handed_out_only_after_all_inputs_are_released() {
    let server = Server::start().await;
    let api = server.api();
    let started = api
        .start(&start("calc.Decider#1", "sum_of_squares", vec![]))
        .await;
    let d = api.next_task("calc.Decider#1").await;

    let squares: Vec<_> = (1..=3)
        .map(|n| worker("calc.Square#1", "square", vec![value(json!(n))]))
        .collect();
    let sum = worker(
        "calc.Adder#1",
        "sum",
        vec![Arg::Array(
            squares.iter().map(|s| promise(s.task_id)).collect(),
        )],
    );
    let mut tasks = squares.clone();
    tasks.push(sum.clone());
    api.release(&decision(&d, Outcome::Promise(sum.task_id), tasks))
        .await;

    let inputs = api.poll("calc.Square#1", 10, 0).await;
    assert_eq!(inputs.len(), 3, "the three inputs are ready at once");
    for (i, input) in inputs.iter().enumerate() {
        assert!(
            api.poll("calc.Adder#1", 10, 0).await.is_empty(),
            "sum handed out with {i} of 3 inputs released"
        );
        let sum_view = api.task(sum.task_id).await;
        assert_eq!(sum_view.status, TaskStatus::Waiting);
        assert_eq!(sum_view.missing, 3 - i as u32);
        let n = arg_json(&input.args[0]).as_i64().unwrap();
        api.release(&decision(input, value_outcome(json!(n * n)), vec![]))
            .await;
    }

    let s = api.next_task("calc.Adder#1").await;
    assert_eq!(s.task_id, sum.task_id);
    let inputs = arg_json(&s.args[0]);
    let got: Vec<i64> = inputs
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![1, 4, 9], "promises resolved in argument order");
    api.release(&decision(&s, value_outcome(json!(14)), vec![]))
        .await;
    let p = api.process(started.process_id).await;
    assert_eq!(p.state, ProcessState::Finished);
    assert_eq!(p.result, Some(json(json!(14))));
}

#[tokio::test]
async fn repeated_release_returns_the_first_receipt_and_changes_nothing() {
    let server = Server::start().await;
    let api = server.api();
    let started = api.start(&start(DECIDER, "greet", vec![])).await;
    let d = api.next_task(DECIDER).await;
    let first = api
        .release(&decision(&d, value_outcome(json!("first")), vec![]))
        .await;
    assert_eq!(first.status, ReleaseStatus::Resolved);
    assert_eq!(first.process_state, ProcessState::Finished);
    assert!(!first.duplicate);
    let before = api.process(started.process_id).await;

    // The same decision again is answered with the first receipt.
    let again = api
        .release(&decision(&d, value_outcome(json!("first")), vec![]))
        .await;
    assert!(again.duplicate);
    assert_eq!(
        ReleaseReceipt {
            duplicate: false,
            ..again
        },
        first
    );
    // A different decision for the same task is refused.
    let spawned = worker(WORKER, "late", vec![]);
    let other = api
        .try_release(&decision(
            &d,
            Outcome::Promise(spawned.task_id),
            vec![spawned.clone()],
        ))
        .await
        .expect_err("another outcome for a released task");
    assert_eq!(other.code(), Some("already_released"));
    assert_eq!(api.process(started.process_id).await, before);
    let (status, body) = api
        .get_json(&format!("/api/v1/tasks/{}", spawned.task_id))
        .await;
    assert_eq!(status, 404, "a duplicate release registered a task: {body}");
    assert!(api.poll(WORKER, 10, 0).await.is_empty());
}

#[tokio::test]
async fn release_of_an_unknown_task_is_404() {
    let server = Server::start().await;
    let (status, body) = server
        .api()
        .post_json(
            "/api/v1/tasks/release",
            &json!({"task_id": TaskId::random(), "outcome": {"value": 1}}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(error_body(&body).error, "unknown_task");
}

#[tokio::test]
async fn malformed_json_is_400_malformed_json() {
    let server = Server::start().await;
    let api = server.api();
    for path in [
        "/api/v1/processes",
        "/api/v1/tasks/poll",
        "/api/v1/tasks/release",
        "/api/v1/tasks/release/batch",
        "/api/v1/actors/block",
    ] {
        let (status, body) = api
            .post_raw(path, "application/json", b"{\"task_id\": ".to_vec())
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        let e = error_body(&body);
        assert_eq!(e.error, "malformed_json", "{path}");
        assert!(!e.message.is_empty());
    }
    // Well-formed JSON of the wrong shape is invalid, not malformed.
    let (status, body) = api
        .post_json(
            "/api/v1/tasks/release",
            &json!({"task_id": TaskId::random()}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_body(&body).error, "invalid");
}

#[tokio::test]
async fn a_misspelt_field_is_400_naming_it_and_the_field_meant() {
    let server = Server::start().await;
    let api = server.api();
    // The typo would otherwise turn a long poll into a busy loop.
    let (status, body) = api
        .post_json(
            "/api/v1/tasks/poll",
            &json!({"actor_id": WORKER, "waitms": 5000, "mx": 10}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let e = error_body(&body);
    assert_eq!(e.error, "unknown_field", "{body}");
    assert!(
        e.message
            .contains("unknown field `waitms` (did you mean `wait_ms`?)"),
        "{}",
        e.message
    );
    // Deep in a start: the path, and nothing was started.
    let (status, body) = api
        .post_json(
            "/api/v1/processes",
            &json!({"actor_id": DECIDER, "method": "start",
                    "args": [{"promise": {"task_id": TaskId::random(), "no_wiat": true}}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let e = error_body(&body);
    assert!(
        e.message
            .contains("unknown field `args[0].promise.no_wiat` (did you mean `no_wait`?)"),
        "{}",
        e.message
    );
    let (_, listing) = api.get_json("/api/v1/processes").await;
    assert_eq!(listing["total"], 0, "{listing}");
}

#[tokio::test]
async fn valid_json_of_the_wrong_shape_names_the_field_and_what_it_expects() {
    let server = Server::start().await;
    let (status, body) = server
        .api()
        .post_json(
            "/api/v1/processes",
            &json!({"actor_id": DECIDER, "method": "start", "args": [0]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let e = error_body(&body);
    assert_eq!(e.error, "invalid", "{body}");
    assert!(
        e.message.starts_with(
            "field `args[0]`: invalid type: integer `0`, expected an argument: {\"value\""
        ),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_wrong_method_or_content_type_is_a_json_error() {
    let server = Server::start().await;
    let api = server.api();
    let answer = reqwest::Client::new()
        .get(format!("{}/api/v1/tasks/poll", api.base()))
        .send()
        .await
        .expect("GET poll");
    assert_eq!(answer.status(), 405);
    assert_eq!(
        answer.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let body: serde_json::Value = answer.json().await.expect("a JSON body");
    let e = error_body(&body);
    assert_eq!(e.error, "method_not_allowed");
    assert!(
        e.message
            .contains("GET is not allowed on /api/v1/tasks/poll"),
        "{}",
        e.message
    );

    let (status, body) = api
        .post_raw(
            "/api/v1/tasks/poll",
            "text/plain",
            br#"{"actor_id": "a#1"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(error_body(&body).error, "unsupported_media_type");
    // A `+json` type is JSON.
    let (status, body) = api
        .post_raw(
            "/api/v1/tasks/poll",
            "application/vnd.suslik+json",
            br#"{"actor_id": "a#1"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_invalid_actor_id_is_400() {
    let server = Server::start().await;
    let api = server.api();
    for bad in ["no-version", "#1", "name#", "a b#1", ""] {
        let (status, body) = api
            .post_json(
                "/api/v1/processes",
                &json!({"actor_id": bad, "method": "m"}),
            )
            .await;
        assert_eq!(status, 400, "start with {bad:?}: {body}");
        assert_eq!(error_body(&body).error, "invalid");
        let (status, body) = api
            .post_json("/api/v1/tasks/poll", &json!({"actor_id": bad}))
            .await;
        assert_eq!(status, 400, "poll with {bad:?}: {body}");
        let (status, body) = api
            .post_json("/api/v1/actors/block", &json!({"actor_id": bad}))
            .await;
        assert_eq!(status, 400, "block with {bad:?}: {body}");
    }
    // Nothing was started by the rejected requests.
    assert_eq!(api.queues().await["queues"], json!([]));
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_413() {
    let server = Server::with_args(&["--max-body-bytes", "2048"]).await;
    let api = server.api();
    let big = "x".repeat(8 * 1024);
    let (status, body) = api
        .post_json(
            "/api/v1/processes",
            &json!({"actor_id": DECIDER, "method": "m", "args": [{"value": big}]}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_body(&body).error, "payload_too_large");
    // Under the limit is fine, and the oversized start left nothing behind.
    let started = api
        .start(&start(DECIDER, "m", vec![value(json!("small"))]))
        .await;
    let got = api.poll(DECIDER, 10, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].task_id, started.task_id);
}

#[tokio::test]
async fn a_promise_to_another_process_is_400_and_changes_nothing() {
    let server = Server::start().await;
    let api = server.api();
    let p1 = api.start(&start(DECIDER, "one", vec![])).await;
    let p2 = api.start(&start(DECIDER, "two", vec![])).await;
    let delivered = api.poll(DECIDER, 2, 0).await;
    assert_eq!(delivered.len(), 2);
    let d1 = delivered.iter().find(|d| d.task_id == p1.task_id).unwrap();
    let view1 = api.process(p1.process_id).await;
    let view2 = api.process(p2.process_id).await;

    // A fine first task, then one that waits on process 2's start task.
    let ok = worker(WORKER, "fine", vec![]);
    let thief = worker(WORKER, "steal", vec![value(json!(1)), promise(p2.task_id)]);
    let bad = decision(
        d1,
        Outcome::Promise(thief.task_id),
        vec![ok.clone(), thief.clone()],
    );
    let (status, body) = api.post_json("/api/v1/tasks/release", &bad).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_body(&body).error, "invalid");

    // Returning another process's promise is refused the same way.
    let (status, body) = api
        .post_json(
            "/api/v1/tasks/release",
            &decision(d1, Outcome::Promise(p2.task_id), vec![]),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    assert_eq!(api.process(p1.process_id).await, view1);
    assert_eq!(api.process(p2.process_id).await, view2);
    for t in [ok.task_id, thief.task_id] {
        assert!(matches!(
            api.try_task(t).await,
            Err(Failure::Status(404, _))
        ));
    }
    assert!(api.poll(WORKER, 10, 0).await.is_empty());

    // The task was not consumed: a valid decision for it is accepted.
    let r = api
        .release(&decision(d1, value_outcome(json!("ok")), vec![]))
        .await;
    assert_eq!(r.status, ReleaseStatus::Resolved);
    assert!(!r.duplicate);
}

#[tokio::test]
async fn releasing_a_task_that_still_waits_for_promises_is_409() {
    let server = Server::start().await;
    let api = server.api();
    api.start(&start(DECIDER, "chain", vec![])).await;
    let d = api.next_task(DECIDER).await;
    let a = worker(WORKER, "first", vec![]);
    let b = worker(WORKER, "second", vec![promise(a.task_id)]);
    api.release(&decision(
        &d,
        Outcome::Promise(b.task_id),
        vec![a.clone(), b.clone()],
    ))
    .await;

    let mut early = decision(&d, value_outcome(json!("too soon")), vec![]);
    early.task_id = b.task_id;
    let (status, body) = api.post_json("/api/v1/tasks/release", &early).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_body(&body).error, "conflict");
    let view = api.task(b.task_id).await;
    assert_eq!(view.status, TaskStatus::Waiting);
    assert_eq!(view.missing, 1);
    assert_eq!(view.depends_on, vec![a.task_id]);
}

#[tokio::test]
async fn get_process_unknown_is_404_and_a_non_uuid_is_400() {
    let server = Server::start().await;
    let api = server.api();
    let (status, body) = api
        .get_json(&format!("/api/v1/processes/{}", ProcessId::random()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(error_body(&body).error, "unknown_process");
    let (status, body) = api.get_json("/api/v1/processes/not-a-uuid").await;
    assert_eq!(status, 400);
    assert_eq!(error_body(&body).error, "invalid");
    let (status, body) = api.get_json("/api/v1/tasks/42").await;
    assert_eq!(status, 400);
    assert_eq!(error_body(&body).error, "invalid");
    let (status, body) = api
        .get_json(&format!("/api/v1/tasks/{}", TaskId::random()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(error_body(&body).error, "unknown_task");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_json_error() {
    let server = Server::start().await;
    let api = server.api();
    let (status, body) = api.get_json("/api/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_eq!(error_body(&body).error, "not_found");
    let (status, body) = api.post_json("/api/v2/processes", &json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(error_body(&body).error, "not_found");
}

#[tokio::test]
async fn a_long_poll_with_nothing_ready_answers_empty_after_the_wait() {
    let server = Server::start().await;
    let got = server.api().poll(WORKER, 5, 300).await;
    assert!(got.is_empty());
}

#[tokio::test]
async fn a_long_poll_is_woken_when_a_task_becomes_ready() {
    let server = Server::start().await;
    let api = server.api();
    let poller = {
        let api = api.clone();
        // Far longer than the test: an empty answer would mean it was never woken.
        tokio::spawn(async move { api.poll(DECIDER, 1, 55_000).await })
    };
    // Let the poll reach the server first (not required for correctness).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = api.start(&start(DECIDER, "wake", vec![])).await;
    let got = poller.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].task_id, started.task_id);
}

#[tokio::test]
async fn a_blocked_actor_gets_nothing_until_unblocked() {
    let server = Server::start().await;
    let api = server.api();
    let (status, body) = api
        .post_json("/api/v1/actors/block", &json!({"actor_id": DECIDER}))
        .await;
    assert_eq!((status, &body), (200, &json!({"changed": true})));
    let (_, blocked) = api.get_json("/api/v1/actors/blocked").await;
    assert_eq!(
        blocked,
        json!({"blocked": [{"actor_id": DECIDER, "task_list": null}]})
    );

    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            api.start(&start(DECIDER, "m", vec![value(json!(i))]))
                .await
                .task_id,
        );
    }
    assert!(api.poll(DECIDER, 10, 0).await.is_empty());
    assert!(api.poll(DECIDER, 10, 300).await.is_empty());
    assert_eq!(
        api.queues().await,
        json!({"queues": [{"actor_id": DECIDER, "task_list": "", "queued": 3, "blocked": true}]})
    );

    let (status, body) = api
        .post_json("/api/v1/actors/unblock", &json!({"actor_id": DECIDER}))
        .await;
    assert_eq!((status, &body), (200, &json!({"changed": true})));
    let got: Vec<TaskId> = api
        .poll(DECIDER, 10, 0)
        .await
        .iter()
        .map(|d| d.task_id)
        .collect();
    assert_eq!(got, ids);
}

#[tokio::test]
async fn retry_policy_redelivers_failed_tasks_until_attempts_run_out() {
    let server = Server::start().await;
    let api = server.api();
    let mut req = start(DECIDER, "flaky", vec![]);
    req.options.retry = Some(RetryPolicy {
        kind: RetryKind::Exponential,
        initial_interval_ms: 300,
        backoff_coefficient: 2.0,
        max_interval_ms: 10_000,
        max_attempts: 3,
        non_retryable: vec![],
    });
    let started = api.start(&req).await;

    let mut delivered = api.next_task(DECIDER).await;
    for (attempt, delay) in [(1, 300), (2, 600)] {
        assert_eq!(delivered.attempt, attempt);
        let sent = Millis::now();
        let r = api
            .release(&decision(&delivered, error("net.Timeout", "slow"), vec![]))
            .await;
        assert_eq!(r.status, ReleaseStatus::RetryScheduled);
        assert_eq!(r.attempt, attempt);
        assert_eq!(r.process_state, ProcessState::Running);
        let retry_at = r.retry_at.expect("retry_at");
        assert!(
            retry_at >= sent.plus(delay),
            "{retry_at} < {sent} + {delay}"
        );

        let view = api.task(started.task_id).await;
        if Millis::now() < retry_at {
            assert_eq!(view.status, TaskStatus::Scheduled);
            assert_eq!(view.scheduled_at, Some(retry_at));
            assert!(api.poll(DECIDER, 1, 0).await.is_empty() || Millis::now() >= retry_at);
        }
        assert_eq!(
            view.error.as_ref().map(|e| e.error_type.as_str()),
            Some("net.Timeout")
        );

        delivered = api.next_task(DECIDER).await;
        assert!(Millis::now() >= retry_at, "redelivered before retry_at");
        assert_eq!(delivered.task_id, started.task_id);
    }

    // The third attempt is the last one: its error is final.
    assert_eq!(delivered.attempt, 3);
    let r = api
        .release(&decision(
            &delivered,
            error("net.Timeout", "still slow"),
            vec![],
        ))
        .await;
    assert_eq!(r.status, ReleaseStatus::ProcessBroken);
    assert_eq!(r.retry_at, None);
    assert_eq!(r.attempt, 3);
    let p = api.process(started.process_id).await;
    assert_eq!(p.state, ProcessState::Broken);
    assert_eq!(p.broken.unwrap().error.message, "still slow");
}

#[tokio::test]
async fn a_delayed_start_is_not_handed_out_before_its_time() {
    let server = Server::start().await;
    let api = server.api();
    let start_at = Millis::now().plus(1_500);
    let mut req = start(DECIDER, "later", vec![]);
    req.options.start_at = Some(start_at);
    let started = api.start(&req).await;

    let early = api.poll(DECIDER, 1, 0).await;
    if Millis::now() < start_at {
        assert!(early.is_empty(), "handed out before start_at");
        let view = api.task(started.task_id).await;
        if Millis::now() < start_at {
            assert_eq!(view.status, TaskStatus::Scheduled);
            assert_eq!(view.scheduled_at, Some(start_at));
        }
    }
    let d = if early.is_empty() {
        api.next_task(DECIDER).await
    } else {
        early.into_iter().next().unwrap()
    };
    assert!(Millis::now() >= start_at);
    assert_eq!(d.task_id, started.task_id);
}

/// A decider spawns a payment and a follow-up decider step that waits on it.
async fn payment_process(api: &Api, accept_fail: Vec<String>) -> (ProcessId, TaskId, TaskId) {
    let started = api.start(&start("shop.Decider#1", "order", vec![])).await;
    let d = api.next_task("shop.Decider#1").await;
    let mut pay = worker("pay.Worker#1", "charge", vec![value(json!(100))]);
    pay.options.accept_fail = accept_fail;
    let after = decider("shop.Decider#1", "after_charge", vec![promise(pay.task_id)]);
    api.release(&decision(
        &d,
        Outcome::Promise(after.task_id),
        vec![pay.clone(), after.clone()],
    ))
    .await;
    (started.process_id, pay.task_id, after.task_id)
}

#[tokio::test]
async fn an_accepted_fail_reaches_the_waiting_decider_as_an_error_argument() {
    let server = Server::start().await;
    let api = server.api();
    let (pid, pay, after) = payment_process(&api, vec!["payment".into()]).await;

    let w = api.next_task("pay.Worker#1").await;
    assert_eq!(w.task_id, pay);
    let r = api
        .release(&decision(&w, error("payment.Declined", "no funds"), vec![]))
        .await;
    assert_eq!(r.status, ReleaseStatus::Resolved);
    assert_eq!(r.process_state, ProcessState::Running);

    // The argument arrives as {"error": {...}}.
    let (status, raw) = api
        .post_json(
            "/api/v1/tasks/poll",
            &json!({"actor_id": "shop.Decider#1", "wait_ms": 30_000}),
        )
        .await;
    assert_eq!(status, 200);
    let task = &raw["tasks"][0];
    assert_eq!(task["task_id"], json!(after));
    assert_eq!(task["kind"], json!("decider"));
    assert_eq!(
        task["args"][0]["error"]["error_type"],
        json!("payment.Declined")
    );
    assert_eq!(task["args"][0]["error"]["message"], json!("no funds"));

    let next = api
        .release(&suslik_broker::model::Decision {
            task_id: after,
            process_id: Some(pid),
            outcome: value_outcome(json!("declined, customer notified")),
            tasks: vec![],
            restart_at: None,
            execution_ms: Some(3),
            attempt: None,
            delivery_id: None,
            delivered_at: None,
        })
        .await;
    assert_eq!(next.process_state, ProcessState::Finished);
    let p = api.process(pid).await;
    assert_eq!(p.result, Some(json(json!("declined, customer notified"))));
}

#[tokio::test]
async fn an_unaccepted_error_breaks_the_process() {
    let server = Server::start().await;
    let api = server.api();
    let (pid, pay, after) = payment_process(&api, vec!["payment".into()]).await;

    let w = api.next_task("pay.Worker#1").await;
    let mut fail = decision(&w, error("io.Broken", "disk on fire"), vec![]);
    if let Outcome::Error(e) = &mut fail.outcome {
        e.details = Some("at line 7".into());
    }
    let r = api.release(&fail).await;
    assert_eq!(r.status, ReleaseStatus::ProcessBroken);
    assert_eq!(r.process_state, ProcessState::Broken);

    let p = api.process(pid).await;
    assert_eq!(p.state, ProcessState::Broken);
    assert_eq!(p.result, None);
    assert!(p.ended_at.is_some());
    let broken = p.broken.expect("broken info");
    assert_eq!(broken.task_id, pay);
    assert_eq!(broken.actor_id, actor_id("pay.Worker#1"));
    assert_eq!(broken.error.error_type, "io.Broken");
    assert_eq!(broken.error.message, "disk on fire");
    assert_eq!(broken.error.details.as_deref(), Some("at line 7"));
    // The step that waited on the failed promise is never handed out.
    assert!(api.poll("shop.Decider#1", 1, 0).await.is_empty());
    assert_eq!(api.task(after).await.status, TaskStatus::Waiting);
}

#[tokio::test]
async fn an_expired_lease_makes_the_task_deliverable_again() {
    let server = Server::with_args(&["--lease-ms", "500"]).await;
    let api = server.api();
    let started = api.start(&start(DECIDER, "m", vec![])).await;
    let first = api.next_task(DECIDER).await;
    assert!(api.task(started.task_id).await.leased || Millis::now() >= first.lease_until);

    // Not released: after its lease it is handed out again, same attempt.
    let second = api.next_task(DECIDER).await;
    assert_eq!(second.task_id, first.task_id);
    assert_eq!(second.attempt, 1);
    assert!(Millis::now() >= first.lease_until);

    let r = api
        .release(&decision(&second, value_outcome(json!(2)), vec![]))
        .await;
    assert!(!r.duplicate);
    // The first delivery's late release is a duplicate if it says the same, and
    // refused if it says something else.
    let late = api
        .release(&decision(&first, value_outcome(json!(2)), vec![]))
        .await;
    assert!(late.duplicate);
    let other = api
        .try_release(&decision(&first, value_outcome(json!(1)), vec![]))
        .await
        .expect_err("another outcome for a released task");
    assert_eq!(other.code(), Some("already_released"));
    let p = api.process(started.process_id).await;
    assert_eq!(p.result, Some(json(json!(2))));
}

#[tokio::test]
async fn a_queue_hands_out_higher_priority_first_then_fifo() {
    let server = Server::start().await;
    let api = server.api();
    let mut by_priority = Vec::new();
    for (i, priority) in [0, 10, 5, 10, -3].into_iter().enumerate() {
        let mut req = start(DECIDER, "m", vec![value(json!(i))]);
        req.options.priority = priority;
        by_priority.push((priority, api.start(&req).await.task_id));
    }
    let got: Vec<TaskId> = api
        .poll(DECIDER, 10, 0)
        .await
        .iter()
        .map(|d| d.task_id)
        .collect();
    let ids = |i: usize| by_priority[i].1;
    assert_eq!(got, vec![ids(1), ids(3), ids(2), ids(0), ids(4)]);
}

#[tokio::test]
async fn task_lists_are_separate_queues() {
    let server = Server::start().await;
    let api = server.api();
    let plain = api.start(&start(DECIDER, "m", vec![])).await;
    let mut urgent = Vec::new();
    for _ in 0..2 {
        let mut req = start(DECIDER, "m", vec![]);
        req.options.task_list = TaskList::new("urgent").unwrap();
        urgent.push(api.start(&req).await.task_id);
    }
    assert_eq!(
        api.queues().await,
        json!({"queues": [
            {"actor_id": DECIDER, "task_list": "", "queued": 1, "blocked": false},
            {"actor_id": DECIDER, "task_list": "urgent", "queued": 2, "blocked": false},
        ]})
    );
    let default_list = api.poll(DECIDER, 10, 0).await;
    assert_eq!(default_list.len(), 1);
    assert_eq!(default_list[0].task_id, plain.task_id);
    assert!(default_list[0].task_list.is_default());
    let got = api.poll_list(DECIDER, "urgent", 10, 0).await;
    assert_eq!(got.iter().map(|d| d.task_id).collect::<Vec<_>>(), urgent);
    assert!(got.iter().all(|d| d.task_list.as_str() == "urgent"));
}

#[tokio::test]
async fn no_wait_promises_arrive_pending_and_wait_for_holds_a_task_back() {
    let server = Server::start().await;
    let api = server.api();
    api.start(&start(DECIDER, "m", vec![])).await;
    let d = api.next_task(DECIDER).await;
    let slow = worker("slow.Worker#1", "slow", vec![]);
    let eager = worker(
        WORKER,
        "eager",
        vec![Arg::Promise {
            task_id: slow.task_id,
            no_wait: true,
        }],
    );
    let mut patient = worker(WORKER, "patient", vec![]);
    patient.options.wait_for = vec![slow.task_id];
    api.release(&decision(
        &d,
        Outcome::Promise(patient.task_id),
        vec![slow.clone(), eager.clone(), patient.clone()],
    ))
    .await;

    let got = api.poll(WORKER, 10, 0).await;
    assert_eq!(got.len(), 1, "only the no-wait task is ready");
    assert_eq!(got[0].task_id, eager.task_id);
    assert_eq!(got[0].args, vec![ResolvedArg::Pending(slow.task_id)]);

    let s = api.next_task("slow.Worker#1").await;
    api.release(&decision(&s, value_outcome(json!("done")), vec![]))
        .await;
    let p = api.next_task(WORKER).await;
    assert_eq!(p.task_id, patient.task_id);
    assert!(p.args.is_empty());
}

#[tokio::test]
async fn a_batch_release_answers_each_decision_in_order() {
    let server = Server::start().await;
    let api = server.api();
    for i in 0..2 {
        api.start(&start(DECIDER, "m", vec![value(json!(i))])).await;
    }
    let got = api.poll(DECIDER, 2, 0).await;
    assert_eq!(got.len(), 2);
    let mut decisions: Vec<_> = got
        .iter()
        .map(|d| decision(d, value_outcome(json!("ok")), vec![]))
        .collect();
    let mut unknown = decisions[0].clone();
    unknown.task_id = TaskId::random();
    decisions.insert(1, unknown);
    let (status, body) = api
        .post_json(
            "/api/v1/tasks/release/batch",
            &json!({ "decisions": decisions }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["receipt"]["task_id"], json!(got[0].task_id));
    assert_eq!(results[0]["receipt"]["status"], json!("resolved"));
    assert_eq!(results[1]["error"]["error"], json!("unknown_task"));
    assert_eq!(results[2]["receipt"]["task_id"], json!(got[1].task_id));
    assert_eq!(results[2]["receipt"]["process_state"], json!("finished"));
}

/// A client that resends its error release (say, after a timeout on the answer) must get
/// the first receipt back even when the retry has fired in between; otherwise one failure
/// is counted twice and the retry that was never tried is consumed. The decision says
/// which delivery it ends with `"attempt"` (the `attempt` of the delivery).
#[tokio::test]
async fn a_resent_error_release_after_its_retry_fired_is_a_duplicate() {
    let server = Server::start().await;
    let api = server.api();
    let mut req = start(DECIDER, "flaky", vec![]);
    req.options.retry = Some(RetryPolicy {
        kind: RetryKind::Linear,
        initial_interval_ms: 200,
        max_attempts: 2,
        ..RetryPolicy::default()
    });
    let started = api.start(&req).await;
    let first = api.next_task(DECIDER).await;
    let mut fail =
        serde_json::to_value(decision(&first, error("net.Timeout", "slow"), vec![])).unwrap();
    fail["attempt"] = json!(first.attempt);
    let (status, r1) = api.post_json("/api/v1/tasks/release", &fail).await;
    assert_eq!(status, 200, "{r1}");
    assert_eq!(r1["status"], json!("retry_scheduled"));

    // The retry fires and attempt 2 is handed out; then the first release arrives again.
    let second = api.next_task(DECIDER).await;
    assert_eq!(second.attempt, 2);
    let (status, again) = api.post_json("/api/v1/tasks/release", &fail).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["duplicate"],
        json!(true),
        "resend counted as a new failure: {again}"
    );
    assert_eq!(again["attempt"], json!(1));
    assert_eq!(
        api.process(started.process_id).await.state,
        ProcessState::Running,
        "attempt 2 was never released, yet the process ended"
    );
    let r2 = api
        .release(&decision(&second, value_outcome(json!("ok")), vec![]))
        .await;
    assert_eq!(r2.process_state, ProcessState::Finished);
}

#[tokio::test]
async fn a_long_poll_of_a_blocked_actor_is_answered_once_it_is_unblocked() {
    let server = Server::start().await;
    let api = server.api();
    api.post_json("/api/v1/actors/block", &json!({"actor_id": DECIDER}))
        .await;
    let started = api.start(&start(DECIDER, "m", vec![])).await;
    let poller = {
        let api = api.clone();
        tokio::spawn(async move { api.poll(DECIDER, 1, 55_000).await })
    };
    // Let the poll reach the server and wait (not required for correctness).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, _) = api
        .post_json("/api/v1/actors/unblock", &json!({"actor_id": DECIDER}))
        .await;
    assert_eq!(status, 200);
    let got = poller.await.unwrap();
    assert_eq!(
        got.len(),
        1,
        "the waiting poll was not woken by the unblock"
    );
    assert_eq!(got[0].task_id, started.task_id);
}

#[tokio::test]
async fn a_start_task_resolved_with_an_accepted_error_finishes_its_process_with_it() {
    let server = Server::start().await;
    let api = server.api();
    let mut req = start(DECIDER, "m", vec![]);
    req.options.accept_fail = vec!["*".into()];
    let started = api.start(&req).await;
    let d = api.next_task(DECIDER).await;
    let r = api
        .release(&decision(
            &d,
            error("order.Cancelled", "by customer"),
            vec![],
        ))
        .await;
    assert_eq!(r.status, ReleaseStatus::Resolved);
    assert_eq!(r.process_state, ProcessState::Finished);
    let p = api.process(started.process_id).await;
    assert_eq!(p.state, ProcessState::Finished);
    assert_eq!(p.result, None);
    assert_eq!(p.error.unwrap().error_type, "order.Cancelled");
    assert_eq!(p.broken, None);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_the_console_cannot_be_framed() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    for path in [
        "/console/",
        "/console/app.js",
        "/api/v1/queues",
        "/api/v1/openapi.json",
        "/health",
        "/no/such/route",
    ] {
        let r = client
            .get(format!("{}{path}", server.base()))
            .send()
            .await
            .unwrap();
        let h = r.headers();
        let header = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{path}: no {name} header"))
                .to_string()
        };
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    }
}
