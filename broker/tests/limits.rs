//! Input limits, each answered with a clear 4xx JSON error that leaves the state as it
//! was: tasks per decision, argument nesting depth, name lengths (actor id, task list,
//! method, custom id, error type), decisions per batch, and the body size on a release.
//! (Malformed JSON, a bad actor id and an oversized start are in `http_api.rs`.)

mod common;

use common::*;
use serde_json::{json, Value};
use suslik_broker::model::{Arg, Delivery, Outcome};
use suslik_broker::state_machine::{MAX_ARG_DEPTH, MAX_TASKS_PER_DECISION};

const DECIDER: &str = "lim.Decider#1";
const WORKER: &str = "lim.Worker#1";
const NAME_LIMIT: usize = 256;
/// Deepest JSON value nesting (`MAX_VALUE_DEPTH` in `broker/src/api/limits.rs`).
const MAX_VALUE_DEPTH: usize = 128;

/// A server with one process whose start task is delivered.
async fn with_delivery(args: &[&str]) -> (Server, Delivery) {
    let server = Server::with_args(args).await;
    let api = server.api();
    api.start(&start(DECIDER, "go", vec![])).await;
    let d = api.next_task(DECIDER).await;
    (server, d)
}

/// Everything a refused request must leave alone.
async fn state(api: &Api, d: &Delivery) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/stats".to_string(),
        "/api/v1/queues".into(),
        format!("/api/v1/processes/{}", d.process_id),
    ] {
        let (status, body) = api.get_json(&path).await;
        assert_eq!(status, 200, "{body}");
        out.push(body);
    }
    out
}

/// Sends `body` to `path` and expects `status` with error code `code`, and no change.
async fn refused(
    api: &Api,
    d: &Delivery,
    path: &str,
    body: &Value,
    status: u16,
    code: &str,
) -> String {
    let before = state(api, d).await;
    let (got, answer) = api.post_json(path, body).await;
    assert_eq!(
        (got, answer["error"].as_str()),
        (status, Some(code)),
        "{path}: {answer}"
    );
    assert_eq!(
        state(api, d).await,
        before,
        "{path}: a refused request changed the state"
    );
    answer["message"].as_str().unwrap_or_default().to_string()
}

/// An argument `depth` levels deep (a plain value is level 1).
fn nested(depth: usize) -> Arg {
    let mut a = value(json!(1));
    for _ in 1..depth {
        a = Arg::Array(vec![a]);
    }
    a
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("json")
}

#[tokio::test]
async fn a_decision_with_more_tasks_than_allowed_is_400() {
    let (server, d) = with_delivery(&[]).await;
    let api = server.api();
    let tasks = (0..=MAX_TASKS_PER_DECISION)
        .map(|_| worker(WORKER, "w", vec![]))
        .collect();
    let too_many = decision(&d, value_outcome(json!(1)), tasks);
    let msg = refused(
        &api,
        &d,
        "/api/v1/tasks/release",
        &to_json(&too_many),
        400,
        "invalid",
    )
    .await;
    assert!(msg.contains(&MAX_TASKS_PER_DECISION.to_string()), "{msg}");

    // Exactly the limit is accepted.
    let tasks = (0..MAX_TASKS_PER_DECISION)
        .map(|_| worker(WORKER, "w", vec![]))
        .collect();
    api.release(&decision(&d, value_outcome(json!(1)), tasks))
        .await;
    let (_, stats) = api.get_json("/api/v1/stats").await;
    assert_eq!(stats["tasks"], json!(MAX_TASKS_PER_DECISION + 1), "{stats}");
}

#[tokio::test]
async fn arguments_nested_deeper_than_allowed_are_400_in_a_start_and_a_decision() {
    let (server, d) = with_delivery(&[]).await;
    let api = server.api();
    let deep = nested(MAX_ARG_DEPTH + 1);
    let msg = refused(
        &api,
        &d,
        "/api/v1/processes",
        &to_json(&start(DECIDER, "go", vec![deep.clone()])),
        400,
        "invalid",
    )
    .await;
    assert!(msg.contains("nest"), "{msg}");
    let spawn_deep = decision(
        &d,
        value_outcome(json!(1)),
        vec![worker(WORKER, "w", vec![deep])],
    );
    refused(
        &api,
        &d,
        "/api/v1/tasks/release",
        &to_json(&spawn_deep),
        400,
        "invalid",
    )
    .await;

    // A JSON value (not an argument array) nested deeper than clients can decode.
    let deep_text = |n: usize| "[".repeat(n) + "1" + &"]".repeat(n);
    for n in [MAX_VALUE_DEPTH + 1, 100_000] {
        let text = format!(
            "{{\"actor_id\":\"{DECIDER}\",\"method\":\"go\",\"args\":[{{\"value\":{}}}]}}",
            deep_text(n)
        );
        let before = state(&api, &d).await;
        let (status, answer) = api
            .post_raw("/api/v1/processes", "application/json", text.into_bytes())
            .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid")),
            "{answer}"
        );
        assert!(
            answer["message"].as_str().unwrap().contains("128"),
            "{answer}"
        );
        assert_eq!(state(&api, &d).await, before);
    }
    // The same in a result (the text is spliced: serde_json cannot build it).
    let release = to_json(&decision(&d, value_outcome(json!("DEEP")), vec![]));
    let text = serde_json::to_string(&release)
        .unwrap()
        .replace("\"DEEP\"", &deep_text(MAX_VALUE_DEPTH + 1));
    let before = state(&api, &d).await;
    let (status, answer) = api
        .post_raw(
            "/api/v1/tasks/release",
            "application/json",
            text.into_bytes(),
        )
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid")),
        "{answer}"
    );
    assert_eq!(state(&api, &d).await, before);

    // At the limit is fine.
    api.start(&start(DECIDER, "go", vec![nested(MAX_ARG_DEPTH)]))
        .await;
}

#[tokio::test]
async fn names_longer_than_256_bytes_are_400() {
    let (server, d) = with_delivery(&[]).await;
    let api = server.api();
    let long = "n".repeat(NAME_LIMIT + 1);
    let long_actor = format!("{}#1", "a".repeat(NAME_LIMIT));

    // Actor id, in a start, a poll, a block and a spawned task.
    let body = json!({"actor_id": long_actor, "method": "go"});
    refused(&api, &d, "/api/v1/processes", &body, 400, "invalid").await;
    refused(
        &api,
        &d,
        "/api/v1/tasks/poll",
        &json!({"actor_id": long_actor}),
        400,
        "invalid",
    )
    .await;
    refused(
        &api,
        &d,
        "/api/v1/actors/block",
        &json!({"actor_id": long_actor}),
        400,
        "invalid",
    )
    .await;
    let mut spawn = to_json(&decision(
        &d,
        value_outcome(json!(1)),
        vec![worker(WORKER, "w", vec![])],
    ));
    spawn["tasks"][0]["actor_id"] = json!(long_actor);
    refused(&api, &d, "/api/v1/tasks/release", &spawn, 400, "invalid").await;

    // Task list name, in a start's options, a poll and a block.
    let body = json!({"actor_id": DECIDER, "method": "go", "options": {"task_list": long}});
    refused(&api, &d, "/api/v1/processes", &body, 400, "invalid").await;
    let body = json!({"actor_id": DECIDER, "task_list": long});
    refused(&api, &d, "/api/v1/tasks/poll", &body, 400, "invalid").await;
    refused(&api, &d, "/api/v1/actors/block", &body, 400, "invalid").await;

    // Method name, custom id, error type.
    refused(
        &api,
        &d,
        "/api/v1/processes",
        &json!({"actor_id": DECIDER, "method": long}),
        400,
        "invalid",
    )
    .await;
    let body = json!({"actor_id": DECIDER, "method": "go", "custom_id": long});
    refused(&api, &d, "/api/v1/processes", &body, 400, "invalid").await;
    let mut spawn = to_json(&decision(
        &d,
        value_outcome(json!(1)),
        vec![worker(WORKER, "w", vec![])],
    ));
    spawn["tasks"][0]["method"] = json!(long);
    refused(&api, &d, "/api/v1/tasks/release", &spawn, 400, "invalid").await;
    let fail = decision(
        &d,
        Outcome::Error(suslik_broker::model::ErrorInfo::new(long.clone(), "boom")),
        vec![],
    );
    refused(
        &api,
        &d,
        "/api/v1/tasks/release",
        &to_json(&fail),
        400,
        "invalid",
    )
    .await;

    // 256 bytes is still fine.
    let mut ok = start(DECIDER, &"m".repeat(NAME_LIMIT), vec![]);
    ok.custom_id = Some("c".repeat(NAME_LIMIT));
    api.start(&ok).await;
}

#[tokio::test]
async fn a_batch_over_the_limit_and_a_release_over_the_body_limit_are_refused() {
    let (server, d) = with_delivery(&["--max-body-bytes", "1000000"]).await;
    let api = server.api();
    let one = to_json(&decision(&d, value_outcome(json!(1)), vec![]));
    let batch = json!({ "decisions": vec![one; 1001] });
    let msg = refused(
        &api,
        &d,
        "/api/v1/tasks/release/batch",
        &batch,
        400,
        "invalid",
    )
    .await;
    assert!(msg.contains("1000"), "{msg}");

    let big = decision(&d, value_outcome(json!("x".repeat(1_100_000))), vec![]);
    refused(
        &api,
        &d,
        "/api/v1/tasks/release",
        &to_json(&big),
        413,
        "payload_too_large",
    )
    .await;
}
