//! Recovery against a real server: purging a queue stalls its process; with a short
//! change timeout, recovery puts the purged task back and the process finishes, and
//! nothing already released is delivered again. Bad purge requests get a clear 4xx.

mod common;

use common::*;
use serde_json::json;
use suslik_broker::model::wire::TaskStatus;
use suslik_broker::model::{Outcome, ProcessState};

#[tokio::test]
async fn a_purged_queue_stalls_its_process_until_recovery_puts_the_task_back() {
    let server = Server::with_args(&[
        "--recovery-scan-period-ms",
        "100",
        "--recovery-process-change-timeout-ms",
        "300",
    ])
    .await;
    let api = server.api();
    let p = api.start(&start("d#1", "run", vec![])).await;
    let d = api.next_task("d#1").await;
    let a = worker("a#1", "fetch", vec![value(json!(20))]);
    let b = worker("b#1", "double", vec![promise(a.task_id)]);
    let (a_id, b_id) = (a.task_id, b.task_id);
    api.release(&decision(&d, Outcome::Promise(b_id), vec![a, b]))
        .await;
    let ta = api.next_task("a#1").await;
    api.release(&decision(&ta, value_outcome(json!(21)), vec![]))
        .await;

    // b is ready now; an operator clears its queue.
    let (status, r) = api
        .post_json("/api/v1/queues/purge", &json!({"actor_id": "b#1"}))
        .await;
    assert_eq!((status, r), (200, json!({"purged": 1})));
    assert!(api.poll("b#1", 10, 0).await.is_empty(), "b is in no queue");
    assert_eq!(api.task(b_id).await.status, TaskStatus::Purged);
    assert_eq!(api.process(p.process_id).await.state, ProcessState::Running);

    // Recovery notices the stalled process and puts b back; nothing else runs again.
    let tb = api.next_task("b#1").await;
    assert_eq!(tb.task_id, b_id);
    assert_eq!(arg_json(&tb.args[0]), json!(21));
    assert!(api.poll("a#1", 10, 0).await.is_empty(), "a was released");
    assert!(
        api.poll("d#1", 10, 0).await.is_empty(),
        "the decider was released"
    );
    let r = api
        .release(&decision(&tb, value_outcome(json!(42)), vec![]))
        .await;
    assert_eq!(r.process_state, ProcessState::Finished);
    let view = api.process(p.process_id).await;
    assert_eq!(
        view.result.map(|v| v.as_str().to_string()).as_deref(),
        Some("42")
    );
    assert!(
        view.tasks.iter().all(|t| t.attempt == 1),
        "each task ran once"
    );
    assert_eq!(api.task(a_id).await.attempt, 1);
    let (_, history) = api
        .get_json(&format!("/api/v1/processes/{}/history", p.process_id))
        .await;
    let recovered: Vec<_> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "recovered")
        .map(|e| e["task_id"].clone())
        .collect();
    assert_eq!(recovered, vec![json!(b_id.to_string())], "{history}");
}

#[tokio::test]
async fn purge_takes_one_task_list_or_all_of_them() {
    let server = Server::with_args(&["--no-recovery"]).await;
    let api = server.api();
    for list in ["", "urgent", "urgent"] {
        let mut req = start("p#1", "run", vec![]);
        req.options.task_list = suslik_broker::model::TaskList::new(list).unwrap();
        api.start(&req).await;
    }
    let (status, r) = api
        .post_json(
            "/api/v1/queues/purge",
            &json!({"actor_id": "p#1", "task_list": "urgent"}),
        )
        .await;
    assert_eq!((status, r), (200, json!({"purged": 2})));
    assert_eq!(api.poll_list("p#1", "", 10, 0).await.len(), 1);
    // A handed-out task is purged too (leases are the leader's alone).
    let (_, r) = api
        .post_json("/api/v1/queues/purge", &json!({"actor_id": "p#1"}))
        .await;
    assert_eq!(r, json!({"purged": 1}));
    let (_, r) = api
        .post_json("/api/v1/queues/purge", &json!({"actor_id": "nobody#1"}))
        .await;
    assert_eq!(r, json!({"purged": 0}));
}

#[tokio::test]
async fn bad_purge_requests_are_refused_with_a_clear_error() {
    let server = Server::start().await;
    let api = server.api();
    for body in [
        json!({}),
        json!({"actor_id": "no-version"}),
        json!({"actor_id": "p#1", "task_list": "bad list!"}),
        json!({"actor_id": "p#1", "tasklist": "typo"}),
    ] {
        let (status, e) = api.post_json("/api/v1/queues/purge", &body).await;
        assert_eq!(status, 400, "{body}: {e}");
        assert!(
            ["invalid", "malformed_json"].contains(&e["error"].as_str().unwrap_or("")),
            "{e}"
        );
    }
}

#[test]
fn recovery_settings_come_from_the_recovery_table_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "[recovery]\nscan_period_ms = 5000\nprocess_change_timeout_ms = 7000\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_suslik"))
        .args(["serve", "--config", file.to_str().unwrap()])
        .args(["--recovery-max-per-scan", "9", "--print-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settings: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let r = settings["recovery"].as_table().expect("a [recovery] table");
    assert_eq!(r["enabled"].as_bool(), Some(true));
    assert_eq!(r["scan_period_ms"].as_integer(), Some(5000));
    assert_eq!(r["process_change_timeout_ms"].as_integer(), Some(7000));
    assert_eq!(r["max_per_scan"].as_integer(), Some(9));

    std::fs::write(&file, "[recovery]\nscan_period = 5\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_suslik"))
        .args([
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--print-config",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a typo in the table is an error"
    );
}
