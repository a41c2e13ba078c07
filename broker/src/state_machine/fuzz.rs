//! Property tests of decision payloads at the state-machine level: arbitrary releases —
//! well-formed, half-right and nonsensical — applied to a state with a running process
//! never panic, and one that is rejected leaves the state byte for byte as it was.
//! Afterwards the state still works: every ready task can be handed out and released
//! until nothing is left to do.
//!
//! Cases per property: 64, or `SUSLIK_FUZZ_CASES` (e.g. `SUSLIK_FUZZ_CASES=100000`
//! for a long run).

use super::*;
use crate::model::{
    Arg, Decision, ErrorInfo, JsonValue, Outcome, RetryKind, RetryPolicy, TaskKind, TaskOptions,
    TaskSpec,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

const LEASE: Millis = Millis(1_000_000);

fn cases() -> u32 {
    std::env::var("SUSLIK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// The ids a generated decision may refer to, fixed before generation by index.
#[derive(Debug, Clone)]
struct World {
    /// The delivered start task (what a correct decision releases).
    start: TaskId,
    process: ProcessId,
    /// A worker task of the same process that is delivered too.
    leased_worker: TaskId,
    /// A worker task still waiting for a promise.
    waiting: TaskId,
    /// A task of another process.
    foreign: TaskId,
    foreign_process: ProcessId,
}

/// A task id picked among the world's, a fresh one, or one from the same decision.
#[derive(Debug, Clone, Copy)]
enum Ref {
    Start,
    LeasedWorker,
    Waiting,
    Foreign,
    Unknown,
    /// The i-th task of the same decision (mod its length).
    Sibling(usize),
}

fn any_ref() -> impl Strategy<Value = Ref> {
    prop_oneof![
        Just(Ref::Start),
        Just(Ref::LeasedWorker),
        Just(Ref::Waiting),
        Just(Ref::Foreign),
        Just(Ref::Unknown),
        (0usize..6).prop_map(Ref::Sibling),
    ]
}

/// An argument tree, sometimes deeper than the limit.
#[derive(Debug, Clone)]
enum GenArg {
    Value(serde_json::Value),
    Promise(Ref, bool),
    Array(Vec<GenArg>),
    /// An array nested `n` levels deep around a value.
    Deep(usize),
}

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z]{0,4}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_arg() -> impl Strategy<Value = GenArg> {
    let leaf = prop_oneof![
        any_json().prop_map(GenArg::Value),
        (any_ref(), any::<bool>()).prop_map(|(r, nw)| GenArg::Promise(r, nw)),
        (MAX_ARG_DEPTH - 2..MAX_ARG_DEPTH + 4).prop_map(GenArg::Deep),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(GenArg::Array)
    })
}

#[derive(Debug, Clone)]
struct GenTask {
    id: Ref,
    actor: String,
    method: String,
    kind: TaskKind,
    args: Vec<GenArg>,
    wait_for: Vec<Ref>,
    accept_fail: Vec<String>,
    retry: bool,
    start_at: Option<u64>,
}

fn any_task() -> impl Strategy<Value = GenTask> {
    (
        prop_oneof![3 => Just(Ref::Unknown), 1 => any_ref()],
        prop_oneof!["[a-z]{1,8}#[0-9]", Just("x".repeat(300) + "#1")],
        prop_oneof![".{0,10}", Just("m".repeat(300))],
        prop_oneof![
            Just(TaskKind::Worker),
            Just(TaskKind::Decider),
            Just(TaskKind::DeciderStart)
        ],
        prop::collection::vec(any_arg(), 0..4),
        prop::collection::vec(any_ref(), 0..2),
        prop::collection::vec(".{0,6}", 0..2),
        any::<bool>(),
        prop::option::of(0u64..100),
    )
        .prop_map(
            |(id, actor, method, kind, args, wait_for, accept_fail, retry, start_at)| GenTask {
                id,
                actor,
                method,
                kind,
                args,
                wait_for,
                accept_fail,
                retry,
                start_at,
            },
        )
}

#[derive(Debug, Clone)]
enum GenOutcome {
    Value(serde_json::Value),
    Promise(Ref),
    Error(String, bool),
}

#[derive(Debug, Clone)]
struct GenDecision {
    task: Ref,
    process: u8,
    outcome: GenOutcome,
    tasks: Vec<GenTask>,
    restart_at: Option<u64>,
    attempt: Option<u32>,
}

fn any_decision() -> impl Strategy<Value = GenDecision> {
    (
        prop_oneof![3 => Just(Ref::Start), 1 => any_ref()],
        0u8..3,
        prop_oneof![
            any_json().prop_map(GenOutcome::Value),
            any_ref().prop_map(GenOutcome::Promise),
            (".{0,8}", any::<bool>()).prop_map(|(t, long)| GenOutcome::Error(t, long)),
        ],
        prop::collection::vec(any_task(), 0..6),
        prop::option::of(0u64..1_000),
        prop::option::of(0u32..4),
    )
        .prop_map(
            |(task, process, outcome, tasks, restart_at, attempt)| GenDecision {
                task,
                process,
                outcome,
                tasks,
                restart_at,
                attempt,
            },
        )
}

impl World {
    fn id(&self, r: Ref, fresh: &[TaskId]) -> TaskId {
        match r {
            Ref::Start => self.start,
            Ref::LeasedWorker => self.leased_worker,
            Ref::Waiting => self.waiting,
            Ref::Foreign => self.foreign,
            Ref::Unknown => TaskId::random(),
            Ref::Sibling(i) if !fresh.is_empty() => fresh[i % fresh.len()],
            Ref::Sibling(_) => TaskId::random(),
        }
    }

    fn arg(&self, a: &GenArg, fresh: &[TaskId]) -> Arg {
        match a {
            GenArg::Value(v) => Arg::Value(JsonValue::from_serialize(v).expect("json")),
            GenArg::Promise(r, no_wait) => Arg::Promise {
                task_id: self.id(*r, fresh),
                no_wait: *no_wait,
            },
            GenArg::Array(items) => Arg::Array(items.iter().map(|a| self.arg(a, fresh)).collect()),
            GenArg::Deep(n) => {
                let mut a = Arg::Value(JsonValue::from_serialize(&1).expect("json"));
                for _ in 0..*n {
                    a = Arg::Array(vec![a]);
                }
                a
            }
        }
    }

    fn decision(&self, g: &GenDecision) -> Decision {
        // Ids of the new tasks first, so that siblings can refer to each other.
        let fresh: Vec<TaskId> = g
            .tasks
            .iter()
            .map(|t| match t.id {
                Ref::Unknown => TaskId::random(),
                other => self.id(other, &[]),
            })
            .collect();
        let tasks = g
            .tasks
            .iter()
            .zip(&fresh)
            .map(|(t, id)| TaskSpec {
                task_id: *id,
                actor_id: ActorId::new(&t.actor).unwrap_or_else(|_| ActorId::new("a#1").unwrap()),
                method: t.method.clone(),
                kind: t.kind,
                args: t.args.iter().map(|a| self.arg(a, &fresh)).collect(),
                options: TaskOptions {
                    accept_fail: t.accept_fail.clone(),
                    wait_for: t.wait_for.iter().map(|r| self.id(*r, &fresh)).collect(),
                    retry: t.retry.then(|| RetryPolicy {
                        kind: RetryKind::Linear,
                        initial_interval_ms: 10,
                        backoff_coefficient: 1.0,
                        max_interval_ms: 10,
                        max_attempts: 2,
                        non_retryable: vec![],
                    }),
                    start_at: t.start_at.map(Millis),
                    ..TaskOptions::default()
                },
            })
            .collect();
        Decision {
            task_id: self.id(g.task, &fresh),
            process_id: match g.process {
                0 => None,
                1 => Some(self.process),
                _ => Some(self.foreign_process),
            },
            outcome: match &g.outcome {
                GenOutcome::Value(v) => Outcome::Value(JsonValue::from_serialize(v).expect("json")),
                GenOutcome::Promise(r) => Outcome::Promise(self.id(*r, &fresh)),
                GenOutcome::Error(t, long) => Outcome::Error(ErrorInfo::new(
                    if *long { "e".repeat(300) } else { t.clone() },
                    "generated",
                )),
            },
            tasks,
            restart_at: g.restart_at.map(Millis),
            execution_ms: None,
            attempt: g.attempt,
            delivery_id: None,
            delivered_at: None,
        }
    }
}

fn spec(actor: &str, kind: TaskKind, args: Vec<Arg>) -> TaskSpec {
    TaskSpec {
        task_id: TaskId::random(),
        actor_id: ActorId::new(actor).expect("actor"),
        method: "m".into(),
        kind,
        args,
        options: TaskOptions::default(),
    }
}

fn key(actor: &str) -> QueueKey {
    QueueKey::new(
        ActorId::new(actor).expect("actor"),
        TaskList::default_list(),
    )
}

/// A state with two processes: process A's start task delivered after a first
/// decision spawned a worker (delivered too) and a second worker waiting for it; a
/// second start task is delivered as well.
fn world() -> (State, World) {
    let mut s = State::default();
    let start_a = spec("d#1", TaskKind::DeciderStart, vec![]);
    let pid = ProcessId::random();
    let ok = |r: CommandResult| assert!(r.is_ok(), "{r:?}");
    ok(s.apply(&Command::StartProcess {
        now: Millis(1),
        process_id: pid,
        custom_id: None,
        idempotency_key: None,
        start: start_a.clone(),
    }));
    let start_b = spec("d#1", TaskKind::DeciderStart, vec![]);
    let foreign_process = ProcessId::random();
    ok(s.apply(&Command::StartProcess {
        now: Millis(1),
        process_id: foreign_process,
        custom_id: None,
        idempotency_key: None,
        start: start_b.clone(),
    }));
    assert_eq!(s.lease(&key("d#1"), 10, Millis(0), LEASE).len(), 2);
    // Process A's decider spawns a step decider (leased below) and goes on waiting for it.
    let step = spec("d#1", TaskKind::Decider, vec![]);
    let worker = spec("w#1", TaskKind::Worker, vec![]);
    let waiting = spec(
        "w#1",
        TaskKind::Worker,
        vec![Arg::Promise {
            task_id: worker.task_id,
            no_wait: false,
        }],
    );
    ok(s.apply(&Command::Release {
        now: Millis(2),
        decision: Decision {
            task_id: start_a.task_id,
            process_id: Some(pid),
            outcome: Outcome::Promise(step.task_id),
            tasks: vec![step.clone(), worker.clone(), waiting.clone()],
            restart_at: None,
            execution_ms: None,
            attempt: None,
            delivery_id: None,
            delivered_at: None,
        },
    }));
    assert_eq!(s.lease(&key("d#1"), 10, Millis(0), LEASE).len(), 1);
    assert_eq!(s.lease(&key("w#1"), 10, Millis(0), LEASE).len(), 1);
    let w = World {
        start: step.task_id,
        process: pid,
        leased_worker: worker.task_id,
        waiting: waiting.task_id,
        foreign: start_b.task_id,
        foreign_process,
    };
    (s, w)
}

/// Hands out and releases (with a plain value) every task that becomes ready, until
/// none is left; returns how many rounds that took.
fn drain(s: &mut State, actors: &[ActorId]) -> usize {
    for round in 0..100 {
        s.take_effects();
        let mut any = false;
        let queues: Vec<QueueKey> = s
            .queue_views()
            .into_iter()
            .map(|q| QueueKey::new(q.actor_id, q.task_list))
            .chain(
                actors
                    .iter()
                    .map(|a| QueueKey::new(a.clone(), TaskList::default_list())),
            )
            .collect();
        for q in queues {
            for d in s.lease(&q, 100, Millis(0), LEASE) {
                any = true;
                let _ = s.apply(&Command::FireTimers {
                    now: Millis(10_000),
                });
                let _ = s.apply(&Command::Release {
                    now: Millis(10_000),
                    decision: Decision {
                        task_id: d.task_id,
                        process_id: Some(d.process_id),
                        outcome: Outcome::Value(JsonValue::from_serialize(&0).expect("json")),
                        tasks: vec![],
                        restart_at: None,
                        execution_ms: None,
                        attempt: Some(d.attempt),
                        delivery_id: Some(d.delivery_id),
                        delivered_at: None,
                    },
                });
            }
        }
        let _ = s.apply(&Command::FireTimers {
            now: Millis(10_000),
        });
        if !any {
            return round;
        }
    }
    100
}

proptest! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, ..Config::default() })]

    /// An arbitrary release never panics; a rejected one changes nothing; afterwards
    /// every task still runs to the end.
    #[test]
    fn arbitrary_releases_are_applied_whole_or_not_at_all(g in any_decision()) {
        let (mut s, w) = world();
        let decision = w.decision(&g);
        let before = s.to_snapshot().expect("snapshot");
        let queues_before = s.queue_views();
        s.take_effects();
        let result = s.apply(&Command::Release { now: Millis(5), decision: decision.clone() });
        if result.is_err() {
            prop_assert!(s.to_snapshot().expect("snapshot") == before, "rejected {decision:?} changed the state: {result:?}");
            prop_assert_eq!(s.queue_views(), queues_before);
            let effects = s.take_effects();
            prop_assert!(effects.woken.is_empty() && effects.ended.is_empty());
        }
        // A successful release of a value or a promise is final: sending it again is
        // answered without changing anything. (An error may have re-queued the task
        // for another attempt, which a later release then legitimately ends.)
        if result.is_ok() && !matches!(decision.outcome, Outcome::Error(_)) {
            let snap = s.to_snapshot().expect("snapshot");
            let again = s.apply(&Command::Release { now: Millis(6), decision });
            prop_assert!(again.is_ok(), "a resend is answered like the first: {again:?}");
            prop_assert!(s.to_snapshot().expect("snapshot") == snap, "a resent release changed the state");
        }
        let actors: Vec<ActorId> = g.tasks.iter().filter_map(|t| ActorId::new(&t.actor).ok()).collect();
        let rounds = drain(&mut s, &actors);
        prop_assert!(rounds < 100, "the tasks never drained");
        // Snapshots round-trip whatever happened.
        let snap = s.to_snapshot().expect("snapshot");
        let restored = State::from_snapshot(&snap).expect("restore");
        // (Leases are leader-local and not part of a snapshot.)
        let (a, b) = (restored.counts(), s.counts());
        prop_assert_eq!(
            (a.processes, a.tasks, a.timers, a.pending_promises),
            (b.processes, b.tasks, b.timers, b.pending_promises)
        );
        // The per-actor counts kept along the way equal a recount from the tasks.
        prop_assert_eq!(&s.actors, &restored.actors);
        let total: usize = s.actor_views().iter().map(|a| a.tasks_total).sum();
        prop_assert_eq!(total, s.counts().tasks);
    }
}
