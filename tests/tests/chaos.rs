//! Chaos: a three-node cluster of real `suslik serve` processes on loopback under
//! steady load from SDK actors that know every node, while nodes are SIGKILLed and
//! restarted on their data directories (or the leader is frozen with SIGSTOP and
//! thawed). At the end every started process has finished exactly once with the right
//! result, each of its five tasks was released once, and no task got two accepted
//! releases (every release and its receipt is recorded on the way through the SDK).
//!
//! The cluster runs with tokens and a peer secret, so forwarding and Raft RPC are
//! exercised with access control on. Each test is bounded (about 20 s of chaos, then
//! the drain); `SUSLIK_CHAOS_SECS` changes the chaos time.

use futures::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use suslik_broker::model::history::EventKind;
use suslik_broker::model::wire::{ReleaseBatchResponse, ReleaseReceipt, ReleaseResult, TaskStatus};
use suslik_broker::model::{Decision, Outcome, ProcessId, ProcessState, TaskId};
use suslik_client::{
    Actor, ActorRunner, HttpConfig, HttpTransport, ProcessClient, StartOptions, TaskList,
    Transport, TransportWrapper,
};
use suslik_recipes::fanout;
use suslik_tests::{privileged, runner_config, suslik_bin};

const ACTOR_TOKEN: &str = "chaos-actor";
const OPERATOR_TOKEN: &str = "chaos-operator";
const PEER_SECRET: &str = "chaos-peer";

/// Processes in flight at once.
const CONCURRENCY: usize = 8;

fn chaos_time() -> Duration {
    let secs = std::env::var("SUSLIK_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

/// How many times [`ChaosCluster::start`] starts the cluster on fresh ports.
const START_ATTEMPTS: usize = 4;

/// How long a node may take to print its address.
const STARTUP: Duration = Duration::from_secs(60);

/// The line `suslik serve` prints on stdout once it listens.
const LISTENING: &str = "suslik listening on http://";

/// With `SUSLIK_CHAOS_LOGS=DIR`, node N on port P logs at info level to
/// `DIR/node-N-P.log` (appended across restarts), for finding out what a failed run
/// went through.
fn node_log(id: u64, addr: SocketAddr) -> Option<std::fs::File> {
    let dir = std::env::var_os("SUSLIK_CHAOS_LOGS")?;
    std::fs::create_dir_all(&dir).expect("chaos log directory");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::path::Path::new(&dir).join(format!("node-{id}-{}.log", addr.port())))
        .expect("chaos log file");
    Some(file)
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

/// One `suslik serve` process with a fixed address and data directory, maybe in a
/// network namespace of its own.
struct NodeProc {
    id: u64,
    addr: SocketAddr,
    data: tempfile::TempDir,
    peers: String,
    netns: Option<String>,
    child: Option<Child>,
    /// Signalled once the running child printed its address.
    listening: Option<mpsc::Receiver<()>>,
}

impl NodeProc {
    fn spawn(&mut self) {
        assert!(self.child.is_none());
        let logs = node_log(self.id, self.addr);
        // `ip netns exec` execs the server, so the child's pid is the server's.
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(suslik_bin());
                c
            }
            None => Command::new(suslik_bin()),
        };
        let mut child = cmd
            .arg("serve")
            .args(["--node-id", &self.id.to_string()])
            .args(["--listen", &self.addr.to_string()])
            .arg("--data-dir")
            .arg(self.data.path().join("data"))
            .args(["--peers", &self.peers])
            .args(["--snapshot-every", "200"])
            // A task handed out through a node that dies before relaying the answer is
            // delivered again when its lease expires: keep that short.
            .args(["--lease-ms", "5000"])
            .env("SUSLIK_ACTOR_TOKEN", ACTOR_TOKEN)
            .env("SUSLIK_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .env("SUSLIK_PEER_SECRET", PEER_SECRET)
            .env("RUST_LOG", if logs.is_some() { "info" } else { "error" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn suslik");
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            // Drain stdout for the child's whole life (a full pipe would block it).
            let mut logs = logs;
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(f) = logs.as_mut() {
                        use std::io::Write;
                        let _ = writeln!(f, "{line}");
                    }
                    if line.starts_with(LISTENING) {
                        let _ = tx.send(());
                    }
                }
            });
        }
        self.child = Some(child);
        self.listening = Some(rx);
    }

    /// Waits until the child started last prints its address; false if it exits (or
    /// stays silent for [`STARTUP`]) first, e.g. because its port is taken.
    fn came_up(&mut self) -> bool {
        self.listening
            .take()
            .is_some_and(|rx| rx.recv_timeout(STARTUP).is_ok())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal("-CONT");
        }
        self.kill();
    }
}

struct ChaosCluster {
    nodes: Vec<NodeProc>,
    http: reqwest::Client,
}

impl ChaosCluster {
    /// Three nodes on loopback.
    ///
    /// Why not port 0: each node's `--peers` must name every member's address before
    /// any of them starts, so the ports are picked up front (bind port 0, read it, let
    /// it go) and another process may take one before its node binds it. A node that
    /// exits without printing its address is taken for such a clash: the cluster is
    /// killed and started again on fresh ports and fresh data directories, up to
    /// [`START_ATTEMPTS`] times. A node restarted during the chaos takes its old port
    /// again; that cannot move (its peers know it), but it is only free for a moment.
    fn start() -> ChaosCluster {
        for _ in 0..START_ATTEMPTS {
            let mut cluster =
                ChaosCluster::spawn_on((0..3).map(|_| free_addr()).collect(), vec![None; 3]);
            if cluster.nodes.iter_mut().all(NodeProc::came_up) {
                return cluster;
            }
            eprintln!("chaos: a node did not come up (port taken?), starting again");
        }
        panic!("chaos: no cluster came up in {START_ATTEMPTS} attempts");
    }

    /// Three nodes at `addrs`, node i in network namespace `netns[i]` if given.
    fn start_on(addrs: Vec<SocketAddr>, netns: Vec<Option<String>>) -> ChaosCluster {
        let mut cluster = ChaosCluster::spawn_on(addrs, netns);
        for n in &mut cluster.nodes {
            assert!(
                n.came_up(),
                "chaos: node {} at {} did not come up",
                n.id,
                n.addr
            );
        }
        cluster
    }

    /// Spawns three nodes at `addrs` without waiting for them.
    fn spawn_on(addrs: Vec<SocketAddr>, netns: Vec<Option<String>>) -> ChaosCluster {
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes: Vec<NodeProc> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| NodeProc {
                id: i as u64 + 1,
                addr: *a,
                data: tempfile::tempdir().expect("temp dir"),
                peers: peers.clone(),
                netns: netns[i].clone(),
                child: None,
                listening: None,
            })
            .collect();
        for n in &mut nodes {
            n.spawn();
        }
        ChaosCluster {
            nodes,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("client"),
        }
    }

    fn addresses(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.to_string()).collect()
    }

    /// The leader as node `i` sees it (None: unreachable or no leader).
    async fn leader_seen_by(&self, i: usize) -> Option<u64> {
        let r = self
            .http
            .get(format!("http://{}/cluster/status", self.nodes[i].addr))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        (v["role"] == "Leader")
            .then(|| v["node_id"].as_u64())
            .flatten()
    }

    /// Waits for a node that calls itself leader, among `among`.
    async fn leader(&self, among: &[usize]) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for &i in among {
                if self.leader_seen_by(i).await.is_some() {
                    return i;
                }
            }
            assert!(Instant::now() < deadline, "no leader among {among:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Every release the actors sent and what came back.
#[derive(Default)]
struct Releases {
    /// (decision, receipt) for each release that got a receipt.
    accepted: Vec<(Decision, ReleaseReceipt)>,
    /// Releases that failed outright (no answer, or an error answer).
    failed: usize,
}

/// An [`HttpTransport`] that records releases and their receipts; every other call
/// goes straight through.
struct Recording {
    inner: HttpTransport,
    log: Arc<Mutex<Releases>>,
}

impl TransportWrapper for Recording {
    fn inner(&self) -> &dyn Transport {
        &self.inner
    }

    fn release(&self, decision: Decision) -> BoxFuture<'_, suslik_client::Result<ReleaseReceipt>> {
        Box::pin(async move {
            let r = self.inner.release(decision.clone()).await;
            let mut log = self.log.lock().unwrap();
            match &r {
                Ok(receipt) => log.accepted.push((decision, receipt.clone())),
                Err(_) => log.failed += 1,
            }
            r
        })
    }

    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, suslik_client::Result<ReleaseBatchResponse>> {
        Box::pin(async move {
            let r = self.inner.release_batch(decisions.clone()).await;
            let mut log = self.log.lock().unwrap();
            match &r {
                Ok(resp) => {
                    for (d, res) in decisions.into_iter().zip(&resp.results) {
                        match res {
                            ReleaseResult::Receipt(receipt) => {
                                log.accepted.push((d, receipt.clone()))
                            }
                            ReleaseResult::Error(_) => log.failed += 1,
                        }
                    }
                }
                Err(_) => log.failed += decisions.len(),
            }
            r
        })
    }
}

fn transport(cluster: &ChaosCluster, token: &str) -> HttpTransport {
    let config = HttpConfig {
        token: Some(token.into()),
        // Ride out a node restart or an election rather than failing a call.
        give_up_after: Duration::from_secs(60),
        max_attempts: 1_000,
        ..HttpConfig::default()
    };
    HttpTransport::with_config(cluster.addresses(), config).expect("transport")
}

/// What the load produced.
struct Load {
    started: Arc<Mutex<Vec<(i64, ProcessId)>>>,
    stop: Arc<AtomicBool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

/// `CONCURRENCY` loops, each starting a process and waiting for its result.
fn start_load(client: ProcessClient) -> Load {
    let started: Arc<Mutex<Vec<(i64, ProcessId)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicI64::new(0));
    let handles = (0..CONCURRENCY)
        .map(|_| {
            let (client, started, stop, next) =
                (client.clone(), started.clone(), stop.clone(), next.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let id = client
                        .start(fanout::DECIDER, fanout::START, (n,), StartOptions::new())
                        .await
                        .unwrap_or_else(|e| panic!("start {n}: {e}"));
                    started.lock().unwrap().push((n, id));
                    let sum: i64 = match client.wait_for_result(id, Duration::from_secs(120)).await
                    {
                        Ok(sum) => sum,
                        Err(e) => {
                            let later = look_again(&client, id).await;
                            panic!("process {n} ({id}): {e}; {later}")
                        }
                    };
                    assert_eq!(sum, fanout::expected(n), "process {n}");
                }
            })
        })
        .collect();
    Load {
        started,
        stop,
        handles,
    }
}

/// After a failed wait for an acknowledged process: whether the cluster knows the
/// process a little later (a read that answered wrongly) or not at all (a lost start).
async fn look_again(client: &ProcessClient, id: ProcessId) -> String {
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(30) {
        if let Ok(view) = client.state(id).await {
            return format!(
                "{:?} after {:?}: the first answer was wrong, the start was not lost",
                view.state,
                began.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    "still unknown 30 s later: the acknowledged start was lost".to_string()
}

/// Stops the load, waits for it, and checks every process, task and release.
async fn finish_and_check(
    load: Load,
    client: &ProcessClient,
    operator: &ProcessClient,
    log: &Arc<Mutex<Releases>>,
) {
    load.stop.store(true, Ordering::Relaxed);
    for h in load.handles {
        h.await.expect("a load loop failed");
    }
    let started = load.started.lock().unwrap().clone();
    assert!(
        started.len() >= CONCURRENCY,
        "only {} processes ran",
        started.len()
    );

    let (accepted, failed) = {
        let log = log.lock().unwrap();
        (log.accepted.clone(), log.failed)
    };
    let mut fresh: HashMap<TaskId, Vec<&Decision>> = HashMap::new();
    for (d, receipt) in &accepted {
        assert_eq!(receipt.task_id, d.task_id);
        if !receipt.duplicate {
            fresh.entry(d.task_id).or_default().push(d);
        }
    }
    let mut tasks_seen = 0;
    for (n, id) in &started {
        let view = client.state(*id).await.expect("process view");
        assert_eq!(view.state, ProcessState::Finished, "process {n}: {view:?}");
        let result: i64 = view
            .result
            .as_ref()
            .expect("a result")
            .decode()
            .expect("i64");
        assert_eq!(result, fanout::expected(*n), "process {n}");
        // Five tasks: the decision was applied once (a second one would have spawned
        // five more with fresh ids).
        assert_eq!(view.tasks.len(), 5, "process {n}: {:?}", view.tasks);
        // The broker's own record: one `released` event per task.
        let history = operator.history(*id).await.expect("process history");
        let mut released: HashMap<TaskId, usize> = HashMap::new();
        for e in &history {
            if e.event == EventKind::Released {
                *released.entry(e.task_id.expect("a task")).or_default() += 1;
            }
        }
        for t in &view.tasks {
            assert_eq!(
                released.get(&t.task_id),
                Some(&1),
                "process {n}: task {} was released {:?} times by the broker's history",
                t.task_id,
                released.get(&t.task_id)
            );
            tasks_seen += 1;
            assert_eq!(t.status, TaskStatus::Released, "process {n}: {t:?}");
            let applied = fresh.get(&t.task_id).map_or(0, Vec::len);
            assert!(
                applied <= 1,
                "task {} got {applied} accepted releases",
                t.task_id
            );
            for d in fresh.get(&t.task_id).into_iter().flatten() {
                if let Outcome::Value(v) = &d.outcome {
                    assert_eq!(t.result.as_ref(), Some(v), "task {} result", t.task_id);
                }
            }
        }
    }
    eprintln!(
        "chaos: {} processes, {tasks_seen} tasks, {} releases answered ({} failed on the way)",
        started.len(),
        accepted.len(),
        failed
    );
}

/// Runs the fanout actors with the recording transport.
fn actors(cluster: &ChaosCluster, log: &Arc<Mutex<Releases>>) -> suslik_client::RunnerHandle {
    let recording = Recording {
        inner: transport(cluster, ACTOR_TOKEN),
        log: log.clone(),
    };
    ActorRunner::new(recording)
        .config(runner_config())
        .actor(Actor::Worker(fanout::worker()), TaskList::default_list())
        .actor(Actor::Decider(fanout::decider()), TaskList::default_list())
        .start()
}

/// A number in `0..n` that differs from call to call.
fn pick(n: usize) -> usize {
    use std::hash::{BuildHasher, RandomState};
    (RandomState::new().hash_one(Instant::now()) as usize) % n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_finish_exactly_once_while_nodes_are_killed_and_restarted() {
    let mut cluster = ChaosCluster::start();
    cluster.leader(&[0, 1, 2]).await;
    let log: Arc<Mutex<Releases>> = Arc::default();
    let runner = actors(&cluster, &log);
    let client = ProcessClient::new(transport(&cluster, ACTOR_TOKEN));
    let load = start_load(client.clone());

    let end = Instant::now() + chaos_time();
    let mut kills = BTreeMap::<u64, usize>::new();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(1_500 + pick(1_500) as u64)).await;
        // Half the time the leader, otherwise any node.
        let victim = if pick(2) == 0 {
            cluster.leader(&[0, 1, 2]).await
        } else {
            pick(3)
        };
        cluster.nodes[victim].kill();
        *kills.entry(cluster.nodes[victim].id).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(500 + pick(1_500) as u64)).await;
        cluster.nodes[victim].spawn();
        // The next victim only once a leader serves again (a quorum stays up).
        cluster.leader(&[0, 1, 2]).await;
    }
    eprintln!("chaos: SIGKILLs per node {kills:?}");

    let operator = ProcessClient::new(transport(&cluster, OPERATOR_TOKEN));
    finish_and_check(load, &client, &operator, &log).await;
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_finish_exactly_once_while_the_leader_is_frozen_and_thawed() {
    let cluster = ChaosCluster::start();
    cluster.leader(&[0, 1, 2]).await;
    let log: Arc<Mutex<Releases>> = Arc::default();
    let runner = actors(&cluster, &log);
    let client = ProcessClient::new(transport(&cluster, ACTOR_TOKEN));
    let load = start_load(client.clone());

    let end = Instant::now() + chaos_time();
    let mut freezes = 0;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(1_000 + pick(1_500) as u64)).await;
        let leader = cluster.leader(&[0, 1, 2]).await;
        // Cut off: it neither sends heartbeats nor answers; the others elect a new
        // leader, and the old one must step down when it wakes up.
        cluster.nodes[leader].signal("-STOP");
        freezes += 1;
        let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        let new_leader = cluster.leader(&others).await;
        assert_ne!(new_leader, leader);
        tokio::time::sleep(Duration::from_millis(pick(2_000) as u64)).await;
        cluster.nodes[leader].signal("-CONT");
    }
    eprintln!("chaos: {freezes} leaders frozen");

    let operator = ProcessClient::new(transport(&cluster, OPERATOR_TOKEN));
    finish_and_check(load, &client, &operator, &log).await;
    runner.shutdown().await;
}

/// A bridge in this namespace and three network namespaces, each joined to it by a
/// veth pair: nodes in the namespaces reach each other and this test through the
/// bridge, and taking a node's veth end down here cuts it off from everyone.
struct Netns {
    tag: String,
    subnet: String,
}

impl Netns {
    fn ip(args: &str) -> bool {
        Command::new("ip")
            .args(args.split_whitespace())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Sets the network up, or says which step failed (e.g. no CAP_NET_ADMIN).
    fn create() -> Result<Netns, String> {
        let pid = std::process::id();
        let n = Netns {
            tag: format!("sf{:x}", pid % 0xfff),
            subnet: format!("10.202.{}", pid % 250),
        };
        let (t, s) = (&n.tag, &n.subnet);
        let mut steps = vec![
            format!("link add br{t} type bridge"),
            format!("addr add {s}.254/24 dev br{t}"),
            format!("link set br{t} up"),
        ];
        for i in 1..=3 {
            steps.extend([
                format!("netns add {t}n{i}"),
                format!("link add v{t}{i} type veth peer name p{t}{i}"),
                format!("link set p{t}{i} netns {t}n{i}"),
                format!("-n {t}n{i} addr add {s}.{i}/24 dev p{t}{i}"),
                format!("-n {t}n{i} link set p{t}{i} up"),
                format!("-n {t}n{i} link set lo up"),
                format!("link set v{t}{i} master br{t}"),
                format!("link set v{t}{i} up"),
            ]);
        }
        // On failure `n` is dropped, which removes whatever was created.
        match steps.iter().find(|step| !Self::ip(step)) {
            Some(step) => Err(format!("`ip {step}` failed")),
            None => Ok(n),
        }
    }

    fn namespace(&self, i: usize) -> String {
        format!("{}n{}", self.tag, i + 1)
    }

    fn addr(&self, i: usize) -> SocketAddr {
        format!("{}.{}:7700", self.subnet, i + 1)
            .parse()
            .expect("addr")
    }

    /// Cuts node `i` off (`up = false`) or connects it again.
    fn link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        assert!(Self::ip(&format!(
            "link set v{}{} {state}",
            self.tag,
            i + 1
        )));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for i in 1..=3 {
            Self::ip(&format!("netns del {}n{i}", self.tag));
        }
        Self::ip(&format!("link del br{}", self.tag));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_finish_exactly_once_while_the_leader_is_cut_off_the_network() {
    const TEST: &str = "processes_finish_exactly_once_while_the_leader_is_cut_off_the_network";
    if !privileged::require_root(TEST) || !privileged::require_command(TEST, "ip") {
        return;
    }
    let net = match Netns::create() {
        Ok(net) => net,
        Err(e) => {
            privileged::cannot_run(TEST, &format!("network namespaces: {e}"));
            return;
        }
    };
    // Nodes listen on the bridge's subnet (not loopback): tokens are required, and set.
    let cluster = ChaosCluster::start_on(
        (0..3).map(|i| net.addr(i)).collect(),
        (0..3).map(|i| Some(net.namespace(i))).collect(),
    );
    cluster.leader(&[0, 1, 2]).await;
    let log: Arc<Mutex<Releases>> = Arc::default();
    let runner = actors(&cluster, &log);
    let client = ProcessClient::new(transport(&cluster, ACTOR_TOKEN));
    let load = start_load(client.clone());

    let end = Instant::now() + chaos_time();
    let mut cuts = 0;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(1_000 + pick(1_500) as u64)).await;
        let leader = cluster.leader(&[0, 1, 2]).await;
        net.link(leader, false);
        cuts += 1;
        let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        let new_leader = cluster.leader(&others).await;
        assert_ne!(new_leader, leader);
        // The old leader keeps running alone for a while, then rejoins.
        tokio::time::sleep(Duration::from_millis(500 + pick(2_000) as u64)).await;
        net.link(leader, true);
    }
    eprintln!("chaos: {cuts} leaders cut off the network");

    let operator = ProcessClient::new(transport(&cluster, OPERATOR_TOKEN));
    finish_and_check(load, &client, &operator, &log).await;
    runner.shutdown().await;
    drop(cluster);
}
