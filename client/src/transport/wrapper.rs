//! Decorating a transport: a wrapper writes only the calls it changes.
//!
//! Decorators (the container's in-flight tracking and profiling, tests that record
//! releases) used to forward every [`Transport`] method by hand, so adding an endpoint
//! broke each of them. A decorator now implements [`TransportWrapper`]: it names the
//! transport it wraps in [`inner`](TransportWrapper::inner) and overrides only the
//! methods it changes; every other call goes to the inner transport through the
//! defaults here, and the blanket impl makes every wrapper a [`Transport`]. A new
//! endpoint is added to `Transport`, to the defaults below and to the blanket impl, all
//! in this module's crate; wrappers elsewhere keep compiling.
//!
//! ```
//! use futures::future::BoxFuture;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use suslik_broker::model::wire::{PollRequest, PollResponse};
//! use suslik_client::{Result, Transport, TransportWrapper};
//!
//! /// Counts polls; everything else goes straight through.
//! struct CountingPolls<T> {
//!     inner: T,
//!     polls: AtomicUsize,
//! }
//!
//! impl<T: Transport> TransportWrapper for CountingPolls<T> {
//!     fn inner(&self) -> &dyn Transport {
//!         &self.inner
//!     }
//!
//!     fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
//!         self.polls.fetch_add(1, Ordering::Relaxed);
//!         self.inner.poll(req)
//!     }
//! }
//! ```

use super::Transport;
use crate::Result;
use futures::future::BoxFuture;
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

/// A [`Transport`] that decorates another one: every method defaults to calling the
/// same method of [`inner`](Self::inner); override the ones the decorator changes.
/// Every `TransportWrapper` is a `Transport` (blanket impl), so do not implement
/// `Transport` for it as well.
pub trait TransportWrapper: Send + Sync + 'static {
    /// The transport calls go to unless overridden.
    fn inner(&self) -> &dyn Transport;

    /// See [`Transport::start_process`].
    fn start_process(
        &self,
        req: StartProcessRequest,
    ) -> BoxFuture<'_, Result<StartProcessResponse>> {
        self.inner().start_process(req)
    }

    /// See [`Transport::poll`].
    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        self.inner().poll(req)
    }

    /// See [`Transport::release`].
    fn release(&self, decision: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>> {
        self.inner().release(decision)
    }

    /// See [`Transport::release_batch`].
    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, Result<ReleaseBatchResponse>> {
        self.inner().release_batch(decisions)
    }

    /// See [`Transport::process`].
    fn process(&self, id: ProcessId) -> BoxFuture<'_, Result<ProcessView>> {
        self.inner().process(id)
    }

    /// See [`Transport::task`].
    fn task(&self, id: TaskId) -> BoxFuture<'_, Result<TaskView>> {
        self.inner().task(id)
    }

    /// See [`Transport::resolve_promise`].
    fn resolve_promise(
        &self,
        id: TaskId,
        req: ResolvePromiseRequest,
    ) -> BoxFuture<'_, Result<ResolvePromiseResponse>> {
        self.inner().resolve_promise(id, req)
    }

    /// See [`Transport::history`].
    fn history(
        &self,
        id: ProcessId,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, Result<HistoryPage>> {
        self.inner().history(id, offset, limit)
    }

    /// See [`Transport::abort`].
    fn abort(&self, req: AbortRequest) -> BoxFuture<'_, Result<AbortAnswer>> {
        self.inner().abort(req)
    }

    /// See [`Transport::heartbeat`].
    fn heartbeat(
        &self,
        task_id: TaskId,
        req: HeartbeatRequest,
    ) -> BoxFuture<'_, Result<HeartbeatResponse>> {
        self.inner().heartbeat(task_id, req)
    }

    /// See [`Transport::create_schedule`].
    fn create_schedule(&self, req: CreateSchedule) -> BoxFuture<'_, Result<Schedule>> {
        self.inner().create_schedule(req)
    }

    /// See [`Transport::schedule`].
    fn schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        self.inner().schedule(name)
    }

    /// See [`Transport::run_schedule`].
    fn run_schedule(&self, name: String) -> BoxFuture<'_, Result<StartProcessResponse>> {
        self.inner().run_schedule(name)
    }

    /// See [`Transport::delete_schedule`].
    fn delete_schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        self.inner().delete_schedule(name)
    }
}

impl<W: TransportWrapper> Transport for W {
    fn start_process(
        &self,
        req: StartProcessRequest,
    ) -> BoxFuture<'_, Result<StartProcessResponse>> {
        TransportWrapper::start_process(self, req)
    }
    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        TransportWrapper::poll(self, req)
    }
    fn release(&self, decision: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>> {
        TransportWrapper::release(self, decision)
    }
    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, Result<ReleaseBatchResponse>> {
        TransportWrapper::release_batch(self, decisions)
    }
    fn process(&self, id: ProcessId) -> BoxFuture<'_, Result<ProcessView>> {
        TransportWrapper::process(self, id)
    }
    fn task(&self, id: TaskId) -> BoxFuture<'_, Result<TaskView>> {
        TransportWrapper::task(self, id)
    }
    fn resolve_promise(
        &self,
        id: TaskId,
        req: ResolvePromiseRequest,
    ) -> BoxFuture<'_, Result<ResolvePromiseResponse>> {
        TransportWrapper::resolve_promise(self, id, req)
    }
    fn history(
        &self,
        id: ProcessId,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, Result<HistoryPage>> {
        TransportWrapper::history(self, id, offset, limit)
    }
    fn abort(&self, req: AbortRequest) -> BoxFuture<'_, Result<AbortAnswer>> {
        TransportWrapper::abort(self, req)
    }
    fn heartbeat(
        &self,
        task_id: TaskId,
        req: HeartbeatRequest,
    ) -> BoxFuture<'_, Result<HeartbeatResponse>> {
        TransportWrapper::heartbeat(self, task_id, req)
    }
    fn create_schedule(&self, req: CreateSchedule) -> BoxFuture<'_, Result<Schedule>> {
        TransportWrapper::create_schedule(self, req)
    }
    fn schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        TransportWrapper::schedule(self, name)
    }
    fn run_schedule(&self, name: String) -> BoxFuture<'_, Result<StartProcessResponse>> {
        TransportWrapper::run_schedule(self, name)
    }
    fn delete_schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        TransportWrapper::delete_schedule(self, name)
    }
}
