//! Process operations against a real broker over HTTP: the finish rule, a process's
//! history, broken processes (list, groups, restart with preview), delete, abort and
//! idempotent starts.

mod common;

use common::*;
use serde_json::json;
use suslik_broker::model::history::{EventKind, HistoryPage};
use suslik_broker::model::{Outcome, ProcessId, ProcessState};

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
        vec![Started, Enqueued, Released, Enqueued, Released, Finished]
    );
    assert_eq!(page.total, 6);
    assert_eq!(page.items[0].task_id, Some(p.task_id));
    assert_eq!(page.items[3].task_id, Some(w_id));
    assert_eq!(page.items[4].detail.as_deref(), Some("value"));
    assert!(page.items.windows(2).all(|w| w[0].at <= w[1].at));

    let (status, body) = api
        .get_json(&format!(
            "/api/v1/processes/{}/history?offset=4&limit=1",
            p.process_id
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 6);
    assert_eq!(body["items"], json!([page.items[4]]));
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
