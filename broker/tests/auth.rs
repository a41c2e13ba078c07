//! Access control against real `suslik serve` processes started with tokens: every
//! route refuses a call without a token (401) or with the wrong role's token (403) and
//! changes nothing; the right tokens work, through a follower too; cluster members
//! must share the peer secret; and a node never serves a non-loopback address without
//! tokens unless told `--insecure`.
//!
//! [`ROUTES`] lists every route with the role it needs. It must cover every
//! `.route("…", …)` in `broker/src` (checked by reading the sources), so a new endpoint
//! cannot be added without saying who may call it.

mod common;

use common::cluster::{launch_members, suslik_cli, Cluster};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use suslik_broker::api::auth::{classify, Access};
use suslik_broker::model::{Delivery, ProcessId, TaskId};

const ACTOR: &str = "actor-token-1b7c";
const OPERATOR: &str = "operator-token-9f3e";
const PEER: &str = "peer-secret-55aa";

const DECIDER: &str = "auth.Decider#1";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Anyone, no token.
    Open,
    /// The actor token or the operator token.
    Actor,
    /// Only the operator token.
    Operator,
}

/// Every HTTP route of a node (method, path as written in the router) and who may call
/// it. Routes of the shared contracts that are not built yet are listed too: they are
/// refused the same way (the check runs before routing).
const ROUTES: &[(&str, &str, Role)] = &[
    ("GET", "/health", Role::Open),
    ("GET", "/ready", Role::Open),
    ("GET", "/console", Role::Open),
    ("GET", "/console/", Role::Open),
    ("GET", "/console/{*path}", Role::Open),
    // Deciders and workers.
    ("POST", "/api/v1/processes", Role::Actor),
    ("GET", "/api/v1/processes/{id}", Role::Actor),
    ("POST", "/api/v1/tasks/poll", Role::Actor),
    ("POST", "/api/v1/tasks/release", Role::Actor),
    ("POST", "/api/v1/tasks/release/batch", Role::Actor),
    ("GET", "/api/v1/tasks/{id}", Role::Actor),
    ("POST", "/api/v1/tasks/{id}/heartbeat", Role::Actor),
    ("POST", "/api/v1/promises/{task_id}/resolve", Role::Actor),
    // Operators.
    ("GET", "/api/v1/queues", Role::Operator),
    ("GET", "/api/v1/stats", Role::Operator),
    ("GET", "/api/v1/actors/blocked", Role::Operator),
    ("POST", "/api/v1/actors/block", Role::Operator),
    ("POST", "/api/v1/actors/unblock", Role::Operator),
    ("GET", "/api/v1/actors", Role::Operator),
    ("GET", "/api/v1/processes", Role::Operator),
    ("GET", "/api/v1/processes/{id}/history", Role::Operator),
    ("GET", "/api/v1/processes/{id}/graph", Role::Operator),
    ("POST", "/api/v1/processes/delete", Role::Operator),
    ("POST", "/api/v1/processes/abort", Role::Operator),
    ("GET", "/api/v1/broken", Role::Operator),
    ("GET", "/api/v1/broken/groups", Role::Operator),
    ("POST", "/api/v1/broken/restart/preview", Role::Operator),
    ("POST", "/api/v1/broken/restart", Role::Operator),
    ("GET", "/api/v1/schedules", Role::Operator),
    ("POST", "/api/v1/schedules", Role::Operator),
    ("POST", "/api/v1/schedules/{name}/pause", Role::Operator),
    ("POST", "/api/v1/schedules/{name}/resume", Role::Operator),
    ("POST", "/api/v1/schedules/{name}/run", Role::Operator),
    ("DELETE", "/api/v1/schedules/{name}", Role::Operator),
    ("GET", "/api/v1/schedules/{name}", Role::Operator),
    ("POST", "/api/v1/queues/purge", Role::Operator),
    ("GET", "/api/v1/queues/activity", Role::Operator),
    ("GET", "/api/v1/queues/hovering", Role::Operator),
    ("GET", "/api/v1/queues/{actor_id}/tasks", Role::Operator),
    ("GET", "/api/v1/monitoring", Role::Operator),
    ("GET", "/api/v1/tasks/repeated", Role::Operator),
    ("GET", "/api/v1/alerts", Role::Operator),
    ("GET", "/metrics", Role::Operator),
    ("GET", "/cluster/status", Role::Operator),
    ("GET", "/cluster/backup", Role::Operator),
    ("POST", "/cluster/add-node", Role::Operator),
    ("POST", "/cluster/remove-node", Role::Operator),
];

// ---- the route table covers the router ---------------------------------------------

/// Every `(METHOD, "/path")` registered with `.route("/path", get(..).post(..))` in the
/// non-test code under `broker/src`.
fn routes_in_sources() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    collect_rs(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        // Unit tests build routers of their own.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(".route(") {
            let call = &rest[at + ".route(".len()..];
            rest = call;
            let Some(path) = call.trim_start().strip_prefix('"') else {
                continue; // a path constant, e.g. the Raft RPC paths
            };
            let path = &path[..path.find('"').expect("closing quote")];
            for method in methods_of(call) {
                found.insert((method, path.to_string()));
            }
        }
    }
    found
}

/// The HTTP methods named in the arguments of one `.route(` call (up to its `)`).
fn methods_of(call: &str) -> Vec<String> {
    let mut depth = 1;
    let mut end = call.len();
    for (i, c) in call.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let args = &call[..end];
    let mut methods = Vec::new();
    for m in ["get", "post", "put", "delete", "patch"] {
        let needle = format!("{m}(");
        let mut from = 0;
        while let Some(i) = args[from..].find(&needle) {
            let at = from + i;
            let before = args[..at].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                methods.push(m.to_uppercase());
            }
            from = at + needle.len();
        }
    }
    methods
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A concrete path for a route pattern.
fn concrete(pattern: &str, pid: ProcessId, tid: TaskId) -> String {
    pattern
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            if !seg.starts_with('{') {
                return seg.to_string();
            }
            let parent = pattern.split('/').nth(i - 1).unwrap_or("");
            match (parent, seg) {
                (_, s) if s.starts_with("{*") => "index.html".to_string(),
                ("processes", _) => pid.to_string(),
                ("tasks" | "promises", _) => tid.to_string(),
                ("queues", _) => "auth.Decider%231".to_string(),
                _ => "nightly".to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_route_of_the_router_has_a_role_and_the_broker_classifies_it_so() {
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let in_sources = routes_in_sources();
    assert!(
        in_sources.contains(&("POST".into(), "/api/v1/tasks/poll".into())),
        "the source scan found the router: {in_sources:?}"
    );
    let missing: Vec<_> = in_sources.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes without a role in broker/tests/auth.rs ROUTES (add them, and to \
         ACTOR_ROUTES in broker/src/api/auth.rs if actors call them): {missing:?}"
    );
    let (pid, tid) = (ProcessId::random(), TaskId::random());
    for (method, pattern, role) in ROUTES {
        let path = concrete(pattern, pid, tid);
        let method = method.parse().expect("method");
        let want = match role {
            Role::Open => Access::Open,
            Role::Actor => Access::Actor,
            Role::Operator => Access::Operator,
        };
        assert_eq!(classify(&method, &path), want, "{method} {path}");
    }
}

// ---- a node with tokens ------------------------------------------------------------

/// A raw HTTP call with an optional `Authorization` header value.
async fn call(
    base: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut req = http
        .request(method.parse().expect("method"), format!("{base}{path}"))
        .timeout(Duration::from_secs(30));
    if let Some(a) = auth {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// What a refused call must leave as it was.
async fn snapshot(base: &str, pid: ProcessId, tid: TaskId) -> Vec<Value> {
    let op = bearer(OPERATOR);
    let mut out = Vec::new();
    for path in [
        "/api/v1/stats".to_string(),
        "/api/v1/queues".into(),
        "/api/v1/actors/blocked".into(),
        format!("/api/v1/processes/{pid}"),
        format!("/api/v1/tasks/{tid}"),
    ] {
        let (status, body) = call(base, "GET", &path, Some(&op), None).await;
        assert_eq!(status, 200, "{path}: {body}");
        out.push(body);
    }
    let (status, cluster) = call(base, "GET", "/cluster/status", Some(&op), None).await;
    assert_eq!(status, 200, "{cluster}");
    out.push(json!({
        "last_log_index": cluster["last_log_index"],
        "members": cluster["members"],
    }));
    out
}

/// A body that the route would accept from the right caller (so a refusal is what
/// keeps it from acting), or `{}`.
fn body_for(pattern: &str, delivery: &Delivery) -> Value {
    let release = serde_json::to_value(decision(
        delivery,
        value_outcome(json!("done")),
        vec![worker("auth.Worker#1", "work", vec![])],
    ))
    .expect("decision json");
    match pattern {
        "/api/v1/processes" => {
            serde_json::to_value(start(DECIDER, "go", vec![])).expect("start json")
        }
        "/api/v1/tasks/poll" => json!({"actor_id": DECIDER, "max": 1, "wait_ms": 0}),
        "/api/v1/tasks/release" => release,
        "/api/v1/tasks/release/batch" => json!({ "decisions": [release] }),
        "/api/v1/actors/block" | "/api/v1/actors/unblock" => json!({"actor_id": DECIDER}),
        "/api/v1/processes/abort" | "/api/v1/processes/delete" => {
            json!({"process_ids": [delivery.process_id]})
        }
        "/api/v1/queues/purge" => json!({"actor_id": DECIDER}),
        "/cluster/remove-node" => json!({"node_id": 1}),
        "/cluster/add-node" => json!({"node_id": 9, "addr": "127.0.0.1:9"}),
        _ => json!({}),
    }
}

/// A node with tokens and one process whose start task is leased out.
async fn node_with_a_leased_task() -> (Server, Delivery) {
    let server = Server::with_args(&["--actor-token", ACTOR, "--operator-token", OPERATOR]).await;
    let api = server.api(); // operator token
    api.start(&start(DECIDER, "go", vec![])).await;
    let delivery = api.next_task(DECIDER).await;
    (server, delivery)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_a_missing_wrong_or_underprivileged_token_and_changes_nothing() {
    let (server, delivery) = node_with_a_leased_task().await;
    let base = server.base();
    let (pid, tid) = (delivery.process_id, delivery.task_id);
    let before = snapshot(&base, pid, tid).await;

    for (method, pattern, role) in ROUTES {
        let path = concrete(pattern, pid, tid);
        let body = (*method != "GET").then(|| body_for(pattern, &delivery));
        let mut refusals: Vec<(Option<String>, u16, &str)> = vec![
            (None, 401, "unauthorized"),
            (Some(bearer("not-a-token")), 401, "unauthorized"),
            (Some(format!("Basic {OPERATOR}")), 401, "unauthorized"),
            (Some(bearer(PEER)), 401, "unauthorized"),
        ];
        match role {
            Role::Open => {
                let (status, body) = call(&base, method, &path, None, body.as_ref()).await;
                assert!(
                    status != 401 && status != 403,
                    "{method} {path} is open, got {status}: {body}"
                );
                continue;
            }
            Role::Operator => refusals.push((Some(bearer(ACTOR)), 403, "forbidden")),
            Role::Actor => {}
        }
        for (auth, want, code) in refusals {
            let (status, answer) = call(&base, method, &path, auth.as_deref(), body.as_ref()).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (want, Some(code)),
                "{method} {path} with {auth:?}: {answer}"
            );
            assert!(answer["message"].is_string(), "{answer}");
        }
    }

    assert_eq!(
        snapshot(&base, pid, tid).await,
        before,
        "a refused call changed the state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_token_runs_processes_and_the_operator_token_does_everything() {
    let (server, delivery) = node_with_a_leased_task().await;
    let base = server.base();
    let actor = bearer(ACTOR);
    let op = bearer(OPERATOR);

    // Actor calls with the actor token.
    let (s, started) = call(
        &base,
        "POST",
        "/api/v1/processes",
        Some(&actor),
        Some(&serde_json::to_value(start(DECIDER, "go", vec![])).unwrap()),
    )
    .await;
    assert_eq!(s, 201, "{started}");
    let release =
        serde_json::to_value(decision(&delivery, value_outcome(json!(7)), vec![])).unwrap();
    let (s, receipt) = call(
        &base,
        "POST",
        "/api/v1/tasks/release",
        Some(&actor),
        Some(&release),
    )
    .await;
    assert_eq!(s, 200, "{receipt}");
    let (s, view) = call(
        &base,
        "GET",
        &format!("/api/v1/processes/{}", delivery.process_id),
        Some(&actor),
        None,
    )
    .await;
    assert_eq!((s, &view["result"]), (200, &json!(7)), "{view}");
    let poll = json!({"actor_id": DECIDER, "max": 1, "wait_ms": 5000});
    let (s, polled) = call(
        &base,
        "POST",
        "/api/v1/tasks/poll",
        Some(&actor),
        Some(&poll),
    )
    .await;
    assert_eq!(s, 200, "{polled}");
    assert_eq!(
        polled["tasks"][0]["process_id"], started["process_id"],
        "{polled}"
    );
    // A lower-case scheme is fine too.
    let (s, _) = call(
        &base,
        "GET",
        &format!("/api/v1/processes/{}", delivery.process_id),
        Some(&format!("bearer {ACTOR}")),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // The operator token: admin calls, and actor calls too.
    let block = json!({"actor_id": "auth.Other#1"});
    let (s, changed) = call(
        &base,
        "POST",
        "/api/v1/actors/block",
        Some(&op),
        Some(&block),
    )
    .await;
    assert_eq!((s, &changed["changed"]), (200, &json!(true)), "{changed}");
    let (s, blocked) = call(&base, "GET", "/api/v1/actors/blocked", Some(&op), None).await;
    assert_eq!(s, 200);
    assert_eq!(
        blocked["blocked"][0]["actor_id"], "auth.Other#1",
        "{blocked}"
    );
    let (s, stats) = call(&base, "GET", "/api/v1/stats", Some(&op), None).await;
    assert_eq!((s, &stats["processes"]), (200, &json!(2)), "{stats}");
    let (s, _) = call(&base, "POST", "/api/v1/tasks/poll", Some(&op), Some(&poll)).await;
    assert_eq!(s, 200);

    // `suslik cluster status` needs the operator token: by flag or from the environment.
    let addr = server.addr().to_string();
    let (ok, _, err) = suslik_cli(&["cluster", "status", "--server", &addr]).await;
    assert!(
        !ok && err.contains("401") && err.contains("unauthorized"),
        "{err}"
    );
    let (ok, out, err) =
        suslik_cli(&["cluster", "status", "--server", &addr, "--token", OPERATOR]).await;
    assert!(ok, "{err}");
    assert!(out.contains("\"role\": \"Leader\""), "{out}");
    let out = Command::new(env!("CARGO_BIN_EXE_suslik"))
        .args(["cluster", "status", "--server", &addr])
        .env("SUSLIK_OPERATOR_TOKEN", OPERATOR)
        .output()
        .expect("run suslik");
    assert!(out.status.success(), "{out:?}");
}

// ---- clusters ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_a_peer_secret_forms_and_followers_pass_the_callers_token_on() {
    let cluster = Cluster::with_args(
        3,
        &[
            "--peer-secret",
            PEER,
            "--actor-token",
            ACTOR,
            "--operator-token",
            OPERATOR,
        ],
    )
    .await;
    let (leader, _) = cluster.leader().await;
    let follower = cluster.node(if leader == 1 { 2 } else { 1 }).base();
    let req = serde_json::to_value(start(DECIDER, "go", vec![])).unwrap();

    // Refused at the follower: nothing is forwarded, nothing starts.
    let (s, body) = call(&follower, "POST", "/api/v1/processes", None, Some(&req)).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("unauthorized")));
    let (s, body) = call(
        &follower,
        "GET",
        "/api/v1/stats",
        Some(&bearer(ACTOR)),
        None,
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (403, Some("forbidden")));

    // Served by the leader with the token the follower passed on.
    let (s, started) = call(
        &follower,
        "POST",
        "/api/v1/processes",
        Some(&bearer(ACTOR)),
        Some(&req),
    )
    .await;
    assert_eq!(s, 201, "{started}");
    let (s, stats) = call(
        &follower,
        "GET",
        "/api/v1/stats",
        Some(&bearer(OPERATOR)),
        None,
    )
    .await;
    assert_eq!((s, &stats["processes"]), (200, &json!(1)), "{stats}");

    // Raft RPC without the secret is refused before it reaches Raft.
    let (s, body) = call(
        &follower,
        "POST",
        "/raft/vote",
        Some(&bearer(OPERATOR)),
        None,
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_the_wrong_peer_secret_cannot_take_part() {
    let nodes: Vec<Server> = launch_members(3, |id, peers| {
        let secret = if id == 3 { "a-wrong-secret" } else { PEER };
        [
            "--node-id",
            &id.to_string(),
            "--peers",
            peers,
            "--peer-secret",
            secret,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    })
    .await
    .into_values()
    .collect();
    // Nodes 1 and 2 are a majority: they elect a leader and commit.
    let api = Api::new(&nodes[0].base());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let started = loop {
        match api.try_start(&start(DECIDER, "go", vec![])).await {
            Ok(r) => break r,
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "no leader: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let view = api.process(started.process_id).await;
    assert_eq!(view.process_id, started.process_id);

    // Node 3 hears nothing it accepts and is heard by nobody: it never learns a leader
    // or applies an entry, and the leader has replicated nothing to it. The evidence
    // that the leader did try: its log shows several of its calls to node 3 refused.
    let refused = format!("{}/raft/append: HTTP 401", nodes[2].base());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen = nodes[..2]
            .iter()
            .flat_map(|n| n.logs())
            .filter(|l| l.contains(&refused))
            .count();
        if seen >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the leader's calls to node 3 were not refused: saw {seen} of `{refused}` \
             (openraft errors must be in the nodes' log: check SUSLIK_TEST_LOG)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, third) = nodes[2].api().get_json("/cluster/status").await;
    assert_eq!(third["leader"], Value::Null, "{third}");
    assert_eq!(third["last_applied"], Value::Null, "{third}");
    let (_, first) = nodes[0].api().get_json("/cluster/status").await;
    let leader_id = first["leader"].as_u64().expect("a leader");
    assert!(leader_id == 1 || leader_id == 2, "{first}");
    let (_, lead) = nodes[leader_id as usize - 1]
        .api()
        .get_json("/cluster/status")
        .await;
    let member3 = lead["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["node_id"] == 3))
        .cloned()
        .expect("node 3 is a member");
    assert_eq!(member3["matched"], Value::Null, "{lead}");
    // The refused member is still alive and answering (its stderr, where a panic would
    // show, is not captured: check liveness instead).
    let (status, health) = nodes[2].api().get_json("/health").await;
    assert_eq!(status, 200, "{health}");
}

// ---- exposure ----------------------------------------------------------------------

fn serve_print_config(extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_suslik"));
    cmd.args(["serve", "--data-dir"])
        .arg(&data)
        .args(extra)
        .arg("--print-config")
        .env_remove("SUSLIK_ACTOR_TOKEN")
        .env_remove("SUSLIK_OPERATOR_TOKEN")
        .env_remove("SUSLIK_PEER_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run suslik")
}

#[test]
fn a_non_loopback_address_without_tokens_is_refused_unless_insecure() {
    let open = serve_print_config(&["--listen", "0.0.0.0:7700"], &[]);
    let err = String::from_utf8_lossy(&open.stderr);
    assert_eq!(open.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refusing to serve 0.0.0.0:7700 without tokens"),
        "{err}"
    );
    assert!(err.contains("--insecure"), "{err}");

    let insecure = serve_print_config(&["--listen", "0.0.0.0:7700", "--insecure"], &[]);
    assert!(insecure.status.success(), "{insecure:?}");

    // Tokens from the environment are enough, and are never printed.
    let with_env = serve_print_config(
        &["--listen", "0.0.0.0:7700"],
        &[("SUSLIK_OPERATOR_TOKEN", OPERATOR)],
    );
    let out = String::from_utf8_lossy(&with_env.stdout);
    assert!(with_env.status.success(), "{with_env:?}");
    assert!(out.contains("operator_token = \"<set>\""), "{out}");
    assert!(out.contains("actor_token = \"<unset>\""), "{out}");
    assert!(!out.contains(OPERATOR), "{out}");

    // A cluster member on the network also needs the peer secret.
    let peers = "--peers=1=10.0.0.1:7700,2=10.0.0.2:7700";
    let no_secret = serve_print_config(
        &[
            "--listen",
            "0.0.0.0:7700",
            "--operator-token",
            OPERATOR,
            peers,
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&no_secret.stderr);
    assert_eq!(no_secret.status.code(), Some(2), "{err}");
    assert!(err.contains("peer secret"), "{err}");
    let with_secret = serve_print_config(
        &[
            "--listen",
            "0.0.0.0:7700",
            "--operator-token",
            OPERATOR,
            peers,
        ],
        &[("SUSLIK_PEER_SECRET", PEER)],
    );
    assert!(with_secret.status.success(), "{with_secret:?}");

    // Loopback needs nothing.
    let local = serve_print_config(&["--listen", "127.0.0.1:7700"], &[]);
    assert!(local.status.success(), "{local:?}");
}

#[test]
fn tokens_come_from_the_auth_section_and_a_typo_there_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("suslik.toml");
    std::fs::write(
        &file,
        format!("listen = \"0.0.0.0:7700\"\n[auth]\noperator_token = \"{OPERATOR}\"\n"),
    )
    .unwrap();
    let ok = serve_print_config(&["--config", file.to_str().unwrap()], &[]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("operator_token = \"<set>\""));

    std::fs::write(&file, "[auth]\noperator-token = \"x\"\n").unwrap();
    let typo = serve_print_config(&["--config", file.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&typo.stderr);
    assert_eq!(typo.status.code(), Some(2), "{err}");
    assert!(err.contains("operator-token"), "{err}");
}
