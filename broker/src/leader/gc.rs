//! The garbage-collection loop: sleeps until the oldest ended process is older than the
//! configured delay, then proposes one `CollectGarbage` for a batch. Followers sleep.

use super::Proposer;
use crate::core::BrokerCore;
use crate::model::Millis;
use crate::raft::Raft;
use crate::state_machine::{Command, Reply};
use std::sync::Arc;
use std::time::Duration;

/// When and how much to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcConfig {
    pub enabled: bool,
    /// How long an ended process is kept (Taskurotta's time-before-delete).
    pub delay_ms: u64,
    /// Most processes deleted by one log entry.
    pub batch: u32,
    /// Collect broken and aborted processes too (otherwise they wait for an operator).
    pub include_broken: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            enabled: true,
            delay_ms: 24 * 60 * 60 * 1000,
            batch: 1000,
            include_broken: false,
        }
    }
}

/// Runs until the node shuts down.
pub async fn run_gc(core: Arc<BrokerCore>, raft: Raft, proposer: Proposer, cfg: GcConfig) {
    if !cfg.enabled {
        return;
    }
    let mut metrics = raft.metrics();
    loop {
        if !super::until_leader(&mut metrics).await {
            return;
        }
        let next = core.lock().next_gc_due(cfg.delay_ms, cfg.include_broken);
        let now = Millis::now();
        match next {
            Some(due) if due <= now => {
                let cmd = Command::CollectGarbage {
                    ended_before: Millis(now.0.saturating_sub(cfg.delay_ms)),
                    max: cfg.batch,
                    include_broken: cfg.include_broken,
                };
                let began = std::time::Instant::now();
                let result = proposer.propose(cmd).await;
                core.metrics.observe_gc(began.elapsed());
                match result {
                    Ok(Ok(Reply::Collected(n))) => {
                        tracing::info!(collected = n, "garbage collected ended processes")
                    }
                    Ok(other) => tracing::warn!(?other, "garbage collection answered oddly"),
                    Err(e) => {
                        tracing::warn!(error = %e, "garbage collection failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            // Something will be due: sleep until then (a process ending later only makes
            // a later deadline, so no wake-up is needed), or until leadership changes.
            Some(due) => tokio::select! {
                _ = tokio::time::sleep(now.until(due)) => {}
                r = metrics.changed() => if r.is_err() { return },
            },
            // Nothing ended yet: wake when a process ends.
            None => tokio::select! {
                _ = core.process_ended.notified() => {}
                r = metrics.changed() => if r.is_err() { return },
            },
        }
    }
}
