//! Schedules against a real server: an interval schedule fires once per tick, a
//! restart after missed ticks fires exactly one catch-up, pause / resume / run now /
//! delete do what they say, and bad input gets a clear 4xx.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use suslik_broker::model::Millis;

const INTERVAL: u64 = 1_000;
const ACTOR: &str = "report#1";

fn body(name: &str) -> Value {
    json!({
        "name": name,
        "interval_ms": INTERVAL,
        "start": {"actor_id": ACTOR, "method": "run", "args": [{"value": {"n": 1}}]},
    })
}

async fn schedule(api: &Api, name: &str) -> Value {
    let (status, s) = api.get_json(&format!("/api/v1/schedules/{name}")).await;
    assert_eq!(status, 200, "{s}");
    s
}

async fn post(api: &Api, path: &str) -> (u16, Value) {
    api.post_json(path, &json!({})).await
}

async fn delete(api: &Api, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .delete(format!("{}{path}", api.base()))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits until the schedule has fired at least `n` times.
async fn wait_fired(api: &Api, name: &str, n: u64) -> Value {
    for _ in 0..600 {
        let s = schedule(api, name).await;
        if s["fired"].as_u64() >= Some(n) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("schedule {name} did not fire {n} times");
}

/// The ticks of every process the schedule started so far, read from the custom ids
/// of the start tasks waiting in the decider's queue (each firing enqueues one).
async fn fired_ticks(api: &Api, name: &str) -> Vec<u64> {
    let mut ticks = Vec::new();
    for d in api.poll(ACTOR, 1000, 0).await {
        let p = api.process(d.process_id).await;
        let custom = p.custom_id.expect("a scheduled process has a custom id");
        let (n, tick) = custom.split_once('@').expect("name@tick");
        assert_eq!(n, name);
        ticks.push(tick.parse().expect("tick millis"));
    }
    ticks.sort_unstable();
    ticks
}

#[tokio::test]
async fn an_interval_schedule_fires_once_per_tick_and_once_after_downtime() {
    let mut server = Server::start().await;
    let api = server.api();
    let (status, created) = api.post_json("/api/v1/schedules", &body("sync")).await;
    assert_eq!(status, 201, "{created}");
    let created_at = created["created_at"].as_u64().expect("created_at");
    assert_eq!(created["next_fire_at"], created_at + INTERVAL);
    assert_eq!(
        (created["paused"].clone(), created["fired"].clone()),
        (json!(false), json!(0))
    );
    assert_eq!(created["cron"], Value::Null);
    assert_eq!(created["start"]["actor_id"], ACTOR);

    // Three ticks, then hold still to count.
    wait_fired(&api, "sync", 3).await;
    let (status, paused) = post(&api, "/api/v1/schedules/sync/pause").await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["next_fire_at"], Value::Null);
    let fired = paused["fired"].as_u64().expect("fired");
    let ticks = fired_ticks(&api, "sync").await;
    let expected: Vec<u64> = (1..=fired).map(|k| created_at + k * INTERVAL).collect();
    assert_eq!(
        ticks, expected,
        "one process per tick, none twice, none skipped"
    );

    // Resume, note the next tick, and stop the node across several of them.
    let (status, resumed) = post(&api, "/api/v1/schedules/sync/resume").await;
    assert_eq!(status, 200, "{resumed}");
    let next = resumed["next_fire_at"].as_u64().expect("next tick");
    server.kill();
    while Millis::now().0 < next + 3 * INTERVAL {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restarted_at = Millis::now().0;
    server.restart().await;
    let api = server.api();

    // The missed ticks fire once, as the oldest missed tick; then the schedule goes on.
    wait_fired(&api, "sync", fired + 2).await;
    let s = {
        let (_, s) = post(&api, "/api/v1/schedules/sync/pause").await;
        s
    };
    let ticks = fired_ticks(&api, "sync").await;
    assert_eq!(ticks.len() as u64, s["fired"].as_u64().unwrap());
    assert_eq!(ticks.iter().collect::<BTreeSet<_>>().len(), ticks.len());
    assert!(
        ticks.contains(&next),
        "the first missed tick fires: {ticks:?}"
    );
    let missed: Vec<u64> = ticks
        .iter()
        .copied()
        .filter(|t| *t > next && *t < restarted_at)
        .collect();
    assert!(
        missed.is_empty(),
        "no burst of missed ticks: {missed:?} in {ticks:?}"
    );
    assert!(
        ticks.iter().any(|t| *t > restarted_at),
        "the schedule goes on after the catch-up: {ticks:?}"
    );
}

#[tokio::test]
async fn run_now_pause_resume_and_delete() {
    let server = Server::start().await;
    let api = server.api();
    let mut b = body("nightly");
    b["interval_ms"] = Value::Null;
    b["cron"] = json!("0 3 * * *");
    let (status, created) = api.post_json("/api/v1/schedules", &b).await;
    assert_eq!(status, 201, "{created}");
    let next = created["next_fire_at"].as_u64().unwrap();
    assert_eq!(next % (24 * 3_600_000), 3 * 3_600_000, "03:00 UTC");

    // Run now starts a process at once and leaves the next tick alone.
    let (status, run) = post(&api, "/api/v1/schedules/nightly/run").await;
    assert_eq!(status, 200, "{run}");
    let d = api.next_task(ACTOR).await;
    assert_eq!(
        d.process_id.to_string(),
        run["process_id"].as_str().unwrap()
    );
    assert_eq!(d.method, "run");
    let custom = api.process(d.process_id).await.custom_id.unwrap();
    assert!(custom.starts_with("nightly@"), "{custom}");
    let s = schedule(&api, "nightly").await;
    assert_eq!(
        (s["fired"].as_u64(), s["next_fire_at"].as_u64()),
        (Some(1), Some(next))
    );

    // Pausing twice is harmless; a paused schedule can still be run by hand.
    for _ in 0..2 {
        let (status, p) = post(&api, "/api/v1/schedules/nightly/pause").await;
        assert_eq!((status, p["paused"].clone()), (200, json!(true)));
    }
    assert_eq!(post(&api, "/api/v1/schedules/nightly/run").await.0, 200);
    let (status, r) = post(&api, "/api/v1/schedules/nightly/resume").await;
    assert_eq!((status, r["paused"].clone()), (200, json!(false)));
    assert_eq!(r["next_fire_at"].as_u64(), Some(next));
    assert_eq!(r["fired"], 2);

    let (status, list) = api.get_json("/api/v1/schedules").await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, gone) = delete(&api, "/api/v1/schedules/nightly").await;
    assert_eq!((status, gone["name"].clone()), (200, json!("nightly")));
    let (_, list) = api.get_json("/api/v1/schedules").await;
    assert_eq!(list["items"], json!([]));
    for (status, e) in [
        delete(&api, "/api/v1/schedules/nightly").await,
        post(&api, "/api/v1/schedules/nightly/run").await,
        api.get_json("/api/v1/schedules/nightly").await,
    ] {
        assert_eq!(
            (status, e["error"].clone()),
            (404, json!("unknown_schedule"))
        );
    }
}

#[tokio::test]
async fn bad_schedules_are_refused_with_a_clear_error() {
    let server = Server::start().await;
    let api = server.api();
    assert_eq!(
        api.post_json("/api/v1/schedules", &body("taken")).await.0,
        201
    );
    let cases = [
        (body("taken"), 409, "conflict"),
        (
            {
                let mut b = body("c");
                b["interval_ms"] = Value::Null;
                b["cron"] = json!("61 * * * *");
                b
            },
            400,
            "invalid",
        ),
        (
            {
                let mut b = body("z");
                b["interval_ms"] = json!(0);
                b
            },
            400,
            "invalid",
        ),
        (
            {
                let mut b = body("both");
                b["cron"] = json!("* * * * *");
                b
            },
            400,
            "invalid",
        ),
        (
            {
                let mut b = body("actor");
                b["start"]["actor_id"] = json!("no-version");
                b
            },
            400,
            "invalid",
        ),
        (
            {
                let mut b = body("bad name/with slash");
                b["name"] = json!("a b");
                b
            },
            400,
            "invalid",
        ),
        (
            {
                let mut b = body("promise");
                b["start"]["args"] =
                    json!([{"promise": {"task_id": "6f1c54f4-7b77-4c47-9d53-2b3c8e6a2f10"}}]);
                b
            },
            400,
            "invalid",
        ),
        (json!({"name": "nostart", "interval_ms": 5}), 400, "invalid"),
        (
            {
                let mut b = body("typo");
                b["intervall_ms"] = json!(5);
                b
            },
            400,
            "invalid",
        ),
    ];
    for (b, status, code) in cases {
        let (got, e) = api.post_json("/api/v1/schedules", &b).await;
        assert_eq!((got, e["error"].clone()), (status, json!(code)), "{b}: {e}");
        assert!(!e["message"].as_str().unwrap_or("").is_empty(), "{e}");
    }
    let (status, list) = api.get_json("/api/v1/schedules").await;
    assert_eq!(status, 200);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "only the valid one"
    );
    let (status, e) = post(&api, "/api/v1/schedules/nope/pause").await;
    assert_eq!(
        (status, e["error"].clone()),
        (404, json!("unknown_schedule"))
    );
}
