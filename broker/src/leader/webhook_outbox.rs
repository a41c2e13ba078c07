//! The leader's webhook outbox loop: POSTs the lifecycle events of the replicated
//! outbox in order, then proposes `AckWebhook { upto }` so that every replica drops
//! them.
//!
//! A new leader starts again from the oldest event not acknowledged, so an event is
//! delivered at least once whatever node fails when (a repeat carries the same
//! `event_id`). An event whose receiver refuses it through every retry is given up and
//! acknowledged like a delivered one (counted as `failed`), so one bad event cannot
//! hold back the ones after it. Without a webhook configured the loop only
//! acknowledges, about once a second, so the outbox stays empty. Followers sleep.

use super::Proposer;
use crate::core::BrokerCore;
use crate::notify::webhook::{client, deliver, subscribed, Notification};
use crate::notify::WebhookConfig;
use crate::raft::Raft;
use crate::state_machine::Command;
use std::sync::Arc;
use std::time::Duration;

/// Most events read (and acknowledged by one log entry) at a time.
const BATCH: usize = 256;

/// Without a webhook: how long events gather before one acknowledgement drops them.
const IDLE_ACK_EVERY: Duration = Duration::from_secs(1);

/// Runs until the node shuts down.
pub async fn run_webhook_outbox(
    core: Arc<BrokerCore>,
    raft: Raft,
    proposer: Proposer,
    cfg: Option<WebhookConfig>,
) {
    let http = match cfg.as_ref().map(client).transpose() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "webhook client; lifecycle events are not sent");
            None
        }
    };
    let mut metrics = raft.metrics();
    loop {
        if !super::until_leader(&mut metrics).await {
            return;
        }
        // A fresh term: everything still in the outbox is (re)sent.
        let mut sent = 0u64;
        loop {
            let batch = core.lock().outbox_after(sent, BATCH);
            let Some(last) = batch.last().map(|e| e.seq) else {
                tokio::select! {
                    _ = core.outbox_changed.notified() => continue,
                    r = metrics.changed() => {
                        if r.is_err() {
                            return;
                        }
                        if !is_leader(&metrics) {
                            break;
                        }
                        continue;
                    }
                }
            };
            match (&cfg, &http) {
                (Some(cfg), Some(http)) => {
                    for event in batch {
                        let n = Notification::Lifecycle(event);
                        if subscribed(cfg, &n) {
                            let metrics = &core.metrics;
                            let delivered =
                                deliver(http, cfg, &n, || metrics.record_webhook_failed_attempt())
                                    .await;
                            metrics.record_webhook(delivered);
                        }
                    }
                }
                // Nothing to send: let events gather a while, then drop them.
                _ => tokio::time::sleep(IDLE_ACK_EVERY).await,
            }
            match proposer.propose(Command::AckWebhook { upto: last }).await {
                Ok(_) => sent = last,
                Err(e) => {
                    // Not leader any more (or no quorum): the next leader resends.
                    tracing::debug!(error = %e, "webhook acknowledgement not committed");
                    break;
                }
            }
        }
    }
}

fn is_leader(metrics: &tokio::sync::watch::Receiver<crate::raft::typ::RaftMetrics>) -> bool {
    let m = metrics.borrow();
    m.current_leader == Some(m.id)
}
