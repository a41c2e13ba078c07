//! What only the leader does: turning client calls into batched log entries, firing
//! timers, expiring leases and resetting leases when leadership changes hands.
//!
//! Each loop sleeps on a signal (a `Notify`, a deadline or a metrics change); none
//! polls on a period, so an idle node uses no CPU.

mod gc;
mod leadership;
mod leases;
mod proposer;
mod recovery;
mod schedules;
mod timers;
mod webhook_outbox;

pub use gc::{run_gc, GcConfig};
pub use leadership::watch_leadership;
pub use leases::run_lease_expiry;
pub use proposer::{ProposeError, Proposer};
pub use recovery::{recover_once, run_recovery, RecoveryConfig, RecoveryStats};
pub use schedules::run_schedules;
pub use timers::run_timers;
pub use webhook_outbox::run_webhook_outbox;

/// Waits until this node leads; `false` once Raft has stopped. The loops that propose
/// (timers, garbage collection) call it at the top of every turn.
async fn until_leader(
    metrics: &mut tokio::sync::watch::Receiver<crate::raft::typ::RaftMetrics>,
) -> bool {
    loop {
        {
            let m = metrics.borrow();
            if m.current_leader == Some(m.id) {
                return true;
            }
        }
        if metrics.changed().await.is_err() {
            return false;
        }
    }
}
