//! Disk trouble: a node whose data directory fills up, or is read-only, refuses writes
//! with a clear `503`, loses nothing it acknowledged, and comes back by itself once the
//! directory takes writes again — no operator restart, no corrupted state.
//!
//! The data directory is a small tmpfs the test mounts (so it needs root, like the
//! network-namespace chaos test) under a real `suslik serve` process. Filling it with a
//! file makes the next log append fail with ENOSPC; a tmpfs cannot be remounted
//! read-only while the node holds its files open for writing, so the read-only case
//! starts the node on a read-only mount and remounts it writable under it.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use suslik_tests::privileged;
use suslik_tests::serve::Server;

const DECIDER: &str = "disk.Decider#1";

/// A tmpfs of `size_mib` mounted by the test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (reported through `privileged::cannot_run`) when mounting is not allowed.
    fn mount(test: &str, size_mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&path)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { path, _dir: dir }),
            Ok(out) => {
                let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
                privileged::cannot_run(test, &format!("mounting a tmpfs failed: {why}"));
                None
            }
            Err(e) => {
                privileged::cannot_run(test, &format!("cannot run `mount`: {e}"));
                None
            }
        }
    }

    fn remount(&self, mode: &str) {
        run(Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.path));
    }

    /// Writes a file until the file system is full; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0xA5u8; 1 << 20];
        loop {
            match f.write_all(&chunk).and_then(|()| f.flush()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        // Fill the last partial page too.
        let mut byte = [0u8; 1];
        while f.write_all(&byte).is_ok() {
            byte[0] = byte[0].wrapping_add(1);
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &Server) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
            base: server.base.clone(),
        }
    }

    /// Status and JSON body; `None` when the connection failed (the node between its
    /// stop and its stand-in).
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Option<(u16, Value)> {
        self.send(method, path, body, false).await
    }

    /// A read answered by this node from its own replica (not forwarded to the leader).
    async fn local(&self, path: &str) -> Option<(u16, Value)> {
        self.send("GET", path, None, true).await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        local: bool,
    ) -> Option<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body.unwrap_or(Value::Null)),
        };
        if local {
            req = req.header("x-suslik-local-read", "1");
        }
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Some((status, body))
    }

    async fn start(&self, n: u64, pad: usize) -> Option<(u16, Value)> {
        let body = json!({
            "actor_id": DECIDER,
            "method": "start",
            "args": [{"value": n}, {"value": "x".repeat(pad)}],
        });
        self.call("POST", "/api/v1/processes", Some(body)).await
    }

    async fn until(&self, what: &str, path: &str, want: impl Fn(u16, &Value) -> bool) -> Value {
        self.wait(what, path, false, want).await
    }

    /// Waits until this node answers `path` with 200 from its own replica.
    async fn until_local(&self, what: &str, path: &str) {
        self.wait(what, path, true, |s, _| s == 200).await;
    }

    async fn wait(
        &self,
        what: &str,
        path: &str,
        local: bool,
        want: impl Fn(u16, &Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        while Instant::now() < deadline {
            if let Some((status, body)) = self.send("GET", path, None, local).await {
                if want(status, &body) {
                    return body;
                }
                last = Some((status, body));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: not within 60 s; last answer of {path}: {last:?}");
    }

    /// Starts process `n`, which must be acknowledged (201), and records it in `acked`.
    async fn start_acked(&self, n: u64, acked: &mut BTreeMap<String, u64>) {
        let (status, body) = self.start(n, 100).await.expect("start answered");
        assert_eq!(status, 201, "{body}");
        acked.insert(body["process_id"].as_str().expect("id").to_string(), n);
    }

    /// A start refused by the storage stand-in; returns its message.
    async fn refused_by_stand_in(&self) -> String {
        let (status, body) = self.start(u64::MAX, 10).await.expect("stand-in answers");
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "storage_unavailable", "{body}");
        body["message"].as_str().expect("message").to_string()
    }

    async fn ready(&self) {
        self.until("the node is ready", "/ready", |s, _| s == 200)
            .await;
    }

    /// Polls every start task, releases each with `n * 10`, and checks that every
    /// acknowledged process finished with that result and was released once.
    async fn finish_all(&self, acked: &BTreeMap<String, u64>) {
        let mut released = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while released < acked.len() {
            assert!(
                Instant::now() < deadline,
                "only {released} tasks handed out"
            );
            let poll = json!({"actor_id": DECIDER, "max": 100, "wait_ms": 500});
            let (status, body) = self
                .call("POST", "/api/v1/tasks/poll", Some(poll))
                .await
                .expect("poll answered");
            assert_eq!(status, 200, "{body}");
            for task in body["tasks"].as_array().expect("tasks") {
                let n = task["args"][0]["value"].as_u64().expect("n");
                let decision = json!({
                    "task_id": task["task_id"],
                    "delivery_id": task["delivery_id"],
                    "outcome": {"value": n * 10},
                });
                let (status, receipt) = self
                    .call("POST", "/api/v1/tasks/release", Some(decision))
                    .await
                    .expect("release answered");
                assert_eq!(status, 200, "{receipt}");
                released += 1;
            }
        }
        for (pid, n) in acked {
            let (status, view) = self
                .call("GET", &format!("/api/v1/processes/{pid}"), None)
                .await
                .expect("process answered");
            assert_eq!(status, 200, "acknowledged process {pid} lost: {view}");
            assert_eq!(view["state"], "finished", "{view}");
            assert_eq!(view["result"], json!(n * 10), "{view}");
            let (_, history) = self
                .call("GET", &format!("/api/v1/processes/{pid}/history"), None)
                .await
                .expect("history answered");
            let releases = history["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter(|e| e["event"] == "released")
                .count();
            assert_eq!(releases, 1, "{pid} released {releases} times: {history}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_then_the_node_recovers_by_itself_when_space_returns() {
    const TEST: &str = "disk_trouble::full_disk";
    if !privileged::require_root(TEST) {
        return;
    }
    let Some(fs) = Tmpfs::mount(TEST, 96) else {
        return;
    };
    let data = fs.path.join("data");
    let server = Server::start(&data);
    let api = Api::new(&server);
    api.ready().await;

    let mut acked = BTreeMap::new();
    for n in 0..20 {
        api.start_acked(n, &mut acked).await;
    }

    let filler = fs.fill();
    // Starts go on while the log still fits its last allocated page; the first append
    // that needs a new page fails, and that start is refused with the OS's reason.
    let mut refusal = None;
    for n in 20..5_000 {
        match api.start(n, 4096).await {
            Some((201, body)) => {
                acked.insert(body["process_id"].as_str().expect("id").to_string(), n);
            }
            answer => {
                refusal = Some(answer);
                break;
            }
        }
    }
    let refusal = refusal.expect("a start was refused on a full disk");
    let (status, body) =
        refusal.expect("the refused start got an answer, not a dropped connection");
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("No space left on device")),
        "the refusal names the cause: {body}"
    );

    // The node restarts in place and holds its address with a clear 503 meanwhile.
    let health = api
        .until("health says storage_unavailable", "/health", |s, b| {
            s == 503 && b["status"] == "storage_unavailable"
        })
        .await;
    let message = health["message"].as_str().expect("message");
    assert!(message.contains("no space left"), "{message}");
    let message = api.refused_by_stand_in().await;
    assert!(message.contains(&data.display().to_string()), "{message}");

    std::fs::remove_file(&filler).expect("free the space");
    api.ready().await;
    api.start_acked(10_000, &mut acked).await; // writes are taken again

    api.finish_all(&acked).await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_data_directory_is_waited_out_and_nothing_acknowledged_is_lost() {
    const TEST: &str = "disk_trouble::read_only";
    if !privileged::require_root(TEST) {
        return;
    }
    let Some(fs) = Tmpfs::mount(TEST, 64) else {
        return;
    };
    let data = fs.path.join("data");
    let server = Server::start(&data);
    let api = Api::new(&server);
    api.ready().await;
    let mut acked = BTreeMap::new();
    for n in 0..10 {
        api.start_acked(n, &mut acked).await;
    }
    server.stop();

    fs.remount("ro");
    let server = Server::start(&data);
    let api = Api::new(&server);
    let (status, health) = api.call("GET", "/health", None).await.expect("health");
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "storage_unavailable", "{health}");
    assert!(
        health["message"]
            .as_str()
            .is_some_and(|m| m.contains("Read-only file system")),
        "{health}"
    );
    api.refused_by_stand_in().await;

    fs.remount("rw");
    api.ready().await;
    api.start_acked(10, &mut acked).await;
    api.finish_all(&acked).await;
    server.stop();
}

/// Three `suslik serve` nodes on loopback, each on a tmpfs of its own.
struct Cluster {
    disks: Vec<Tmpfs>,
    nodes: Vec<Option<Server>>,
    apis: Vec<Api>,
}

impl Cluster {
    /// Each member must know every address before it starts, so the ports are picked
    /// up front (bind port 0, read it, let it go); if another process takes one first,
    /// its member exits without serving, and the whole cluster is started again on
    /// fresh ports and empty data directories (as `suslik_tests::cluster` does for
    /// in-process nodes).
    fn start(test: &str) -> Option<Cluster> {
        let disks = (0..3)
            .map(|_| Tmpfs::mount(test, 64))
            .collect::<Option<Vec<Tmpfs>>>()?;
        for _attempt in 0..suslik_tests::cluster::START_ATTEMPTS {
            let addrs: Vec<String> = (0..3)
                .map(|_| {
                    std::net::TcpListener::bind("127.0.0.1:0")
                        .and_then(|l| l.local_addr())
                        .expect("free port")
                        .to_string()
                })
                .collect();
            let peers = addrs
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{}={a}", i + 1))
                .collect::<Vec<_>>()
                .join(",");
            let mut nodes = Vec::new();
            for (i, addr) in addrs.iter().enumerate() {
                let data = disks[i].path.join("data");
                let _ = std::fs::remove_dir_all(&data);
                let id = (i + 1).to_string();
                let args = ["--node-id", &id, "--listen", addr, "--peers", &peers];
                match Server::try_start(&data, &args) {
                    Some(server) => nodes.push(Some(server)),
                    None => break,
                }
            }
            if nodes.len() == 3 {
                let apis = nodes.iter().flatten().map(Api::new).collect();
                return Some(Cluster { disks, nodes, apis });
            }
            eprintln!("a member did not start (port taken?): starting the cluster again");
        }
        panic!("no cluster started: ports kept being taken");
    }

    /// The index of the node every reachable node names as leader.
    async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for api in &self.apis {
                if let Some((200, status)) = api.local("/cluster/status").await {
                    if let Some(id) = status["leader"].as_u64() {
                        if status["node_id"].as_u64() == Some(id) {
                            return id as usize - 1;
                        }
                    }
                }
            }
            assert!(Instant::now() < deadline, "no leader within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts process `n` through whichever node takes it, like a client that knows
    /// every node; `None` if none did within 60 s.
    async fn start_process(&self, n: u64) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            for api in &self.apis {
                if let Some((201, body)) = api.start(n, 512).await {
                    return body["process_id"].as_str().map(str::to_string);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_disk_fills_steps_aside_and_catches_up_once_space_returns() {
    const TEST: &str = "disk_trouble::cluster_leader_full";
    if !privileged::require_root(TEST) {
        return;
    }
    let Some(mut cluster) = Cluster::start(TEST) else {
        return;
    };
    let old = cluster.leader().await;
    let mut acked = BTreeMap::new();
    for n in 0..20 {
        let pid = cluster.start_process(n).await.expect("started");
        acked.insert(pid, n);
    }

    // The leader's disk fills: its next append fails, it stops and holds its address
    // with 503 storage_unavailable, and the other two elect a leader and go on.
    let filler = cluster.disks[old].fill();
    let mut n = 20;
    let new = loop {
        let pid = cluster
            .start_process(n)
            .await
            .expect("the cluster took a start");
        acked.insert(pid, n);
        n += 1;
        if let Some((503, health)) = cluster.apis[old].call("GET", "/health", None).await {
            if health["status"] == "storage_unavailable" {
                break cluster.leader().await;
            }
        }
        assert!(n < 20_000, "the full leader never stopped");
    };
    assert_ne!(new, old, "a node with a full disk cannot lead");
    for _ in 0..20 {
        let pid = cluster
            .start_process(n)
            .await
            .expect("the new leader takes starts");
        acked.insert(pid, n);
        n += 1;
    }

    // Space returns: the node restarts by itself and catches up from the new leader.
    std::fs::remove_file(&filler).expect("free the space");
    for pid in acked.keys() {
        cluster.apis[old]
            .until_local(
                "the recovered node holds every acknowledged process in its own replica",
                &format!("/api/v1/processes/{pid}"),
            )
            .await;
    }
    cluster.apis[new].finish_all(&acked).await;
    for node in cluster.nodes.iter_mut() {
        if let Some(server) = node.take() {
            server.stop();
        }
    }
}
