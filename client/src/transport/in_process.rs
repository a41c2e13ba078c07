//! [`Transport`] calling a broker in the same process (Taskurotta's "no transport").
//!
//! No sockets and no JSON encoding of the envelopes: tests and single-binary
//! deployments run actors against [`BrokerApi`] directly, through exactly the same
//! runner and client code as over HTTP. Broker errors keep their HTTP status, so error
//! handling does not depend on the transport.

use super::Transport;
use crate::{Error, Result};
use futures::future::BoxFuture;
use suslik_broker::api::{ApiError, BrokerApi, HeartbeatRequest, HeartbeatResponse};
use suslik_broker::model::history::HistoryPage;
use suslik_broker::model::ops::{AbortAnswer, AbortRequest};
use suslik_broker::model::schedule::{CreateSchedule, Schedule};
use suslik_broker::model::signal::{ResolvePromiseRequest, ResolvePromiseResponse};
use suslik_broker::model::wire::{
    PollRequest, PollResponse, ProcessView, ReleaseBatchResponse, ReleaseReceipt,
    StartProcessRequest, StartProcessResponse, TaskView,
};
use suslik_broker::model::{Decision, ProcessId, TaskId};

/// A [`Transport`] over an in-process [`BrokerApi`].
#[derive(Clone)]
pub struct InProcessTransport {
    api: BrokerApi,
}

impl InProcessTransport {
    /// Wraps the API of a node running in this process (`node.api()`).
    pub fn new(api: BrokerApi) -> Self {
        InProcessTransport { api }
    }

    /// The wrapped API.
    pub fn api(&self) -> &BrokerApi {
        &self.api
    }
}

fn map(e: ApiError) -> Error {
    Error::rejected(e.status, e.body)
}

impl Transport for InProcessTransport {
    fn start_process(
        &self,
        req: StartProcessRequest,
    ) -> BoxFuture<'_, Result<StartProcessResponse>> {
        Box::pin(async move { self.api.start_process(req).await.map_err(map) })
    }

    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        Box::pin(async move { self.api.poll(req).await.map_err(map) })
    }

    fn release(&self, decision: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>> {
        Box::pin(async move { self.api.release(decision).await.map_err(map) })
    }

    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, Result<ReleaseBatchResponse>> {
        Box::pin(async move { Ok(self.api.release_batch(decisions).await) })
    }

    fn process(&self, id: ProcessId) -> BoxFuture<'_, Result<ProcessView>> {
        Box::pin(async move { self.api.process(id).await.map_err(map) })
    }

    fn task(&self, id: TaskId) -> BoxFuture<'_, Result<TaskView>> {
        Box::pin(async move { self.api.task(id).await.map_err(map) })
    }

    fn resolve_promise(
        &self,
        id: TaskId,
        req: ResolvePromiseRequest,
    ) -> BoxFuture<'_, Result<ResolvePromiseResponse>> {
        Box::pin(async move { self.api.resolve_promise(id, req).await.map_err(map) })
    }

    fn history(
        &self,
        id: ProcessId,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, Result<HistoryPage>> {
        Box::pin(async move { self.api.history(id, offset, limit).map_err(map) })
    }

    fn abort(&self, req: AbortRequest) -> BoxFuture<'_, Result<AbortAnswer>> {
        Box::pin(async move { self.api.abort(req).await.map_err(map) })
    }

    fn heartbeat(
        &self,
        task_id: TaskId,
        req: HeartbeatRequest,
    ) -> BoxFuture<'_, Result<HeartbeatResponse>> {
        Box::pin(async move { self.api.heartbeat(task_id, req).map_err(map) })
    }

    fn create_schedule(&self, req: CreateSchedule) -> BoxFuture<'_, Result<Schedule>> {
        Box::pin(async move { self.api.create_schedule(req).await.map_err(map) })
    }

    fn schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        Box::pin(async move { self.api.get_schedule(&name).map_err(map) })
    }

    fn run_schedule(&self, name: String) -> BoxFuture<'_, Result<StartProcessResponse>> {
        Box::pin(async move { self.api.run_schedule(&name).await.map_err(map) })
    }

    fn delete_schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        Box::pin(async move { self.api.delete_schedule(&name).await.map_err(map) })
    }
}
