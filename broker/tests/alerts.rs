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

async fn wait_for_alerts(api: &Api, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let items = alerts(api).await;
        if items.len() >= n {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {n} alert(s) fired; have {:?}", alerts(api).await);
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
"#,
        hook.url()
    ))
    .await;
    let api = server.api();
    api.start(&start("billing.d#1", "run", vec![])).await;
    api.start(&start("shipping.d#1", "run", vec![])).await;

    let items = wait_for_alerts(&api, 1).await;
    assert_eq!(items[0]["name"], "billing-stuck");
    assert_eq!(items[0]["kind"], "queue_not_polled");
    assert!(items[0]["fired_at"].as_u64().is_some());
    let detail = items[0]["detail"].as_str().unwrap();
    assert!(detail.contains("billing.d#1"), "{detail}");
    // Many more checks while the queue keeps hovering: still one firing (one episode),
    // and the shipping queue is outside the prefix.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(alerts(&api).await.len(), 1);

    let got = hook.wait_for("the alert event", |b| !b.is_empty()).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["event"], "alert");
    assert_eq!(got[0]["name"], "billing-stuck");
    assert_eq!(got[0]["kind"], "queue_not_polled");
    assert_eq!(got[0]["detail"], items[0]["detail"]);
}

#[tokio::test]
async fn more_broken_processes_than_allowed_fire_once() {
    let (server, _dir) = server_with(
        r#"alert_check_period_ms = 50

[[alert]]
name = "too-many-broken"
kind = "broken_processes"
more_than = 1
"#,
    )
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
            // One broken process is not more than one.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(alerts(&api).await.is_empty());
        }
    }
    let items = wait_for_alerts(&api, 1).await;
    assert_eq!(items[0]["kind"], "broken_processes");
    assert_eq!(items[0]["name"], "too-many-broken");
    assert!(items[0]["detail"].as_str().unwrap().starts_with("2 broken"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alerts(&api).await.len(), 1);
}
