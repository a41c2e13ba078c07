//! The state machine's behaviour, spelled out: each test reads as a clause of the spec.

use super::*;
use crate::model::wire::{ReleaseStatus, TaskStatus as ViewStatus};
use crate::model::{
    Arg, Decision, Delivery, ErrorInfo, JsonValue, Outcome, ProcessState, ResolvedArg, RetryPolicy,
    TaskKind, TaskOptions, TaskSpec,
};

const LEASE: Millis = Millis(1_000_000);

fn actor(s: &str) -> ActorId {
    ActorId::new(s).unwrap()
}

fn key(s: &str) -> QueueKey {
    QueueKey::new(actor(s), TaskList::default_list())
}

fn val(v: serde_json::Value) -> JsonValue {
    JsonValue::from_serialize(&v).unwrap()
}

fn spec(a: &str, method: &str, kind: TaskKind, args: Vec<Arg>) -> TaskSpec {
    TaskSpec {
        task_id: TaskId::random(),
        actor_id: actor(a),
        method: method.into(),
        kind,
        args,
        options: TaskOptions::default(),
    }
}

fn promise(t: &TaskSpec) -> Arg {
    Arg::Promise {
        task_id: t.task_id,
        no_wait: false,
    }
}

fn start(s: &mut State, now: u64) -> (ProcessId, TaskId) {
    let start = spec("decider#1", "start", TaskKind::DeciderStart, vec![]);
    let pid = ProcessId::random();
    let r = s.apply(&Command::StartProcess {
        now: Millis(now),
        process_id: pid,
        custom_id: None,
        idempotency_key: None,
        start: start.clone(),
    });
    assert!(matches!(r, Ok(Reply::Started(_))), "{r:?}");
    (pid, start.task_id)
}

fn release(s: &mut State, d: Decision) -> CommandResult {
    s.apply(&Command::Release {
        now: Millis(10),
        decision: d,
    })
}

fn decision(task: TaskId, outcome: Outcome, tasks: Vec<TaskSpec>) -> Decision {
    Decision {
        task_id: task,
        process_id: None,
        outcome,
        tasks,
        restart_at: None,
        execution_ms: None,
        attempt: None,
        delivery_id: None,
        delivered_at: None,
    }
}

fn receipt(r: CommandResult) -> wire::ReleaseReceipt {
    match r {
        Ok(Reply::Released(rc)) => rc,
        other => panic!("expected a receipt, got {other:?}"),
    }
}

fn poll(s: &mut State, a: &str) -> Vec<Delivery> {
    s.lease(&key(a), 100, Millis(0), LEASE)
}

fn poll_ids(s: &mut State, a: &str) -> Vec<TaskId> {
    poll(s, a).into_iter().map(|d| d.task_id).collect()
}

use crate::model::wire;

/// The bench workload: a decider spawns three workers and a summing worker over their
/// promises, and returns the promise of the sum.
#[test]
fn fan_out_fan_in_delivers_the_sum_only_after_its_three_inputs() {
    let mut s = State::default();
    let (pid, start_task) = start(&mut s, 0);
    assert_eq!(poll_ids(&mut s, "decider#1"), vec![start_task]);

    let steps: Vec<TaskSpec> = (0..3)
        .map(|i| {
            spec(
                "worker#1",
                "step",
                TaskKind::Worker,
                vec![Arg::Value(val(i.into()))],
            )
        })
        .collect();
    let sum = spec(
        "summer#1",
        "sum",
        TaskKind::Worker,
        vec![Arg::Array(steps.iter().map(promise).collect())],
    );
    let mut tasks = steps.clone();
    tasks.push(sum.clone());
    let rc = receipt(release(
        &mut s,
        decision(start_task, Outcome::Promise(sum.task_id), tasks),
    ));
    assert_eq!(rc.status, ReleaseStatus::AwaitingPromise);
    assert_eq!(rc.process_state, ProcessState::Running);

    let delivered = poll(&mut s, "worker#1");
    assert_eq!(delivered.len(), 3);
    assert!(
        poll(&mut s, "summer#1").is_empty(),
        "sum handed out before its inputs"
    );

    for (i, d) in delivered.iter().enumerate() {
        let v = d.args[0].clone();
        let ResolvedArg::Value(v) = v else { panic!() };
        let n: i64 = v.decode().unwrap();
        release(
            &mut s,
            decision(d.task_id, Outcome::Value(val((n + 1).into())), vec![]),
        )
        .unwrap();
        let sum_ready = !poll(&mut s, "summer#1").is_empty();
        assert_eq!(sum_ready, i == 2, "sum ready after {} inputs", i + 1);
        if sum_ready {
            s.release_all_leases();
        }
    }
    let d = poll(&mut s, "summer#1").remove(0);
    let ResolvedArg::Array(parts) = &d.args[0] else {
        panic!("{:?}", d.args)
    };
    let parts: Vec<i64> = parts
        .iter()
        .map(|p| match p {
            ResolvedArg::Value(v) => v.decode().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(parts, vec![1, 2, 3]);
    release(
        &mut s,
        decision(d.task_id, Outcome::Value(val(6.into())), vec![]),
    )
    .unwrap();

    let view = s.process_view(&pid).unwrap();
    assert_eq!(view.state, ProcessState::Finished);
    assert_eq!(view.result.unwrap().as_str(), "6");
    assert_eq!(s.take_effects().ended, vec![pid]);
}

#[test]
fn a_repeated_release_returns_the_first_answer_and_changes_nothing() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let first_release = decision(t, Outcome::Value(val(1.into())), vec![]);
    let first = receipt(release(&mut s, first_release.clone()));
    assert!(!first.duplicate);
    let before = s.to_snapshot().unwrap();
    let again = receipt(release(&mut s, first_release.clone()));
    assert!(again.duplicate);
    assert_eq!(again.status, first.status);
    assert!(matches!(
        s.answer_without_log(&first_release),
        Some(Ok(Reply::Released(r))) if r.duplicate
    ));

    // Another outcome for the same task is refused, and changes nothing either.
    let child = spec("worker#1", "m", TaskKind::Worker, vec![]);
    let other = decision(t, Outcome::Value(val(2.into())), vec![child]);
    assert!(matches!(
        release(&mut s, other.clone()),
        Err(CommandError::AlreadyReleased(_))
    ));
    assert!(matches!(
        s.answer_without_log(&other),
        Some(Err(CommandError::AlreadyReleased(_)))
    ));
    assert_eq!(
        s.to_snapshot().unwrap(),
        before,
        "a repeated release changed state"
    );
}

#[test]
fn releasing_an_unknown_task_is_rejected() {
    let mut s = State::default();
    let t = TaskId::random();
    let r = release(&mut s, decision(t, Outcome::Value(val(1.into())), vec![]));
    assert_eq!(r, Err(CommandError::UnknownTask(t)));
}

#[test]
fn a_decision_with_a_dangling_promise_is_rejected_whole() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let before = s.to_snapshot().unwrap();
    let ok = spec("worker#1", "m", TaskKind::Worker, vec![]);
    let stranger = TaskId::random();
    let bad = spec(
        "worker#1",
        "m",
        TaskKind::Worker,
        vec![Arg::Promise {
            task_id: stranger,
            no_wait: false,
        }],
    );
    let r = release(
        &mut s,
        decision(t, Outcome::Value(val(1.into())), vec![ok, bad]),
    );
    assert!(matches!(r, Err(CommandError::Invalid(_))), "{r:?}");
    assert_eq!(s.to_snapshot().unwrap(), before);
    // Referencing a task listed *later* in the same decision is rejected too (no cycles).
    let a = spec("worker#1", "m", TaskKind::Worker, vec![]);
    let b = spec("worker#1", "m", TaskKind::Worker, vec![promise(&a)]);
    let r = release(
        &mut s,
        decision(t, Outcome::Value(val(1.into())), vec![b, a]),
    );
    assert!(matches!(r, Err(CommandError::Invalid(_))), "{r:?}");
    assert_eq!(s.to_snapshot().unwrap(), before);
}

#[test]
fn a_task_id_cannot_be_spawned_twice() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let a = spec("worker#1", "m", TaskKind::Worker, vec![]);
    let r = release(
        &mut s,
        decision(t, Outcome::Value(val(1.into())), vec![a.clone(), a]),
    );
    assert!(matches!(r, Err(CommandError::Conflict(_))), "{r:?}");
}

#[test]
fn a_task_that_is_still_waiting_cannot_be_released() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let a = spec("worker#1", "m", TaskKind::Worker, vec![]);
    let b = spec("worker#1", "m", TaskKind::Worker, vec![promise(&a)]);
    release(
        &mut s,
        decision(t, Outcome::Value(val(1.into())), vec![a, b.clone()]),
    )
    .unwrap();
    let r = release(
        &mut s,
        decision(b.task_id, Outcome::Value(val(1.into())), vec![]),
    );
    assert!(matches!(r, Err(CommandError::Conflict(_))), "{r:?}");
}

#[test]
fn an_accepted_fail_reaches_the_waiting_task_as_its_argument() {
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let mut risky = spec("worker#1", "charge", TaskKind::Worker, vec![]);
    risky.options.accept_fail = vec!["payment".into()];
    let handler = spec(
        "decider#1",
        "onCharged",
        TaskKind::Decider,
        vec![promise(&risky)],
    );
    release(
        &mut s,
        decision(
            t,
            Outcome::Promise(handler.task_id),
            vec![risky.clone(), handler],
        ),
    )
    .unwrap();
    let d = poll(&mut s, "worker#1").remove(0);
    let rc = receipt(release(
        &mut s,
        decision(
            d.task_id,
            Outcome::Error(ErrorInfo::new("payment.Declined", "no funds")),
            vec![],
        ),
    ));
    assert_eq!(rc.status, ReleaseStatus::Resolved);
    let h = poll(&mut s, "decider#1").remove(0);
    assert!(matches!(&h.args[0], ResolvedArg::Error(e) if e.error_type == "payment.Declined"));
    release(
        &mut s,
        decision(h.task_id, Outcome::Value(val("compensated".into())), vec![]),
    )
    .unwrap();
    let view = s.process_view(&pid).unwrap();
    assert_eq!(view.state, ProcessState::Finished);
    assert_eq!(view.result.unwrap().as_str(), "\"compensated\"");
}

#[test]
fn an_unaccepted_fail_breaks_the_process_and_records_why() {
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let w = spec("worker#1", "charge", TaskKind::Worker, vec![]);
    let next = spec("worker#1", "ship", TaskKind::Worker, vec![promise(&w)]);
    release(
        &mut s,
        decision(t, Outcome::Promise(next.task_id), vec![w.clone(), next]),
    )
    .unwrap();
    poll(&mut s, "worker#1");
    let rc = receipt(release(
        &mut s,
        decision(
            w.task_id,
            Outcome::Error(ErrorInfo::new("io.Timeout", "slow")),
            vec![],
        ),
    ));
    assert_eq!(rc.status, ReleaseStatus::ProcessBroken);
    assert_eq!(rc.process_state, ProcessState::Broken);
    let view = s.process_view(&pid).unwrap();
    assert_eq!(view.state, ProcessState::Broken);
    let broken = view.broken.unwrap();
    assert_eq!(broken.task_id, w.task_id);
    assert_eq!(broken.actor_id, actor("worker#1"));
    assert_eq!(broken.error.error_type, "io.Timeout");
    assert!(
        poll(&mut s, "worker#1").is_empty(),
        "dependent of a failed task ran"
    );
}

#[test]
fn a_failed_attempt_is_retried_after_the_policy_delay() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let mut w = spec("worker#1", "flaky", TaskKind::Worker, vec![]);
    w.options.retry = Some(RetryPolicy {
        initial_interval_ms: 100,
        max_attempts: 2,
        ..RetryPolicy::default()
    });
    release(
        &mut s,
        decision(t, Outcome::Promise(w.task_id), vec![w.clone()]),
    )
    .unwrap();
    let d = poll(&mut s, "worker#1").remove(0);
    assert_eq!(d.attempt, 1);
    let err = ErrorInfo::new("io.Timeout", "slow");
    let rc = receipt(release(
        &mut s,
        decision(w.task_id, Outcome::Error(err.clone()), vec![]),
    ));
    assert_eq!(rc.status, ReleaseStatus::RetryScheduled);
    assert_eq!(rc.retry_at, Some(Millis(110)));
    assert!(s.take_effects().timer_armed);
    assert_eq!(
        s.task_view(&w.task_id).unwrap().status,
        ViewStatus::Scheduled
    );
    // The same error release again (a network retry) is a duplicate, not a new attempt.
    assert!(
        receipt(release(
            &mut s,
            decision(w.task_id, Outcome::Error(err.clone()), vec![])
        ))
        .duplicate
    );

    assert_eq!(
        s.apply(&Command::FireTimers { now: Millis(109) }),
        Ok(Reply::Fired(0))
    );
    assert!(poll(&mut s, "worker#1").is_empty());
    assert_eq!(
        s.apply(&Command::FireTimers { now: Millis(110) }),
        Ok(Reply::Fired(1))
    );
    let d = poll(&mut s, "worker#1").remove(0);
    assert_eq!(d.attempt, 2);
    // Attempts exhausted: the error is final and nobody accepts it.
    let rc = receipt(release(
        &mut s,
        decision(w.task_id, Outcome::Error(err), vec![]),
    ));
    assert_eq!(rc.status, ReleaseStatus::ProcessBroken);
}

#[test]
fn a_decision_may_ask_for_its_own_restart_time() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let mut d = decision(t, Outcome::Error(ErrorInfo::new("x", "")), vec![]);
    d.restart_at = Some(Millis(500));
    let rc = receipt(release(&mut s, d));
    assert_eq!(rc.retry_at, Some(Millis(500)));
    assert_eq!(s.next_timer(), Some(Millis(500)));
}

#[test]
fn a_task_with_a_future_start_time_waits_for_its_timer() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let mut later = spec("worker#1", "remind", TaskKind::Worker, vec![]);
    later.options.start_at = Some(Millis(5_000));
    release(
        &mut s,
        decision(t, Outcome::Promise(later.task_id), vec![later.clone()]),
    )
    .unwrap();
    assert!(poll(&mut s, "worker#1").is_empty());
    assert_eq!(s.next_timer(), Some(Millis(5_000)));
    s.apply(&Command::FireTimers { now: Millis(5_001) })
        .unwrap();
    assert_eq!(poll_ids(&mut s, "worker#1"), vec![later.task_id]);
}

#[test]
fn a_no_wait_argument_does_not_hold_the_task_back() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let slow = spec("slow#1", "m", TaskKind::Worker, vec![]);
    let eager = spec(
        "worker#1",
        "m",
        TaskKind::Worker,
        vec![Arg::Promise {
            task_id: slow.task_id,
            no_wait: true,
        }],
    );
    release(
        &mut s,
        decision(t, Outcome::Value(val(0.into())), vec![slow.clone(), eager]),
    )
    .unwrap();
    let d = poll(&mut s, "worker#1").remove(0);
    assert_eq!(d.args[0], ResolvedArg::Pending(slow.task_id));
}

#[test]
fn wait_for_holds_a_task_back_without_being_an_argument() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let first = spec("a#1", "m", TaskKind::Worker, vec![]);
    let mut then = spec("b#1", "m", TaskKind::Worker, vec![]);
    then.options.wait_for = vec![first.task_id];
    release(
        &mut s,
        decision(
            t,
            Outcome::Value(val(0.into())),
            vec![first.clone(), then.clone()],
        ),
    )
    .unwrap();
    assert!(poll(&mut s, "b#1").is_empty());
    poll(&mut s, "a#1");
    release(
        &mut s,
        decision(first.task_id, Outcome::Value(val(0.into())), vec![]),
    )
    .unwrap();
    assert_eq!(poll_ids(&mut s, "b#1"), vec![then.task_id]);
}

#[test]
fn higher_priority_tasks_are_handed_out_first() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let normal = spec("w#1", "m", TaskKind::Worker, vec![]);
    let mut urgent = spec("w#1", "m", TaskKind::Worker, vec![]);
    urgent.options.priority = 10;
    release(
        &mut s,
        decision(
            t,
            Outcome::Value(val(0.into())),
            vec![normal.clone(), urgent.clone()],
        ),
    )
    .unwrap();
    assert_eq!(
        poll_ids(&mut s, "w#1"),
        vec![urgent.task_id, normal.task_id]
    );
}

#[test]
fn a_blocked_actor_gets_nothing_while_its_queue_keeps_filling() {
    let mut s = State::default();
    s.apply(&Command::BlockActor {
        actor_id: actor("decider#1"),
        task_list: None,
    })
    .unwrap();
    let (_, t1) = start(&mut s, 0);
    let (_, t2) = start(&mut s, 0);
    assert!(poll(&mut s, "decider#1").is_empty());
    assert_eq!(s.queues().queued(&key("decider#1")), 2);
    s.take_effects();
    s.apply(&Command::UnblockActor {
        actor_id: actor("decider#1"),
        task_list: None,
    })
    .unwrap();
    assert_eq!(s.take_effects().woken, vec![key("decider#1")]);
    assert_eq!(poll_ids(&mut s, "decider#1"), vec![t1, t2]);
}

#[test]
fn an_expired_lease_makes_the_task_deliverable_again() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    assert_eq!(
        s.lease(&key("decider#1"), 1, Millis(0), Millis(100)).len(),
        1
    );
    assert!(poll(&mut s, "decider#1").is_empty());
    let expiry = s.expire_leases(Millis(100));
    assert_eq!(expiry.requeued, vec![key("decider#1")]);
    assert!(expiry.timeouts.is_empty());
    assert_eq!(poll_ids(&mut s, "decider#1"), vec![t]);
}

#[test]
fn a_decider_returning_its_own_promise_chain_is_rejected() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let r = release(&mut s, decision(t, Outcome::Promise(t), vec![]));
    assert!(matches!(r, Err(CommandError::Invalid(_))), "{r:?}");
}

#[test]
fn chains_of_returned_promises_finish_the_process() {
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let sub = spec("sub#1", "run", TaskKind::Decider, vec![]);
    release(
        &mut s,
        decision(t, Outcome::Promise(sub.task_id), vec![sub.clone()]),
    )
    .unwrap();
    poll(&mut s, "sub#1");
    let w = spec("w#1", "m", TaskKind::Worker, vec![]);
    release(
        &mut s,
        decision(sub.task_id, Outcome::Promise(w.task_id), vec![w.clone()]),
    )
    .unwrap();
    assert_eq!(s.process_view(&pid).unwrap().state, ProcessState::Running);
    poll(&mut s, "w#1");
    release(
        &mut s,
        decision(w.task_id, Outcome::Value(val(42.into())), vec![]),
    )
    .unwrap();
    let view = s.process_view(&pid).unwrap();
    assert_eq!(view.state, ProcessState::Finished);
    assert_eq!(view.result.unwrap().as_str(), "42");
}

#[test]
fn a_start_task_cannot_take_promises() {
    let mut s = State::default();
    let mut bad = spec("d#1", "start", TaskKind::DeciderStart, vec![]);
    bad.args = vec![Arg::Promise {
        task_id: TaskId::random(),
        no_wait: true,
    }];
    let r = s.apply(&Command::StartProcess {
        now: Millis(0),
        process_id: ProcessId::random(),
        custom_id: None,
        idempotency_key: None,
        start: bad,
    });
    assert!(matches!(r, Err(CommandError::Invalid(_))));
    assert_eq!(s.counts().processes, 0);
}

#[test]
fn starting_the_same_process_twice_answers_the_same() {
    let mut s = State::default();
    let st = spec("d#1", "start", TaskKind::DeciderStart, vec![]);
    let pid = ProcessId::random();
    let cmd = Command::StartProcess {
        now: Millis(0),
        process_id: pid,
        custom_id: Some("order-1".into()),
        idempotency_key: None,
        start: st,
    };
    let a = s.apply(&cmd);
    let b = s.apply(&cmd);
    assert_eq!(a, b);
    assert_eq!(s.counts().tasks, 1);
}

#[test]
fn a_snapshot_restores_the_state_and_rebuilds_the_queues() {
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let a = spec("w#1", "m", TaskKind::Worker, vec![]);
    let b = spec("w#1", "m", TaskKind::Worker, vec![promise(&a)]);
    release(
        &mut s,
        decision(t, Outcome::Promise(b.task_id), vec![a.clone(), b.clone()]),
    )
    .unwrap();
    // `a` is leased here; after a restore it must be deliverable again.
    assert_eq!(poll_ids(&mut s, "w#1"), vec![a.task_id]);
    let mut r = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
    assert_eq!(poll_ids(&mut r, "w#1"), vec![a.task_id]);
    release(
        &mut r,
        decision(a.task_id, Outcome::Value(val(1.into())), vec![]),
    )
    .unwrap();
    assert_eq!(poll_ids(&mut r, "w#1"), vec![b.task_id]);
    release(
        &mut r,
        decision(b.task_id, Outcome::Value(val(2.into())), vec![]),
    )
    .unwrap();
    assert_eq!(r.process_view(&pid).unwrap().state, ProcessState::Finished);
}

#[test]
fn a_snapshot_of_another_format_is_refused_with_a_clear_error() {
    let mut s = State::default();
    start(&mut s, 0);
    let snap = s.to_snapshot().unwrap();
    assert!(snap.starts_with(super::SNAPSHOT_MAGIC));

    let mut newer = snap.clone();
    newer[8..12].copy_from_slice(&(super::SNAPSHOT_FORMAT + 1).to_le_bytes());
    let err = State::from_snapshot(&newer).unwrap_err().to_string();
    assert!(err.contains("this build reads format"), "{err}");

    // What builds before versioning wrote: the bare bincode of the state.
    let unversioned = &snap[12..];
    let err = State::from_snapshot(unversioned).unwrap_err().to_string();
    assert!(err.contains("no format header"), "{err}");

    let err = State::from_snapshot(&snap[..20]).unwrap_err().to_string();
    assert!(err.contains("does not decode"), "{err}");
}

mod property {
    //! Random decision DAGs released in random orders.
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// One task of the random DAG: which earlier tasks it takes as promises (and
    /// whether no-wait), and whether it is a decider that returns a child's promise.
    #[derive(Debug, Clone)]
    struct Node {
        deps: Vec<(usize, bool)>,
        delegates: bool,
    }

    fn dag() -> impl Strategy<Value = Vec<Node>> {
        (1usize..24).prop_flat_map(|n| {
            (0..n)
                .map(|i| {
                    (
                        proptest::collection::vec((0..i.max(1), any::<bool>()), 0..4.min(i + 1)),
                        any::<bool>(),
                    )
                        .prop_map(move |(deps, delegates)| Node {
                            deps: if i == 0 { vec![] } else { deps },
                            delegates,
                        })
                })
                .collect::<Vec<_>>()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
        #[test]
        fn every_task_runs_once_after_its_promises_and_the_process_finishes_once(
            nodes in dag(),
            picks in proptest::collection::vec(any::<u32>(), 200),
        ) {
            let mut s = State::default();
            let (pid, start_task) = start(&mut s, 0);
            prop_assert_eq!(poll_ids(&mut s, "decider#1"), vec![start_task]);

            let specs: Vec<TaskSpec> = nodes.iter().map(|n| {
                let args = n.deps.iter().map(|(_, no_wait)| Arg::Promise {
                    task_id: TaskId::random(), no_wait: *no_wait }).collect();
                let kind = if n.delegates { TaskKind::Decider } else { TaskKind::Worker };
                spec(if n.delegates { "sub#1" } else { "w#1" }, "m", kind, args)
            }).collect();
            // Point the promises at the real earlier tasks.
            let mut specs = specs;
            for (i, n) in nodes.iter().enumerate() {
                for (k, (d, no_wait)) in n.deps.iter().enumerate() {
                    specs[i].args[k] = Arg::Promise { task_id: specs[*d].task_id, no_wait: *no_wait };
                }
            }
            let last = specs.last().map(|t| t.task_id).unwrap();
            let index: HashMap<TaskId, usize> =
                specs.iter().enumerate().map(|(i, t)| (t.task_id, i)).collect();
            release(&mut s, decision(start_task, Outcome::Promise(last), specs.clone())).unwrap();

            let mut released: HashMap<TaskId, i64> = HashMap::new();
            let mut delivered_once: HashMap<TaskId, u32> = HashMap::new();
            let mut ended = s.take_effects().ended.len();
            let mut ready: Vec<Delivery> = Vec::new();
            let mut step = 0usize;
            loop {
                ready.extend(poll(&mut s, "w#1"));
                ready.extend(poll(&mut s, "sub#1"));
                if ready.is_empty() { break; }
                let pick = picks[step % picks.len()] as usize % ready.len();
                step += 1;
                let d = ready.swap_remove(pick);
                *delivered_once.entry(d.task_id).or_default() += 1;
                // Every awaited promise is resolved at delivery time.
                if let Some(&i) = index.get(&d.task_id) {
                    for (k, (dep, no_wait)) in nodes[i].deps.iter().enumerate() {
                        let dep_id = specs[*dep].task_id;
                        match &d.args[k] {
                            ResolvedArg::Value(v) => {
                                let got: i64 = v.decode().unwrap();
                                prop_assert_eq!(released.get(&dep_id), Some(&got), "argument is not the dependency's result");
                            }
                            ResolvedArg::Pending(_) => prop_assert!(*no_wait, "awaited promise pending at delivery"),
                            other => prop_assert!(false, "unexpected arg {:?}", other),
                        }
                    }
                }
                let value = (step as i64) * 7;
                let outcome_tasks;
                let outcome = if d.actor_id.as_str() == "sub#1" {
                    let child = spec("w#1", "m", TaskKind::Worker, vec![]);
                    let id = child.task_id;
                    outcome_tasks = vec![child];
                    Outcome::Promise(id)
                } else {
                    outcome_tasks = vec![];
                    Outcome::Value(val(value.into()))
                };
                let rc = receipt(release(&mut s, decision(d.task_id, outcome, outcome_tasks)));
                prop_assert!(!rc.duplicate);
                if let Some(r) = s.task_view(&d.task_id).and_then(|v| v.result) {
                    released.insert(d.task_id, r.decode().unwrap());
                }
                // Forwarded promises resolve later; record those as they appear.
                for t in &specs {
                    if let Some(r) = s.task_view(&t.task_id).and_then(|v| v.result) {
                        released.insert(t.task_id, r.decode().unwrap());
                    }
                }
                ended += s.take_effects().ended.len();
            }
            for t in &specs {
                prop_assert_eq!(delivered_once.get(&t.task_id), Some(&1), "task delivered not exactly once");
            }
            prop_assert!(delivered_once.values().all(|&n| n == 1));
            let view = s.process_view(&pid).unwrap();
            prop_assert_eq!(view.state, ProcessState::Finished);
            prop_assert_eq!(ended, 1);
            prop_assert_eq!(s.counts().pending_promises, 0);
        }
    }
}

/// Every command and result must survive the Raft log's encoding (bincode): a shape it
/// cannot decode would only fail at replay time, after a restart.
#[test]
fn commands_and_results_round_trip_through_the_log_encoding() {
    let mut w = spec(
        "w#1",
        "m",
        TaskKind::Worker,
        vec![Arg::Array(vec![
            Arg::Value(val(serde_json::json!({"k": [1, null, "s"]}))),
            Arg::Promise {
                task_id: TaskId::random(),
                no_wait: true,
            },
        ])],
    );
    w.options.retry = Some(RetryPolicy::default());
    w.options.accept_fail = vec!["payment".into()];
    w.options.start_at = Some(Millis(5));
    w.options.wait_for = vec![TaskId::random()];
    let mut d = decision(
        TaskId::random(),
        Outcome::Promise(w.task_id),
        vec![w.clone()],
    );
    d.process_id = Some(ProcessId::random());
    d.restart_at = Some(Millis(9));
    let commands = vec![
        Command::StartProcess {
            now: Millis(1),
            process_id: ProcessId::random(),
            custom_id: Some("c".into()),
            idempotency_key: None,
            start: spec("d#1", "s", TaskKind::DeciderStart, vec![]),
        },
        Command::Release {
            now: Millis(2),
            decision: d,
        },
        Command::Release {
            now: Millis(3),
            decision: decision(
                TaskId::random(),
                Outcome::Error(ErrorInfo {
                    error_type: "x.Y".into(),
                    message: "m".into(),
                    details: Some("trace".into()),
                }),
                vec![],
            ),
        },
        Command::Release {
            now: Millis(3),
            decision: decision(
                TaskId::random(),
                Outcome::Value(val(serde_json::json!(1.5))),
                vec![],
            ),
        },
        Command::FireTimers { now: Millis(4) },
        Command::BlockActor {
            actor_id: actor("a#1"),
            task_list: Some(TaskList::new("l").unwrap()),
        },
        Command::UnblockActor {
            actor_id: actor("a#1"),
            task_list: None,
        },
    ];
    let req = Request::new(commands);
    let bytes = bincode::serialize(&req).unwrap();
    assert_eq!(bincode::deserialize::<Request>(&bytes).unwrap(), req);

    let mut s = State::default();
    let resp = s.apply_request(&req);
    let bytes = bincode::serialize(&resp).unwrap();
    assert_eq!(bincode::deserialize::<Response>(&bytes).unwrap(), resp);
}

#[test]
fn a_resent_error_release_after_its_retry_fired_is_a_duplicate() {
    let mut s = State::default();
    let (_, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let mut w = spec("worker#1", "flaky", TaskKind::Worker, vec![]);
    w.options.retry = Some(RetryPolicy {
        initial_interval_ms: 1,
        max_attempts: 2,
        ..RetryPolicy::default()
    });
    release(
        &mut s,
        decision(t, Outcome::Promise(w.task_id), vec![w.clone()]),
    )
    .unwrap();
    poll(&mut s, "worker#1");
    let mut failed = decision(w.task_id, Outcome::Error(ErrorInfo::new("io", "x")), vec![]);
    failed.attempt = Some(1);
    let first = receipt(release(&mut s, failed.clone()));
    assert_eq!(first.status, ReleaseStatus::RetryScheduled);
    s.apply(&Command::FireTimers { now: Millis(1_000) })
        .unwrap();
    assert_eq!(poll(&mut s, "worker#1")[0].attempt, 2);

    // The attempt-1 release arrives again: same answer, attempt 2 still stands.
    let before = s.to_snapshot().unwrap();
    assert!(matches!(s.answer_without_log(&failed), Some(Ok(Reply::Released(r))) if r.duplicate));
    let again = receipt(release(&mut s, failed));
    assert!(again.duplicate);
    assert_eq!(again.status, ReleaseStatus::RetryScheduled);
    assert_eq!(s.to_snapshot().unwrap(), before);
    let mut ok = decision(w.task_id, Outcome::Value(val(1.into())), vec![]);
    ok.attempt = Some(2);
    assert_eq!(receipt(release(&mut s, ok)).status, ReleaseStatus::Resolved);
}

#[test]
fn garbage_collection_deletes_ended_processes_with_everything_they_own() {
    let mut s = State::default();
    let empty = s.to_snapshot().unwrap().len();
    // A finished process.
    let (done, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let w = spec("w#1", "m", TaskKind::Worker, vec![]);
    release(
        &mut s,
        decision(t, Outcome::Promise(w.task_id), vec![w.clone()]),
    )
    .unwrap();
    poll(&mut s, "w#1");
    release(
        &mut s,
        decision(w.task_id, Outcome::Value(val(1.into())), vec![]),
    )
    .unwrap();
    assert_eq!(s.process_view(&done).unwrap().state, ProcessState::Finished);
    // A broken one that left a delayed reminder behind, and a running one.
    let (broken, t2) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let mut reminder = spec("r#1", "m", TaskKind::Worker, vec![]);
    reminder.options.start_at = Some(Millis(1_000_000));
    let failing = spec("f#1", "m", TaskKind::Worker, vec![]);
    release(
        &mut s,
        decision(
            t2,
            Outcome::Promise(failing.task_id),
            vec![failing.clone(), reminder],
        ),
    )
    .unwrap();
    poll(&mut s, "f#1");
    release(
        &mut s,
        decision(
            failing.task_id,
            Outcome::Error(ErrorInfo::new("x", "")),
            vec![],
        ),
    )
    .unwrap();
    assert_eq!(s.process_view(&broken).unwrap().state, ProcessState::Broken);
    let (running, _) = start(&mut s, 0);
    let full = s.to_snapshot().unwrap().len();
    assert_eq!(s.next_gc_due(100, false), Some(Millis(110)));

    // Not yet due: nothing goes.
    assert_eq!(
        s.apply(&Command::CollectGarbage {
            ended_before: Millis(10),
            max: 10,
            include_broken: true
        }),
        Ok(Reply::Collected(0))
    );
    // Due: the finished one goes with its tasks and its timer; broken ones stay by default.
    assert_eq!(
        s.apply(&Command::CollectGarbage {
            ended_before: Millis(11),
            max: 10,
            include_broken: false
        }),
        Ok(Reply::Collected(1))
    );
    assert!(s.process_view(&done).is_none());
    assert!(s.task_view(&w.task_id).is_none());
    assert!(s.process_view(&broken).is_some());
    assert_eq!(s.counts().timers, 1);
    assert_eq!(
        s.apply(&Command::CollectGarbage {
            ended_before: Millis(11),
            max: 10,
            include_broken: true
        }),
        Ok(Reply::Collected(1))
    );
    assert!(s.process_view(&broken).is_none());
    assert_eq!(
        s.counts().timers,
        0,
        "the reminder's timer outlived its process"
    );
    assert!(
        s.process_view(&running).is_some(),
        "a running process was collected"
    );
    let c = s.counts();
    assert_eq!((c.processes, c.tasks, c.pending_promises), (1, 1, 0));
    // The Actors view forgets the collected tasks: only the running start task is left.
    let actors: Vec<(String, usize)> = s
        .actor_views()
        .into_iter()
        .map(|a| (a.actor_id.to_string(), a.tasks_total))
        .collect();
    assert_eq!(actors, [("decider#1".to_string(), 1)]);
    let after = s.to_snapshot().unwrap().len();
    assert!(
        after < full && after > empty,
        "snapshot {empty} → {full} → {after} bytes"
    );
    // Restored state agrees.
    let r = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
    assert_eq!(r.counts(), s.counts());
}

/// Taskurotta's "graph empty" rule: the start promise resolving makes the result
/// visible, the process finishes only once no task of it is unfinished.
#[test]
fn a_no_wait_side_task_keeps_the_process_running_with_its_result_visible() {
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let side = spec("audit#1", "log", TaskKind::Worker, vec![]);
    release(
        &mut s,
        decision(t, Outcome::Value(val("done".into())), vec![side.clone()]),
    )
    .unwrap();
    let view = s.process_view(&pid).unwrap();
    assert_eq!(view.state, ProcessState::Running);
    assert_eq!(view.result.unwrap().as_str(), "\"done\"");
    assert!(s.take_effects().ended.is_empty());

    poll(&mut s, "audit#1");
    let rc = receipt(release(
        &mut s,
        decision(side.task_id, Outcome::Value(val(1.into())), vec![]),
    ));
    assert_eq!(rc.process_state, ProcessState::Finished);
    assert_eq!(s.take_effects().ended, vec![pid]);
    assert_eq!(s.next_gc_due(0, false), Some(Millis(10)));
}

#[test]
fn a_side_task_failing_last_breaks_a_process_whose_result_is_in() {
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let side = spec("audit#1", "log", TaskKind::Worker, vec![]);
    release(
        &mut s,
        decision(t, Outcome::Value(val(1.into())), vec![side.clone()]),
    )
    .unwrap();
    poll(&mut s, "audit#1");
    let rc = receipt(release(
        &mut s,
        decision(
            side.task_id,
            Outcome::Error(ErrorInfo::new("io", "")),
            vec![],
        ),
    ));
    assert_eq!(rc.process_state, ProcessState::Broken);
    let view = s.process_view(&pid).unwrap();
    assert_eq!(view.state, ProcessState::Broken);
    assert_eq!(view.result.unwrap().as_str(), "1");
}

#[test]
fn a_retry_keeps_its_task_unfinished() {
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let mut side = spec("w#1", "m", TaskKind::Worker, vec![]);
    side.options.retry = Some(RetryPolicy {
        initial_interval_ms: 5,
        max_attempts: 2,
        ..RetryPolicy::default()
    });
    release(
        &mut s,
        decision(t, Outcome::Value(val(0.into())), vec![side.clone()]),
    )
    .unwrap();
    poll(&mut s, "w#1");
    release(
        &mut s,
        decision(
            side.task_id,
            Outcome::Error(ErrorInfo::new("io", "")),
            vec![],
        ),
    )
    .unwrap();
    assert_eq!(s.process_view(&pid).unwrap().state, ProcessState::Running);
    s.apply(&Command::FireTimers { now: Millis(100) }).unwrap();
    poll(&mut s, "w#1");
    release(
        &mut s,
        decision(side.task_id, Outcome::Value(val(0.into())), vec![]),
    )
    .unwrap();
    assert_eq!(s.process_view(&pid).unwrap().state, ProcessState::Finished);
}

#[test]
fn the_history_lists_what_happened_in_order() {
    use crate::model::history::EventKind as K;
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let mut w = spec("w#1", "m", TaskKind::Worker, vec![]);
    w.options.retry = Some(RetryPolicy {
        initial_interval_ms: 5,
        max_attempts: 2,
        ..RetryPolicy::default()
    });
    release(
        &mut s,
        decision(t, Outcome::Promise(w.task_id), vec![w.clone()]),
    )
    .unwrap();
    poll(&mut s, "w#1");
    release(
        &mut s,
        decision(
            w.task_id,
            Outcome::Error(ErrorInfo::new("io.Slow", "")),
            vec![],
        ),
    )
    .unwrap();
    s.apply(&Command::FireTimers { now: Millis(100) }).unwrap();
    poll(&mut s, "w#1");
    release(
        &mut s,
        decision(w.task_id, Outcome::Value(val(3.into())), vec![]),
    )
    .unwrap();

    let page = s.history(&pid, 0, 100).unwrap();
    let got: Vec<(K, Option<TaskId>, Option<u32>)> = page
        .items
        .iter()
        .map(|e| (e.event, e.task_id, e.attempt))
        .collect();
    let w = w.task_id;
    assert_eq!(
        got,
        vec![
            (K::Started, Some(t), None),
            (K::Enqueued, Some(t), Some(1)),
            (K::Released, Some(t), Some(1)),
            (K::Enqueued, Some(w), Some(1)),
            (K::Released, Some(w), Some(1)),
            (K::RetryScheduled, Some(w), Some(2)),
            (K::Enqueued, Some(w), Some(2)),
            (K::Released, Some(w), Some(2)),
            (K::Finished, None, None),
        ]
    );
    assert_eq!(page.total, 9);
    assert!(page
        .items
        .iter()
        .enumerate()
        .all(|(i, e)| e.seq == i as u64));
    assert_eq!(page.items[4].error_type.as_deref(), Some("io.Slow"));
    assert_eq!(page.items[2].detail.as_deref(), Some("promise"));
    // Paging.
    let tail = s.history(&pid, 7, 5).unwrap();
    assert_eq!((tail.total, tail.items.len(), tail.items[0].seq), (9, 2, 7));
    // Deleting the process deletes its history.
    s.apply(&Command::CollectGarbage {
        ended_before: Millis(1_000),
        max: 10,
        include_broken: false,
    })
    .unwrap();
    assert!(s.history(&pid, 0, 10).is_none());
}

#[test]
fn a_task_retried_without_end_keeps_a_bounded_history() {
    use crate::model::history::EventKind as K;
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let mut w = spec("w#1", "m", TaskKind::Worker, vec![]);
    w.options.retry = Some(RetryPolicy {
        initial_interval_ms: 1,
        max_interval_ms: 1,
        max_attempts: 0, // unlimited
        ..RetryPolicy::default()
    });
    release(
        &mut s,
        decision(t, Outcome::Promise(w.task_id), vec![w.clone()]),
    )
    .unwrap();
    // Each failed attempt records released + retry_scheduled + enqueued.
    let attempts = HISTORY_KEEP as u64;
    for i in 0..attempts {
        assert_eq!(poll_ids(&mut s, "w#1"), vec![w.task_id]);
        let failed = release(
            &mut s,
            decision(
                w.task_id,
                Outcome::Error(ErrorInfo::new("io.Flaky", "")),
                vec![],
            ),
        );
        assert_eq!(receipt(failed).status, ReleaseStatus::RetryScheduled);
        s.apply(&Command::FireTimers {
            now: Millis(1_000 + i),
        })
        .unwrap();
    }
    let recorded = 4 + 3 * attempts; // started, enqueued, released, enqueued: 4
    let first = s.history(&pid, 0, 3).unwrap();
    assert_eq!(first.total, 2 * HISTORY_KEEP, "both ends are full");
    assert_eq!(first.truncated, recorded - 2 * HISTORY_KEEP as u64);
    assert_eq!(first.items[0].event, K::Started, "the beginning is kept");
    let last = s.history(&pid, 2 * HISTORY_KEEP - 1, 10).unwrap();
    assert_eq!(last.items.len(), 1);
    let newest = &last.items[0];
    assert_eq!(newest.seq, recorded - 1, "seq counts the dropped events");
    assert_eq!(
        (newest.event, newest.attempt),
        (K::Enqueued, Some(attempts as u32 + 1)),
        "the latest attempt is kept"
    );
    // The whole history pages through with offset and total, as before.
    let all = s.history(&pid, 0, usize::MAX).unwrap();
    assert_eq!(all.items.len(), 2 * HISTORY_KEEP);
    assert!(all.items.windows(2).all(|p| p[0].seq < p[1].seq));
}

mod process_ops;
