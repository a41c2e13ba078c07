//! Which tasks a container holds right now: polled, not yet through a release.
//!
//! A [`Transport`] decorator records the ids of delivered tasks and forgets them
//! when their release call ends (accepted, rejected or failed: either way the
//! container no longer works on them). At a shutdown deadline the ids left are the
//! tasks abandoned to the broker's lease expiry, and the container says which.

use futures::future::BoxFuture;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use suslik_broker::api::{HeartbeatRequest, HeartbeatResponse};
use suslik_broker::model::history::HistoryPage;
use suslik_broker::model::ops::{AbortAnswer, AbortRequest};
use suslik_broker::model::schedule::{CreateSchedule, Schedule};
use suslik_broker::model::signal::{ResolvePromiseRequest, ResolvePromiseResponse};
use suslik_broker::model::wire::{
    PollRequest, PollResponse, ProcessView, ReleaseBatchResponse, ReleaseReceipt,
    StartProcessRequest, StartProcessResponse, TaskView,
};
use suslik_broker::model::Decision;
use suslik_client::{ProcessId, Result, TaskId, Transport};

/// The set of tasks in flight, shared by all pollers of a container.
#[derive(Debug, Default)]
pub struct InFlight {
    tasks: Mutex<HashSet<TaskId>>,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashSet<TaskId>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of tasks in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no task is in flight.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The ids in flight.
    pub fn ids(&self) -> Vec<TaskId> {
        self.lock().iter().copied().collect()
    }
}

/// Records deliveries and releases in an [`InFlight`].
pub struct TrackingTransport {
    inner: Arc<dyn Transport>,
    in_flight: Arc<InFlight>,
}

impl TrackingTransport {
    /// Wraps `inner`, recording into `in_flight`.
    pub fn new(inner: Arc<dyn Transport>, in_flight: Arc<InFlight>) -> Self {
        TrackingTransport { inner, in_flight }
    }
}

impl Transport for TrackingTransport {
    fn start_process(
        &self,
        req: StartProcessRequest,
    ) -> BoxFuture<'_, Result<StartProcessResponse>> {
        self.inner.start_process(req)
    }

    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        Box::pin(async move {
            let resp = self.inner.poll(req).await?;
            self.in_flight
                .lock()
                .extend(resp.tasks.iter().map(|t| t.task_id));
            Ok(resp)
        })
    }

    fn release(&self, decision: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>> {
        Box::pin(async move {
            let id = decision.task_id;
            let result = self.inner.release(decision).await;
            self.in_flight.lock().remove(&id);
            result
        })
    }

    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, Result<ReleaseBatchResponse>> {
        Box::pin(async move {
            let ids: Vec<TaskId> = decisions.iter().map(|d| d.task_id).collect();
            let result = self.inner.release_batch(decisions).await;
            let mut set = self.in_flight.lock();
            for id in &ids {
                set.remove(id);
            }
            result
        })
    }

    fn process(&self, id: ProcessId) -> BoxFuture<'_, Result<ProcessView>> {
        self.inner.process(id)
    }

    fn task(&self, id: TaskId) -> BoxFuture<'_, Result<TaskView>> {
        self.inner.task(id)
    }

    fn resolve_promise(
        &self,
        id: TaskId,
        req: ResolvePromiseRequest,
    ) -> BoxFuture<'_, Result<ResolvePromiseResponse>> {
        self.inner.resolve_promise(id, req)
    }

    fn history(
        &self,
        id: ProcessId,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, Result<HistoryPage>> {
        self.inner.history(id, offset, limit)
    }

    fn abort(&self, req: AbortRequest) -> BoxFuture<'_, Result<AbortAnswer>> {
        self.inner.abort(req)
    }

    fn heartbeat(
        &self,
        task_id: TaskId,
        req: HeartbeatRequest,
    ) -> BoxFuture<'_, Result<HeartbeatResponse>> {
        self.inner.heartbeat(task_id, req)
    }

    fn create_schedule(&self, req: CreateSchedule) -> BoxFuture<'_, Result<Schedule>> {
        self.inner.create_schedule(req)
    }

    fn schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        self.inner.schedule(name)
    }

    fn run_schedule(&self, name: String) -> BoxFuture<'_, Result<StartProcessResponse>> {
        self.inner.run_schedule(name)
    }

    fn delete_schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        self.inner.delete_schedule(name)
    }
}
