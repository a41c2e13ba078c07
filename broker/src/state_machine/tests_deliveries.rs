//! Delivery fencing, heartbeats and timeouts as the state sees them: each test a
//! clause of the spec in `deliveries.rs`.

use super::*;
use crate::model::history::EventKind;
use crate::model::wire::ReleaseStatus;
use crate::model::{
    Decision, Delivery, DeliveryId, ErrorInfo, JsonValue, Outcome, ProcessState, RetryPolicy,
    TaskKind, TaskOptions, TaskSpec,
};

fn key() -> QueueKey {
    QueueKey::new(ActorId::new("d#1").unwrap(), TaskList::default_list())
}

/// A state with one process whose start task has `options`.
fn started(options: TaskOptions) -> (State, TaskId) {
    let mut s = State::default();
    let start = TaskSpec {
        task_id: TaskId::random(),
        actor_id: ActorId::new("d#1").unwrap(),
        method: "start".into(),
        kind: TaskKind::DeciderStart,
        args: vec![],
        options,
    };
    let r = s.apply(&Command::StartProcess {
        now: Millis(0),
        process_id: ProcessId::random(),
        custom_id: None,
        idempotency_key: None,
        start: start.clone(),
    });
    assert!(r.is_ok(), "{r:?}");
    (s, start.task_id)
}

fn poll(s: &mut State, now: u64) -> Delivery {
    let mut got = s.lease(&key(), 1, Millis(now), Millis(now + 1_000));
    assert_eq!(got.len(), 1, "nothing to deliver");
    got.remove(0)
}

fn release_of(d: &Delivery, value: i64) -> Decision {
    Decision {
        task_id: d.task_id,
        process_id: Some(d.process_id),
        outcome: Outcome::Value(JsonValue::from_serialize(&value).unwrap()),
        tasks: vec![],
        restart_at: None,
        execution_ms: None,
        attempt: Some(d.attempt),
        delivery_id: Some(d.delivery_id),
        delivered_at: None,
    }
}

fn apply(s: &mut State, now: u64, decision: Decision) -> CommandResult {
    s.apply(&Command::Release {
        now: Millis(now),
        decision,
    })
}

#[test]
fn every_delivery_gets_a_fresh_id_and_its_time() {
    let (mut s, t) = started(TaskOptions::default());
    let first = poll(&mut s, 5);
    assert_eq!((first.task_id, first.delivered_at), (t, Millis(5)));
    s.expire_leases(Millis(1_005));
    let second = poll(&mut s, 2_000);
    assert_ne!(first.delivery_id, second.delivery_id);
    assert_eq!(second.delivered_at, Millis(2_000));
}

#[test]
fn a_release_of_an_older_delivery_is_stale_while_a_newer_one_holds_the_task() {
    let (mut s, _) = started(TaskOptions::default());
    let first = poll(&mut s, 0);
    s.expire_leases(Millis(1_000));
    // Not leased at all: the old delivery may still release.
    assert_eq!(s.fence_release(&release_of(&first, 1)), Ok(None));
    let second = poll(&mut s, 1_000);
    assert!(matches!(
        s.fence_release(&release_of(&first, 1)),
        Err(DeliveryError::Stale { current, .. }) if current == second.delivery_id
    ));
    assert_eq!(
        s.fence_release(&release_of(&second, 2)),
        Ok(Some(Millis(1_000))),
        "the current delivery passes, with its delivery time"
    );
    let mut unfenced = release_of(&first, 1);
    unfenced.delivery_id = None;
    assert_eq!(s.fence_release(&unfenced), Ok(Some(Millis(1_000))));
}

#[test]
fn a_heartbeat_extends_only_the_current_delivery_and_never_past_the_timeout() {
    let (mut s, t) = started(TaskOptions {
        timeout_ms: Some(5_000),
        ..TaskOptions::default()
    });
    let d = poll(&mut s, 0);
    assert_eq!(d.lease_until, Millis(1_000));
    assert_eq!(
        s.heartbeat(t, d.delivery_id, Millis(3_000)),
        Ok(Millis(3_000))
    );
    assert_eq!(
        s.heartbeat(t, d.delivery_id, Millis(9_000)),
        Ok(Millis(5_000))
    );
    assert!(matches!(
        s.heartbeat(t, DeliveryId::random(), Millis(4_000)),
        Err(DeliveryError::Stale { .. })
    ));
    let unknown = TaskId::random();
    assert_eq!(
        s.heartbeat(unknown, d.delivery_id, Millis(4_000)),
        Err(DeliveryError::UnknownTask(unknown))
    );
    assert!(apply(&mut s, 100, release_of(&d, 1)).is_ok());
    assert_eq!(
        s.heartbeat(t, d.delivery_id, Millis(4_000)),
        Err(DeliveryError::NotLeased(t))
    );
}

#[test]
fn a_task_past_its_timeout_yields_a_timeout_release_of_that_attempt_and_the_retry_runs() {
    let (mut s, t) = started(TaskOptions {
        timeout_ms: Some(500),
        retry: Some(RetryPolicy {
            initial_interval_ms: 10,
            ..RetryPolicy::default()
        }),
        ..TaskOptions::default()
    });
    let d = poll(&mut s, 0);
    assert_eq!(d.lease_until, Millis(500), "the lease ends at the timeout");
    assert!(s.expire_leases(Millis(499)).timeouts.is_empty());
    let expiry = s.expire_leases(Millis(500));
    assert!(expiry.requeued.is_empty());
    let [timeout] = expiry.timeouts.as_slice() else {
        panic!("expected one timeout, got {:?}", expiry.timeouts);
    };
    assert_eq!(timeout.task_id, t);
    assert_eq!(timeout.attempt, Some(1));
    assert_eq!(timeout.delivery_id, Some(d.delivery_id));
    assert!(matches!(&timeout.outcome, Outcome::Error(e) if e.error_type == TIMEOUT_ERROR));
    assert!(
        s.lease(&key(), 1, Millis(501), Millis(2_000)).is_empty(),
        "a timing-out task is not handed out again before its timeout release"
    );

    let mut proposed = timeout.clone();
    proposed.delivered_at = Some(d.delivered_at);
    let Ok(Reply::Released(r)) = s.apply(&Command::TimeOut {
        now: Millis(501),
        decision: proposed,
    }) else {
        panic!("timeout release refused");
    };
    assert_eq!(r.status, ReleaseStatus::RetryScheduled);
    let history = s.history(&d.process_id, 0, 100).unwrap();
    let kinds: Vec<EventKind> = history.items.iter().map(|e| e.event).collect();
    let tail = &kinds[kinds.len() - 4..];
    assert_eq!(
        tail,
        [
            EventKind::Delivered,
            EventKind::TimedOut,
            EventKind::Released,
            EventKind::RetryScheduled
        ],
        "{kinds:?}"
    );
    let delivered = &history.items[kinds.len() - 4];
    assert_eq!((delivered.at, delivered.attempt), (Millis(0), Some(1)));
    // The late real release of attempt 1 is refused: that attempt already ended.
    assert!(matches!(
        apply(&mut s, 502, release_of(&d, 7)),
        Err(CommandError::AlreadyReleased(_))
    ));
    s.apply(&Command::FireTimers { now: Millis(600) }).unwrap();
    let retry = poll(&mut s, 600);
    assert_eq!(retry.attempt, 2);
    let Ok(Reply::Released(done)) = apply(&mut s, 700, release_of(&retry, 7)) else {
        panic!("retry release refused");
    };
    assert_eq!(done.process_state, ProcessState::Finished);
}

#[test]
fn a_timeout_without_retry_breaks_the_process_unless_accepted() {
    let (mut s, _) = started(TaskOptions {
        timeout_ms: Some(100),
        ..TaskOptions::default()
    });
    poll(&mut s, 0);
    let timeouts = s.expire_leases(Millis(100)).timeouts;
    let Ok(Reply::Released(r)) = s.apply(&Command::TimeOut {
        now: Millis(100),
        decision: timeouts[0].clone(),
    }) else {
        panic!("timeout release refused");
    };
    assert_eq!(r.status, ReleaseStatus::ProcessBroken);
    assert_eq!(r.process_state, ProcessState::Broken);
}

#[test]
fn a_timed_out_task_whose_release_was_not_committed_goes_back_to_its_queue() {
    let (mut s, t) = started(TaskOptions {
        timeout_ms: Some(100),
        ..TaskOptions::default()
    });
    let d = poll(&mut s, 0);
    s.expire_leases(Millis(100));
    assert_eq!(s.requeue_timed_out(t, DeliveryId::random()), None);
    assert_eq!(s.requeue_timed_out(t, d.delivery_id), Some(key()));
    assert_eq!(poll(&mut s, 200).task_id, t);
}

#[test]
fn the_same_error_again_is_a_duplicate_but_another_error_type_is_not() {
    let (mut s, _) = started(TaskOptions::default());
    let d = poll(&mut s, 0);
    let mut fail = release_of(&d, 0);
    fail.outcome = Outcome::Error(ErrorInfo::new("biz.Oops", "first"));
    assert!(apply(&mut s, 10, fail.clone()).is_ok());
    fail.outcome = Outcome::Error(ErrorInfo::new("biz.Oops", "same type, other words"));
    assert!(matches!(s.answer_without_log(&fail), Some(Ok(Reply::Released(r))) if r.duplicate));
    fail.outcome = Outcome::Error(ErrorInfo::new("biz.Other", "x"));
    assert!(matches!(
        s.answer_without_log(&fail),
        Some(Err(CommandError::AlreadyReleased(_)))
    ));
}
