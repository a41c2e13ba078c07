//! Operator actions on processes: broken listings, restart, abort, delete.

use super::*;
use crate::model::history::EventKind;
use crate::model::ops::{BrokenFilter, GroupBy};

/// A process whose decider spawned `main` (its result) and a side task `side`; both
/// leased. Returns (process, main, side).
fn two_workers(s: &mut State, main_actor: &str) -> (ProcessId, TaskSpec, TaskSpec) {
    let (pid, t) = start(s, 0);
    poll(s, "decider#1");
    let main = spec(main_actor, "charge", TaskKind::Worker, vec![]);
    let side = spec("audit#1", "log", TaskKind::Worker, vec![]);
    release(
        s,
        decision(
            t,
            Outcome::Promise(main.task_id),
            vec![main.clone(), side.clone()],
        ),
    )
    .unwrap();
    poll(s, main_actor);
    poll(s, "audit#1");
    (pid, main, side)
}

fn fail(s: &mut State, task: TaskId, error_type: &str) -> wire::ReleaseReceipt {
    fail_at(s, task, error_type, 10)
}

fn fail_at(s: &mut State, task: TaskId, error_type: &str, now: u64) -> wire::ReleaseReceipt {
    receipt(s.apply(&Command::Release {
        now: Millis(now),
        decision: decision(task, Outcome::Error(ErrorInfo::new(error_type, "")), vec![]),
    }))
}

fn filter(error_type: Option<&str>, actor: Option<&str>) -> BrokenFilter {
    BrokenFilter {
        error_type: error_type.map(str::to_string),
        actor: actor.map(str::to_string),
        starter: None,
    }
}

#[test]
fn a_restart_reruns_every_failed_task_and_keeps_what_was_released() {
    let mut s = State::default();
    let (pid, main, side) = two_workers(&mut s, "pay#1");
    assert_eq!(
        fail(&mut s, main.task_id, "pay.Declined").status,
        ReleaseStatus::ProcessBroken
    );
    // The side task fails too, after the process broke.
    fail(&mut s, side.task_id, "io.Down");
    assert_eq!(s.broken_ids(&BrokenFilter::default(), 10), vec![pid]);
    assert_eq!(s.next_gc_due(0, true), Some(Millis(10)));

    let preview = s.restart_preview(&[pid]);
    let rerun: Vec<(TaskId, u32)> = preview.iter().map(|t| (t.task_id, t.attempt)).collect();
    assert_eq!(rerun, vec![(main.task_id, 2), (side.task_id, 2)]);

    assert_eq!(
        s.apply(&Command::RestartProcesses {
            now: Millis(20),
            process_ids: vec![pid, pid, ProcessId::random()],
        }),
        Ok(Reply::Restarted(vec![pid]))
    );
    let view = s.process_view(&pid).unwrap();
    assert_eq!(view.state, ProcessState::Running);
    assert!(view.broken.is_none() && view.ended_at.is_none());
    assert!(s.broken_ids(&BrokenFilter::default(), 10).is_empty());
    assert_eq!(
        s.next_gc_due(0, true),
        None,
        "a restarted process left in the ended index"
    );
    // The decider is not re-run; the failed tasks are, as attempt 2.
    assert!(poll(&mut s, "decider#1").is_empty());
    let d = poll(&mut s, "pay#1").remove(0);
    assert_eq!((d.task_id, d.attempt), (main.task_id, 2));
    release(
        &mut s,
        decision(main.task_id, Outcome::Value(val(5.into())), vec![]),
    )
    .unwrap();
    assert_eq!(s.process_view(&pid).unwrap().state, ProcessState::Running);
    poll(&mut s, "audit#1");
    let rc = receipt(release(
        &mut s,
        decision(side.task_id, Outcome::Value(val(0.into())), vec![]),
    ));
    assert_eq!(rc.process_state, ProcessState::Finished);
    assert_eq!(s.process_view(&pid).unwrap().result.unwrap().as_str(), "5");
    let restarted = s
        .history(&pid, 0, 100)
        .unwrap()
        .items
        .iter()
        .filter(|e| e.event == EventKind::Restarted)
        .count();
    assert_eq!(restarted, 2);
    // Restarting again does nothing: it is not broken.
    assert_eq!(
        s.apply(&Command::RestartProcesses {
            now: Millis(30),
            process_ids: vec![pid],
        }),
        Ok(Reply::Restarted(vec![]))
    );
}

#[test]
fn broken_processes_are_listed_filtered_and_grouped_by_prefix() {
    let mut s = State::default();
    let mut ids = Vec::new();
    for (actor, error) in [
        ("pay#1", "pay.Declined"),
        ("pay#1", "pay.Timeout"),
        ("ship#1", "io.Down"),
    ] {
        let (pid, main, _) = two_workers(&mut s, actor);
        fail_at(&mut s, main.task_id, error, 100 + ids.len() as u64);
        ids.push(pid);
    }
    let all = s.broken_list(&BrokenFilter::default(), 0, 10);
    assert_eq!(all.total, 3);
    assert_eq!(
        all.items[0].process_id, ids[2],
        "most recently broken first"
    );
    let pay = s.broken_list(&filter(Some("pay."), None), 0, 10);
    assert_eq!(pay.total, 2);
    assert_eq!(
        s.broken_list(&filter(Some("pay."), None), 1, 10)
            .items
            .len(),
        1
    );
    assert_eq!(
        s.broken_list(&filter(None, Some("ship")), 0, 10).items[0].process_id,
        ids[2]
    );
    assert_eq!(
        s.broken_list(&filter(Some("io"), Some("pay")), 0, 10).total,
        0
    );

    let groups = s
        .broken_groups(GroupBy::Actor, &BrokenFilter::default())
        .groups;
    let summary: Vec<(&str, usize)> = groups.iter().map(|g| (g.key.as_str(), g.count)).collect();
    assert_eq!(summary, vec![("pay#1", 2), ("ship#1", 1)]);
    let groups = s
        .broken_groups(GroupBy::ErrorType, &filter(Some("pay"), None))
        .groups;
    assert_eq!(groups.len(), 2);
    assert!(groups.iter().all(|g| g.count == 1));
    let starters = s
        .broken_groups(GroupBy::Starter, &BrokenFilter::default())
        .groups;
    assert_eq!(
        (starters[0].key.as_str(), starters[0].process_ids.len()),
        ("decider#1", 3)
    );
}

#[test]
fn an_aborted_process_drops_its_queued_and_delayed_tasks_and_refuses_releases() {
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let leased = spec("w#1", "m", TaskKind::Worker, vec![]);
    let queued = spec("q#1", "m", TaskKind::Worker, vec![]);
    let mut later = spec("r#1", "m", TaskKind::Worker, vec![]);
    later.options.start_at = Some(Millis(1_000));
    let waiting = spec("x#1", "m", TaskKind::Worker, vec![promise(&leased)]);
    release(
        &mut s,
        decision(
            t,
            Outcome::Promise(waiting.task_id),
            vec![leased.clone(), queued.clone(), later, waiting],
        ),
    )
    .unwrap();
    poll(&mut s, "w#1");
    assert_eq!((s.counts().timers, s.counts().leased), (1, 1));
    s.take_effects();

    assert_eq!(
        s.apply(&Command::AbortProcesses {
            now: Millis(20),
            process_ids: vec![pid],
            reason: Some("customer cancelled".into()),
        }),
        Ok(Reply::Aborted(1))
    );
    assert_eq!(s.take_effects().ended, vec![pid]);
    let view = s.process_view(&pid).unwrap();
    assert_eq!(
        (view.state, view.ended_at),
        (ProcessState::Aborted, Some(Millis(20)))
    );
    assert_eq!((s.counts().timers, s.counts().leased), (0, 0));
    assert!(s.queue_views().is_empty(), "{:?}", s.queue_views());

    // A late release changes nothing, proposed or answered without the log.
    let before = s.to_snapshot().unwrap();
    let late = decision(leased.task_id, Outcome::Value(val(1.into())), vec![]);
    assert_eq!(
        s.answer_without_log(&late),
        Some(Err(CommandError::ProcessAborted(pid)))
    );
    assert_eq!(
        release(&mut s, late),
        Err(CommandError::ProcessAborted(pid))
    );
    assert_eq!(s.to_snapshot().unwrap(), before);
    // Firing timers and restoring a snapshot bring nothing back.
    s.apply(&Command::FireTimers { now: Millis(5_000) })
        .unwrap();
    let mut restored = State::from_snapshot(&before).unwrap();
    assert!(restored.queue_views().is_empty());
    assert!(poll(&mut restored, "q#1").is_empty());
    // Aborting again, or restarting, does nothing.
    assert_eq!(
        s.apply(&Command::AbortProcesses {
            now: Millis(30),
            process_ids: vec![pid],
            reason: None,
        }),
        Ok(Reply::Aborted(0))
    );
    assert_eq!(
        s.apply(&Command::RestartProcesses {
            now: Millis(30),
            process_ids: vec![pid]
        }),
        Ok(Reply::Restarted(vec![]))
    );
    let last = s.history(&pid, 0, 100).unwrap().items.pop().unwrap();
    assert_eq!(
        (last.event, last.detail.as_deref()),
        (EventKind::Aborted, Some("customer cancelled"))
    );
    // Aborted processes wait for an operator unless GC includes broken ones.
    assert_eq!(s.next_gc_due(0, false), None);
    assert_eq!(s.next_gc_due(0, true), Some(Millis(20)));
}

#[test]
fn aborting_a_broken_process_takes_it_out_of_the_broken_listing() {
    let mut s = State::default();
    let (pid, main, _) = two_workers(&mut s, "pay#1");
    fail(&mut s, main.task_id, "pay.Declined");
    s.apply(&Command::AbortProcesses {
        now: Millis(50),
        process_ids: vec![pid],
        reason: None,
    })
    .unwrap();
    assert!(s.broken_ids(&BrokenFilter::default(), 10).is_empty());
    assert_eq!(s.next_gc_due(0, true), Some(Millis(50)));
}

#[test]
fn delete_removes_ended_processes_only_with_everything_they_own() {
    let mut s = State::default();
    let (broken, main, _) = two_workers(&mut s, "pay#1");
    fail(&mut s, main.task_id, "pay.Declined");
    let (running, _) = start(&mut s, 0);
    assert_eq!(
        s.apply(&Command::DeleteProcesses {
            process_ids: vec![running, broken]
        }),
        Ok(Reply::Deleted(1))
    );
    assert!(s.process_view(&broken).is_none());
    assert!(s.history(&broken, 0, 1).is_none());
    assert!(s.broken_ids(&BrokenFilter::default(), 10).is_empty());
    assert_eq!(s.next_gc_due(0, true), None);
    let c = s.counts();
    assert_eq!(
        (c.processes, c.tasks, c.leased, c.pending_promises),
        (1, 1, 0, 0)
    );
    assert!(s.process_view(&running).is_some());
}

fn keyed_start(s: &mut State, key: &str) -> CommandResult {
    s.apply(&Command::StartProcess {
        now: Millis(0),
        process_id: ProcessId::random(),
        custom_id: None,
        idempotency_key: Some(key.into()),
        start: spec("decider#1", "start", TaskKind::DeciderStart, vec![]),
    })
}

fn started(r: CommandResult) -> wire::StartProcessResponse {
    match r {
        Ok(Reply::Started(r)) => r,
        other => panic!("expected a start, got {other:?}"),
    }
}

#[test]
fn a_start_with_a_used_idempotency_key_returns_the_first_process() {
    let mut s = State::default();
    let first = started(keyed_start(&mut s, "order-7"));
    assert!(!first.existing);
    let before = s.to_snapshot().unwrap();
    let again = started(keyed_start(&mut s, "order-7"));
    assert!(again.existing);
    assert_eq!(
        (again.process_id, again.task_id),
        (first.process_id, first.task_id)
    );
    assert_eq!(
        s.to_snapshot().unwrap(),
        before,
        "a repeated keyed start changed state"
    );
    assert!(!started(keyed_start(&mut s, "order-8")).existing);
    assert_eq!(s.counts().processes, 2);

    // Once the process is deleted, the key is free again.
    poll(&mut s, "decider#1");
    release(
        &mut s,
        decision(first.task_id, Outcome::Value(val(1.into())), vec![]),
    )
    .unwrap();
    s.apply(&Command::DeleteProcesses {
        process_ids: vec![first.process_id],
    })
    .unwrap();
    let later = started(keyed_start(&mut s, "order-7"));
    assert!(!later.existing);
    assert_ne!(later.process_id, first.process_id);
}

/// The new commands, their answers and the new indexes survive the log's and the
/// snapshot's encoding (bincode).
#[test]
fn process_operations_round_trip_through_the_log_and_snapshots() {
    let ids = vec![ProcessId::random(), ProcessId::random()];
    let req = Request::new(vec![
        Command::RestartProcesses {
            now: Millis(1),
            process_ids: ids.clone(),
        },
        Command::DeleteProcesses {
            process_ids: ids.clone(),
        },
        Command::AbortProcesses {
            now: Millis(2),
            process_ids: ids.clone(),
            reason: Some("why".into()),
        },
    ]);
    let bytes = bincode::serialize(&req).unwrap();
    assert_eq!(bincode::deserialize::<Request>(&bytes).unwrap(), req);
    for reply in [Reply::Restarted(ids), Reply::Deleted(3), Reply::Aborted(4)] {
        let bytes = bincode::serialize(&reply).unwrap();
        assert_eq!(bincode::deserialize::<Reply>(&bytes).unwrap(), reply);
    }

    let mut s = State::default();
    let keyed = started(keyed_start(&mut s, "k"));
    let (broken, main, _) = two_workers(&mut s, "pay#1");
    fail(&mut s, main.task_id, "pay.Declined");
    let r = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
    assert_eq!(r.broken_ids(&BrokenFilter::default(), 10), vec![broken]);
    assert_eq!(r.history(&broken, 0, 100), s.history(&broken, 0, 100));
    let mut r = r;
    assert!(started(keyed_start(&mut r, "k")).existing);
    assert_eq!(
        keyed.process_id,
        started(keyed_start(&mut r, "k")).process_id
    );
}

/// An external promise counts as an unfinished task until it is resolved, and then
/// no longer: the process finishes.
#[test]
fn a_process_waiting_on_an_external_promise_finishes_once_it_is_resolved() {
    let mut s = State::default();
    let (pid, t) = start(&mut s, 0);
    poll(&mut s, "decider#1");
    let signal = spec("shop#1", "paid", TaskKind::External, vec![]);
    release(
        &mut s,
        decision(t, Outcome::Promise(signal.task_id), vec![signal.clone()]),
    )
    .unwrap();
    assert_eq!(s.process_view(&pid).unwrap().state, ProcessState::Running);
    s.apply(&Command::ResolvePromise {
        now: Millis(30),
        task_id: signal.task_id,
        resolution: Resolution::Value(val("ok".into())),
    })
    .unwrap();
    let view = s.process_view(&pid).unwrap();
    assert_eq!(view.state, ProcessState::Finished);
    assert_eq!(view.result.unwrap().as_str(), "\"ok\"");
}
