//! `ActorRunner` against a scripted in-memory transport: dispatch, error and panic
//! releases, batching, recovery from poll errors, graceful shutdown.

use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suslik_broker::api::{HeartbeatRequest, HeartbeatResponse};
use suslik_broker::model::history::HistoryPage;
use suslik_broker::model::ops::{AbortAnswer, AbortRequest};
use suslik_broker::model::schedule::{CreateSchedule, Schedule};
use suslik_broker::model::signal::{ResolvePromiseRequest, ResolvePromiseResponse};
use suslik_broker::model::wire::{
    ErrorBody, PollRequest, PollResponse, ProcessView, ReleaseBatchResponse, ReleaseReceipt,
    ReleaseResult, ReleaseStatus, StartProcessRequest, StartProcessResponse, TaskView,
};
use suslik_broker::model::{
    Decision, Delivery, DeliveryId, JsonValue, Outcome, ResolvedArg, TaskKind,
};
use suslik_client::error_types::{PANIC, UNKNOWN_METHOD};
use suslik_client::transport::Backoff;
use suslik_client::{
    ActorId, ActorRunner, Error, Millis, ProcessId, ProcessState, Result, RunnerConfig, TaskError,
    TaskId, TaskList, Transport, TransportWrapper, WorkerBuilder,
};

#[derive(Default)]
struct Script {
    queue: VecDeque<Delivery>,
    failing_polls: u32,
    failing_releases: u32,
    /// Releases answered `409 already_released`: another delivery released first.
    superseded_releases: u32,
    releases: Vec<Decision>,
    batches: usize,
    polls: usize,
    /// Heartbeats received: (task, delivery).
    heartbeats: Vec<(TaskId, DeliveryId)>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn with<R>(&self, f: impl FnOnce(&mut Script) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn push(&self, method: &str, args: &[&str]) -> TaskId {
        self.push_leased(method, args, Duration::from_secs(60))
    }

    /// Queues a task whose deliveries are leased for `lease`.
    fn push_leased(&self, method: &str, args: &[&str], lease: Duration) -> TaskId {
        let now = Millis::now();
        let d = Delivery {
            task_id: TaskId::random(),
            process_id: ProcessId::random(),
            actor_id: ActorId::new("w#1").unwrap_or_else(|e| panic!("{e}")),
            task_list: TaskList::default_list(),
            method: method.into(),
            kind: TaskKind::Worker,
            args: args
                .iter()
                .filter_map(|t| JsonValue::from_text(t).ok().map(ResolvedArg::Value))
                .collect(),
            attempt: 1,
            lease_until: now.plus(lease.as_millis() as u64),
            delivery_id: DeliveryId::random(),
            delivered_at: now,
        };
        let id = d.task_id;
        self.with(|s| s.queue.push_back(d));
        id
    }

    fn released(&self) -> Vec<Decision> {
        self.with(|s| s.releases.clone())
    }
}

fn unavailable() -> Error {
    Error::Unavailable {
        attempts: 1,
        last: Box::new(Error::rejected(
            503,
            ErrorBody {
                error: "no_leader".into(),
                message: "election".into(),
            },
        )),
    }
}

fn receipt(d: &Decision) -> ReleaseReceipt {
    ReleaseReceipt {
        task_id: d.task_id,
        process_id: d.process_id.unwrap_or_else(ProcessId::random),
        status: ReleaseStatus::Resolved,
        retry_at: None,
        attempt: 1,
        process_state: ProcessState::Running,
        duplicate: false,
    }
}

/// A transport on which every call fails with "not scripted": what [`Fake`] does
/// not script.
struct Unscripted;

fn not_scripted<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T>> {
    Box::pin(async { Err(Error::Invalid("not scripted".into())) })
}

impl Transport for Unscripted {
    fn start_process(&self, _: StartProcessRequest) -> BoxFuture<'_, Result<StartProcessResponse>> {
        not_scripted()
    }
    fn poll(&self, _: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        not_scripted()
    }
    fn release(&self, _: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>> {
        not_scripted()
    }
    fn release_batch(&self, _: Vec<Decision>) -> BoxFuture<'_, Result<ReleaseBatchResponse>> {
        not_scripted()
    }
    fn process(&self, _: ProcessId) -> BoxFuture<'_, Result<ProcessView>> {
        not_scripted()
    }
    fn task(&self, _: TaskId) -> BoxFuture<'_, Result<TaskView>> {
        not_scripted()
    }
    fn resolve_promise(
        &self,
        _: TaskId,
        _: ResolvePromiseRequest,
    ) -> BoxFuture<'_, Result<ResolvePromiseResponse>> {
        not_scripted()
    }
    fn history(&self, _: ProcessId, _: usize, _: usize) -> BoxFuture<'_, Result<HistoryPage>> {
        not_scripted()
    }
    fn abort(&self, _: AbortRequest) -> BoxFuture<'_, Result<AbortAnswer>> {
        not_scripted()
    }
    fn heartbeat(
        &self,
        _: TaskId,
        _: HeartbeatRequest,
    ) -> BoxFuture<'_, Result<HeartbeatResponse>> {
        not_scripted()
    }
    fn create_schedule(&self, _: CreateSchedule) -> BoxFuture<'_, Result<Schedule>> {
        not_scripted()
    }
    fn schedule(&self, _: String) -> BoxFuture<'_, Result<Schedule>> {
        not_scripted()
    }
    fn run_schedule(&self, _: String) -> BoxFuture<'_, Result<StartProcessResponse>> {
        not_scripted()
    }
    fn delete_schedule(&self, _: String) -> BoxFuture<'_, Result<Schedule>> {
        not_scripted()
    }
}

/// The fake scripts polls, releases and heartbeats; every other call is
/// [`Unscripted`].
impl TransportWrapper for Fake {
    fn inner(&self) -> &dyn Transport {
        &Unscripted
    }

    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        Box::pin(async move {
            let taken = self.with(|s| {
                s.polls += 1;
                if s.failing_polls > 0 {
                    s.failing_polls -= 1;
                    return Err(unavailable());
                }
                let n = (req.max as usize).min(s.queue.len());
                Ok(s.queue.drain(..n).collect::<Vec<_>>())
            })?;
            if taken.is_empty() {
                tokio::time::sleep(Duration::from_millis(req.wait_ms.min(50))).await;
            }
            Ok(PollResponse { tasks: taken })
        })
    }

    fn release(&self, decision: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>> {
        Box::pin(async move {
            self.with(|s| {
                if s.failing_releases > 0 {
                    s.failing_releases -= 1;
                    return Err(unavailable());
                }
                if s.superseded_releases > 0 {
                    s.superseded_releases -= 1;
                    return Err(Error::rejected(
                        409,
                        ErrorBody {
                            error: "already_released".into(),
                            message: "released first by another delivery".into(),
                        },
                    ));
                }
                let r = receipt(&decision);
                s.releases.push(decision);
                Ok(r)
            })
        })
    }

    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, Result<ReleaseBatchResponse>> {
        Box::pin(async move {
            self.with(|s| {
                s.batches += 1;
                let results = decisions
                    .iter()
                    .map(|d| ReleaseResult::Receipt(receipt(d)))
                    .collect();
                s.releases.extend(decisions);
                Ok(ReleaseBatchResponse { results })
            })
        })
    }

    fn heartbeat(
        &self,
        task_id: TaskId,
        req: HeartbeatRequest,
    ) -> BoxFuture<'_, Result<HeartbeatResponse>> {
        Box::pin(async move {
            self.with(|s| s.heartbeats.push((task_id, req.delivery_id)));
            let extend = req.extend_ms.unwrap_or(60_000);
            Ok(HeartbeatResponse {
                lease_until: Millis::now().plus(extend),
            })
        })
    }
}

fn worker() -> suslik_client::TypedWorker {
    WorkerBuilder::new("w#1")
        .method("double", |x: i64| async move { Ok(x * 2) })
        .method("fail", |(): ()| async move {
            Err::<(), _>(TaskError::new("biz.No", "refused"))
        })
        .method("panic", |(): ()| async move {
            if std::env::var_os("SUSLIK_NEVER_SET_THIS").is_none() {
                panic!("boom");
            }
            Ok(())
        })
        .method("slow", |ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(ms)
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn config() -> RunnerConfig {
    RunnerConfig {
        pollers_per_actor: 1,
        max_tasks_per_poll: 8,
        poll_wait: Duration::from_millis(20),
        error_backoff: Backoff::new(Duration::from_millis(5), Duration::from_millis(20)),
        release_attempts: 3,
        auto_heartbeat: false,
    }
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn outcome_of(released: &[Decision], id: TaskId) -> Option<Outcome> {
    released
        .iter()
        .find(|d| d.task_id == id)
        .map(|d| d.outcome.clone())
}

#[tokio::test]
async fn values_errors_panics_and_unknown_methods_are_released_in_one_batch() {
    let fake = Fake::default();
    let ok = fake.push("double", &["21"]);
    let fail = fake.push("fail", &[]);
    let boom = fake.push("panic", &[]);
    let unknown = fake.push("nope", &[]);
    let runner = ActorRunner::new(fake.clone())
        .config(config())
        .worker(worker())
        .start();
    until("four releases", || fake.released().len() == 4).await;
    let stats = runner.stats();
    runner.shutdown().await;

    let rel = fake.released();
    assert_eq!(
        outcome_of(&rel, ok),
        Some(Outcome::Value(
            JsonValue::from_text("42").unwrap_or_else(|e| panic!("{e}"))
        ))
    );
    assert!(matches!(outcome_of(&rel, fail), Some(Outcome::Error(e)) if e.error_type == "biz.No"));
    assert!(
        matches!(outcome_of(&rel, boom), Some(Outcome::Error(e)) if e.error_type == PANIC && e.message == "boom")
    );
    assert!(
        matches!(outcome_of(&rel, unknown), Some(Outcome::Error(e)) if e.error_type == UNKNOWN_METHOD)
    );
    assert_eq!(
        fake.with(|s| s.batches),
        1,
        "one poll of four tasks, one batch release"
    );
    assert_eq!(
        (
            stats.received,
            stats.succeeded,
            stats.failed,
            stats.released
        ),
        (4, 1, 3, 4)
    );
}

#[tokio::test]
async fn poll_and_release_failures_are_retried() {
    let fake = Fake::default();
    fake.with(|s| {
        s.failing_polls = 3;
        s.failing_releases = 2;
    });
    let id = fake.push("double", &["1"]);
    let runner = ActorRunner::new(fake.clone())
        .config(config())
        .worker(worker())
        .start();
    until("the release", || !fake.released().is_empty()).await;
    let stats = runner.stats();
    runner.shutdown().await;
    assert_eq!(fake.released()[0].task_id, id);
    assert_eq!(stats.poll_errors, 3);
    assert_eq!((stats.released, stats.release_errors), (1, 0));
}

#[tokio::test]
async fn a_release_that_lost_to_another_delivery_is_superseded_not_an_error() {
    let fake = Fake::default();
    fake.with(|s| s.superseded_releases = 1);
    fake.push("double", &["1"]);
    let runner = ActorRunner::new(fake.clone())
        .config(config())
        .worker(worker())
        .start();
    until("the refused release", || runner.stats().superseded == 1).await;
    let stats = runner.stats();
    runner.shutdown().await;
    assert_eq!(
        (stats.released, stats.release_errors, stats.superseded),
        (0, 0, 1),
        "not retried (the first release stands), not counted as an error"
    );
    assert!(fake.released().is_empty());
}

#[tokio::test]
async fn shutdown_lets_tasks_in_flight_finish_and_release() {
    let fake = Fake::default();
    let id = fake.push("slow", &["300"]);
    let runner = ActorRunner::new(fake.clone())
        .config(config())
        .worker(worker())
        .start();
    until("the task to be taken", || fake.with(|s| s.queue.is_empty())).await;
    runner.shutdown().await;
    let rel = fake.released();
    assert_eq!(rel.len(), 1, "released before shutdown returned");
    assert_eq!(rel[0].task_id, id);
    let polls = fake.with(|s| s.polls);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.with(|s| s.polls), polls, "no polling after shutdown");
}

#[tokio::test]
async fn dropping_the_handle_stops_polling() {
    let fake = Fake::default();
    let runner = ActorRunner::new(fake.clone())
        .config(config())
        .worker(worker())
        .pollers(3)
        .start();
    until("some polls", || fake.with(|s| s.polls) >= 3).await;
    drop(runner);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let polls = fake.with(|s| s.polls);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.with(|s| s.polls), polls);
}

#[tokio::test]
async fn auto_heartbeats_keep_a_long_method_leased_and_leave_a_quick_one_alone() {
    let fake = Fake::default();
    let lease = Duration::from_millis(150);
    let long = fake.push_leased("slow", &["600"], lease);
    let quick = fake.push_leased("double", &["4"], lease);
    let runner = ActorRunner::new(fake.clone())
        .worker(worker())
        .config(RunnerConfig {
            auto_heartbeat: true,
            ..config()
        })
        .start();
    until("both released", || fake.released().len() == 2).await;
    runner.shutdown().await;

    let beats = fake.with(|s| s.heartbeats.clone());
    let long_delivery = fake
        .released()
        .iter()
        .find(|d| d.task_id == long)
        .and_then(|d| d.delivery_id);
    assert!(
        beats.iter().any(|(t, _)| *t == long),
        "a method running four leases long sent no heartbeat"
    );
    assert!(
        beats
            .iter()
            .all(|(t, d)| *t == long && Some(*d) == long_delivery),
        "heartbeats for the wrong task or delivery: {beats:?}"
    );
    assert!(!beats.iter().any(|(t, _)| *t == quick));
}

#[tokio::test]
async fn without_auto_heartbeat_the_runner_sends_none() {
    let fake = Fake::default();
    fake.push_leased("slow", &["300"], Duration::from_millis(90));
    let runner = ActorRunner::new(fake.clone())
        .worker(worker())
        .config(config())
        .start();
    until("released", || fake.released().len() == 1).await;
    runner.shutdown().await;
    assert!(fake.with(|s| s.heartbeats.is_empty()));
}
