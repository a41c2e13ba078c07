//! Leadership changes: when this node gains or loses leadership, leases it handed out
//! before mean nothing any more, so every leased task goes back to its queue (the
//! at-least-once contract: such tasks are delivered again).

use crate::core::BrokerCore;
use crate::raft::Raft;
use std::sync::Arc;

/// Runs until the node shuts down.
pub async fn watch_leadership(core: Arc<BrokerCore>, raft: Raft) {
    let mut metrics = raft.metrics();
    let mut was_leader = false;
    loop {
        let is_leader = {
            let m = metrics.borrow();
            m.current_leader == Some(m.id)
        };
        if is_leader != was_leader {
            tracing::info!(leader = is_leader, "leadership changed");
            core.leading
                .store(is_leader, std::sync::atomic::Ordering::Relaxed);
            let keys = core.with_state(|s| s.release_all_leases());
            core.wake(&keys);
            core.timers_changed.notify_one();
            was_leader = is_leader;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
