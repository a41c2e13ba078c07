//! Metrics and monitoring against a real server: `/metrics` is valid Prometheus
//! (OpenMetrics) text whose counters and histograms move when a process runs; queue
//! activity, the monitoring series, hovering queues and repeated tasks report what
//! happened.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use suslik_broker::model::{ErrorInfo, Millis, Outcome, ProcessState};

/// Samples of an exposition: `name{labels}` → value. Panics on any line that is not a
/// well-formed comment or sample, on a sample without a `# TYPE` for its family, and
/// on a missing `# EOF`.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" {
            assert!(lines.peek().is_none(), "text after # EOF");
            return samples;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind) && valid_name(name),
                "bad comment line {line:?}"
            );
            if kind == "TYPE" {
                let t = parts.next().unwrap_or_default();
                assert!(
                    ["counter", "gauge", "histogram", "info", "unknown"].contains(&t),
                    "bad type in {line:?}"
                );
                types.insert(name.to_owned(), t.to_owned());
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("sample without value: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap_or_default();
        assert!(valid_name(name), "bad metric name in {line:?}");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(
                    labels.starts_with('{') && labels.ends_with('}'),
                    "bad labels in {line:?}"
                );
                for pair in labels[1..labels.len() - 1].split("\",") {
                    let (k, v) = pair.split_once('=').expect("label k=v");
                    assert!(valid_name(k) && v.starts_with('"'), "bad label in {line:?}");
                }
            }
        }
        let family = ["_total", "_bucket", "_count", "_sum", "_info"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| types.contains_key(*f))
            .unwrap_or(name);
        assert!(types.contains_key(family), "no # TYPE for {name}");
        samples.insert(series.to_owned(), value);
    }
    panic!("exposition does not end with # EOF");
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !n.starts_with(|c: char| c.is_ascii_digit())
}

async fn scrape(server: &Server) -> (String, BTreeMap<String, f64>) {
    let r = reqwest::get(format!("{}/metrics", server.base()))
        .await
        .expect("scrape");
    assert_eq!(r.status(), 200);
    let ct = r.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = r.text().await.expect("body");
    let samples = parse_exposition(&text);
    (text, samples)
}

fn get(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// A decider that spawns one worker task; the worker answers after `execution_ms`.
async fn run_one_process(api: &Api, decider: &str, worker_actor: &str) {
    let started = api.start(&start(decider, "run", vec![])).await;
    let d = api.next_task(decider).await;
    let w = worker(worker_actor, "work", vec![value(json!(1))]);
    let w_id = w.task_id;
    api.release(&decision(&d, Outcome::Promise(w_id), vec![w]))
        .await;
    let t = api.next_task(worker_actor).await;
    let mut done = decision(&t, value_outcome(json!(2)), vec![]);
    done.execution_ms = Some(40);
    let r = api.release(&done).await;
    assert_eq!(r.process_state, ProcessState::Finished);
    assert_eq!(
        api.process(started.process_id).await.state,
        ProcessState::Finished
    );
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_when_a_process_runs() {
    let server = Server::start().await;
    let api = server.api();
    let (_, before) = scrape(&server).await;
    assert!(get(&before, "suslik_raft_term") >= 1.0);
    assert_eq!(get(&before, "suslik_raft_is_leader"), 1.0);

    run_one_process(&api, "m.d#1", "m.w#1").await;
    // An error release with a retry counts as an error and a retry.
    api.start(&start("m.r#1", "run", vec![])).await;
    let r = api.next_task("m.r#1").await;
    let mut failed = decision(&r, Outcome::Error(ErrorInfo::new("x.Y", "no")), vec![]);
    failed.restart_at = Some(Millis::now());
    api.release(&failed).await;

    let (text, after) = scrape(&server).await;
    let started = r#"suslik_processes_total{event="started"}"#;
    let finished = r#"suslik_processes_total{event="finished"}"#;
    assert_eq!(get(&after, started) - get(&before, started), 2.0, "{text}");
    assert_eq!(get(&after, finished) - get(&before, finished), 1.0);
    let w = r#"{actor_id="m.w#1",task_list=""}"#;
    assert_eq!(get(&after, &format!("suslik_queue_enqueued_total{w}")), 1.0);
    assert_eq!(get(&after, &format!("suslik_queue_polled_total{w}")), 1.0);
    assert_eq!(
        get(&after, r#"suslik_releases_total{outcome="promise"}"#),
        1.0
    );
    assert_eq!(
        get(&after, r#"suslik_releases_total{outcome="value"}"#),
        1.0
    );
    assert_eq!(
        get(&after, r#"suslik_releases_total{outcome="error"}"#),
        1.0
    );
    assert_eq!(get(&after, "suslik_retries_scheduled_total"), 1.0);

    // Histograms: buckets (cumulative, ending in +Inf = count), count and sum.
    let a = r#"actor_id="m.w#1""#;
    let count = get(
        &after,
        &format!("suslik_task_processing_seconds_count{{{a}}}"),
    );
    assert_eq!(count, 1.0, "the worker's reported 40 ms");
    let sum = get(
        &after,
        &format!("suslik_task_processing_seconds_sum{{{a}}}"),
    );
    assert!((sum - 0.04).abs() < 1e-9, "sum {sum}");
    // The bucket's `le` comes first, then the family's labels.
    // The decider said nothing: its time runs from the hand-out to the release.
    assert_eq!(
        get(
            &after,
            r#"suslik_task_processing_seconds_count{actor_id="m.d#1"}"#
        ),
        1.0
    );
    let inf = get(
        &after,
        &format!("suslik_task_processing_seconds_bucket{{le=\"+Inf\",{a}}}"),
    );
    assert_eq!(inf, count);
    let buckets: Vec<f64> = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with("suslik_poll_duration_seconds_bucket{") && k.contains("result=\"tasks\"")
        })
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.len() > 5);
    let polls = get(
        &after,
        r#"suslik_poll_duration_seconds_count{result="tasks"}"#,
    );
    assert_eq!(polls, 3.0, "three polls handed out tasks");
    assert!(buckets.iter().all(|b| *b <= polls));

    // The log moved. (The retry's timer may be firing right now, so the lag is
    // whatever separates the two indexes at the scrape.)
    let applied = get(&after, "suslik_raft_applied_index");
    let committed = get(&after, "suslik_raft_committed_index");
    assert!(applied > get(&before, "suslik_raft_applied_index"));
    assert!(committed >= applied);
    assert_eq!(get(&after, "suslik_raft_apply_lag"), committed - applied);
    assert!(get(&after, "suslik_raft_last_log_index") >= committed);
}

#[tokio::test]
async fn queue_sizes_are_gauges_read_at_scrape_time() {
    let server = Server::start().await;
    let api = server.api();
    for _ in 0..3 {
        api.start(&start("g.d#1", "run", vec![])).await;
    }
    let (_, s) = scrape(&server).await;
    let q = r#"{actor_id="g.d#1",task_list=""}"#;
    assert_eq!(get(&s, &format!("suslik_queue_size{q}")), 3.0);
    let got = api.poll("g.d#1", 2, 0).await;
    assert_eq!(got.len(), 2);
    let (_, s) = scrape(&server).await;
    assert_eq!(get(&s, &format!("suslik_queue_size{q}")), 1.0);
    assert_eq!(get(&s, &format!("suslik_queue_leased{q}")), 2.0);
}

#[tokio::test]
async fn queue_activity_and_the_monitoring_series_count_what_happened() {
    let server = Server::start().await;
    let api = server.api();
    run_one_process(&api, "a.d#1", "a.w#1").await;
    api.start(&start("a.idle#1", "run", vec![])).await;

    let (status, body) = api.get_json("/api/v1/queues/activity").await;
    assert_eq!(status, 200, "{body}");
    let queues = body["queues"].as_array().expect("queues");
    let find = |actor: &str| -> Value {
        queues
            .iter()
            .find(|q| q["actor_id"] == actor)
            .cloned()
            .unwrap_or_else(|| panic!("{actor} missing in {body}"))
    };
    let w = find("a.w#1");
    assert_eq!(w["task_list"], "");
    assert_eq!(
        (w["size"].as_u64(), w["leased"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(w["blocked"], false);
    assert_eq!(
        (w["enqueued_1h"].as_u64(), w["polled_1h"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (w["enqueued_24h"].as_u64(), w["polled_24h"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(w["last_poll_at"].as_u64().is_some());
    let idle = find("a.idle#1");
    assert_eq!(idle["size"], 1);
    assert_eq!(idle["last_poll_at"], Value::Null);
    assert_eq!(idle["enqueued_1h"], 1);

    let (status, m) = api.get_json("/api/v1/monitoring").await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["bucket_ms"], 60_000);
    assert!(m["now"].as_u64().is_some());
    let sum = |name: &str| -> u64 {
        let series = m["series"][name]
            .as_array()
            .unwrap_or_else(|| panic!("{name} in {m}"));
        assert_eq!(series.len(), 60, "{name}");
        series.iter().map(|v| v.as_u64().expect("number")).sum()
    };
    // Enqueued: two decider starts and one worker task; polled: decider and worker.
    assert_eq!(sum("enqueued"), 3);
    assert_eq!(sum("polled"), 2);
    assert_eq!(sum("released"), 2);
    assert!(sum("poll_latency_p50_ms") > 0);
    assert!(sum("poll_latency_p99_ms") >= sum("poll_latency_p50_ms"));
    let queued = m["series"]["queued"].as_array().unwrap();
    assert_eq!(queued[59], 1, "the idle queue's task is queued now");
    let raft = &m["raft"];
    assert_eq!(raft["role"], "Leader");
    assert_eq!(raft["leader"], raft["node_id"]);
    assert!(raft["term"].as_u64().unwrap() >= 1);
    assert_eq!(raft["members"].as_array().unwrap().len(), 1);
    assert!(raft["members"][0]["addr"].is_string());
    assert!(raft["last_applied"].as_u64().unwrap() <= raft["last_log_index"].as_u64().unwrap());
}

#[tokio::test]
async fn a_queue_nobody_polls_is_hovering_until_someone_does() {
    let server = Server::start().await;
    let api = server.api();
    api.start(&start("h.idle#1", "run", vec![])).await;
    api.start(&start("h.busy#1", "run", vec![])).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Polling another list of the busy actor does not count for its default list;
    // polling the idle actor's own queue does.
    assert!(api.poll_list("h.busy#1", "other", 1, 0).await.is_empty());

    let (status, body) = api.get_json("/api/v1/queues/hovering?idle_ms=200").await;
    assert_eq!(status, 200, "{body}");
    let actors: BTreeSet<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["actor_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actors,
        BTreeSet::from(["h.busy#1".into(), "h.idle#1".into()])
    );
    let idle = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["actor_id"] == "h.idle#1")
        .unwrap()
        .clone();
    assert_eq!(idle["size"], 1);
    assert_eq!(idle["task_list"], "");
    assert_eq!(idle["last_poll_at"], Value::Null);
    assert!(idle["oldest_ready_at"].as_u64().is_some());

    // A poll of the busy queue (even one that takes its task) ends its hovering; the
    // default five minutes is far away for both.
    api.poll("h.busy#1", 1, 0).await;
    let (_, body) = api.get_json("/api/v1/queues/hovering?idle_ms=200").await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["actor_id"], "h.idle#1");
    let (_, body) = api.get_json("/api/v1/queues/hovering").await;
    assert_eq!(body["items"], json!([]));

    let (status, body) = api.get_json("/api/v1/queues/hovering?idle_ms=soon").await;
    assert_eq!(status, 400);
    assert_eq!(error_body(&body).error, "invalid");
}

#[tokio::test]
async fn tasks_failing_again_and_again_are_listed_as_repeated() {
    let server = Server::start().await;
    let api = server.api();
    let p = api.start(&start("r.d#1", "run", vec![])).await;
    for _ in 0..2 {
        let t = api.next_task("r.d#1").await;
        let mut failed = decision(
            &t,
            Outcome::Error(ErrorInfo::new("db.Timeout", "slow")),
            vec![],
        );
        failed.restart_at = Some(Millis::now());
        api.release(&failed).await;
    }
    api.start(&start("r.ok#1", "run", vec![])).await;

    let (status, body) = api.get_json("/api/v1/tasks/repeated").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1, "{body}");
    let item = &body["items"][0];
    assert_eq!(item["task_id"], json!(p.task_id));
    assert_eq!(item["process_id"], json!(p.process_id));
    assert_eq!(item["actor_id"], "r.d#1");
    assert_eq!(item["method"], "run");
    assert_eq!(item["attempt"], 3);
    assert_eq!(item["last_error"]["error_type"], "db.Timeout");

    let (_, body) = api.get_json("/api/v1/tasks/repeated?min_attempts=4").await;
    assert_eq!(body["total"], 0);
    let (_, body) = api
        .get_json("/api/v1/tasks/repeated?min_attempts=1&limit=1")
        .await;
    assert_eq!(body["total"], 2);
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["items"][0]["attempt"], 3, "most attempts first");
    let (status, _) = api.get_json("/api/v1/tasks/repeated?min_attempts=0").await;
    assert_eq!(status, 400);
    let (status, _) = api.get_json("/api/v1/tasks/repeated?limit=5000").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn ready_says_which_check_passed() {
    let server = Server::start().await;
    let (status, body) = server.api().get_json("/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    assert_eq!(body["failed"], Value::Null);
    assert_eq!(body["checks"]["leader"], true);
    assert_eq!(body["checks"]["applied_caught_up"], true);
    assert!(body["committed_index"].as_u64().is_some());
    assert!(body["raft"]["last_log_index"].as_u64().is_some());
}

#[tokio::test]
async fn every_node_serves_its_own_metrics_and_counts_the_applied_log() {
    let cluster = common::cluster::Cluster::start(3).await;
    let (leader, _) = cluster.leader().await;
    let api = cluster.node(leader).api();
    api.start(&start("c.d#1", "run", vec![])).await;
    let index = cluster.status(leader).await.last_applied.expect("applied");
    let mut leaders = 0.0;
    for id in [1, 2, 3] {
        cluster.wait_applied(id, index).await;
        let (text, s) = scrape(cluster.node(id)).await;
        assert_eq!(
            get(&s, r#"suslik_processes_total{event="started"}"#),
            1.0,
            "node {id}: {text}"
        );
        assert_eq!(
            get(
                &s,
                r#"suslik_queue_enqueued_total{actor_id="c.d#1",task_list=""}"#
            ),
            1.0
        );
        leaders += get(&s, "suslik_raft_is_leader");
    }
    assert_eq!(leaders, 1.0, "exactly one node says it leads");
    // The monitoring API is the leader's, whichever node is asked.
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let (status, m) = cluster
        .node(follower)
        .api()
        .get_json("/api/v1/monitoring")
        .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["raft"]["node_id"], leader);
    assert_eq!(m["raft"]["members"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_expired_lease_is_counted() {
    let server = Server::with_args(&["--lease-ms", "200"]).await;
    let api = server.api();
    api.start(&start("l.d#1", "run", vec![])).await;
    let first = api.next_task("l.d#1").await;
    // Not released: after the lease the same task comes again.
    let again = api.next_task("l.d#1").await;
    assert_eq!(again.task_id, first.task_id);
    let (_, s) = scrape(&server).await;
    assert_eq!(get(&s, "suslik_lease_expiries_total"), 1.0);
    assert_eq!(
        get(
            &s,
            r#"suslik_queue_polled_total{actor_id="l.d#1",task_list=""}"#
        ),
        2.0
    );
}

#[tokio::test]
async fn a_recovery_scan_is_timed_and_its_tasks_counted() {
    let server = Server::with_args(&[
        "--recovery-scan-period-ms",
        "100",
        "--recovery-process-change-timeout-ms",
        "300",
    ])
    .await;
    let api = server.api();
    api.start(&start("rc.d#1", "run", vec![])).await;
    // Purging the queue stalls the process; recovery puts its task back.
    let (status, r) = api
        .post_json("/api/v1/queues/purge", &json!({"actor_id": "rc.d#1"}))
        .await;
    assert_eq!((status, r), (200, json!({"purged": 1})));
    api.next_task("rc.d#1").await;
    // The scan is timed once its answer is back, which may be just after the task is.
    let (mut text, mut s) = scrape(&server).await;
    for _ in 0..100 {
        if get(&s, "suslik_recovered_tasks_total") >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        (text, s) = scrape(&server).await;
    }
    assert!(
        get(&s, "suslik_recovery_duration_seconds_count") >= 1.0,
        "{text}"
    );
    assert!(get(&s, "suslik_recovery_duration_seconds_sum") > 0.0);
    assert_eq!(get(&s, "suslik_recovered_tasks_total"), 1.0);
    let q = r#"{actor_id="rc.d#1",task_list=""}"#;
    assert_eq!(
        get(&s, &format!("suslik_queue_enqueued_total{q}")),
        2.0,
        "the start and the recovery"
    );
}
