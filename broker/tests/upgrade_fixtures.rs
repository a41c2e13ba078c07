//! Data directories written by earlier releases open in this build, and every process
//! in them finishes with the right result.
//!
//! Each released on-disk format has a fixture under the workspace's `tests/fixtures/`:
//! a data directory, compressed, that [`write_fixture_format_1`] produced with the build
//! of that format, holding one process in every state a user can leave one in:
//! finished (with its history), queued (started with an idempotency key), leased,
//! waiting on promises, delayed, retrying, broken, waiting for an accepted fail's
//! compensation, waiting on a signal (an external promise), queued for a blocked actor,
//! and a schedule. The generator ran with a small `--snapshot-every`, so the fixture holds
//! both a state snapshot and a log tail after it. A committed fixture is never
//! regenerated: a new format gets a fixture of its own, and the old ones stay.
//!
//! The test unpacks a fixture into a temporary directory, runs the real `suslik serve`
//! on it and drives every process to its end over the HTTP API with the JSON a client
//! of that release sent (raw JSON, so that the test does not move with the wire types),
//! checking each result.
//!
//! To write a fixture with the current build (only when a new format is released):
//! `SUSLIK_WRITE_FIXTURE=/tmp/f.tar.gz cargo test -p suslik-broker --test upgrade_fixtures -- --ignored`.

mod common;

use common::{Api, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The data directory of format 1: every build before on-disk formats had versions
/// (state snapshot format 4, bincode command encoding, no format marker).
const FORMAT_1: &str = "data-dir-format-1.tar.gz";

/// How long a step may wait for a task that must come.
const PATIENCE: Duration = Duration::from_secs(90);

/// A fixed UUID: process `p`'s id number `n` (`p` < 256, `n` < 256).
fn id(p: u8, n: u8) -> String {
    format!("00000000-0000-4000-8000-0000000{p:03}{n:02x}")
}

/// The process ids of the scenario, one per state.
mod pid {
    pub const FINISHED: u8 = 1;
    pub const QUEUED: u8 = 2;
    pub const LEASED: u8 = 3;
    pub const WAITING: u8 = 4;
    pub const DELAYED: u8 = 5;
    pub const RETRYING: u8 = 6;
    pub const BROKEN: u8 = 7;
    pub const ACCEPTED_FAIL: u8 = 8;
    pub const SIGNAL: u8 = 9;
    pub const BLOCKED: u8 = 10;
}

/// The schedule of the scenario: once a year, so it rarely fires by itself.
const SCHEDULE: &str = "fixture-yearly";

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

/// Unpacks fixture `name` into `into`; answers the data directory.
fn unpack(name: &str, into: &Path) -> PathBuf {
    let archive = fixture_path(name);
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(into)
        .status()
        .expect("run tar");
    assert!(status.success(), "unpacking {} failed", archive.display());
    let data = into.join("data");
    assert!(
        data.is_dir(),
        "{} holds no data/ directory",
        archive.display()
    );
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_data_directory_opens_and_every_process_finishes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = unpack(FORMAT_1, tmp.path());
    assert!(!data.join("format.json").exists(), "format 1 has no marker");
    let server = Server::on_data_dir(&data, &[]).await;
    // Migrated in place to this build's layout.
    let marker: Value =
        serde_json::from_slice(&std::fs::read(data.join("format.json")).expect("marker"))
            .expect("marker JSON");
    assert_eq!(
        marker["format"],
        suslik_broker::formats::DATA_DIR_FORMAT,
        "{marker}"
    );
    finish_every_process(&server.api()).await;
}

#[test]
fn a_data_directory_newer_than_this_build_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let marker = tmp.path().join("format.json");
    let newer = r#"{"format": 99, "written_by": "suslik 99.0.0"}"#;
    std::fs::write(&marker, newer).expect("write marker");
    let out = Command::new(env!("CARGO_BIN_EXE_suslik"))
        .arg("serve")
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "error")
        .output()
        .expect("run suslik serve");
    assert!(!out.status.success(), "serve started on a newer directory");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is in format 99 (written by suslik 99.0.0)")
            && stderr.contains("run a newer suslik on it"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&marker).expect("marker"), newer);
    assert!(!tmp.path().join("raft").exists(), "no store was created");
}

/// Drives every process of the scenario to its end and checks its result.
async fn finish_every_process(api: &Api) {
    // Finished before the upgrade: result and history are kept.
    let finished = process(api, pid::FINISHED).await;
    assert_eq!(finished["state"], "finished", "{finished}");
    assert_eq!(finished["result"], "Hello, world!");
    assert_eq!(finished["custom_id"], "hello-1");
    let (status, history) = api
        .get_json(&format!(
            "/api/v1/processes/{}/history",
            id(pid::FINISHED, 0)
        ))
        .await;
    assert_eq!(status, 200, "{history}");
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .expect("history items")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    for kind in ["started", "delivered", "released", "finished"] {
        assert!(kinds.contains(&kind), "history lacks {kind}: {kinds:?}");
    }

    // Queued: the idempotency key still finds it, and it runs.
    let (status, again) = api
        .post_json(
            "/api/v1/processes",
            &json!({"actor_id": "fixture.Queued#1", "method": "run",
                    "args": [{"value": 99}], "idempotency_key": "fixture-queued"}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["existing"], true);
    assert_eq!(again["process_id"], id(pid::QUEUED, 0));
    let task = next_task(api, "fixture.Queued#1").await;
    assert_eq!(task["args"], json!([{"value": 2}]));
    release_value(api, &task, json!(4)).await;
    assert_result(api, pid::QUEUED, json!(4)).await;

    // Leased when the old build stopped: delivered again.
    let task = next_task(api, "fixture.Leased#1").await;
    assert_eq!(task["task_id"], id(pid::LEASED, 1));
    release_value(api, &task, json!("leased-done")).await;
    assert_result(api, pid::LEASED, json!("leased-done")).await;

    // Waiting on a promise: the step runs, then the sum gets its result.
    let step = next_task(api, "fixture.Step#1").await;
    assert_eq!(step["args"], json!([{"value": 1}]));
    release_value(api, &step, json!(2)).await;
    let sum = next_task(api, "fixture.Sum#1").await;
    assert_eq!(sum["args"], json!([{"value": 2}, {"value": 10}]));
    release_value(api, &sum, json!(12)).await;
    assert_result(api, pid::WAITING, json!(12)).await;

    // Delayed: handed out once its start time has come.
    let task = next_task(api, "fixture.Delayed#1").await;
    release_value(api, &task, json!("delayed-done")).await;
    assert_result(api, pid::DELAYED, json!("delayed-done")).await;

    // Retrying: the second attempt comes and succeeds.
    let task = next_task(api, "fixture.Retry#1").await;
    assert_eq!(task["attempt"], 2, "{task}");
    release_value(api, &task, json!("retried")).await;
    assert_result(api, pid::RETRYING, json!("retried")).await;

    // Broken: listed, restarted, and then it finishes.
    let broken = process(api, pid::BROKEN).await;
    assert_eq!(broken["state"], "broken", "{broken}");
    let (status, listing) = api.get_json("/api/v1/broken").await;
    assert_eq!(status, 200, "{listing}");
    assert!(
        listing["items"]
            .as_array()
            .expect("broken items")
            .iter()
            .any(|b| b["process_id"] == id(pid::BROKEN, 0)),
        "{listing}"
    );
    let (status, restarted) = api
        .post_json(
            "/api/v1/broken/restart",
            &json!({"process_ids": [id(pid::BROKEN, 0)]}),
        )
        .await;
    assert_eq!(status, 200, "{restarted}");
    assert_eq!(restarted["restarted"], 1, "{restarted}");
    let task = next_task(api, "fixture.Broken#1").await;
    assert_eq!(task["attempt"], 2, "{task}");
    release_value(api, &task, json!("repaired")).await;
    assert_result(api, pid::BROKEN, json!("repaired")).await;

    // An accepted fail: the compensating decider step gets the error and ends it.
    let task = next_task(api, "fixture.Saga#1").await;
    assert_eq!(task["method"], "compensate");
    assert_eq!(
        task["args"][0]["error"]["error_type"], "payment.Declined",
        "{task}"
    );
    release_value(api, &task, json!("refunded")).await;
    assert_result(api, pid::ACCEPTED_FAIL, json!("refunded")).await;

    // A pending signal: resolving it lets the waiting worker run.
    let (status, resolved) = api
        .post_json(
            &format!("/api/v1/promises/{}/resolve", id(pid::SIGNAL, 2)),
            &json!({"value": "approved"}),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    let task = next_task(api, "fixture.Confirm#1").await;
    assert_eq!(task["args"], json!([{"value": "approved"}]));
    release_value(api, &task, json!("confirmed: approved")).await;
    assert_result(api, pid::SIGNAL, json!("confirmed: approved")).await;

    // A blocked actor stays blocked until unblocked.
    let (status, blocked) = api.get_json("/api/v1/actors/blocked").await;
    assert_eq!(status, 200, "{blocked}");
    assert_eq!(
        blocked["blocked"],
        json!([{"actor_id": "fixture.Blocked#1", "task_list": null}])
    );
    assert!(poll(api, "fixture.Blocked#1", 0).await.is_empty());
    let (status, body) = api
        .post_json(
            "/api/v1/actors/unblock",
            &json!({"actor_id": "fixture.Blocked#1"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let task = next_task(api, "fixture.Blocked#1").await;
    release_value(api, &task, json!("unblocked")).await;
    assert_result(api, pid::BLOCKED, json!("unblocked")).await;

    // The schedule is kept and starts processes that finish.
    let (status, schedule) = api.get_json(&format!("/api/v1/schedules/{SCHEDULE}")).await;
    assert_eq!(status, 200, "{schedule}");
    assert_eq!(schedule["cron"], "0 0 1 1 *");
    assert_eq!(schedule["start"]["actor_id"], "fixture.Scheduled#1");
    let (status, run) = api
        .post_json(&format!("/api/v1/schedules/{SCHEDULE}/run"), &json!({}))
        .await;
    assert_eq!(status, 200, "{run}");
    let run_process = run["process_id"].as_str().expect("process id").to_string();
    // A tick missed while the fixture lay on disk may start one more: run them all.
    loop {
        let task = next_task(api, "fixture.Scheduled#1").await;
        release_value(api, &task, json!("ticked")).await;
        if task["process_id"] == run_process.as_str() {
            break;
        }
    }
    let (status, view) = api
        .get_json(&format!("/api/v1/processes/{run_process}"))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["result"], "ticked", "{view}");

    // Nothing is left running or broken, but a scheduled run still being handed out.
    for state in ["broken", "running"] {
        let (status, list) = api
            .get_json(&format!("/api/v1/processes?state={state}"))
            .await;
        assert_eq!(status, 200, "{list}");
        let left: Vec<&Value> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|p| p["starter"] != "fixture.Scheduled#1")
            .collect();
        assert!(left.is_empty(), "{state} after the upgrade: {left:?}");
    }
}

async fn process(api: &Api, p: u8) -> Value {
    let (status, view) = api
        .get_json(&format!("/api/v1/processes/{}", id(p, 0)))
        .await;
    assert_eq!(status, 200, "process {}: {view}", id(p, 0));
    view
}

async fn assert_result(api: &Api, p: u8, result: Value) {
    let view = process(api, p).await;
    assert_eq!(view["state"], "finished", "{view}");
    assert_eq!(view["result"], result, "{view}");
}

async fn poll(api: &Api, actor: &str, wait_ms: u64) -> Vec<Value> {
    let (status, body) = api
        .post_json(
            "/api/v1/tasks/poll",
            &json!({"actor_id": actor, "max": 1, "wait_ms": wait_ms}),
        )
        .await;
    assert_eq!(status, 200, "poll {actor}: {body}");
    body["tasks"].as_array().cloned().unwrap_or_default()
}

/// The next task of `actor`, waiting for it as long as [`PATIENCE`].
async fn next_task(api: &Api, actor: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(task) = poll(api, actor, 5_000).await.into_iter().next() {
            return task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no task of {actor} came"
        );
    }
}

/// Releases `decision` for the delivered `task`; answers the receipt.
async fn release(api: &Api, task: &Value, mut decision: Value) -> Value {
    decision["task_id"] = task["task_id"].clone();
    decision["delivery_id"] = task["delivery_id"].clone();
    let (status, receipt) = api.post_json("/api/v1/tasks/release", &decision).await;
    assert_eq!(status, 200, "release {decision}: {receipt}");
    receipt
}

async fn release_value(api: &Api, task: &Value, value: Value) -> Value {
    release(api, task, json!({"outcome": {"value": value}})).await
}

/// Writes the fixture of the current build's format to `$SUSLIK_WRITE_FIXTURE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes a fixture: run only when a new format is released"]
async fn write_fixture_format_1() {
    let out = PathBuf::from(
        std::env::var("SUSLIK_WRITE_FIXTURE").expect("SUSLIK_WRITE_FIXTURE=<path.tar.gz>"),
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    // A short lease, so a leased task is due again whenever the fixture is opened; a
    // small snapshot interval, so the fixture holds a snapshot and a log tail.
    let mut server =
        Server::on_data_dir(&data, &["--lease-ms", "1000", "--snapshot-every", "20"]).await;
    let api = server.api();
    build_every_state(&api).await;
    let (_, status) = api.get_json("/cluster/status").await;
    assert!(
        !status["snapshot"].is_null(),
        "the fixture should hold a snapshot: {status}"
    );
    server.kill();
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(tmp.path())
        .arg("data")
        .status()
        .expect("run tar");
    assert!(tar.success(), "writing {} failed", out.display());
}

/// Puts one process in every state (see the module docs).
async fn build_every_state(api: &Api) {
    let now = now_ms();
    let start = |p: u8, actor: &str, method: &str, args: Value| {
        json!({"process_id": id(p, 0), "task_id": id(p, 1), "actor_id": actor,
               "method": method, "args": args})
    };
    let started = |api: &Api, body: Value| {
        let api = api.clone();
        async move {
            let (status, answer) = api.post_json("/api/v1/processes", &body).await;
            assert_eq!(status, 201, "start {body}: {answer}");
        }
    };

    // Finished: a decider spawns a worker task and returns its promise.
    let mut hello = start(
        pid::FINISHED,
        "fixture.Hello#1",
        "greet",
        json!([{"value": "world"}]),
    );
    hello["custom_id"] = json!("hello-1");
    started(api, hello).await;
    let task = next_task(api, "fixture.Hello#1").await;
    release(
        api,
        &task,
        json!({"outcome": {"promise": id(pid::FINISHED, 2)},
               "tasks": [{"task_id": id(pid::FINISHED, 2), "actor_id": "fixture.Format#1",
                          "method": "format", "kind": "worker",
                          "args": [{"value": "Hello"}, {"value": "world"}]}]}),
    )
    .await;
    let task = next_task(api, "fixture.Format#1").await;
    release_value(api, &task, json!("Hello, world!")).await;
    assert_result(api, pid::FINISHED, json!("Hello, world!")).await;

    // Queued, with an idempotency key.
    let mut queued = start(
        pid::QUEUED,
        "fixture.Queued#1",
        "run",
        json!([{"value": 2}]),
    );
    queued["idempotency_key"] = json!("fixture-queued");
    started(api, queued).await;

    // Leased: handed out, never released.
    started(
        api,
        start(pid::LEASED, "fixture.Leased#1", "run", json!([])),
    )
    .await;
    next_task(api, "fixture.Leased#1").await;

    // Waiting: a sum waits on a step's promise; the decider returns the sum's promise.
    started(
        api,
        start(pid::WAITING, "fixture.Waiting#1", "run", json!([])),
    )
    .await;
    let task = next_task(api, "fixture.Waiting#1").await;
    release(
        api,
        &task,
        json!({"outcome": {"promise": id(pid::WAITING, 3)},
               "tasks": [
                   {"task_id": id(pid::WAITING, 2), "actor_id": "fixture.Step#1",
                    "method": "step", "kind": "worker", "args": [{"value": 1}]},
                   {"task_id": id(pid::WAITING, 3), "actor_id": "fixture.Sum#1",
                    "method": "sum", "kind": "worker",
                    "args": [{"promise": {"task_id": id(pid::WAITING, 2)}}, {"value": 10}]}]}),
    )
    .await;

    // Delayed: starts 30 s from now (long past when the fixture is opened).
    let mut delayed = start(pid::DELAYED, "fixture.Delayed#1", "run", json!([]));
    delayed["options"] = json!({"start_at": now + 30_000});
    started(api, delayed).await;

    // Retrying: the first attempt failed, the second is due 30 s later.
    let mut retrying = start(pid::RETRYING, "fixture.Retry#1", "run", json!([]));
    retrying["options"] = json!({"retry": {"kind": "linear", "initial_interval_ms": 30_000,
                                           "max_attempts": 3}});
    started(api, retrying).await;
    let task = next_task(api, "fixture.Retry#1").await;
    let receipt = release(
        api,
        &task,
        json!({"outcome": {"error": {"error_type": "fixture.Flaky", "message": "try again"}}}),
    )
    .await;
    assert_eq!(receipt["status"], "retry_scheduled", "{receipt}");

    // Broken: an error nobody accepts, with no retry.
    started(
        api,
        start(pid::BROKEN, "fixture.Broken#1", "run", json!([])),
    )
    .await;
    let task = next_task(api, "fixture.Broken#1").await;
    let receipt = release(
        api,
        &task,
        json!({"outcome": {"error": {"error_type": "fixture.Bug", "message": "oops"}}}),
    )
    .await;
    assert_eq!(receipt["status"], "process_broken", "{receipt}");

    // An accepted fail: a payment fails as accepted, a compensation step waits on it.
    started(
        api,
        start(pid::ACCEPTED_FAIL, "fixture.Saga#1", "order", json!([])),
    )
    .await;
    let task = next_task(api, "fixture.Saga#1").await;
    release(
        api,
        &task,
        json!({"outcome": {"promise": id(pid::ACCEPTED_FAIL, 3)},
               "tasks": [
                   {"task_id": id(pid::ACCEPTED_FAIL, 2), "actor_id": "fixture.Pay#1",
                    "method": "pay", "kind": "worker", "args": [],
                    "options": {"accept_fail": ["payment"]}},
                   {"task_id": id(pid::ACCEPTED_FAIL, 3), "actor_id": "fixture.Saga#1",
                    "method": "compensate", "kind": "decider",
                    "args": [{"promise": {"task_id": id(pid::ACCEPTED_FAIL, 2)}}]}]}),
    )
    .await;
    let task = next_task(api, "fixture.Pay#1").await;
    let receipt = release(
        api,
        &task,
        json!({"outcome": {"error": {"error_type": "payment.Declined", "message": "no funds"}}}),
    )
    .await;
    assert_eq!(receipt["status"], "resolved", "{receipt}");

    // A pending signal: a worker waits on an external promise.
    started(
        api,
        start(pid::SIGNAL, "fixture.Signal#1", "run", json!([])),
    )
    .await;
    let task = next_task(api, "fixture.Signal#1").await;
    release(
        api,
        &task,
        json!({"outcome": {"promise": id(pid::SIGNAL, 3)},
               "tasks": [
                   {"task_id": id(pid::SIGNAL, 2), "actor_id": "fixture.Signal#1",
                    "method": "approval", "kind": "external"},
                   {"task_id": id(pid::SIGNAL, 3), "actor_id": "fixture.Confirm#1",
                    "method": "confirm", "kind": "worker",
                    "args": [{"promise": {"task_id": id(pid::SIGNAL, 2)}}]}]}),
    )
    .await;

    // A blocked actor with a queued task.
    let (status, body) = api
        .post_json(
            "/api/v1/actors/block",
            &json!({"actor_id": "fixture.Blocked#1"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    started(
        api,
        start(pid::BLOCKED, "fixture.Blocked#1", "run", json!([])),
    )
    .await;

    // A schedule.
    let (status, body) = api
        .post_json(
            "/api/v1/schedules",
            &json!({"name": SCHEDULE, "cron": "0 0 1 1 *",
                    "start": {"actor_id": "fixture.Scheduled#1", "method": "tick"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}
