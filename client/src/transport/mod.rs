//! How the SDK reaches a broker.
//!
//! Everything above this module (workers, deciders, the runner, the process client)
//! talks to a `dyn Transport`, so the same actors run against a remote cluster over
//! HTTP ([`HttpTransport`], with failover between nodes) or inside the broker's own
//! process ([`InProcessTransport`], Taskurotta's "no transport" mode, used by tests and
//! single-binary deployments). The trait mirrors the broker's `/api/v1` endpoints one
//! to one and uses the broker's wire types, so both ends agree by construction.
//!
//! A decorator of another transport implements [`TransportWrapper`] instead and
//! writes only the calls it changes.
//!
//! Methods return boxed futures rather than using `async fn` in the trait so that the
//! trait stays object-safe: the runner and the bootstrap container hold
//! `Arc<dyn Transport>`.

mod backoff;
mod http;
mod in_process;
mod walk;
mod wrapper;

pub use backoff::Backoff;
pub use http::{HttpConfig, HttpTransport};
pub use in_process::InProcessTransport;
pub use wrapper::TransportWrapper;

use crate::Result;
use futures::future::BoxFuture;
use std::sync::Arc;
use suslik_broker::api::{HeartbeatRequest, HeartbeatResponse};
use suslik_broker::model::history::HistoryPage;
use suslik_broker::model::ops::{AbortAnswer, AbortRequest};
use suslik_broker::model::schedule::{CreateSchedule, Schedule};
use suslik_broker::model::signal::{ResolvePromiseRequest, ResolvePromiseResponse};
use suslik_broker::model::wire::{
    PollRequest, PollResponse, ProcessView, ReleaseBatchResponse, ReleaseReceipt,
    StartProcessRequest, StartProcessResponse, TaskView,
};
use suslik_broker::model::{Decision, ProcessId, TaskId};

/// The broker's client API, one method per endpoint.
pub trait Transport: Send + Sync + 'static {
    /// `POST /api/v1/processes`: creates a process and its start task.
    fn start_process(
        &self,
        req: StartProcessRequest,
    ) -> BoxFuture<'_, Result<StartProcessResponse>>;

    /// `POST /api/v1/tasks/poll`: up to `req.max` ready tasks of one actor and task
    /// list, waiting up to `req.wait_ms` if none is ready. May return no task.
    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>>;

    /// `POST /api/v1/tasks/release`: reports the outcome of one delivered task.
    /// Releasing the same task twice is harmless (the broker answers `duplicate`).
    fn release(&self, decision: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>>;

    /// `POST /api/v1/tasks/release/batch`: many releases in one round trip; each
    /// decision gets its own receipt or error, in order.
    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, Result<ReleaseBatchResponse>>;

    /// `GET /api/v1/processes/{id}`: the process with its tasks.
    fn process(&self, id: ProcessId) -> BoxFuture<'_, Result<ProcessView>>;

    /// `GET /api/v1/tasks/{id}`: one task.
    fn task(&self, id: TaskId) -> BoxFuture<'_, Result<TaskView>>;

    /// `POST /api/v1/promises/{id}/resolve`: resolves an external promise.
    fn resolve_promise(
        &self,
        id: TaskId,
        req: ResolvePromiseRequest,
    ) -> BoxFuture<'_, Result<ResolvePromiseResponse>>;

    /// `GET /api/v1/processes/{id}/history`: events `offset..offset+limit` of a
    /// process's history, oldest first.
    fn history(
        &self,
        id: ProcessId,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, Result<HistoryPage>>;

    /// `POST /api/v1/processes/abort`: aborts running or broken processes.
    fn abort(&self, req: AbortRequest) -> BoxFuture<'_, Result<AbortAnswer>>;

    /// `POST /api/v1/tasks/{id}/heartbeat`: extends the lease of a delivered task
    /// that is still being worked on.
    fn heartbeat(
        &self,
        task_id: TaskId,
        req: HeartbeatRequest,
    ) -> BoxFuture<'_, Result<HeartbeatResponse>>;

    /// `POST /api/v1/schedules`: creates a named recurring process start.
    fn create_schedule(&self, req: CreateSchedule) -> BoxFuture<'_, Result<Schedule>>;

    /// `GET /api/v1/schedules/{name}`: one schedule.
    fn schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>>;

    /// `POST /api/v1/schedules/{name}/run`: starts the schedule's process now.
    fn run_schedule(&self, name: String) -> BoxFuture<'_, Result<StartProcessResponse>>;

    /// `DELETE /api/v1/schedules/{name}`: deletes a schedule; answers it as it was.
    fn delete_schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>>;
}

impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn start_process(
        &self,
        req: StartProcessRequest,
    ) -> BoxFuture<'_, Result<StartProcessResponse>> {
        (**self).start_process(req)
    }
    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        (**self).poll(req)
    }
    fn release(&self, decision: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>> {
        (**self).release(decision)
    }
    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, Result<ReleaseBatchResponse>> {
        (**self).release_batch(decisions)
    }
    fn process(&self, id: ProcessId) -> BoxFuture<'_, Result<ProcessView>> {
        (**self).process(id)
    }
    fn task(&self, id: TaskId) -> BoxFuture<'_, Result<TaskView>> {
        (**self).task(id)
    }
    fn resolve_promise(
        &self,
        id: TaskId,
        req: ResolvePromiseRequest,
    ) -> BoxFuture<'_, Result<ResolvePromiseResponse>> {
        (**self).resolve_promise(id, req)
    }

    fn history(
        &self,
        id: ProcessId,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, Result<HistoryPage>> {
        (**self).history(id, offset, limit)
    }
    fn abort(&self, req: AbortRequest) -> BoxFuture<'_, Result<AbortAnswer>> {
        (**self).abort(req)
    }

    fn heartbeat(
        &self,
        task_id: TaskId,
        req: HeartbeatRequest,
    ) -> BoxFuture<'_, Result<HeartbeatResponse>> {
        (**self).heartbeat(task_id, req)
    }

    fn create_schedule(&self, req: CreateSchedule) -> BoxFuture<'_, Result<Schedule>> {
        (**self).create_schedule(req)
    }
    fn schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        (**self).schedule(name)
    }
    fn run_schedule(&self, name: String) -> BoxFuture<'_, Result<StartProcessResponse>> {
        (**self).run_schedule(name)
    }
    fn delete_schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        (**self).delete_schedule(name)
    }
}
