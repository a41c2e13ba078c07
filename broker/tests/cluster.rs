//! A real cluster: three or four `suslik serve` processes on loopback ports, driven by
//! clients that talk to any node and fail over to another one on a connection error
//! or a 503. Each test starts its own cluster and SIGKILLs it when done.
//!
//! The load is the fan-out process of `durability.rs`: a decider spawns three square
//! workers and a sum over their promises. Every receipt a worker gets is recorded, so
//! the end of each test can check that every acknowledged start finished with the right
//! result and that no task was released twice (a second non-duplicate receipt).

mod common;

use common::cluster::{suslik_cli, Cluster, FailoverApi, WAIT};
use common::workload::SumOfSquares;
use common::*;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suslik_broker::api::cluster::ClusterStatus;
use suslik_broker::model::wire::{ProcessView, ReleaseReceipt, StartProcessRequest, TaskStatus};
use suslik_broker::model::{Decision, Delivery, Outcome, ProcessId, ProcessState, TaskId};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const DECIDER: &str = "cl.Decider#1";
const SQUARE: &str = "cl.Square#1";
const ADDER: &str = "cl.Adder#1";
/// Releases per process: the decider, three squares, the sum.
const RELEASES_PER_PROCESS: usize = 5;

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

fn start_request(pid: ProcessId, tid: TaskId, input: i64) -> StartProcessRequest {
    let mut req = start(DECIDER, "sum_of_squares", vec![value(json!(input))]);
    req.process_id = Some(pid);
    req.task_id = Some(tid);
    req
}

/// A number in `lo..hi` that differs from run to run.
fn arbitrary(lo: usize, hi: usize) -> usize {
    let r = RandomState::new().hash_one(std::time::SystemTime::now()) as usize;
    lo + r % (hi - lo)
}

/// What the clients asked for and what the cluster answered.
#[derive(Default)]
struct Ledger {
    /// Every process the load means to run: (process, start task, input n).
    intents: Vec<(ProcessId, TaskId, i64)>,
    /// How many intents a starter has taken.
    next_start: usize,
    /// Acknowledged starts.
    started: HashSet<ProcessId>,
    /// The same, in the order the acknowledgements came.
    started_in_order: Vec<ProcessId>,
    /// Every acknowledged release: the decision sent and the receipt.
    releases: Vec<(Decision, ReleaseReceipt)>,
    /// Tasks handed out to the load's actors after `killed` was set.
    delivered_after_kill: HashSet<TaskId>,
    /// Set just before a node is killed.
    killed: bool,
    /// Acknowledged starts and releases when `killed` was set.
    started_before_kill: HashSet<ProcessId>,
    released_before_kill: usize,
    /// Tasks taken and never released.
    held: HashSet<TaskId>,
    /// Answers the load did not expect: the test fails on any.
    errors: Vec<String>,
}

impl Ledger {
    /// Processes that some acknowledged release reported finished.
    fn finished(&self) -> usize {
        self.releases
            .iter()
            .filter(|(_, r)| !r.duplicate && r.process_state == ProcessState::Finished)
            .count()
    }
}

type Shared = Arc<Mutex<Ledger>>;

/// Starters and actors running fan-out processes against a cluster through
/// [`FailoverApi`] handles spread over the nodes.
struct Load {
    api: FailoverApi,
    ledger: Shared,
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(api: &FailoverApi) -> Load {
        Load::with_ledger(api, Ledger::default())
    }

    /// A load that starts from `ledger` (its intents are started, again if need be:
    /// a repeated start with the same ids answers the same).
    fn with_ledger(api: &FailoverApi, ledger: Ledger) -> Load {
        let mut load = Load {
            api: api.clone(),
            ledger: Arc::new(Mutex::new(ledger)),
            stop: Arc::default(),
            handles: Vec::new(),
        };
        for i in 0..3 {
            load.spawn_starter(api.starting_at(i));
        }
        for (i, actor) in [DECIDER, DECIDER, SQUARE, SQUARE, SQUARE, ADDER, ADDER]
            .into_iter()
            .enumerate()
        {
            load.spawn_actor(api.starting_at(i + 1), actor);
        }
        load
    }

    /// Adds `n` processes to run.
    fn add(&self, n: usize) {
        let mut l = self.ledger.lock().unwrap();
        let base = l.intents.len();
        l.intents
            .extend((base..base + n).map(|i| (ProcessId::random(), TaskId::random(), i as i64)));
    }

    /// Adds a process every `period` until the returned flag is set.
    fn trickle(&self, period: Duration) -> (Arc<AtomicBool>, JoinHandle<()>) {
        let done = Arc::new(AtomicBool::new(false));
        let (flag, ledger) = (done.clone(), self.ledger.clone());
        let h = tokio::spawn(async move {
            while !flag.load(Ordering::Relaxed) {
                {
                    let mut l = ledger.lock().unwrap();
                    let i = l.intents.len() as i64;
                    l.intents.push((ProcessId::random(), TaskId::random(), i));
                }
                tokio::time::sleep(period).await;
            }
        });
        (done, h)
    }

    fn spawn_starter(&mut self, api: FailoverApi) {
        let (ledger, stop) = (self.ledger.clone(), self.stop.clone());
        self.handles.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let intent = {
                    let mut l = ledger.lock().unwrap();
                    let i = l.intents.get(l.next_start).copied();
                    if i.is_some() {
                        l.next_start += 1;
                    }
                    i
                };
                let Some((pid, tid, input)) = intent else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let answer = api.start(&start_request(pid, tid, input)).await;
                let mut l = ledger.lock().unwrap();
                match answer {
                    Ok(r) if (r.process_id, r.task_id) == (pid, tid) => {
                        if l.started.insert(pid) {
                            l.started_in_order.push(pid);
                        }
                    }
                    other => l.errors.push(format!("start {pid}: {other:?}")),
                }
            }
        }));
    }

    fn spawn_actor(&mut self, api: FailoverApi, actor: &'static str) {
        let (ledger, stop) = (self.ledger.clone(), self.stop.clone());
        self.handles.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let tasks = match api.poll(actor, 8, 300).await {
                    Ok(t) => t,
                    Err(f) => {
                        ledger
                            .lock()
                            .unwrap()
                            .errors
                            .push(format!("poll {actor}: {f:?}"));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let decisions: Vec<Decision> = {
                    let mut l = ledger.lock().unwrap();
                    if l.killed {
                        l.delivered_after_kill
                            .extend(tasks.iter().map(|t| t.task_id));
                    }
                    tasks.iter().map(decide).collect()
                };
                let answers =
                    futures::future::join_all(decisions.iter().map(|d| api.release(d))).await;
                let diag = if answers.iter().any(|a| a.is_err()) {
                    cluster_views(&api).await
                } else {
                    String::new()
                };
                let mut l = ledger.lock().unwrap();
                for (d, answer) in decisions.into_iter().zip(answers) {
                    match answer {
                        Ok(receipt) => l.releases.push((d, receipt)),
                        // A task handed out twice (its lease died with the old leader)
                        // and released first by the other delivery: this delivery's
                        // different decision (fresh task ids) is refused, changing nothing.
                        Err(f)
                            if matches!(f.code(), Some("already_released" | "stale_delivery")) => {}
                        Err(f) => l.errors.push(format!(
                            "release of {} (handed out to {actor}) via {}: {f:?} {diag}",
                            d.task_id,
                            api.current().base()
                        )),
                    }
                }
            }
        }));
    }

    fn check_errors(&self) {
        // Copied out so that the panic does not poison the ledger for the load tasks.
        let errors = self.ledger.lock().unwrap().errors.clone();
        assert!(
            errors.is_empty(),
            "{} unexpected answers, first ones: {:#?}",
            errors.len(),
            &errors[..errors.len().min(10)]
        );
    }

    fn acked_releases(&self) -> usize {
        self.ledger.lock().unwrap().releases.len()
    }

    /// Waits until `cond` holds on the ledger, failing early on an unexpected answer.
    async fn wait_for(&self, what: &str, cond: impl Fn(&Ledger) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.check_errors();
            if cond(&self.ledger.lock().unwrap()) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `k` more processes than now have finished.
    async fn wait_progress(&self, k: usize) {
        let target = self.ledger.lock().unwrap().finished() + k;
        self.wait_for(&format!("{target} finished processes"), |l| {
            l.finished() >= target
        })
        .await;
    }

    /// Waits until every intended process is started and finished.
    async fn wait_all_finished(&self) {
        let deadline = Instant::now() + 2 * WAIT;
        let mut finished: HashSet<ProcessId> = HashSet::new();
        loop {
            self.check_errors();
            let (intents, started) = {
                let l = self.ledger.lock().unwrap();
                (l.intents.clone(), l.started.clone())
            };
            let mut running = 0;
            for (pid, _, _) in &intents {
                if finished.contains(pid) {
                    continue;
                }
                if !started.contains(pid) {
                    running += 1;
                    continue;
                }
                let p = self
                    .api
                    .process(*pid)
                    .await
                    .unwrap_or_else(|f| panic!("acknowledged start of {pid}: {f:?}"));
                assert_ne!(p.state, ProcessState::Broken, "{pid}: {:?}", p.broken);
                if p.state == ProcessState::Finished {
                    finished.insert(*pid);
                } else {
                    running += 1;
                }
            }
            if running == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{running} of {} processes never finished",
                intents.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the load and returns the final ledger.
    async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            tokio::time::timeout(WAIT, h)
                .await
                .expect("a load task did not stop")
                .expect("a load task panicked");
        }
        let l = std::mem::take(&mut *self.ledger.lock().unwrap());
        assert!(l.errors.is_empty(), "unexpected answers: {:#?}", l.errors);
        l
    }
}

/// Each node's role, leader, term and log position, to explain an unexpected answer.
async fn cluster_views(api: &FailoverApi) -> String {
    let mut out = String::new();
    for node in api.all() {
        let view = match node.try_get_value("/cluster/status").await {
            Ok((_, v)) => json!({
                "role": v["role"],
                "leader": v["leader"],
                "term": v["term"],
                "last_applied": v["last_applied"],
                "last_log_index": v["last_log_index"],
            })
            .to_string(),
            Err(e) => format!("{e:?}"),
        };
        out.push_str(&format!("\n  {} {view}", node.base()));
    }
    out
}

/// A view of a process with the lease flags cleared (leases live only in the leader's
/// memory and are dropped on a restart or a leader change).
fn without_leases(mut p: ProcessView) -> ProcessView {
    for t in &mut p.tasks {
        t.leased = false;
    }
    p
}

/// Checks the end state against everything the clients saw: every intended process
/// finished once with the right result, no task was released twice, every receipt of
/// a task tells the same story, and the stored outcome is the acknowledged decision's.
async fn verify(
    api: &FailoverApi,
    intents: &[(ProcessId, TaskId, i64)],
    releases: &[(Decision, ReleaseReceipt)],
) {
    let mut views: HashMap<ProcessId, ProcessView> = HashMap::new();
    for (pid, tid, input) in intents {
        let p = api
            .process(*pid)
            .await
            .unwrap_or_else(|f| panic!("process {pid}: {f:?}"));
        assert_eq!(p.state, ProcessState::Finished, "{pid}");
        assert_eq!(p.start_task_id, *tid);
        assert_eq!(p.result, Some(json(json!(expected(*input)))), "{pid}");
        assert_eq!(
            p.tasks.len(),
            RELEASES_PER_PROCESS,
            "{pid}: a decision was applied twice: {:?}",
            p.tasks
        );
        assert!(p.tasks.iter().all(|t| t.status == TaskStatus::Released));
        views.insert(*pid, p);
    }

    let mut by_task: HashMap<TaskId, Vec<&(Decision, ReleaseReceipt)>> = HashMap::new();
    for r in releases {
        by_task.entry(r.0.task_id).or_default().push(r);
    }
    let mut finishes: HashMap<ProcessId, usize> = HashMap::new();
    for (task_id, rs) in &by_task {
        let firsts: Vec<_> = rs.iter().filter(|(_, r)| !r.duplicate).collect();
        assert!(
            firsts.len() <= 1,
            "task {task_id} was released {} times: {firsts:#?}",
            firsts.len()
        );
        let story = ReleaseReceipt {
            duplicate: false,
            ..rs[0].1.clone()
        };
        for (_, r) in rs {
            assert_eq!(
                ReleaseReceipt {
                    duplicate: false,
                    ..r.clone()
                },
                story,
                "receipts of {task_id} disagree"
            );
        }
        let Some((d, receipt)) = firsts.first() else {
            continue;
        };
        if receipt.process_state == ProcessState::Finished {
            *finishes.entry(receipt.process_id).or_default() += 1;
        }
        let Some(view) = views.get(&receipt.process_id) else {
            continue;
        };
        let stored = view
            .tasks
            .iter()
            .find(|t| t.task_id == *task_id)
            .unwrap_or_else(|| panic!("released task {task_id} is not in its process"));
        match &d.outcome {
            Outcome::Value(v) => assert_eq!(stored.result.as_ref(), Some(v), "{task_id}"),
            Outcome::Promise(_) => {
                for spawned in &d.tasks {
                    assert!(
                        view.tasks.iter().any(|t| t.task_id == spawned.task_id),
                        "{task_id}: the acknowledged decision's task {} is not stored",
                        spawned.task_id
                    );
                }
            }
            Outcome::Error(e) => panic!("the load releases no errors: {e:?}"),
        }
    }
    assert!(
        finishes.values().all(|&n| n == 1),
        "a process finished twice"
    );
}

/// `suslik cluster …` through the binary; asserts exit 0 and parses the JSON.
async fn cluster_cli(args: &[&str]) -> ClusterStatus {
    let (ok, stdout, stderr) = suslik_cli(args).await;
    assert!(ok, "suslik {args:?} failed: {stderr}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("suslik {args:?} printed no status ({e}): {stdout}"))
}

fn voters(s: &ClusterStatus) -> Vec<u64> {
    s.members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.node_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_load_loses_no_acknowledged_process() {
    const PROCESSES: usize = 100;
    // Leases outlive the test: a task handed out by the old leader comes back only
    // because the new leader does not know its lease.
    let mut cluster = Cluster::with_args(3, &["--lease-ms", "600000"]).await;
    let (leader, term) = cluster.leader().await;
    let api = cluster.client();
    let load = Load::start(&api);
    load.add(PROCESSES);

    // Take a few square tasks from the leader and never release them.
    let hoard = {
        let (direct, ledger) = (cluster.node(leader).api(), load.ledger.clone());
        tokio::spawn(async move {
            while ledger.lock().unwrap().held.len() < 3 {
                match direct.try_poll(SQUARE, "", 1, 200).await {
                    Ok(t) => ledger
                        .lock()
                        .unwrap()
                        .held
                        .extend(t.iter().map(|t| t.task_id)),
                    Err(f) => panic!("hoarding poll: {f:?}"),
                }
            }
        })
    };
    let total = PROCESSES * RELEASES_PER_PROCESS;
    let kill_at = arbitrary(total / 5, total / 2);
    load.wait_for("releases before the kill", |l| {
        l.releases.len() >= kill_at && l.held.len() >= 3
    })
    .await;
    hoard.await.expect("hoarder");
    {
        let mut l = load.ledger.lock().unwrap();
        l.killed = true;
        l.started_before_kill = l.started.clone();
        l.released_before_kill = l.releases.len();
    }
    cluster.kill(leader);
    eprintln!(
        "killed leader {leader} (term {term}) after {} acknowledged releases",
        load.acked_releases()
    );

    let survivors = cluster.running();
    // While the survivors elect a new leader, no node may call a process whose start
    // was acknowledged unknown (a 503 is fine: the client asks again).
    let electing = Arc::new(AtomicBool::new(true));
    let reader = {
        let nodes: Vec<Api> = survivors.iter().map(|id| cluster.node(*id).api()).collect();
        let (ledger, electing) = (load.ledger.clone(), electing.clone());
        tokio::spawn(async move {
            let recent: Vec<ProcessId> = {
                let l = ledger.lock().unwrap();
                l.started_in_order.iter().rev().take(16).copied().collect()
            };
            let mut reads = 0;
            while electing.load(Ordering::Relaxed) {
                for api in &nodes {
                    for pid in &recent {
                        reads += 1;
                        if let Err(Failure::Status(404, body)) = api.try_process(*pid).await {
                            ledger.lock().unwrap().errors.push(format!(
                                "{} called acknowledged process {pid} unknown during the \
                                 election: {body}",
                                api.base()
                            ));
                        }
                    }
                }
            }
            reads
        })
    };
    let (new_leader, new_term) = cluster.leader_among(&survivors).await;
    electing.store(false, Ordering::Relaxed);
    let reads = reader.await.expect("reader");
    eprintln!("{reads} reads of acknowledged processes during the election");
    load.check_errors();
    assert_ne!(new_leader, leader);
    assert!(new_term > term, "term {new_term} after {term}");
    eprintln!("new leader {new_leader} at term {new_term}");

    // The load goes on through the survivors, new processes included.
    load.add(30);
    load.wait_all_finished().await;
    let failovers = load.api.failovers.load(Ordering::Relaxed);
    let l = load.stop().await;
    eprintln!(
        "{} processes, {} receipts ({} before the kill), {failovers} failovers",
        l.intents.len(),
        l.releases.len(),
        l.released_before_kill
    );
    assert!(l.released_before_kill >= kill_at);
    assert!(l.released_before_kill < l.releases.len());
    assert!(!l.started_before_kill.is_empty());
    let not_again: Vec<_> = l.held.difference(&l.delivered_after_kill).collect();
    assert!(
        not_again.is_empty(),
        "tasks leased by the dead leader were not handed out again: {not_again:?}"
    );
    verify(&api, &l.intents, &l.releases).await;

    // The killed node comes back and catches up with the new leader.
    cluster.restart(leader).await;
    let target = cluster.status(new_leader).await.last_applied.unwrap();
    let s = cluster.wait_applied(leader, target).await;
    assert_eq!(s.leader, Some(new_leader));
    assert_eq!(s.role, "Follower");
    let back = Api::new(&cluster.node(leader).base());
    for (pid, _, input) in l.intents.iter().take(5) {
        let p = back.process(*pid).await;
        assert_eq!(p.result, Some(json(json!(expected(*input)))));
        let (code, local) = back
            .get_json_local(&format!("/api/v1/processes/{pid}"))
            .await;
        assert_eq!(code, 200, "{local}");
        assert_eq!(local["state"], "finished", "{local}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_cluster_restart_brings_all_state_back() {
    let mut cluster = Cluster::start(3).await;
    let api = cluster.client();

    // Some processes run to the end.
    let load = Load::start(&api);
    load.add(4);
    load.wait_all_finished().await;
    let done = load.stop().await;
    let mut intents = done.intents.clone();
    let mut releases = done.releases.clone();

    // Some stop mid-way. B: decider and one square released, one square handed out
    // and held, one square and the sum not yet ready or handed out.
    let mut held = Vec::new();
    let mid = |n: i64| (ProcessId::random(), TaskId::random(), n);
    let b = mid(100);
    api.start(&start_request(b.0, b.1, b.2)).await.unwrap();
    for actor in [DECIDER, SQUARE] {
        let got = api.poll(actor, 1, 10_000).await.unwrap();
        assert_eq!(got.len(), 1, "{actor}");
        let d = decide(&got[0]);
        releases.push((d.clone(), api.release(&d).await.unwrap()));
    }
    let got = api.poll(SQUARE, 1, 10_000).await.unwrap();
    held.push(got[0].task_id);
    // C: its decider handed out and held.
    let c = mid(200);
    api.start(&start_request(c.0, c.1, c.2)).await.unwrap();
    let got = api.poll(DECIDER, 1, 10_000).await.unwrap();
    assert_eq!(got[0].task_id, c.1);
    held.push(c.1);
    // A: only started.
    let a = mid(300);
    api.start(&start_request(a.0, a.1, a.2)).await.unwrap();
    intents.extend([a, b, c]);

    let mut before = HashMap::new();
    for (pid, _, _) in &intents {
        before.insert(*pid, without_leases(api.process(*pid).await.unwrap()));
    }
    let b_view = &before[&b.0];
    assert_eq!(b_view.state, ProcessState::Running);
    assert_eq!(b_view.tasks.len(), 5);
    let (leader, _) = cluster.leader().await;
    let last = cluster.status(leader).await.last_applied.unwrap();

    // Stop all three, then start all three on their data directories.
    for id in [3, 1, 2] {
        cluster.kill(id);
    }
    for id in [2, 3, 1] {
        cluster.node_mut(id).relaunch().await;
    }
    let (leader, _) = cluster.leader().await;
    let api = cluster.client();
    for id in 1..=3 {
        cluster.wait_applied(id, last).await;
    }
    eprintln!("restarted; leader {leader}");

    // Processes, tasks and receipts are all back.
    for (pid, view) in &before {
        let now = without_leases(api.process(*pid).await.unwrap());
        assert_eq!(&now, view, "process {pid} after the restart");
        for t in &view.tasks {
            assert_eq!(api.task(t.task_id).await.unwrap(), {
                let mut t = t.clone();
                t.leased = false;
                t
            });
        }
    }
    for (d, receipt) in &releases {
        let again = api.release(d).await.unwrap();
        assert!(again.duplicate, "re-release of {} applied again", d.task_id);
        assert_eq!(
            ReleaseReceipt {
                duplicate: receipt.duplicate,
                ..again
            },
            *receipt
        );
    }

    // The unfinished processes run to the end; the held tasks come back.
    let load = Load::with_ledger(
        &api,
        Ledger {
            intents: intents.clone(),
            killed: true,
            ..Ledger::default()
        },
    );
    load.wait_all_finished().await;
    let l = load.stop().await;
    for t in &held {
        assert!(
            l.delivered_after_kill.contains(t),
            "held {t} never came back"
        );
    }
    releases.extend(l.releases);
    verify(&api, &intents, &releases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fourth_node_joins_and_a_member_leaves_while_the_cluster_serves() {
    let mut cluster = Cluster::start(3).await;
    let api = cluster.client();
    let load = Load::start(&api);
    let (trickle_done, trickle) = load.trickle(Duration::from_millis(50));
    load.wait_progress(5).await;

    // Node 4 joins through `suslik cluster add-node`, asked of a follower.
    let addr4 = cluster.launch_joiner(4).await;
    let (leader, _) = cluster.leader_among(&[1, 2, 3]).await;
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let s = cluster_cli(&[
        "cluster",
        "add-node",
        "--server",
        &cluster.node(follower).addr().to_string(),
        "--node-id",
        "4",
        "--addr",
        &addr4.to_string(),
    ])
    .await;
    assert_eq!(voters(&s), vec![1, 2, 3, 4], "{s:#?}");
    assert_eq!(s.members.len(), 4, "{s:#?}");
    api.set_nodes(&cluster.bases(&[1, 2, 3, 4]));
    let (leader, _) = cluster.leader().await;
    let target = cluster.status(leader).await.last_applied.unwrap();
    cluster.wait_applied(4, target).await;
    load.wait_progress(5).await;

    // The leader, an original member, leaves (asked of node 4); then it is stopped.
    let rest: Vec<u64> = [1, 2, 3, 4]
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    api.set_nodes(&cluster.bases(&rest));
    let s = cluster_cli(&[
        "cluster",
        "remove-node",
        "--server",
        &cluster.node(4).addr().to_string(),
        "--node-id",
        &leader.to_string(),
    ])
    .await;
    assert_eq!(voters(&s), rest, "{s:#?}");
    assert!(s.members.iter().all(|m| m.node_id != leader), "{s:#?}");
    drop(cluster.take(leader));
    let (new_leader, _) = cluster.leader().await;
    assert_ne!(new_leader, leader);
    load.wait_progress(5).await;

    trickle_done.store(true, Ordering::Relaxed);
    trickle.await.unwrap();
    load.wait_all_finished().await;
    let l = load.stop().await;
    eprintln!(
        "{} processes across the membership changes",
        l.intents.len()
    );
    verify(&api, &l.intents, &l.releases).await;

    let target = cluster.status(new_leader).await.last_applied.unwrap();
    for id in &rest {
        let s = cluster.wait_applied(*id, target).await;
        assert_eq!(voters(&s), rest, "node {id}: {s:#?}");
        assert_eq!(s.members.len(), 3, "node {id}: {s:#?}");
        assert_eq!(s.leader, Some(new_leader));
    }
    let s = cluster_cli(&[
        "cluster",
        "status",
        "--server",
        &cluster.node(4).addr().to_string(),
    ])
    .await;
    assert_eq!(s.node_id, 4);
    assert_eq!(voters(&s), rest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_down_during_many_writes_catches_up_from_a_snapshot() {
    /// Entries the leader keeps behind a snapshot (`RaftConfig::logs_kept_after_snapshot`):
    /// the log is purged past the stopped node only once the snapshot is this far ahead.
    const KEPT_AFTER_SNAPSHOT: u64 = 1_000;
    let mut cluster = Cluster::with_args(3, &["--snapshot-every", "50"]).await;
    let (leader, _) = cluster.leader().await;
    let down = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    cluster.kill(down);
    // The stopped node's log ends at or before the leader's last entry now.
    let stopped_at = cluster.status(leader).await.last_log_index.unwrap();

    let api = cluster.client();
    let load = Load::start(&api);
    let mut batches = 0;
    loop {
        load.add(50);
        batches += 1;
        load.wait_all_finished().await;
        let s = cluster.status(leader).await;
        eprintln!(
            "{} processes: leader log at {:?}, snapshot at {:?}",
            batches * 50,
            s.last_log_index,
            s.snapshot
        );
        if s.snapshot.unwrap_or(0) > stopped_at + KEPT_AFTER_SNAPSHOT + 50 {
            break;
        }
        assert!(
            batches < 30,
            "the leader never snapshotted far enough ahead"
        );
    }
    let l = load.stop().await;

    let logs_before = cluster.node(down).logs().len();
    cluster.restart(down).await;
    let target = cluster.status(leader).await.last_applied.unwrap();
    let s = cluster.wait_applied(down, target).await;
    eprintln!("node {down} caught up: {s:?}");
    assert!(
        s.snapshot.is_some_and(|i| i > stopped_at),
        "node {down} has no snapshot past {stopped_at}: {s:?}"
    );
    assert_eq!(s.leader, Some(leader));
    let logs = cluster.node(down).logs();
    assert!(
        logs[logs_before..]
            .iter()
            .any(|l| l.contains("installing snapshot from leader")),
        "node {down} caught up without installing a snapshot"
    );

    // It serves reads: forwarded to the leader, and from its own replica.
    let node = Api::new(&cluster.node(down).base());
    for (pid, _, input) in l.intents.iter().step_by(37) {
        let p = node.process(*pid).await;
        assert_eq!(p.result, Some(json(json!(expected(*input)))));
        let (code, local) = node
            .get_json_local(&format!("/api/v1/processes/{pid}"))
            .await;
        assert_eq!(code, 200, "{local}");
        let local: ProcessView = serde_json::from_value(local).unwrap();
        assert_eq!(without_leases(local), without_leases(p));
    }
    verify(&api, &l.intents, &l.releases).await;
}

/// The command format node `id` writes in when it leads, as its status says (a
/// build from before versioned formats does not say: it writes format 1).
async fn command_format_of(cluster: &Cluster, id: u64) -> u16 {
    cluster.status(id).await.command_format.map_or(1, |f| f.0)
}

/// Waits until leader `id` has heard every member and writes in format `want`.
async fn wait_command_format(cluster: &Cluster, id: u64, want: u16) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = command_format_of(cluster, id).await;
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "leader {id} still writes command format {now}, not {want}: {:?}",
            cluster.status(id).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the nodes of the cluster being upgraded run before their upgrade.
enum Previous {
    /// This build with `--max-command-format 1`: it reads, announces and writes
    /// command format 1 only, and refuses format 2 as an old build would.
    StandIn,
    /// A previous release's `suslik` binary.
    Binary(std::path::PathBuf),
}

const STAND_IN: [&str; 2] = ["--max-command-format", "1"];

/// Starts three nodes of `previous`, puts them under load, and upgrades them to this
/// build one at a time (SIGKILL, then this build on the same data directory without
/// the stand-in flag), going on only once the upgraded node caught up. While an old
/// node is left the leader must write command format 1, once none is left the newest
/// one; at the end every acknowledged process finished once with the right result.
async fn upgrade_node_by_node_under_load(previous: Previous) {
    let newest = suslik_broker::formats::COMMAND_FORMAT.0;
    // A task handed out through a node just killed comes back when its lease ends.
    let lease = ["--lease-ms", "5000"];
    let mut cluster = match &previous {
        Previous::StandIn => Cluster::with_args(3, &[&lease[..], &STAND_IN].concat()).await,
        Previous::Binary(bin) => Cluster::of_binary(3, bin, &lease).await,
    };
    let (leader, _) = cluster.leader().await;
    wait_command_format(&cluster, leader, 1).await;
    let api = cluster.client();
    let load = Load::start(&api);
    let (trickling, trickle) = load.trickle(Duration::from_millis(15));
    load.wait_progress(20).await;

    for (step, id) in [3, 1, 2].into_iter().enumerate() {
        load.ledger.lock().unwrap().killed = true;
        cluster.kill(id);
        let node = cluster.node_mut(id);
        let args = node.args().to_vec();
        let args = match args.windows(2).position(|w| w == STAND_IN) {
            Some(at) => [&args[..at], &args[at + 2..]].concat(),
            None => args,
        };
        node.set_args(args);
        node.set_bin(common::this_build());
        cluster.restart(id).await;
        let (leader, _) = cluster.leader().await;
        load.wait_progress(20).await;
        // Every node, old ones included, applies what the leader wrote meanwhile: an
        // entry an old node cannot read would stop it here.
        let target = cluster.status(leader).await.last_applied.unwrap_or(0);
        for member in 1..=3 {
            cluster.wait_applied(member, target).await;
        }
        let (leader, _) = cluster.leader().await;
        let upgraded = step + 1;
        if upgraded < 3 {
            // An old member is left: nothing it cannot read is proposed.
            let f = command_format_of(&cluster, leader).await;
            assert_eq!(f, 1, "{upgraded} of 3 upgraded, leader {leader} writes {f}");
        } else {
            // The last old node is gone: the cluster moves up by itself.
            wait_command_format(&cluster, leader, newest).await;
        }
        eprintln!("node {id} upgraded ({upgraded} of 3); leader {leader}");
    }

    // New-format entries are written and read by every node; the load drains.
    load.wait_progress(20).await;
    trickling.store(true, Ordering::Relaxed);
    trickle.await.expect("trickle");
    load.wait_all_finished().await;
    let l = load.stop().await;
    eprintln!(
        "{} processes, {} receipts across the upgrade",
        l.intents.len(),
        l.releases.len()
    );
    verify(&api, &l.intents, &l.releases).await;
    let (leader, _) = cluster.leader().await;
    let last = cluster.status(leader).await.last_applied.unwrap();
    for id in 1..=3 {
        cluster.wait_applied(id, last).await;
    }
    for m in cluster.status(leader).await.members {
        let f = m.formats.expect("the leader heard every member");
        assert_eq!(u32::from(newest), f.command.max, "member {}", m.node_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_upgrades_node_by_node_under_load_and_moves_to_the_new_format_last() {
    upgrade_node_by_node_under_load(Previous::StandIn).await;
}

/// The same with a real previous release: run by hand (docs/storage.md) with
/// `SUSLIK_PREVIOUS_BIN` naming that release's `suslik` binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a previous release's binary in SUSLIK_PREVIOUS_BIN: run by hand"]
async fn a_cluster_of_the_previous_release_upgrades_node_by_node_under_load() {
    let bin = std::env::var_os("SUSLIK_PREVIOUS_BIN")
        .expect("set SUSLIK_PREVIOUS_BIN to the previous release's suslik binary");
    upgrade_node_by_node_under_load(Previous::Binary(bin.into())).await;
}
