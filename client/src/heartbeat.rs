//! Automatic heartbeats: a long-running actor method keeps its task's lease without
//! calling [`TaskContext::heartbeat`] itself.
//!
//! Nothing is sent for a method that ends within a third of its lease (most do). One
//! still running then gets a heartbeat asking for a whole lease again, and another
//! every third of the lease, so two heartbeats can be lost before the lease runs out.
//! Heartbeats stop when the method ends, or when the broker says the task is no longer
//! this delivery's (handed out again, timed out): the method's result will then be
//! refused anyway, but it is left to finish rather than cancelled midway.

use crate::{Error, TaskContext};
use std::future::Future;
use std::time::Duration;

/// Shortest interval between automatic heartbeats.
const MIN_PERIOD: Duration = Duration::from_millis(10);

/// Runs `work` to completion, heartbeating for `ctx`'s task while it runs.
pub(crate) async fn while_running<F: Future>(ctx: &TaskContext, work: F) -> F::Output {
    let lease = ctx.lease_length();
    if lease.is_zero() {
        return work.await;
    }
    let period = (lease / 3).max(MIN_PERIOD);
    let beats = async {
        loop {
            tokio::time::sleep(period).await;
            match ctx.heartbeat_for(lease).await {
                Ok(until) => {
                    tracing::debug!(task_id = %ctx.task_id(), lease_until = %until, "heartbeat sent")
                }
                Err(Error::Rejected { code, message, .. }) => {
                    tracing::warn!(task_id = %ctx.task_id(), %code, %message, "heartbeats stopped: the task is no longer this delivery's");
                    return;
                }
                Err(e) => {
                    tracing::warn!(task_id = %ctx.task_id(), error = %e, "heartbeat failed; trying again next period")
                }
            }
        }
    };
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => out,
        () = beats => work.await,
    }
}
