//! Bad input over HTTP, property-tested against a real `suslik serve`: random JSON,
//! mutated valid bodies and raw bytes sent to the endpoints that change state (start,
//! poll, release, release batch, block, unblock). Whatever arrives, the broker answers
//! with a status below 500 and a JSON body (an `error` code when it refuses), and a
//! refused request leaves the state as it was: stats, queues, blocked actors and every
//! process the test started are compared before and after.
//!
//! Cases per property: 64, or `SUSLIK_FUZZ_CASES` for a longer run.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use std::sync::Mutex;
use suslik_broker::model::{Delivery, ProcessId};

const DECIDER: &str = "fz.Decider#1";

const ENDPOINTS: &[&str] = &[
    "/api/v1/processes",
    "/api/v1/tasks/poll",
    "/api/v1/tasks/release",
    "/api/v1/tasks/release/batch",
    "/api/v1/actors/block",
    "/api/v1/actors/unblock",
];

fn cases() -> u32 {
    std::env::var("SUSLIK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,16}".prop_map(Value::from),
        Just(Value::from("x".repeat(300))),
        Just(Value::from("fz.Decider#1")),
        Just(Value::from("00000000-0000-4000-8000-000000000001")),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{0,10}",
                    Just("actor_id".to_string()),
                    Just("task_id".to_string()),
                    Just("method".to_string()),
                    Just("tasks".to_string()),
                    Just("outcome".to_string()),
                    Just("value".to_string()),
                    Just("decisions".to_string()),
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One change to a JSON document, applied at a position picked by `at`.
#[derive(Debug, Clone)]
enum Mutation {
    /// Remove an object key or array element.
    Remove,
    /// Replace a node with another value.
    Replace(Value),
    /// Put the node inside an array.
    Wrap,
    /// Nest the node 40 arrays deep.
    Bury,
    /// Repeat an array's elements (or a string) many times.
    Blow,
}

fn any_mutation() -> impl Strategy<Value = (usize, Mutation)> {
    (
        any::<usize>(),
        prop_oneof![
            2 => Just(Mutation::Remove),
            4 => any_json().prop_map(Mutation::Replace),
            1 => Just(Mutation::Wrap),
            1 => Just(Mutation::Bury),
            1 => Just(Mutation::Blow),
        ],
    )
}

/// Number of nodes of a document (pre-order).
fn size(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(size).sum(),
        Value::Object(o) => o.values().map(size).sum(),
        _ => 0,
    }
}

/// Applies `m` at the `n`-th node (pre-order) of `v`; the root may be replaced,
/// wrapped or buried but not removed.
fn mutate(v: &mut Value, n: usize, m: &Mutation) {
    fn go(v: &mut Value, n: &mut usize, m: &Mutation) -> bool {
        if *n == 0 {
            match m {
                Mutation::Remove => return true, // the parent removes it
                Mutation::Replace(new) => *v = new.clone(),
                Mutation::Wrap => *v = Value::Array(vec![v.take()]),
                Mutation::Bury => {
                    for _ in 0..40 {
                        *v = Value::Array(vec![v.take()]);
                    }
                }
                Mutation::Blow => match v {
                    Value::Array(a) if !a.is_empty() => {
                        let first = a[0].clone();
                        a.extend(std::iter::repeat_n(first, 2_000));
                    }
                    Value::String(s) => *s = s.repeat(100).chars().take(100_000).collect(),
                    _ => *v = Value::Array(vec![v.take(); 200]),
                },
            }
            *n = usize::MAX;
            return false;
        }
        *n -= 1;
        match v {
            Value::Array(a) => {
                let mut i = 0;
                while i < a.len() {
                    if go(&mut a[i], n, m) {
                        a.remove(i);
                        *n = usize::MAX;
                        return false;
                    }
                    i += 1;
                }
            }
            Value::Object(o) => {
                let keys: Vec<String> = o.keys().cloned().collect();
                for k in keys {
                    if let Some(child) = o.get_mut(&k) {
                        if go(child, n, m) {
                            o.remove(&k);
                            *n = usize::MAX;
                            return false;
                        }
                    }
                }
            }
            _ => {}
        }
        false
    }
    let mut n = n % size(v);
    if n == 0 && matches!(m, Mutation::Remove) {
        *v = Value::Null;
        return;
    }
    go(v, &mut n, m);
}

/// The broker under test and what it has been told so far.
struct Target {
    rt: tokio::runtime::Runtime,
    server: Server,
    /// Every process started (by setup or by an accepted request).
    processes: Mutex<Vec<ProcessId>>,
    /// The leased task that valid releases refer to.
    delivery: Mutex<Option<Delivery>>,
}

impl Target {
    fn new() -> Target {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        // Leases must not expire during the run: that would change the state between
        // the two snapshots of a refused request.
        let server = rt.block_on(Server::with_args(&["--lease-ms", "86400000"]));
        let t = Target {
            rt,
            server,
            processes: Mutex::default(),
            delivery: Mutex::new(None),
        };
        t.new_delivery();
        t
    }

    /// Starts a process and leases its start task: the target of valid releases.
    fn new_delivery(&self) {
        let api = self.server.api();
        let d = self.rt.block_on(async {
            // An accepted request may have blocked the decider.
            for body in [
                json!({"actor_id": DECIDER}),
                json!({"actor_id": DECIDER, "task_list": ""}),
            ] {
                let (status, answer) = api.post_json("/api/v1/actors/unblock", &body).await;
                assert_eq!(status, 200, "{answer}");
            }
            let r = api
                .start(&start(DECIDER, "go", vec![value(json!(1))]))
                .await;
            self.processes.lock().unwrap().push(r.process_id);
            for _ in 0..100 {
                let got = api.poll(DECIDER, 1000, 1_000).await;
                if let Some(d) = got.into_iter().find(|d| d.task_id == r.task_id) {
                    return d;
                }
            }
            panic!("the start task of {} was never handed out", r.process_id);
        });
        *self.delivery.lock().unwrap() = Some(d);
    }

    /// A valid body for `endpoint`.
    fn valid_body(&self, endpoint: &str) -> Value {
        let d = self.delivery.lock().unwrap().clone().expect("a delivery");
        let release = serde_json::to_value(decision(
            &d,
            value_outcome(json!({"sum": 14})),
            vec![worker(
                "fz.Worker#1",
                "square",
                vec![value(json!([1, 2, 3]))],
            )],
        ))
        .expect("decision");
        match endpoint {
            "/api/v1/processes" => json!({
                "actor_id": DECIDER,
                "method": "go",
                "args": [{"value": 1}, {"array": [{"value": "a"}]}],
                "options": {"task_list": "", "priority": 3},
                "custom_id": "fz-1"
            }),
            "/api/v1/tasks/poll" => {
                json!({"actor_id": "fz.Other#1", "task_list": "", "max": 1, "wait_ms": 0})
            }
            "/api/v1/tasks/release" => release,
            "/api/v1/tasks/release/batch" => json!({ "decisions": [release] }),
            _ => json!({"actor_id": "fz.Blocked#1", "task_list": "a"}),
        }
    }

    /// What a refused request must not change.
    fn snapshot(&self) -> Vec<Value> {
        let api = self.server.api();
        // The most recent processes (the stats count all of them): keeps a long run
        // from slowing down as processes pile up.
        let processes: Vec<ProcessId> = {
            let all = self.processes.lock().unwrap();
            all[all.len().saturating_sub(16)..].to_vec()
        };
        self.rt.block_on(async {
            let mut out = Vec::new();
            for path in ["/api/v1/stats", "/api/v1/queues", "/api/v1/actors/blocked"] {
                let (status, body) = api.get_json(path).await;
                assert_eq!(status, 200, "{path}: {body}");
                out.push(body);
            }
            for p in processes {
                let (status, body) = api.get_json(&format!("/api/v1/processes/{p}")).await;
                assert_eq!(status, 200, "{body}");
                out.push(body);
            }
            out
        })
    }

    /// Sends one request and checks the answer and, if refused, the state.
    fn check(
        &self,
        endpoint: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(), TestCaseError> {
        let body = short_polls(body);
        let before = self.snapshot();
        let api = self.server.api();
        let (status, answer) = self
            .rt
            .block_on(api.post_raw(endpoint, content_type, body.clone()));
        let shown = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
        prop_assert!(
            status < 500,
            "{endpoint} answered {status} {answer} to {shown}"
        );
        if status >= 400 {
            prop_assert!(
                answer["error"].is_string() && answer["message"].is_string(),
                "{endpoint}: error without a code: {answer}"
            );
            prop_assert!(
                self.snapshot() == before,
                "{endpoint} refused ({status} {answer}) but the state changed; body {shown}"
            );
            return Ok(());
        }
        // Accepted: remember what it started; a release may have used up the delivery.
        if let Some(p) = answer["process_id"].as_str().and_then(|p| p.parse().ok()) {
            self.processes.lock().unwrap().push(p);
        }
        if endpoint.contains("release") {
            self.new_delivery();
        }
        Ok(())
    }
}

/// Caps a top-level `wait_ms` at 100 ms: an accepted long poll is correct but would
/// make the run wait for nothing.
fn short_polls(body: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut o))
            if o.get("wait_ms")
                .and_then(Value::as_u64)
                .is_some_and(|w| w > 100) =>
        {
            o.insert("wait_ms".into(), json!(100));
            serde_json::to_vec(&Value::Object(o)).expect("json")
        }
        _ => body,
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn random_json_to_any_endpoint_is_refused_cleanly() {
    let t = Target::new();
    runner()
        .run(&(0..ENDPOINTS.len(), any_json()), |(e, body)| {
            t.check(
                ENDPOINTS[e],
                "application/json",
                serde_json::to_vec(&body).expect("json"),
            )
        })
        .unwrap();
}

#[test]
fn mutated_valid_bodies_are_applied_or_refused_without_a_trace() {
    let t = Target::new();
    runner()
        .run(
            &(
                0..ENDPOINTS.len(),
                prop::collection::vec(any_mutation(), 1..4),
            ),
            |(e, mutations)| {
                let mut body = t.valid_body(ENDPOINTS[e]);
                for (at, m) in &mutations {
                    mutate(&mut body, *at, m);
                }
                t.check(
                    ENDPOINTS[e],
                    "application/json",
                    serde_json::to_vec(&body).expect("json"),
                )
            },
        )
        .unwrap();
}

#[test]
fn raw_bytes_and_truncated_bodies_are_refused_cleanly() {
    let t = Target::new();
    runner()
        .run(
            &(
                0..ENDPOINTS.len(),
                prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| (b, None)),
                    any::<usize>().prop_map(|cut| (Vec::new(), Some(cut))),
                ],
                prop_oneof![
                    Just("application/json"),
                    Just("text/plain"),
                    Just("application/json; charset=utf-8")
                ],
            ),
            |(e, (bytes, cut), content_type)| {
                let body = match cut {
                    // A valid body cut short somewhere.
                    Some(cut) => {
                        let full = serde_json::to_vec(&t.valid_body(ENDPOINTS[e])).expect("json");
                        full[..cut % full.len()].to_vec()
                    }
                    None => bytes,
                };
                t.check(ENDPOINTS[e], content_type, body)
            },
        )
        .unwrap();
}
