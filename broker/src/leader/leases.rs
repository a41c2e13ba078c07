//! The lease loop: sleeps until the earliest lease ends, returns expired tasks to
//! their queues, and proposes the timeout release of every delivery whose task's
//! timeout passed. Leases live only in this node's memory, so expiring them needs no
//! log entry; a timeout is a release (it spends an attempt), so it goes through the log.
//! On a follower there are no leases and the loop sleeps.

use super::Proposer;
use crate::core::BrokerCore;
use crate::model::{Decision, Millis};
use crate::state_machine::Command;
use std::sync::Arc;

/// Runs until the node shuts down (the task is aborted).
pub async fn run_lease_expiry(core: Arc<BrokerCore>, proposer: Proposer) {
    loop {
        let next = core.lock().next_lease_deadline();
        match next {
            Some(at) => {
                let now = Millis::now();
                if at <= now {
                    let (expiry, expired) = core.with_state(|s| {
                        let before = s.queues().leased();
                        let expiry = s.expire_leases(now);
                        // Leases that ran out, not timeouts (those become releases).
                        let ended = before.saturating_sub(s.queues().leased());
                        let expired = ended.saturating_sub(expiry.timeouts.len());
                        (expiry, expired)
                    });
                    core.metrics.record_lease_expiries(expired as u64);
                    if !expiry.requeued.is_empty() {
                        tracing::debug!(
                            queues = expiry.requeued.len(),
                            "leases expired; tasks back in queue"
                        );
                        core.wake(&expiry.requeued);
                    }
                    for decision in expiry.timeouts {
                        tokio::spawn(propose_timeout(core.clone(), proposer.clone(), decision));
                    }
                    continue;
                }
                tokio::select! {
                    _ = tokio::time::sleep(now.until(at)) => {}
                    _ = core.leases_changed.notified() => {}
                }
            }
            None => core.leases_changed.notified().await,
        }
    }
}

/// Proposes the error release of a timed-out delivery. If it cannot be committed (no
/// longer leader, or the task's real release got there first and this one was
/// refused), a task still leased to that delivery goes back to its queue.
async fn propose_timeout(core: Arc<BrokerCore>, proposer: Proposer, decision: Decision) {
    let task_id = decision.task_id;
    let Some(delivery) = decision.delivery_id else {
        return;
    };
    tracing::info!(%task_id, delivery_id = %delivery, attempt = ?decision.attempt, "task timed out");
    let result = proposer
        .propose(Command::TimeOut {
            now: Millis::now(),
            decision,
        })
        .await;
    let failed = match result {
        Ok(Ok(_)) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    tracing::debug!(%task_id, error = %failed, "timeout release not applied");
    if let Some(key) = core.with_state(|s| s.requeue_timed_out(task_id, delivery)) {
        core.wake(&[key]);
    }
}
