//! Alerts against a real server: a queue nobody polls fires one alert per episode, and
//! too many broken processes fire one; each firing is listed at `/api/v1/alerts` and
//! POSTed to the webhook as event `alert`.

mod common;

use common::receiver::Receiver;
use common::*;
use serde_json::Value;
use std::time::Duration;
use suslik_broker::model::{ErrorInfo, Outcome};

async fn server_with(toml: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("suslik.toml");
    std::fs::write(&file, toml).expect("write config");
    let server = Server::with_args(&["--config", file.to_str().expect("path")]).await;
    (server, dir)
}

async fn alerts(api: &Api) -> Vec<Value> {
    let (status, body) = api.get_json("/api/v1/alerts").await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().expect("items").clone()
}

/// Waits until an alert called `name` has fired; returns every firing (newest first).
async fn wait_for_firing(api: &Api, name: &str) -> Vec<Value> {
    for _ in 0..600 {
        let items = alerts(api).await;
        if items.iter().any(|a| a["name"] == name) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("alert {name} never fired; have {:?}", alerts(api).await);
}

fn names(items: &[Value]) -> Vec<&str> {
    items.iter().filter_map(|a| a["name"].as_str()).collect()
}

/// An alert on a queue of its own (actor `barrier.d#1`, started by [`pass_barrier`]):
/// it fires only after the alert checker has run for a second (twenty periods of 50 ms)
/// since the barrier process started. Its firing is the evidence that checks ran in
/// between: a firing that did not happen by then is not just late.
const BARRIER_ALERT: &str = r#"
[[alert]]
name = "barrier"
kind = "queue_not_polled"
idle_ms = 1000
actor_prefix = "barrier"
"#;

/// Starts the barrier process and waits for its alert; returns every firing.
async fn pass_barrier(api: &Api) -> Vec<Value> {
    api.start(&start("barrier.d#1", "run", vec![])).await;
    wait_for_firing(api, "barrier").await
}

#[tokio::test]
async fn a_queue_nobody_polls_fires_one_alert_listed_and_posted() {
    let hook = Receiver::start(0).await;
    let (server, _dir) = server_with(&format!(
        r#"alert_check_period_ms = 50

[webhook]
url = "{}"
events = ["alert"]

[[alert]]
name = "billing-stuck"
kind = "queue_not_polled"
idle_ms = 200
actor_prefix = "billing"
{BARRIER_ALERT}"#,
        hook.url()
    ))
    .await;
    let api = server.api();
    api.start(&start("billing.d#1", "run", vec![])).await;
    api.start(&start("shipping.d#1", "run", vec![])).await;

    let items = wait_for_firing(&api, "billing-stuck").await;
    assert_eq!(names(&items), ["billing-stuck"]);
    assert_eq!(items[0]["kind"], "queue_not_polled");
    assert!(items[0]["fired_at"].as_u64().is_some());
    let detail = items[0]["detail"].as_str().unwrap();
    assert!(detail.contains("billing.d#1"), "{detail}");
    // Many more checks while the queue keeps hovering: still one firing (one episode),
    // and the shipping queue is outside the prefix.
    let items = pass_barrier(&api).await;
    assert_eq!(names(&items), ["barrier", "billing-stuck"]);

    let got = hook.wait_for("both alert events", |b| b.len() >= 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let stuck: Vec<&Value> = got
        .iter()
        .filter(|b| b["name"] == "billing-stuck")
        .collect();
    assert_eq!(stuck.len(), 1, "{got:?}");
    assert_eq!(stuck[0]["event"], "alert");
    assert_eq!(stuck[0]["kind"], "queue_not_polled");
    assert_eq!(stuck[0]["detail"], items[1]["detail"]);
}

#[tokio::test]
async fn more_broken_processes_than_allowed_fire_once() {
    let (server, _dir) = server_with(&format!(
        r#"alert_check_period_ms = 50

[[alert]]
name = "too-many-broken"
kind = "broken_processes"
more_than = 1

[[alert]]
name = "any-broken"
kind = "broken_processes"
more_than = 0
{BARRIER_ALERT}"#
    ))
    .await;
    let api = server.api();
    for i in 0..2 {
        api.start(&start("brk.d#1", "run", vec![])).await;
        let t = api.next_task("brk.d#1").await;
        api.release(&decision(
            &t,
            Outcome::Error(ErrorInfo::new("x.Y", "no")),
            vec![],
        ))
        .await;
        if i == 0 {
            // One broken process is not more than one: the check that saw it (and
            // fired `any-broken`) evaluated `too-many-broken` first and left it quiet.
            let items = wait_for_firing(&api, "any-broken").await;
            assert_eq!(names(&items), ["any-broken"]);
        }
    }
    let items = wait_for_firing(&api, "too-many-broken").await;
    assert_eq!(names(&items), ["too-many-broken", "any-broken"]);
    assert_eq!(items[0]["kind"], "broken_processes");
    assert!(items[0]["detail"].as_str().unwrap().starts_with("2 broken"));
    // Many more checks with two broken processes: still one firing of each.
    let items = pass_barrier(&api).await;
    assert_eq!(names(&items), ["barrier", "too-many-broken", "any-broken"]);
}
