//! The console's REST twins against a real server: the process list with its filters
//! and pages, the actor list, one process's dependency graph, one queue's task ids,
//! and the embedded console page itself.

mod common;

use common::cluster::Cluster;
use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use suslik_broker::model::{Arg, Outcome, ProcessId, TaskId};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["process_id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn list(api: &Api, query: &str) -> Value {
    let (status, body) = api.get_json(&format!("/api/v1/processes{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

#[tokio::test]
async fn processes_are_listed_newest_first_and_filtered_by_prefix_state_and_time() {
    let server = Server::start().await;
    let api = server.api();
    let mut started = Vec::new();
    for (n, actor) in ["shop.Checkout#1", "shop.Refund#1", "mail.Send#2"]
        .iter()
        .cycle()
        .take(6)
        .enumerate()
    {
        let mut req = start(actor, "go", vec![]);
        req.custom_id = Some(format!("order-{n}"));
        started.push(api.start(&req).await.process_id.to_string());
    }

    let all = list(&api, "").await;
    assert_eq!(all["total"], 6);
    let items = all["items"].as_array().expect("items");
    let keys: Vec<(u64, String)> = items
        .iter()
        .map(|p| {
            (
                p["started_at"].as_u64().unwrap_or(0),
                p["process_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut newest_first = keys.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, newest_first, "newest first, ties by id");
    assert_eq!(items[0]["state"], "running");
    assert_eq!(items[0]["tasks"], 1);
    assert!(items[0]["custom_id"]
        .as_str()
        .unwrap_or("")
        .starts_with("order-"));

    // Pages put together give the whole list, in the same order.
    let mut paged = Vec::new();
    for offset in [0, 4] {
        let page = list(&api, &format!("?limit=4&offset={offset}")).await;
        assert_eq!(page["total"], 6);
        paged.extend(ids(&page));
    }
    assert_eq!(paged, ids(&all));

    let shop = list(&api, "?actor=shop.").await;
    assert_eq!(shop["total"], 4);
    let refunds = list(&api, "?starter=shop.Refund").await;
    assert_eq!(refunds["total"], 2);
    assert_eq!(list(&api, "?actor=shop.&starter=mail.").await["total"], 0);
    let one = list(&api, "?custom_id=order-3").await;
    assert_eq!(ids(&one).len(), 1);
    let by_id = list(&api, &format!("?id={}", &started[2][..8])).await;
    assert!(ids(&by_id).contains(&started[2]));
    assert_eq!(list(&api, "?state=running").await["total"], 6);
    assert_eq!(list(&api, "?state=finished").await["total"], 0);
    let first = items.last().expect("oldest")["started_at"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(list(&api, &format!("?to={}", first - 1)).await["total"], 0);
    assert_eq!(list(&api, &format!("?from={first}")).await["total"], 6);
    assert_eq!(
        list(&api, "?state=&actor=").await["total"],
        6,
        "empty = absent"
    );
}

#[tokio::test]
async fn bad_list_queries_are_refused_with_a_clear_error() {
    let server = Server::start().await;
    let api = server.api();
    for (query, words) in [
        ("?state=sleeping", "state must be"),
        ("?limit=0", "limit must be between 1 and 1000"),
        ("?limit=1001", "limit must be between 1 and 1000"),
        ("?offset=-1", "offset must be a non-negative integer"),
        ("?from=yesterday", "from must be"),
        ("?colour=red", "unknown query parameter"),
    ] {
        let (status, body) = api.get_json(&format!("/api/v1/processes{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "invalid");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{query}: {message}");
    }
}

#[tokio::test]
async fn a_process_graph_shows_every_kind_of_promise_dependency() {
    let server = Server::start().await;
    let api = server.api();
    let started = api.start(&start("plan.Decider#1", "plan", vec![])).await;
    let d = api.next_task("plan.Decider#1").await;
    let a = worker("plan.Worker#1", "prices", vec![]);
    let b = worker("plan.Worker#1", "stock", vec![]);
    let e = worker("plan.Worker#1", "audit", vec![]);
    let mut c = worker(
        "plan.Worker#1",
        "combine",
        vec![
            promise(a.task_id),
            Arg::Array(vec![Arg::Promise {
                task_id: b.task_id,
                no_wait: true,
            }]),
        ],
    );
    c.options.wait_for = vec![e.task_id];
    let (ta, tb, tc, te) = (a.task_id, b.task_id, c.task_id, e.task_id);
    api.release(&decision(&d, Outcome::Promise(tc), vec![a, b, e, c]))
        .await;
    let prices = api.next_task_in("plan.Worker#1", "").await;
    assert_eq!(prices.task_id, ta, "first spawned, first handed out");
    api.release(&decision(&prices, value_outcome(json!(3)), vec![]))
        .await;

    let (status, graph) = api
        .get_json(&format!("/api/v1/processes/{}/graph", started.process_id))
        .await;
    assert_eq!(status, 200, "{graph}");
    let edges: HashSet<(String, String, String)> = graph["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("from"), s("to"), s("kind"))
        })
        .collect();
    let edge = |f: TaskId, t: TaskId, k: &str| (f.to_string(), t.to_string(), k.to_string());
    let dt = d.task_id;
    let expected: HashSet<_> = [
        edge(dt, ta, "spawned"),
        edge(dt, tb, "spawned"),
        edge(dt, te, "spawned"),
        edge(dt, tc, "spawned"),
        edge(ta, tc, "arg"),
        edge(tb, tc, "no_wait"),
        edge(te, tc, "wait_for"),
        edge(tc, dt, "forward"),
    ]
    .into_iter()
    .collect();
    assert_eq!(edges, expected);
    let status_of = |id: TaskId| {
        graph["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["task_id"] == id.to_string()))
            .map(|n| n["status"].clone())
    };
    assert_eq!(status_of(dt), Some(json!("awaiting_promise")));
    assert_eq!(status_of(ta), Some(json!("resolved")));
    assert_eq!(status_of(tb), Some(json!("ready")));
    assert_eq!(status_of(tc), Some(json!("waiting")));
    assert_eq!(graph["nodes"].as_array().map(Vec::len), Some(5));
    assert_eq!(graph["truncated"], false);

    let (status, small) = api
        .get_json(&format!(
            "/api/v1/processes/{}/graph?limit=2",
            started.process_id
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(small["truncated"], true);
    assert_eq!(small["nodes"].as_array().map(Vec::len), Some(2));

    let (status, body) = api
        .get_json(&format!("/api/v1/processes/{}/graph", ProcessId::random()))
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (404, json!("unknown_process"))
    );
    let (status, _) = api.get_json("/api/v1/processes/nope/graph").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn actors_and_queue_contents_are_listed_with_their_counts() {
    let server = Server::start().await;
    let api = server.api();
    let mut low = start("q.Decider#1", "go", vec![]);
    low.options.priority = 1;
    let low = api.start(&low).await;
    let mut high = start("q.Decider#1", "go", vec![]);
    high.options.priority = 9;
    let high = api.start(&high).await;
    let mut urgent = start("q.Decider#1", "go", vec![]);
    urgent.options.task_list = suslik_broker::model::TaskList::new("urgent").expect("list");
    api.start(&urgent).await;
    api.start(&start("other.Decider#1", "go", vec![])).await;
    let taken = api.poll("other.Decider#1", 1, 0).await;
    assert_eq!(taken.len(), 1);
    let (status, _) = api
        .post_json("/api/v1/actors/block", &json!({"actor_id": "q.Decider#1"}))
        .await;
    assert_eq!(status, 200);

    let (status, actors) = api.get_json("/api/v1/actors").await;
    assert_eq!(status, 200, "{actors}");
    assert_eq!(
        actors["items"],
        json!([
            {"actor_id": "other.Decider#1", "task_lists": [""], "queued": 0, "leased": 1,
             "blocked": false, "blocked_task_lists": [], "tasks_total": 1},
            {"actor_id": "q.Decider#1", "task_lists": ["", "urgent"], "queued": 3, "leased": 0,
             "blocked": true, "blocked_task_lists": [], "tasks_total": 3},
        ])
    );

    let (status, queue) = api.get_json("/api/v1/queues/q.Decider%231/tasks").await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(queue["total"], 2);
    let order: Vec<Value> = queue["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| json!([t["task_id"], t["process_id"], t["priority"]]))
        .collect();
    assert_eq!(
        order,
        vec![
            json!([high.task_id, high.process_id, 9]),
            json!([low.task_id, low.process_id, 1])
        ],
        "delivery order: higher priority first"
    );
    let (_, page) = api
        .get_json("/api/v1/queues/q.Decider%231/tasks?offset=1&limit=1")
        .await;
    assert_eq!(page["items"][0]["task_id"], json!(low.task_id));
    let (_, urgent) = api
        .get_json("/api/v1/queues/q.Decider%231/tasks?task_list=urgent")
        .await;
    assert_eq!(urgent["total"], 1);
    let (status, body) = api.get_json("/api/v1/queues/no-version/tasks").await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid")));
}

#[tokio::test]
async fn every_node_serves_the_console_page_and_its_assets() {
    let server = Server::start().await;
    let http = reqwest::Client::new();
    for (path, content_type, needle) in [
        ("/console", "text/html", "/console/app.js"),
        ("/console/", "text/html", "Suslik console"),
        ("/console/app.js", "text/javascript", "async function api("),
        ("/console/style.css", "text/css", "svg.graph"),
    ] {
        let r = http
            .get(format!("{}{path}", server.base()))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
        let ct = r.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        let body = r.text().await.expect("body");
        assert!(body.contains(needle), "{path} holds {needle:?}");
    }
    let r = http
        .get(format!("{}/console/missing.js", server.base()))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json error");
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn a_follower_serves_the_console_itself_and_lists_the_leaders_state() {
    let cluster = Cluster::start(3).await;
    let (leader, _) = cluster.leader().await;
    let follower = cluster
        .running()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    let started = cluster
        .node(leader)
        .api()
        .start(&start("far.Decider#1", "go", vec![]))
        .await;

    let page = reqwest::get(format!("{}/console", cluster.node(follower).base()))
        .await
        .expect("request");
    assert_eq!(page.status(), 200);
    let api = cluster.node(follower).api();
    let (status, list) = api.get_json("/api/v1/processes?actor=far.").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(ids(&list), vec![started.process_id.to_string()]);
    let (status, actors) = api.get_json("/api/v1/actors").await;
    assert_eq!(status, 200);
    assert_eq!(actors["items"][0]["actor_id"], "far.Decider#1");
}
