//! The timer loop: sleeps until the earliest delayed or retrying task is due, then
//! proposes one `FireTimers` carrying the leader's clock. Followers' loops stay asleep.

use super::Proposer;
use crate::core::BrokerCore;
use crate::model::Millis;
use crate::raft::Raft;
use crate::state_machine::Command;
use std::sync::Arc;
use std::time::Duration;

/// Runs until the node shuts down.
pub async fn run_timers(core: Arc<BrokerCore>, raft: Raft, proposer: Proposer) {
    let mut metrics = raft.metrics();
    loop {
        if !super::until_leader(&mut metrics).await {
            return;
        }
        let next = core.lock().next_timer();
        let now = Millis::now();
        match next {
            Some(at) if at <= now => match proposer.propose(Command::FireTimers { now }).await {
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "firing timers failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep(now.until(at)) => {}
                    _ = core.timers_changed.notified() => {}
                    r = metrics.changed() => if r.is_err() { return },
                }
            }
            None => {
                tokio::select! {
                    _ = core.timers_changed.notified() => {}
                    r = metrics.changed() => if r.is_err() { return },
                }
            }
        }
    }
}
