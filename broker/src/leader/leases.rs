//! The lease loop: sleeps until the earliest lease ends and returns expired tasks to
//! their queues. Leases live only in this node's memory, so this needs no log entry.

use crate::core::BrokerCore;
use crate::model::Millis;
use std::sync::Arc;

/// Runs until the node shuts down (the task is aborted).
pub async fn run_lease_expiry(core: Arc<BrokerCore>) {
    loop {
        let next = core.lock().next_lease_deadline();
        match next {
            Some(at) => {
                let now = Millis::now();
                if at <= now {
                    let (keys, expired) = core.with_state(|s| {
                        let before = s.queues().leased();
                        let keys = s.expire_leases(now);
                        (keys, before.saturating_sub(s.queues().leased()))
                    });
                    core.metrics.record_lease_expiries(expired as u64);
                    if !keys.is_empty() {
                        tracing::debug!(queues = keys.len(), "leases expired; tasks back in queue");
                        core.wake(&keys);
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
