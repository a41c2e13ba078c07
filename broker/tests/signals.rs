//! External promises (signals) against a real server: a decider's external promise is
//! never handed out; the API resolves it (idempotently) and the waiting step runs with
//! the value; or its timeout resolves it with `suslik.Timeout`; bad calls get a 4xx.

mod common;

use common::*;
use serde_json::{json, Value};
use suslik_broker::model::wire::TaskStatus;
use suslik_broker::model::{Delivery, Outcome, ProcessState, ResolvedArg, TaskId, TaskKind};

const SHOP: &str = "shop#1";

/// Starts a process whose decider creates an external promise (with `timeout_ms`)
/// and a step that takes it. Returns (the external promise, the step's id).
async fn waiting_for_signal(api: &Api, timeout_ms: Option<u64>) -> (TaskId, TaskId) {
    api.start(&start(SHOP, "checkout", vec![])).await;
    let d = api.next_task(SHOP).await;
    let mut signal = task(SHOP, "payment confirmed", TaskKind::External, vec![]);
    signal.options.timeout_ms = timeout_ms;
    let step = decider(SHOP, "settle", vec![promise(signal.task_id)]);
    let (signal_id, step_id) = (signal.task_id, step.task_id);
    api.release(&decision(&d, Outcome::Promise(step_id), vec![signal, step]))
        .await;
    (signal_id, step_id)
}

async fn resolve(api: &Api, id: TaskId, body: Value) -> (u16, Value) {
    api.post_json(&format!("/api/v1/promises/{id}/resolve"), &body)
        .await
}

fn first_arg(d: &Delivery) -> &ResolvedArg {
    &d.args[0]
}

#[tokio::test]
async fn a_promise_resolved_through_the_api_lets_the_decider_continue() {
    let server = Server::start().await;
    let api = server.api();
    let (signal, step) = waiting_for_signal(&api, None).await;
    assert!(
        api.poll(SHOP, 10, 0).await.is_empty(),
        "nothing to hand out yet"
    );
    let view = api.task(signal).await;
    assert_eq!(
        (view.kind, view.status),
        (TaskKind::External, TaskStatus::Waiting)
    );

    let (status, r) = resolve(&api, signal, json!({"value": {"ref": "pay-1", "ok": true}})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r, json!({"resolved": true, "duplicate": false}));
    let d = api.next_task(SHOP).await;
    assert_eq!(d.task_id, step);
    assert_eq!(arg_json(first_arg(&d)), json!({"ok": true, "ref": "pay-1"}));

    // The same value again (spelled differently) is answered as done.
    let (status, r) = resolve(&api, signal, json!({"value": {"ok": true, "ref": "pay-1"}})).await;
    assert_eq!((status, r["duplicate"].clone()), (200, json!(true)));
    // Something else is refused, and nothing changes.
    let (status, e) = resolve(&api, signal, json!({"value": {"ref": "pay-2"}})).await;
    assert_eq!(
        (status, e["error"].clone()),
        (409, json!("conflict")),
        "{e}"
    );
    assert_eq!(api.task(signal).await.status, TaskStatus::Released);

    let r = api
        .release(&decision(&d, value_outcome(json!("shipped")), vec![]))
        .await;
    assert_eq!(r.process_state, ProcessState::Finished);
    let (status, history) = api
        .get_json(&format!("/api/v1/processes/{}/history", d.process_id))
        .await;
    assert_eq!(status, 200, "{history}");
    let resolved: Vec<&Value> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "promise_resolved")
        .collect();
    assert_eq!(resolved.len(), 1, "{history}");
    assert_eq!(resolved[0]["task_id"], json!(signal.to_string()));
}

#[tokio::test]
async fn an_error_resolution_reaches_the_decider_as_an_accepted_fail() {
    let server = Server::start().await;
    let api = server.api();
    let (signal, step) = waiting_for_signal(&api, None).await;
    let (status, r) = resolve(
        &api,
        signal,
        json!({"error": {"type": "payment.Declined", "message": "card blocked"}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let d = api.next_task(SHOP).await;
    assert_eq!(d.task_id, step);
    match first_arg(&d) {
        ResolvedArg::Error(e) => {
            assert_eq!(
                (e.error_type.as_str(), e.message.as_str()),
                ("payment.Declined", "card blocked")
            )
        }
        other => panic!("expected the error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unresolved_promise_resolves_with_a_timeout_error() {
    let server = Server::start().await;
    let api = server.api();
    let (signal, step) = waiting_for_signal(&api, Some(300)).await;
    let d = api.next_task(SHOP).await;
    assert_eq!(d.task_id, step);
    match first_arg(&d) {
        ResolvedArg::Error(e) => assert_eq!(e.error_type, "suslik.Timeout"),
        other => panic!("expected suslik.Timeout, got {other:?}"),
    }
    let view = api.task(signal).await;
    assert_eq!(view.status, TaskStatus::Released);
    assert_eq!(
        view.error.map(|e| e.error_type).as_deref(),
        Some("suslik.Timeout")
    );
    // Too late for the caller now.
    let (status, e) = resolve(&api, signal, json!({"value": 1})).await;
    assert_eq!((status, e["error"].clone()), (409, json!("conflict")));
}

#[tokio::test]
async fn bad_resolutions_are_refused_with_a_clear_error() {
    let server = Server::start().await;
    let api = server.api();
    let (signal, step) = waiting_for_signal(&api, None).await;
    let unknown = TaskId::random();
    for (id, body, status, code) in [
        (
            unknown.to_string(),
            json!({"value": 1}),
            404,
            "unknown_task",
        ),
        (step.to_string(), json!({"value": 1}), 409, "conflict"),
        (
            "not-a-uuid".to_string(),
            json!({"value": 1}),
            400,
            "invalid",
        ),
        (signal.to_string(), json!({}), 400, "invalid"),
        (
            signal.to_string(),
            json!({"value": 1, "error": {"type": "x"}}),
            400,
            "invalid",
        ),
        (
            signal.to_string(),
            json!({"error": {"type": ""}}),
            400,
            "invalid",
        ),
        (
            signal.to_string(),
            json!({"error": {"message": "no type"}}),
            400,
            "invalid",
        ),
    ] {
        let (got, e) = api
            .post_json(&format!("/api/v1/promises/{id}/resolve"), &body)
            .await;
        assert_eq!(
            (got, e["error"].clone()),
            (status, json!(code)),
            "{id} {body}: {e}"
        );
    }
    assert_eq!(
        api.task(signal).await.status,
        TaskStatus::Waiting,
        "still pending"
    );

    // An external promise cannot wait for promises: the decision is refused whole.
    api.start(&start(SHOP, "checkout", vec![])).await;
    let d = api.next_task(SHOP).await;
    let w = worker("w#1", "work", vec![]);
    let bad = task(SHOP, "signal", TaskKind::External, vec![promise(w.task_id)]);
    let err = api
        .try_release(&decision(&d, value_outcome(json!(1)), vec![w, bad]))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some("invalid"));
}
