//! Test support: runs the real `suslik` binary on a temporary data directory and a free
//! port, and talks to it over HTTP with the wire types of `suslik_broker::model`.
//!
//! A [`Server`] kills its process (SIGKILL) and removes its data directory when dropped,
//! so a failing test leaves nothing behind.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod cluster;
pub mod receiver;
pub mod workload;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use suslik_broker::model::wire::{
    ErrorBody, PollRequest, PollResponse, ProcessView, ReleaseReceipt, StartProcessRequest,
    StartProcessResponse, TaskView,
};
use suslik_broker::model::{
    ActorId, Arg, Decision, Delivery, JsonValue, Outcome, ProcessId, ResolvedArg, TaskId, TaskKind,
    TaskList, TaskOptions, TaskSpec,
};
use tempfile::TempDir;

/// How long a server may take to print its address and elect itself leader.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The line `suslik serve` prints once it is ready.
const LISTENING: &str = "suslik listening on http://";

/// Log filter for the child: quiet, except the raft module's lifecycle lines (snapshots,
/// restores) that the durability tests look for. `SUSLIK_TEST_LOG` overrides it.
fn log_filter() -> String {
    std::env::var("SUSLIK_TEST_LOG").unwrap_or_else(|_| "warn,suslik_broker::raft=info".into())
}

/// A running `suslik serve` child process. A lone server listens on port 0 and
/// learns its address from the `suslik listening on http://ADDR` line `serve` prints
/// once it is bound, so no port is picked ahead of time.
pub struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    /// What `--listen` gets: port 0 (a new free port on every start) for a lone server,
    /// a fixed address for a cluster node (its peers know it by that address).
    listen: SocketAddr,
    /// Prefix of its echoed log lines.
    label: String,
    /// `RUST_LOG` of the child.
    log_filter: String,
    data_dir: PathBuf,
    /// Extra flags, kept so that [`Server::restart`] starts the same configuration.
    args: Vec<String>,
    /// The `suslik` binary it runs: this build's unless [`Server::set_bin`] says
    /// otherwise (an upgrade test starts nodes on a previous release's binary).
    bin: PathBuf,
    /// Every line the server printed on stdout (its logs), across restarts.
    logs: Arc<Mutex<Vec<String>>>,
    /// Owns the data directory unless the caller supplied one.
    _tmp: Option<TempDir>,
}

impl Server {
    /// A server with default settings on a fresh temporary data directory.
    pub async fn start() -> Server {
        Server::with_args(&[]).await
    }

    /// A server with extra `serve` flags (e.g. `["--lease-ms", "500"]`).
    pub async fn with_args(args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        Server::lone(data_dir, args, Some(tmp)).await
    }

    /// A lone server on an existing data directory `data_dir` (which the caller owns
    /// and removes), with extra `serve` flags.
    pub async fn on_data_dir(data_dir: &Path, args: &[&str]) -> Server {
        Server::lone(data_dir.to_path_buf(), args, None).await
    }

    /// A lone server on port 0, ready once it returns.
    async fn lone(data_dir: PathBuf, args: &[&str], tmp: Option<TempDir>) -> Server {
        let mut s = Server {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            label: "suslik".into(),
            log_filter: log_filter(),
            data_dir,
            args: args.iter().map(|a| a.to_string()).collect(),
            bin: this_build(),
            logs: Arc::default(),
            _tmp: tmp,
        };
        s.spawn().await;
        s
    }

    /// A cluster node on a fresh temporary data directory, listening on `listen` and
    /// keeping the address it got across restarts (its peers know it by that address;
    /// port 0 picks a free one at the first start). Returns once it prints its address,
    /// without waiting for a leader: its peers may not be up yet.
    pub async fn launch(label: &str, listen: SocketAddr, args: &[String]) -> Server {
        Server::try_launch(label, listen, args)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Server::launch`], answering why the node did not start (e.g. its port was
    /// taken) instead of panicking.
    pub async fn try_launch(
        label: &str,
        listen: SocketAddr,
        args: &[String],
    ) -> Result<Server, String> {
        Server::try_launch_bin(label, listen, args, this_build()).await
    }

    /// [`Server::try_launch`] running the `suslik` binary at `bin`.
    pub async fn try_launch_bin(
        label: &str,
        listen: SocketAddr,
        args: &[String],
        bin: PathBuf,
    ) -> Result<Server, String> {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let mut s = Server {
            child: None,
            addr: listen,
            listen,
            label: label.into(),
            log_filter: std::env::var("SUSLIK_TEST_LOG").unwrap_or_else(|_| {
                "warn,openraft=error,suslik_broker::raft=info,suslik_broker::leader=info,\
                 suslik_broker::api::cluster=info"
                    .into()
            }),
            data_dir,
            args: args.to_vec(),
            bin,
            logs: Arc::default(),
            _tmp: Some(tmp),
        };
        s.try_relaunch().await?;
        s.listen = s.addr;
        Ok(s)
    }

    fn spawn_child(&mut self) -> mpsc::Receiver<SocketAddr> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(self.listen.to_string())
            .args(&self.args)
            .env("RUST_LOG", &self.log_filter)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn suslik");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let logs = self.logs.clone();
        let label = self.label.clone();
        // Drain stdout for the whole life of the child (a full pipe would block it),
        // echoing to stderr so a failing test shows the server's side.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[{label}] {line}");
                if let Some(rest) = line.strip_prefix(LISTENING) {
                    if let Ok(addr) = rest.trim().parse::<SocketAddr>() {
                        let _ = tx.send(addr);
                    }
                }
                logs.lock().unwrap().push(line);
            }
        });
        self.child = Some(child);
        rx
    }

    async fn spawn(&mut self) {
        self.relaunch().await;
        self.wait_ready().await;
    }

    /// Starts the process (again, on the same data directory and flags) and waits
    /// only for it to print its address, not for a leader.
    pub async fn relaunch(&mut self) {
        self.try_relaunch().await.unwrap_or_else(|e| panic!("{e}"));
    }

    /// [`Server::relaunch`], answering why the process did not come up (it exited or
    /// stayed silent without printing its address) instead of panicking. A process
    /// that did not come up is killed.
    pub async fn try_relaunch(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "kill the server before restarting it");
        let rx = self.spawn_child();
        let got = tokio::task::spawn_blocking(move || rx.recv_timeout(STARTUP_TIMEOUT))
            .await
            .expect("waiting for the address");
        match got {
            Ok(addr) => {
                self.addr = addr;
                Ok(())
            }
            Err(_) => {
                let status = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                self.kill();
                Err(format!(
                    "{} did not print its address on {} (exit status {status:?})",
                    self.label, self.listen
                ))
            }
        }
    }

    /// Waits until the node reports a leader (`GET /ready` is 200).
    pub async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(r) = http.get(format!("{}/ready", self.base())).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "suslik at {} never became ready",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client for this server; it sends the server's `--operator-token`, if any.
    pub fn api(&self) -> Api {
        Api::new(&self.base()).with_token(self.operator_token())
    }

    /// The `--operator-token` this server was started with.
    pub fn operator_token(&self) -> Option<String> {
        self.args
            .iter()
            .position(|a| a == "--operator-token")
            .and_then(|i| self.args.get(i + 1).cloned())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether its process is running (not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Every stdout line printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Kills the server with SIGKILL (no shutdown, no flush) and reaps it.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// Replaces the extra `serve` flags the next (re)launch uses: how a test swaps
    /// the binary a node runs as (e.g. a node standing in for an old build, upgraded).
    pub fn set_args(&mut self, args: Vec<String>) {
        self.args = args;
    }

    /// Replaces the binary the next (re)launch runs.
    pub fn set_bin(&mut self, bin: PathBuf) {
        self.bin = bin;
    }

    /// The extra `serve` flags it (re)launches with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Starts the server again on the same data directory and flags (a new port).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "kill the server before restarting it");
        self.spawn().await;
    }
}

/// This build's `suslik` binary.
pub fn this_build() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_suslik"))
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why a call failed: no answer at all, or an error answer.
#[derive(Debug)]
pub enum Failure {
    Transport(reqwest::Error),
    Status(u16, Value),
}

impl Failure {
    /// The `error` code of an error answer.
    pub fn code(&self) -> Option<&str> {
        match self {
            Failure::Status(_, body) => body["error"].as_str(),
            Failure::Transport(_) => None,
        }
    }
}

/// A small typed client over the HTTP API.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    /// Sent as `Authorization: Bearer …` when set.
    token: Option<String>,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http client"),
            base: base.to_string(),
            token: None,
        }
    }

    /// The same client sending `token` (or none).
    pub fn with_token(mut self, token: Option<String>) -> Api {
        self.token = token;
        self
    }

    /// A request with this client's token.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, self.url(path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// `http://host:port` of the node it talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs `body` as JSON; returns the status and the JSON answer.
    pub async fn post_json<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> (u16, Value) {
        let r = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request");
        status_and_json(r).await
    }

    /// POSTs raw bytes with a content type; returns the status and the JSON answer.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        status_and_json(r).await
    }

    /// GETs `path`; returns the status and the JSON answer.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        status_and_json(r).await
    }

    /// GETs `path`; the status and the JSON answer, or the transport error.
    pub async fn try_get_value(&self, path: &str) -> Result<(u16, Value), Failure> {
        let r = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .map_err(Failure::Transport)?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(Failure::Transport)?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// GETs `path` from this node's own state: the request carries the local-read
    /// header, so a follower answers it itself instead of asking the leader. Only for
    /// tests that inspect a follower's replica.
    pub async fn get_json_local(&self, path: &str) -> (u16, Value) {
        let r = self
            .request(reqwest::Method::GET, path)
            .header(suslik_broker::api::forward::LOCAL_READ_HEADER, "1")
            .send()
            .await
            .expect("request");
        status_and_json(r).await
    }

    async fn try_post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Failure> {
        let r = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .map_err(Failure::Transport)?;
        decode(r).await
    }

    async fn try_get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let r = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .map_err(Failure::Transport)?;
        decode(r).await
    }

    pub async fn try_start(
        &self,
        req: &StartProcessRequest,
    ) -> Result<StartProcessResponse, Failure> {
        self.try_post("/api/v1/processes", req).await
    }

    /// Starts a process; panics on failure.
    pub async fn start(&self, req: &StartProcessRequest) -> StartProcessResponse {
        self.try_start(req).await.expect("start process")
    }

    pub async fn try_poll(
        &self,
        actor: &str,
        task_list: &str,
        max: u32,
        wait_ms: u64,
    ) -> Result<Vec<Delivery>, Failure> {
        let req = PollRequest {
            actor_id: actor_id(actor),
            task_list: TaskList::new(task_list).expect("task list"),
            max,
            wait_ms,
        };
        let r: PollResponse = self.try_post("/api/v1/tasks/poll", &req).await?;
        Ok(r.tasks)
    }

    /// Polls `actor`'s default task list; panics on failure.
    pub async fn poll(&self, actor: &str, max: u32, wait_ms: u64) -> Vec<Delivery> {
        self.try_poll(actor, "", max, wait_ms).await.expect("poll")
    }

    /// Polls `actor`'s list `task_list`; panics on failure.
    pub async fn poll_list(
        &self,
        actor: &str,
        task_list: &str,
        max: u32,
        wait_ms: u64,
    ) -> Vec<Delivery> {
        self.try_poll(actor, task_list, max, wait_ms)
            .await
            .expect("poll")
    }

    /// Long-polls until one task of `actor` arrives (generous timeout); panics if none.
    pub async fn next_task(&self, actor: &str) -> Delivery {
        self.next_task_in(actor, "").await
    }

    /// [`Api::next_task`] on a task list.
    pub async fn next_task_in(&self, actor: &str, task_list: &str) -> Delivery {
        for _ in 0..4 {
            let mut got = self.poll_list(actor, task_list, 1, 15_000).await;
            if let Some(t) = got.pop() {
                return t;
            }
        }
        panic!("no task for {actor} arrived within a minute");
    }

    pub async fn try_release(&self, d: &Decision) -> Result<ReleaseReceipt, Failure> {
        self.try_post("/api/v1/tasks/release", d).await
    }

    /// Releases a decision; panics on failure.
    pub async fn release(&self, d: &Decision) -> ReleaseReceipt {
        self.try_release(d).await.expect("release")
    }

    pub async fn try_process(&self, id: ProcessId) -> Result<ProcessView, Failure> {
        self.try_get(&format!("/api/v1/processes/{id}")).await
    }

    pub async fn process(&self, id: ProcessId) -> ProcessView {
        self.try_process(id).await.expect("get process")
    }

    pub async fn try_task(&self, id: TaskId) -> Result<TaskView, Failure> {
        self.try_get(&format!("/api/v1/tasks/{id}")).await
    }

    pub async fn task(&self, id: TaskId) -> TaskView {
        self.try_task(id).await.expect("get task")
    }

    /// `GET /api/v1/queues` as JSON.
    pub async fn queues(&self) -> Value {
        let (status, body) = self.get_json("/api/v1/queues").await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

async fn status_and_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("answer with status {status} is not JSON ({e}): {text:?}"));
    (status, json)
}

async fn decode<T: DeserializeOwned>(r: reqwest::Response) -> Result<T, Failure> {
    let status = r.status();
    let text = r.text().await.map_err(Failure::Transport)?;
    if !status.is_success() {
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        return Err(Failure::Status(status.as_u16(), body));
    }
    Ok(serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("cannot decode {} answer ({e}): {text}", status.as_u16())))
}

// ---- building requests ---------------------------------------------------------------

pub fn actor_id(s: &str) -> ActorId {
    ActorId::new(s).expect("actor id")
}

pub fn json(v: Value) -> JsonValue {
    JsonValue::from_serialize(&v).expect("json")
}

/// A plain argument.
pub fn value(v: Value) -> Arg {
    Arg::Value(json(v))
}

/// An awaited promise argument.
pub fn promise(task: TaskId) -> Arg {
    Arg::Promise {
        task_id: task,
        no_wait: false,
    }
}

/// A start request with broker-minted ids.
pub fn start(actor: &str, method: &str, args: Vec<Arg>) -> StartProcessRequest {
    StartProcessRequest {
        actor_id: actor_id(actor),
        method: method.into(),
        args,
        options: TaskOptions::default(),
        custom_id: None,
        task_id: None,
        process_id: None,
        idempotency_key: None,
        unique_custom_id: false,
    }
}

/// A new task with a fresh id.
pub fn task(actor: &str, method: &str, kind: TaskKind, args: Vec<Arg>) -> TaskSpec {
    TaskSpec {
        task_id: TaskId::random(),
        actor_id: actor_id(actor),
        method: method.into(),
        kind,
        args,
        options: TaskOptions::default(),
    }
}

pub fn worker(actor: &str, method: &str, args: Vec<Arg>) -> TaskSpec {
    task(actor, method, TaskKind::Worker, args)
}

pub fn decider(actor: &str, method: &str, args: Vec<Arg>) -> TaskSpec {
    task(actor, method, TaskKind::Decider, args)
}

/// A release of `delivery` with `outcome`, spawning `tasks`.
pub fn decision(delivery: &Delivery, outcome: Outcome, tasks: Vec<TaskSpec>) -> Decision {
    Decision {
        task_id: delivery.task_id,
        process_id: Some(delivery.process_id),
        outcome,
        tasks,
        restart_at: None,
        execution_ms: None,
        attempt: Some(delivery.attempt),
        delivery_id: Some(delivery.delivery_id),
        delivered_at: None,
    }
}

pub fn value_outcome(v: Value) -> Outcome {
    Outcome::Value(json(v))
}

/// The plain JSON of a resolved argument (panics on a pending or error argument).
pub fn arg_json(a: &ResolvedArg) -> Value {
    match a {
        ResolvedArg::Value(v) => v.decode().expect("json"),
        ResolvedArg::Array(items) => Value::Array(items.iter().map(arg_json).collect()),
        other => panic!("argument is not a value: {other:?}"),
    }
}

/// An error answer's body as the typed shape.
pub fn error_body(v: &Value) -> ErrorBody {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not an error body ({e}): {v}"))
}
