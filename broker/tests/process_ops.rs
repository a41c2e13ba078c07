//! Process operations against a real broker over HTTP: the finish rule, a process's
//! history, broken processes (list, groups, restart with preview), delete, abort and
//! idempotent starts.

mod common;

use common::*;
use serde_json::{json, Value};
use suslik_broker::model::history::{EventKind, HistoryPage};
use suslik_broker::model::{Delivery, ErrorInfo, Outcome, ProcessId, ProcessState};

async fn history(api: &Api, id: ProcessId) -> HistoryPage {
    let (status, body) = api
        .get_json(&format!("/api/v1/processes/{id}/history?limit=1000"))
        .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).expect("history page")
}

fn kinds(page: &HistoryPage) -> Vec<EventKind> {
    page.items.iter().map(|e| e.event).collect()
}

#[tokio::test]
async fn a_no_wait_side_task_keeps_the_process_running_but_its_result_is_visible() {
    let server = Server::start().await;
    let api = server.api();
    let p = api.start(&start("d#1", "run", vec![])).await;
    let d = api.next_task("d#1").await;
    let side = worker("audit#1", "log", vec![]);
    let r = api
        .release(&decision(&d, value_outcome(json!("ok")), vec![side]))
        .await;
    assert_eq!(r.process_state, ProcessState::Running);
    let view = api.process(p.process_id).await;
    assert_eq!(view.state, ProcessState::Running);
    assert_eq!(view.result.expect("result visible").as_str(), "\"ok\"");

    let s = api.next_task("audit#1").await;
    let r = api
        .release(&decision(&s, value_outcome(json!(1)), vec![]))
        .await;
    assert_eq!(r.process_state, ProcessState::Finished);
    let view = api.process(p.process_id).await;
    assert_eq!(view.state, ProcessState::Finished);
    assert!(view.ended_at.is_some());
}

#[tokio::test]
async fn the_history_of_a_simple_process_is_in_order() {
    let server = Server::start().await;
    let api = server.api();
    let p = api.start(&start("d#1", "run", vec![])).await;
    let d = api.next_task("d#1").await;
    let w = worker("w#1", "work", vec![]);
    let w_id = w.task_id;
    api.release(&decision(&d, Outcome::Promise(w_id), vec![w]))
        .await;
    let t = api.next_task("w#1").await;
    api.release(&decision(&t, value_outcome(json!(2)), vec![]))
        .await;

    let page = history(&api, p.process_id).await;
    use EventKind::*;
    assert_eq!(
        kinds(&page),
        vec![Started, Enqueued, Delivered, Released, Enqueued, Delivered, Released, Finished]
    );
    assert_eq!(page.total, 8);
    assert_eq!(page.items[0].task_id, Some(p.task_id));
    assert_eq!(
        page.items[2].at, d.delivered_at,
        "delivered at the delivery's time"
    );
    assert_eq!(page.items[4].task_id, Some(w_id));
    assert_eq!(page.items[5].attempt, Some(1));
    assert_eq!(page.items[6].detail.as_deref(), Some("value"));
    assert!(page.items.windows(2).all(|w| w[0].at <= w[1].at));

    let (status, body) = api
        .get_json(&format!(
            "/api/v1/processes/{}/history?offset=6&limit=1",
            p.process_id
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 8);
    assert_eq!(body["items"], json!([page.items[6]]));
    assert!(body["items"][0].get("error_type").is_none(), "{body}");

    // Bad input: unknown process, malformed id, malformed paging.
    let (status, body) = api
        .get_json(&format!(
            "/api/v1/processes/{}/history",
            ProcessId::random()
        ))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_process"))
    );
    let (status, body) = api.get_json("/api/v1/processes/nope/history").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid")));
    let (status, body) = api
        .get_json(&format!(
            "/api/v1/processes/{}/history?limit=x",
            p.process_id
        ))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid")),
        "{body}"
    );
}

fn code(body: &Value) -> Option<&str> {
    body["error"].as_str()
}

/// Starts a process whose decider spawns `prep` (on `ok#1`) and a payment on `pay`
/// that waits for it and is the process's result. Releases `prep`, then fails the
/// payment with `error_type`. Returns the process id and the payment task id.
async fn broken_payment(
    api: &Api,
    pay: &str,
    error_type: &str,
) -> (ProcessId, suslik_broker::model::TaskId) {
    let p = api.start(&start("shop#1", "run", vec![])).await;
    let d = api.next_task("shop#1").await;
    let prep = worker("ok#1", "prep", vec![]);
    let payment = worker(pay, "charge", vec![promise(prep.task_id)]);
    let pay_id = payment.task_id;
    api.release(&decision(&d, Outcome::Promise(pay_id), vec![prep, payment]))
        .await;
    let t = api.next_task("ok#1").await;
    api.release(&decision(&t, value_outcome(json!("ready")), vec![]))
        .await;
    let t = api.next_task(pay).await;
    let r = api
        .release(&decision(
            &t,
            Outcome::Error(ErrorInfo::new(error_type, "declined")),
            vec![],
        ))
        .await;
    assert_eq!(r.process_state, ProcessState::Broken);
    (p.process_id, pay_id)
}

#[tokio::test]
async fn a_broken_group_is_previewed_restarted_and_finishes() {
    let server = Server::start().await;
    let api = server.api();
    let (a, a_pay) = broken_payment(&api, "pay#1", "pay.Declined").await;
    let (b, b_pay) = broken_payment(&api, "pay#1", "pay.Declined").await;
    let (other, _) = broken_payment(&api, "bank#1", "io.Down").await;

    let (status, body) = api.get_json("/api/v1/broken?error_type=pay.").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 2);
    assert_eq!(
        body["items"][0]["process_id"],
        json!(b),
        "most recently broken first"
    );
    assert_eq!(body["items"][0]["broken"]["actor_id"], "pay#1");
    assert_eq!(
        body["items"][0]["broken"]["error"]["error_type"],
        "pay.Declined"
    );
    assert_eq!(body["items"][0]["starter"], "shop#1");

    let (status, body) = api.get_json("/api/v1/broken/groups?by=error_type").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["groups"][0]["key"], "pay.Declined");
    assert_eq!(body["groups"][0]["count"], 2);
    assert_eq!(
        body["groups"][0]["process_ids"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(body["groups"][1]["key"], "io.Down");
    let (_, body) = api
        .get_json("/api/v1/broken/groups?by=actor&actor=bank")
        .await;
    assert_eq!(
        body["groups"],
        json!([{"key": "bank#1", "count": 1, "process_ids": [other]}])
    );

    let group = json!({"filter": {"error_type": "pay.", "actor": "pay#"}});
    let (status, body) = api
        .post_json("/api/v1/broken/restart/preview", &group)
        .await;
    assert_eq!(status, 200, "{body}");
    let mut previewed: Vec<(String, u64)> = body["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            assert_eq!(
                (t["actor_id"].as_str(), t["method"].as_str()),
                (Some("pay#1"), Some("charge"))
            );
            (
                t["task_id"].as_str().unwrap_or_default().to_string(),
                t["attempt"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    previewed.sort();
    let mut expected = vec![(a_pay.to_string(), 2), (b_pay.to_string(), 2)];
    expected.sort();
    assert_eq!(previewed, expected);

    let (status, body) = api.post_json("/api/v1/broken/restart", &group).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["restarted"], 2);
    assert_eq!(api.process(a).await.state, ProcessState::Running);
    let (_, body) = api.get_json("/api/v1/broken").await;
    assert_eq!(body["total"], 1, "{body}");

    // The payments run again as attempt 2 and the processes finish; `prep`, already
    // released, is not re-run.
    for _ in 0..2 {
        let t = api.next_task("pay#1").await;
        assert_eq!(t.attempt, 2);
        api.release(&decision(&t, value_outcome(json!("paid")), vec![]))
            .await;
    }
    for id in [a, b] {
        let view = api.process(id).await;
        assert_eq!(view.state, ProcessState::Finished);
        assert_eq!(view.result.expect("result").as_str(), "\"paid\"");
        let kinds = kinds(&history(&api, id).await);
        assert!(kinds.contains(&EventKind::Restarted), "{kinds:?}");
    }
    assert!(
        api.poll("ok#1", 10, 0).await.is_empty(),
        "a released task ran again"
    );
    assert!(api.poll("shop#1", 10, 0).await.is_empty());
    assert_eq!(api.process(other).await.state, ProcessState::Broken);
}

#[tokio::test]
async fn deleting_by_filter_and_by_id_removes_the_data() {
    let server = Server::start().await;
    let api = server.api();
    let (broken, pay) = broken_payment(&api, "pay#1", "pay.Declined").await;
    let done = api.start(&start("d#1", "run", vec![])).await;
    let d = api.next_task("d#1").await;
    api.release(&decision(&d, value_outcome(json!(1)), vec![]))
        .await;
    let running = api.start(&start("d#1", "run", vec![])).await;
    let (_, before) = api.get_json("/api/v1/stats").await;
    assert_eq!(before["processes"], 3);

    let (status, body) = api
        .post_json(
            "/api/v1/processes/delete",
            &json!({"filter": {"actor": "pay#"}}),
        )
        .await;
    assert_eq!((status, &body["deleted"]), (200, &json!(1)), "{body}");
    let (status, _) = api.get_json(&format!("/api/v1/processes/{broken}")).await;
    assert_eq!(status, 404);
    let (status, _) = api.get_json(&format!("/api/v1/tasks/{pay}")).await;
    assert_eq!(status, 404);
    let (status, _) = api
        .get_json(&format!("/api/v1/processes/{broken}/history"))
        .await;
    assert_eq!(status, 404);
    let (_, body) = api.get_json("/api/v1/broken").await;
    assert_eq!(body["total"], 0);

    // By ids: the finished one goes, the running one is skipped.
    let (status, body) = api
        .post_json(
            "/api/v1/processes/delete",
            &json!({"process_ids": [done.process_id, running.process_id]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["deleted"], &body["skipped"]), (&json!(1), &json!(1)));
    let (_, after) = api.get_json("/api/v1/stats").await;
    assert_eq!(
        (&after["processes"], &after["tasks"]),
        (&json!(1), &json!(1)),
        "{after}"
    );
    assert_eq!(
        api.process(running.process_id).await.state,
        ProcessState::Running
    );
}

#[tokio::test]
async fn an_aborted_process_loses_its_queued_tasks_and_refuses_late_releases() {
    let server = Server::start().await;
    let api = server.api();
    let p = api.start(&start("d#1", "run", vec![])).await;
    let d = api.next_task("d#1").await;
    let first = worker("q#1", "work", vec![]);
    let second = worker("q#1", "work", vec![]);
    let last = worker(
        "sum#1",
        "sum",
        vec![promise(first.task_id), promise(second.task_id)],
    );
    api.release(&decision(
        &d,
        Outcome::Promise(last.task_id),
        vec![first, second, last],
    ))
    .await;
    let leased: Delivery = api.next_task("q#1").await;
    let queues = api.queues().await;
    assert_eq!(queues["queues"][0]["queued"], 1, "{queues}");

    let (status, body) = api
        .post_json(
            "/api/v1/processes/abort",
            &json!({"process_ids": [p.process_id], "reason": "order cancelled"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["aborted"], 1);
    let queues = api.queues().await;
    assert_eq!(queues["queues"], json!([]), "{queues}");
    assert!(api.poll("q#1", 10, 0).await.is_empty());
    let before = api.process(p.process_id).await;
    assert_eq!(before.state, ProcessState::Aborted);

    let (status, body) = api
        .post_json(
            "/api/v1/tasks/release",
            &decision(&leased, value_outcome(json!(1)), vec![]),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (409, Some("process_aborted")),
        "{body}"
    );
    assert_eq!(
        api.process(p.process_id).await,
        before,
        "a late release changed the process"
    );
    let page = history(&api, p.process_id).await;
    let last = page.items.last().expect("events");
    assert_eq!(
        (last.event, last.detail.as_deref()),
        (EventKind::Aborted, Some("order cancelled"))
    );

    // Aborting again is a no-op; an aborted process can be deleted.
    let (_, body) = api
        .post_json(
            "/api/v1/processes/abort",
            &json!({"process_ids": [p.process_id]}),
        )
        .await;
    assert_eq!((&body["aborted"], &body["skipped"]), (&json!(0), &json!(1)));
    let (_, body) = api
        .post_json(
            "/api/v1/processes/delete",
            &json!({"process_ids": [p.process_id]}),
        )
        .await;
    assert_eq!(body["deleted"], 1);
}

#[tokio::test]
async fn bad_selections_get_clear_errors_and_change_nothing() {
    let server = Server::start().await;
    let api = server.api();
    let (broken, _) = broken_payment(&api, "pay#1", "pay.Declined").await;
    let unknown = ProcessId::random();
    for (path, body, status, expected) in [
        (
            "/api/v1/broken/restart",
            json!({"process_ids": []}),
            400,
            "invalid",
        ),
        (
            "/api/v1/processes/delete",
            json!({"process_ids": [broken, unknown]}),
            404,
            "unknown_process",
        ),
        (
            "/api/v1/processes/abort",
            json!({"process_ids": [unknown]}),
            404,
            "unknown_process",
        ),
        (
            "/api/v1/broken/restart/preview",
            json!({"filter": {}}),
            400,
            "invalid",
        ),
        (
            "/api/v1/broken/restart",
            json!({"filter": {"error_type": ""}}),
            400,
            "invalid",
        ),
        ("/api/v1/processes/delete", json!({}), 400, "invalid"),
        (
            "/api/v1/processes/delete",
            json!({"process_ids": [broken], "filter": {"actor": "p"}}),
            400,
            "invalid",
        ),
        (
            "/api/v1/processes/delete",
            json!({"ids": [broken]}),
            400,
            "invalid",
        ),
        (
            "/api/v1/processes/abort",
            json!({"process_ids": ["nope"]}),
            400,
            "invalid",
        ),
    ] {
        let (got, answer) = api.post_json(path, &body).await;
        assert_eq!(
            (got, code(&answer)),
            (status, Some(expected)),
            "{path} {body}: {answer}"
        );
    }
    for (path, status) in [
        ("/api/v1/broken/groups", 400),
        ("/api/v1/broken/groups?by=color", 400),
        ("/api/v1/broken?limit=-1", 400),
    ] {
        let (got, answer) = api.get_json(path).await;
        assert_eq!(
            (got, code(&answer)),
            (status, Some("invalid")),
            "{path}: {answer}"
        );
    }
    assert_eq!(api.process(broken).await.state, ProcessState::Broken);
    // A filter that matches nothing is not an error: nothing to do.
    let (status, body) = api
        .post_json(
            "/api/v1/broken/restart",
            &json!({"filter": {"starter": "nobody"}}),
        )
        .await;
    assert_eq!((status, &body["restarted"]), (200, &json!(0)), "{body}");
}

#[tokio::test]
async fn a_start_with_a_used_idempotency_key_returns_the_existing_process() {
    let server = Server::start().await;
    let api = server.api();
    let mut req = start("d#1", "run", vec![value(json!(1))]);
    req.idempotency_key = Some("order-42".into());
    let (status, first) = api.post_json("/api/v1/processes", &req).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["existing"], false);
    // Another start with the same key, even with other ids and arguments.
    let mut again = start("d#1", "run", vec![value(json!(2))]);
    again.idempotency_key = Some("order-42".into());
    again.process_id = Some(ProcessId::random());
    let (status, second) = api.post_json("/api/v1/processes", &again).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["existing"], true);
    assert_eq!(second["process_id"], first["process_id"]);
    assert_eq!(second["task_id"], first["task_id"]);
    let (_, stats) = api.get_json("/api/v1/stats").await;
    assert_eq!(
        (&stats["processes"], &stats["tasks"]),
        (&json!(1), &json!(1)),
        "{stats}"
    );

    for bad in [String::new(), "k".repeat(300)] {
        let mut req = start("d#1", "run", vec![]);
        req.idempotency_key = Some(bad);
        let (status, body) = api.post_json("/api/v1/processes", &req).await;
        assert_eq!((status, code(&body)), (400, Some("invalid")), "{body}");
    }
    let (_, stats) = api.get_json("/api/v1/stats").await;
    assert_eq!(stats["processes"], 1);
}

#[tokio::test]
async fn a_custom_id_marked_unique_returns_the_existing_process() {
    let server = Server::start().await;
    let api = server.api();
    let unique = |n: i64| {
        let mut req = start("d#1", "run", vec![value(json!(n))]);
        req.custom_id = Some("invoice-7".into());
        req.unique_custom_id = true;
        req
    };
    let (status, first) = api.post_json("/api/v1/processes", &unique(1)).await;
    assert_eq!(
        (status, &first["existing"]),
        (201, &json!(false)),
        "{first}"
    );
    let (status, second) = api.post_json("/api/v1/processes", &unique(2)).await;
    assert_eq!(
        (status, &second["existing"]),
        (200, &json!(true)),
        "{second}"
    );
    assert_eq!(second["process_id"], first["process_id"]);

    // The same custom id without the flag is just a label: a new process. And an
    // idempotency key spelled like the custom id is a key of its own.
    let mut plain = start("d#1", "run", vec![]);
    plain.custom_id = Some("invoice-7".into());
    let (status, _) = api.post_json("/api/v1/processes", &plain).await;
    assert_eq!(status, 201);
    let mut keyed = start("d#1", "run", vec![]);
    keyed.idempotency_key = Some("invoice-7".into());
    let (status, third) = api.post_json("/api/v1/processes", &keyed).await;
    assert_eq!(
        (status, &third["existing"]),
        (201, &json!(false)),
        "{third}"
    );

    // Bad input: the flag without a custom id, or with an idempotency key too; a key
    // with a control character.
    let mut no_id = start("d#1", "run", vec![]);
    no_id.unique_custom_id = true;
    let mut both = unique(3);
    both.idempotency_key = Some("k".into());
    let mut control = start("d#1", "run", vec![]);
    control.idempotency_key = Some("a\u{1}b".into());
    for bad in [no_id, both, control] {
        let (status, body) = api.post_json("/api/v1/processes", &bad).await;
        assert_eq!((status, code(&body)), (400, Some("invalid")), "{body}");
    }
    let (_, stats) = api.get_json("/api/v1/stats").await;
    assert_eq!(stats["processes"], 3, "{stats}");
}
