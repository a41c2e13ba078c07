//! Crash safety of the real binary: run a concurrent fan-out/fan-in load, SIGKILL the
//! server at an arbitrary moment, restart it on the same data directory, and check that
//! nothing acknowledged is lost, that leased-but-unreleased tasks come back, and that
//! driving the load to the end finishes every process exactly once with the right result.

mod common;

use common::workload::SumOfSquares;
use common::*;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suslik_broker::model::wire::{ReleaseReceipt, ReleaseStatus, StartProcessRequest, TaskStatus};
use suslik_broker::model::{
    Decision, Delivery, ErrorInfo, Millis, Outcome, ProcessId, ProcessState, RetryPolicy, TaskId,
};
use tokio::task::JoinHandle;

const DECIDER: &str = "dur.Decider#1";
const SQUARE: &str = "dur.Square#1";
const ADDER: &str = "dur.Adder#1";
/// Processes in one run; each has 5 releases (decider, 3 squares, sum).
const PROCESSES: usize = 400;
const RELEASES_PER_PROCESS: usize = 5;

/// What the clients saw: what was asked, what the server acknowledged, what it handed out.
#[derive(Default)]
struct Ledger {
    /// Every process the load means to run: (process, start task, input n).
    intents: Vec<(ProcessId, TaskId, i64)>,
    /// Acknowledged starts.
    started: HashSet<ProcessId>,
    /// Acknowledged releases before the crash: the decision and its receipt.
    acked: HashMap<TaskId, (Decision, ReleaseReceipt)>,
    /// Every receipt received, before and after the crash.
    receipts: Vec<ReleaseReceipt>,
    /// Tasks handed out whose release was never sent.
    held: HashSet<TaskId>,
    /// Tasks handed out after the restart.
    redelivered: HashSet<TaskId>,
    /// Set once the server is killed: later answers are not counted as "before".
    crashed: bool,
}

type Shared = Arc<Mutex<Ledger>>;

fn expected(n: i64) -> i64 {
    SumOfSquares::expected(n)
}

/// The decision a correct actor makes for `d` (see [`SumOfSquares`]).
fn decide(d: &Delivery) -> Decision {
    SumOfSquares {
        square: SQUARE,
        adder: ADDER,
    }
    .decide(d)
}

/// Polls `actor` and releases what it gets until `stop` is set or the server goes away.
fn spawn_actor(
    api: Api,
    actor: &'static str,
    ledger: Shared,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let tasks = match api.try_poll(actor, "", 8, 200).await {
                Ok(t) => t,
                Err(Failure::Transport(_)) => return,
                Err(f) => panic!("poll {actor}: {f:?}"),
            };
            let decisions: Vec<Decision> = {
                let mut l = ledger.lock().unwrap();
                for t in &tasks {
                    if l.crashed {
                        l.redelivered.insert(t.task_id);
                    }
                }
                tasks.iter().map(decide).collect()
            };
            let answers =
                futures::future::join_all(decisions.iter().map(|d| api.try_release(d))).await;
            let mut gone = false;
            for (d, answer) in decisions.iter().zip(answers) {
                match answer {
                    Ok(receipt) => {
                        let mut l = ledger.lock().unwrap();
                        l.receipts.push(receipt.clone());
                        if !l.crashed {
                            l.acked.insert(d.task_id, (d.clone(), receipt));
                        }
                    }
                    Err(Failure::Transport(_)) => gone = true,
                    Err(f) => panic!("release {}: {f:?}", d.task_id),
                }
            }
            if gone {
                return;
            }
        }
    })
}

/// Starts the intended processes, several at a time, until all are started or the
/// server goes away.
fn spawn_starters(api: &Api, ledger: &Shared, n: usize) -> Vec<JoinHandle<()>> {
    let next = Arc::new(AtomicUsize::new(0));
    (0..n)
        .map(|_| {
            let (api, ledger, next) = (api.clone(), ledger.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(pid, tid, input)) = ledger.lock().unwrap().intents.get(i) else {
                        return;
                    };
                    match api.try_start(&start_request(pid, tid, input)).await {
                        Ok(r) => {
                            assert_eq!((r.process_id, r.task_id), (pid, tid));
                            let mut l = ledger.lock().unwrap();
                            if !l.crashed {
                                l.started.insert(pid);
                            }
                        }
                        Err(Failure::Transport(_)) => return,
                        Err(f) => panic!("start: {f:?}"),
                    }
                }
            })
        })
        .collect()
}

fn start_request(pid: ProcessId, tid: TaskId, input: i64) -> StartProcessRequest {
    let mut req = start(DECIDER, "sum_of_squares", vec![value(json!(input))]);
    req.process_id = Some(pid);
    req.task_id = Some(tid);
    req
}

/// Takes a few square tasks early and never releases them: they must be handed out
/// again after the restart (their lease lives only in the dead server's memory).
fn spawn_hoarder(api: Api, ledger: Shared) -> JoinHandle<()> {
    tokio::spawn(async move {
        while ledger.lock().unwrap().held.len() < 6 {
            match api.try_poll(SQUARE, "", 2, 200).await {
                Ok(tasks) => ledger
                    .lock()
                    .unwrap()
                    .held
                    .extend(tasks.iter().map(|t| t.task_id)),
                Err(Failure::Transport(_)) => return,
                Err(f) => panic!("poll: {f:?}"),
            }
        }
    })
}

fn spawn_actors(api: &Api, ledger: &Shared, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    for actor in [DECIDER, DECIDER, SQUARE, SQUARE, SQUARE, ADDER, ADDER] {
        handles.push(spawn_actor(
            api.clone(),
            actor,
            ledger.clone(),
            stop.clone(),
        ));
    }
    handles
}

async fn join_all(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        tokio::time::timeout(Duration::from_secs(60), h)
            .await
            .expect("a load task did not stop")
            .expect("a load task panicked");
    }
}

/// A number in `lo..hi` that differs from run to run.
fn arbitrary(lo: usize, hi: usize) -> usize {
    let r = RandomState::new().hash_one(std::time::SystemTime::now()) as usize;
    lo + r % (hi - lo)
}

async fn kill_mid_run_and_recover(server_args: &[&str]) -> Server {
    let mut server = Server::with_args(server_args).await;
    let api = server.api();
    let ledger: Shared = Arc::default();
    ledger.lock().unwrap().intents = (0..PROCESSES)
        .map(|n| (ProcessId::random(), TaskId::random(), n as i64))
        .collect();

    // ---- phase 1: load, then SIGKILL at an arbitrary number of acknowledged releases
    let total = PROCESSES * RELEASES_PER_PROCESS;
    let kill_at = arbitrary(total / 5, total * 3 / 5);
    eprintln!("killing after {kill_at} of {total} releases");
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = spawn_starters(&api, &ledger, 4);
    handles.extend(spawn_actors(&api, &ledger, &stop));
    handles.push(spawn_hoarder(api.clone(), ledger.clone()));
    loop {
        if ledger.lock().unwrap().acked.len() >= kill_at {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Take a few tasks and never release them: they must be handed out again.
    for actor in [SQUARE, DECIDER, ADDER] {
        if let Ok(tasks) = api.try_poll(actor, "", 3, 0).await {
            let mut l = ledger.lock().unwrap();
            l.held.extend(tasks.iter().map(|t| t.task_id));
        }
    }
    server.kill();
    ledger.lock().unwrap().crashed = true;
    join_all(handles).await;
    {
        let l = ledger.lock().unwrap();
        eprintln!(
            "at the crash: {} starts and {} releases acknowledged, {} tasks held",
            l.started.len(),
            l.acked.len(),
            l.held.len()
        );
        assert!(!l.acked.is_empty());
        assert!(!l.held.is_empty(), "no task was held over the crash");
        assert!(l.acked.len() < total, "the crash came after the whole load");
    }

    // ---- phase 2: restart on the same data directory
    server.restart().await;
    let api = server.api();
    let (started, acked, intents) = {
        let l = ledger.lock().unwrap();
        (l.started.clone(), l.acked.clone(), l.intents.clone())
    };
    for pid in &started {
        let p = api
            .try_process(*pid)
            .await
            .unwrap_or_else(|e| panic!("acknowledged start of {pid} lost: {e:?}"));
        assert_eq!(p.process_id, *pid);
    }
    for (task_id, (d, receipt)) in &acked {
        let view = api
            .try_task(*task_id)
            .await
            .unwrap_or_else(|e| panic!("task {task_id} of an acknowledged release lost: {e:?}"));
        assert_eq!(view.status, TaskStatus::Released, "task {task_id}");
        match &d.outcome {
            Outcome::Value(v) => assert_eq!(view.result.as_ref(), Some(v), "task {task_id}"),
            Outcome::Promise(target) => {
                assert_eq!(receipt.status, ReleaseStatus::AwaitingPromise);
                // Its spawned tasks were stored with it.
                assert!(api.try_task(*target).await.is_ok(), "spawned {target} lost");
            }
            Outcome::Error(e) => panic!("the load releases no errors: {e:?}"),
        }
        let again = api.release(d).await;
        assert!(again.duplicate, "re-release of {task_id} was applied again");
        assert_eq!(
            ReleaseReceipt {
                duplicate: receipt.duplicate,
                ..again
            },
            *receipt
        );
    }

    // Starts that were not acknowledged are sent again (same ids: idempotent).
    for (pid, tid, input) in &intents {
        if !started.contains(pid) {
            let r = api.start(&start_request(*pid, *tid, *input)).await;
            assert_eq!((r.process_id, r.task_id), (*pid, *tid));
        }
    }

    // ---- drive the load to the end
    let stop = Arc::new(AtomicBool::new(false));
    let handles = spawn_actors(&api, &ledger, &stop);
    let mut running: Vec<ProcessId> = intents.iter().map(|(p, _, _)| *p).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while !running.is_empty() {
        let mut still = Vec::new();
        for pid in running {
            let p = api.process(pid).await;
            assert_ne!(p.state, ProcessState::Broken, "{pid}: {:?}", p.broken);
            if p.state == ProcessState::Running {
                still.push(pid);
            }
        }
        running = still;
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} processes never finished",
            running.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    join_all(handles).await;

    // Every load task has stopped: the ledger is final.
    let l = std::mem::take(&mut *ledger.lock().unwrap());
    let not_again: Vec<_> = l.held.difference(&l.redelivered).collect();
    assert!(
        not_again.is_empty(),
        "leased-but-unreleased tasks not handed out again: {not_again:?}"
    );
    for (pid, _, input) in &l.intents {
        let p = api.process(*pid).await;
        assert_eq!(p.state, ProcessState::Finished);
        assert_eq!(p.result, Some(json(json!(expected(*input)))), "{pid}");
        assert!(p.ended_at.is_some());
        assert_eq!(
            p.tasks.len(),
            5,
            "{pid}: a decision was applied twice: {:?}",
            p.tasks
        );
    }
    // Exactly once: no task was released for real twice, and no process finished twice.
    let mut first_releases: HashMap<TaskId, usize> = HashMap::new();
    let mut finishes: HashMap<ProcessId, usize> = HashMap::new();
    for r in l.receipts.iter().filter(|r| !r.duplicate) {
        *first_releases.entry(r.task_id).or_default() += 1;
        if r.process_state == ProcessState::Finished {
            *finishes.entry(r.process_id).or_default() += 1;
        }
    }
    assert!(
        first_releases.values().all(|&n| n == 1),
        "a task was released twice"
    );
    assert!(
        finishes.values().all(|&n| n == 1),
        "a process finished twice"
    );
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_run_loses_nothing_acknowledged() {
    kill_mid_run_and_recover(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_recovery_goes_through_snapshot_and_log_tail() {
    let server = kill_mid_run_and_recover(&["--snapshot-every", "50"]).await;
    let logs = server.logs();
    let restored = logs
        .iter()
        .position(|l| l.contains("restoring state machine from snapshot"))
        .expect("the restart did not restore a snapshot");
    assert!(
        logs[..restored]
            .iter()
            .any(|l| l.contains("snapshot built")),
        "no snapshot was built before the crash"
    );
}

#[tokio::test]
async fn blocks_timers_and_retries_survive_a_sigkill() {
    let mut server = Server::start().await;
    let api = server.api();
    let (status, _) = api
        .post_json(
            "/api/v1/actors/block",
            &json!({"actor_id": "dur.Blocked#1"}),
        )
        .await;
    assert_eq!(status, 200);
    let blocked = api.start(&start("dur.Blocked#1", "m", vec![])).await;

    let mut later = start("dur.Later#1", "m", vec![]);
    let start_at = Millis::now().plus(3_000);
    later.options.start_at = Some(start_at);
    let later = api.start(&later).await;

    let mut flaky = start("dur.Retry#1", "m", vec![]);
    flaky.options.retry = Some(RetryPolicy {
        initial_interval_ms: 2_000,
        ..Default::default()
    });
    let flaky = api.start(&flaky).await;
    let d = api.next_task("dur.Retry#1").await;
    let receipt = api
        .release(&decision(
            &d,
            Outcome::Error(ErrorInfo::new("x", "boom")),
            vec![],
        ))
        .await;
    assert_eq!(receipt.status, ReleaseStatus::RetryScheduled);
    let retry_at = receipt.retry_at.unwrap();

    server.kill();
    server.restart().await;
    let api = server.api();

    // Still blocked, its task still queued.
    assert!(api.poll("dur.Blocked#1", 1, 0).await.is_empty());
    assert_eq!(
        api.queues().await["queues"],
        json!([{"actor_id": "dur.Blocked#1", "task_list": "", "queued": 1, "blocked": true}])
    );
    // The delayed start and the retry fire on time after the restart.
    let l = api.next_task("dur.Later#1").await;
    assert_eq!(l.task_id, later.task_id);
    assert!(Millis::now() >= start_at);
    let r = api.next_task("dur.Retry#1").await;
    assert_eq!(r.task_id, flaky.task_id);
    assert_eq!(r.attempt, 2);
    assert!(Millis::now() >= retry_at);
    // Unblocking hands out the blocked actor's task.
    let (status, _) = api
        .post_json(
            "/api/v1/actors/unblock",
            &json!({"actor_id": "dur.Blocked#1"}),
        )
        .await;
    assert_eq!(status, 200);
    let got = api.poll("dur.Blocked#1", 1, 0).await;
    assert_eq!(got[0].task_id, blocked.task_id);
}
