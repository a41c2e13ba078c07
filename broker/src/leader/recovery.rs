//! The recovery loop: every scan period, if some running process has been unchanged
//! for longer than the change timeout, proposes one `RecoverProcesses` for a batch of
//! them (more batches at once while full ones come back). Followers sleep. An idle
//! broker pays one lock and one index lookup per period and writes no log entry.

use super::{ProposeError, Proposer};
use crate::core::BrokerCore;
use crate::model::Millis;
use crate::raft::Raft;
use crate::state_machine::{Command, Reply};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of stalled-process recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConfig {
    pub enabled: bool,
    /// How often the leader looks for stalled processes.
    pub scan_period_ms: u64,
    /// A running process unchanged this long counts as stalled.
    pub process_change_timeout_ms: u64,
    /// Most processes one scan (one log entry) examines.
    pub max_per_scan: u32,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            enabled: true,
            scan_period_ms: 60_000,
            process_change_timeout_ms: 600_000,
            max_per_scan: 1_000,
        }
    }
}

/// What one recovery scan did, and how long it took (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecoveryStats {
    /// Stalled running processes examined.
    pub processes: u32,
    /// Tasks put back into their queue or timer.
    pub tasks: u32,
    /// From proposing the scan to its applied answer.
    pub duration: Duration,
}

/// Proposes one scan now, for processes unchanged since `now - timeout`.
pub async fn recover_once(
    proposer: &Proposer,
    cfg: &RecoveryConfig,
) -> Result<RecoveryStats, ProposeError> {
    let started = Instant::now();
    let now = Millis::now();
    let cmd = Command::RecoverProcesses {
        now,
        stalled_before: Millis(now.0.saturating_sub(cfg.process_change_timeout_ms)),
        max: cfg.max_per_scan.max(1),
    };
    let (processes, tasks) = match proposer.propose(cmd).await? {
        Ok(Reply::Recovered { processes, tasks }) => (processes, tasks),
        other => {
            tracing::warn!(?other, "recovery answered oddly");
            (0, 0)
        }
    };
    Ok(RecoveryStats {
        processes,
        tasks,
        duration: started.elapsed(),
    })
}

/// Runs until the node shuts down.
pub async fn run_recovery(
    core: Arc<BrokerCore>,
    raft: Raft,
    proposer: Proposer,
    cfg: RecoveryConfig,
) {
    if !cfg.enabled {
        return;
    }
    let period = Duration::from_millis(cfg.scan_period_ms.max(1));
    let mut metrics = raft.metrics();
    loop {
        if !super::until_leader(&mut metrics).await {
            return;
        }
        let due = core.lock().next_stall_due(cfg.process_change_timeout_ms);
        if due.is_some_and(|d| d < Millis::now()) {
            match recover_once(&proposer, &cfg).await {
                Ok(stats) => {
                    core.metrics.record_recovery(stats.duration, stats.tasks);
                    if stats.tasks > 0 {
                        tracing::info!(
                            processes = stats.processes,
                            tasks = stats.tasks,
                            duration_ms = stats.duration.as_millis() as u64,
                            "recovered stalled processes"
                        );
                    } else {
                        tracing::debug!(
                            processes = stats.processes,
                            duration_ms = stats.duration.as_millis() as u64,
                            "recovery scan found nothing to put back"
                        );
                    }
                    // A full batch: more may be due; go on at once.
                    if stats.processes >= cfg.max_per_scan.max(1) {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "recovery scan failed"),
            }
        }
        tokio::time::sleep(period).await;
    }
}
