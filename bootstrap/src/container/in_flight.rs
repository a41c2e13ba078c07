//! Which tasks a container holds right now: polled, not yet through a release.
//!
//! A [`Transport`] decorator records the ids of delivered tasks and forgets them
//! when their release call ends (accepted, rejected or failed: either way the
//! container no longer works on them). At a shutdown deadline the ids left are the
//! tasks abandoned to the broker's lease expiry, and the container says which.

use futures::future::BoxFuture;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use suslik_broker::model::wire::{PollRequest, PollResponse, ReleaseBatchResponse, ReleaseReceipt};
use suslik_broker::model::Decision;
use suslik_client::{Result, TaskId, Transport, TransportWrapper};

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

impl TransportWrapper for TrackingTransport {
    fn inner(&self) -> &dyn Transport {
        &*self.inner
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
}
