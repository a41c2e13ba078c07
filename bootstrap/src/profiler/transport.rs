//! A [`Transport`] decorator that times polls and releases for a [`Profiler`].
//!
//! The container gives each actor entry its own decorated transport, so a release
//! (which carries only task ids) is attributed to the actor that polled the task.

use super::Profiler;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Instant;
use suslik_broker::model::wire::{
    PollRequest, PollResponse, ReleaseBatchResponse, ReleaseReceipt, ReleaseResult,
};
use suslik_broker::model::Decision;
use suslik_client::{ActorId, Result, Transport, TransportWrapper};

/// Times polls and releases of one actor's pollers.
pub struct ProfiledTransport {
    inner: Arc<dyn Transport>,
    actor: ActorId,
    profiler: Arc<dyn Profiler>,
}

impl ProfiledTransport {
    /// Wraps `inner`; releases are reported as `actor`'s.
    pub fn new(inner: Arc<dyn Transport>, actor: ActorId, profiler: Arc<dyn Profiler>) -> Self {
        ProfiledTransport {
            inner,
            actor,
            profiler,
        }
    }
}

impl TransportWrapper for ProfiledTransport {
    fn inner(&self) -> &dyn Transport {
        &*self.inner
    }

    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        Box::pin(async move {
            let started = Instant::now();
            let (actor, list) = (req.actor_id.clone(), req.task_list.clone());
            let result = self.inner.poll(req).await;
            let n = result.as_ref().map_or(0, |r| r.tasks.len());
            self.profiler
                .on_poll(&actor, &list, n, started.elapsed(), result.is_ok());
            result
        })
    }

    fn release(&self, decision: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.inner.release(decision).await;
            self.profiler
                .on_release(&self.actor, 1, started.elapsed(), result.is_ok());
            result
        })
    }

    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, Result<ReleaseBatchResponse>> {
        Box::pin(async move {
            let started = Instant::now();
            let n = decisions.len();
            let result = self.inner.release_batch(decisions).await;
            let ok = result.as_ref().is_ok_and(|r| {
                r.results
                    .iter()
                    .all(|x| matches!(x, ReleaseResult::Receipt(_)))
            });
            self.profiler
                .on_release(&self.actor, n, started.elapsed(), ok);
            result
        })
    }
}
