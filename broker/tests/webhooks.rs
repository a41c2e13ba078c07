//! Webhooks against a real server: process lifecycle events reach the configured URL as
//! JSON, a refusing receiver gets the event on a retry, only subscribed events are sent,
//! and events not yet delivered survive a crash of the server (the outbox is part of
//! the replicated state).

mod common;

use common::receiver::Receiver;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use suslik_broker::model::{ErrorInfo, Outcome, ProcessState};

/// A server whose config file holds `toml`; returns it with the file's directory.
async fn server_with(toml: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file: PathBuf = dir.path().join("suslik.toml");
    std::fs::write(&file, toml).expect("write config");
    let server = Server::with_args(&["--config", file.to_str().expect("path")]).await;
    (server, dir)
}

fn events_of(bodies: &[Value], process: impl serde::Serialize) -> Vec<String> {
    let id = json!(process);
    bodies
        .iter()
        .filter(|b| b["process_id"] == id)
        .map(|b| b["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn started_finished_and_broken_processes_are_posted_to_the_webhook() {
    let hook = Receiver::start(0).await;
    let (server, _dir) = server_with(&format!("[webhook]\nurl = \"{}\"\n", hook.url())).await;
    let api = server.api();

    let ok = api.start(&start("wh.d#1", "run", vec![])).await;
    let t = api.next_task("wh.d#1").await;
    let r = api
        .release(&decision(&t, value_outcome(json!(1)), vec![]))
        .await;
    assert_eq!(r.process_state, ProcessState::Finished);
    let bad = api.start(&start("wh.d#1", "run", vec![])).await;
    let t = api.next_task("wh.d#1").await;
    let r = api
        .release(&decision(
            &t,
            Outcome::Error(ErrorInfo::new("x.Y", "no")),
            vec![],
        ))
        .await;
    assert_eq!(r.process_state, ProcessState::Broken);

    // Events are sent one by one in order: once a process started after these is
    // posted, anything else about them would have arrived before it.
    let barrier = api.start(&start("wh.barrier#1", "run", vec![])).await;
    let got = hook
        .wait_for("the barrier's started event", |b| {
            !events_of(b, barrier.process_id).is_empty()
        })
        .await;
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(events_of(&got, ok.process_id), ["started", "finished"]);
    assert_eq!(events_of(&got, bad.process_id), ["started", "broken"]);
    let finished = got.iter().find(|b| b["event"] == "finished").unwrap();
    assert_eq!(finished["state"], "finished");
    assert!(finished["at"].as_u64().is_some_and(|at| at > 0));
    let broken = got.iter().find(|b| b["event"] == "broken").unwrap();
    assert_eq!(broken["state"], "broken");
    let started = got.iter().find(|b| b["event"] == "started").unwrap();
    assert_eq!(started["state"], "running");
    assert!(started["process_id"].is_string());
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_event_on_a_retry() {
    let hook = Receiver::start(2).await;
    let (server, _dir) = server_with(&format!(
        "[webhook]\nurl = \"{}\"\nevents = [\"started\"]\nmax_retries = 3\ntimeout_ms = 2000\n",
        hook.url()
    ))
    .await;
    let p = server
        .api()
        .start(&start("wh.retry#1", "run", vec![]))
        .await;
    let got = hook.wait_for("the started event", |b| !b.is_empty()).await;
    assert_eq!(events_of(&got, p.process_id), ["started"]);
    assert_eq!(hook.requests(), 3, "two refusals, then the delivery");
    // Events are sent one by one in order: once the next one is posted, a second
    // delivery of the first would have arrived before it.
    let barrier = server
        .api()
        .start(&start("wh.retry#1", "run", vec![]))
        .await;
    let got = hook
        .wait_for("the next started event", |b| {
            !events_of(b, barrier.process_id).is_empty()
        })
        .await;
    assert_eq!(events_of(&got, p.process_id), ["started"], "sent once");
    assert_eq!(hook.requests(), 4, "nothing sent again after the delivery");
}

#[tokio::test]
async fn only_subscribed_events_are_sent_and_metrics_count_deliveries() {
    let hook = Receiver::start(0).await;
    let (server, _dir) = server_with(&format!(
        "[webhook]\nurl = \"{}\"\nevents = [\"finished\"]\n",
        hook.url()
    ))
    .await;
    let api = server.api();
    let p = api.start(&start("wh.only#1", "run", vec![])).await;
    let t = api.next_task("wh.only#1").await;
    api.release(&decision(&t, value_outcome(json!(1)), vec![]))
        .await;
    let got = hook.wait_for("the finished event", |b| !b.is_empty()).await;
    assert_eq!(events_of(&got, p.process_id), ["finished"]);
    // The sender counts the delivery once the receiver's answer is back.
    let delivered = r#"suslik_webhook_deliveries_total{result="delivered"} 1"#;
    let mut text = String::new();
    for _ in 0..100 {
        text = reqwest::get(format!("{}/metrics", server.base()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.lines().any(|l| l == delivered) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(text.lines().any(|l| l == delivered), "{text}");
    // Nothing else arrives: events are sent one by one in order, so the started events
    // of `p` and of a second process would come before the second one's finished.
    let barrier = api.start(&start("wh.only#1", "run", vec![])).await;
    let t = api.next_task("wh.only#1").await;
    api.release(&decision(&t, value_outcome(json!(2)), vec![]))
        .await;
    let got = hook
        .wait_for("the second finished event", |b| {
            !events_of(b, barrier.process_id).is_empty()
        })
        .await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(events_of(&got, barrier.process_id), ["finished"]);
}

#[tokio::test]
async fn an_aborted_process_is_posted_as_aborted() {
    let hook = Receiver::start(0).await;
    let (server, _dir) = server_with(&format!(
        "[webhook]\nurl = \"{}\"\nevents = [\"aborted\"]\n",
        hook.url()
    ))
    .await;
    let api = server.api();
    let p = api.start(&start("wh.abort#1", "run", vec![])).await;
    let (status, body) = api
        .post_json(
            "/api/v1/processes/abort",
            &json!({"process_ids": [p.process_id], "reason": "test"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["aborted"], 1);
    let got = hook.wait_for("the aborted event", |b| !b.is_empty()).await;
    assert_eq!(events_of(&got, p.process_id), ["aborted"]);
    assert_eq!(got[0]["state"], "aborted");
}

#[tokio::test]
async fn events_not_delivered_before_a_crash_are_delivered_after_the_restart() {
    // The receiver refuses everything at first: the sender keeps retrying the first
    // event, and the later ones wait in the outbox behind it.
    let hook = Receiver::start(usize::MAX).await;
    let (mut server, _dir) = server_with(&format!(
        "[webhook]\nurl = \"{}\"\nevents = [\"started\"]\nmax_retries = 1000000\n",
        hook.url()
    ))
    .await;
    let api = server.api();
    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(
            api.start(&start("wh.crash#1", "run", vec![]))
                .await
                .process_id,
        );
    }
    // Wait until the sender is really retrying, then crash the server.
    while hook.requests() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.kill();
    hook.accept_all();
    server.restart().await;

    let got = hook
        .wait_for("every started event after the restart", |b| {
            started.iter().all(|p| !events_of(b, p).is_empty())
        })
        .await;
    for p in &started {
        assert_eq!(events_of(&got, p), ["started"], "{got:?}");
    }
    let mut ids: Vec<u64> = got.iter().filter_map(|b| b["event_id"].as_u64()).collect();
    assert_eq!(
        ids.len(),
        got.len(),
        "every body carries its event_id: {got:?}"
    );
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "each event once, in order: {got:?}");
}

/// The value of the sample `name` (with its labels, if any) in a Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_show_the_outbox_held_back_by_a_receiver_that_refuses() {
    let hook = Receiver::start(usize::MAX).await;
    let (server, _dir) = server_with(&format!(
        "[webhook]\nurl = \"{}\"\nevents = [\"started\"]\nmax_retries = 1000\n",
        hook.url()
    ))
    .await;
    let api = server.api();
    for _ in 0..3 {
        api.start(&start("wh.down#1", "run", vec![])).await;
    }
    let scrape = || async {
        reqwest::get(format!("{}/metrics", server.base()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape().await;
        let failed = sample(&text, "suslik_webhook_failed_attempts_total").unwrap_or(0.0);
        let age = sample(&text, "suslik_webhook_outbox_oldest_age_seconds").unwrap_or(0.0);
        if failed >= 2.0 && age > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(&text, "suslik_webhook_outbox_events"),
        Some(3.0),
        "the three started events wait for the first delivery: {text}"
    );
    assert!(
        sample(&text, "suslik_webhook_failed_attempts_total").unwrap_or(0.0) >= 2.0,
        "{text}"
    );
    assert!(
        sample(&text, "suslik_webhook_outbox_oldest_age_seconds").unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "suslik_webhook_outbox_dropped_total"),
        Some(0.0),
        "{text}"
    );
    assert!(hook.requests() >= 2);
}
