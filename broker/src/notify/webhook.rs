//! The webhook sender: POSTs process lifecycle events and alert firings as JSON to the
//! configured URL, retrying with exponential backoff.
//!
//! Lifecycle events (started, finished, broken, aborted) come from the replicated
//! outbox (`state_machine::outbox`) and are sent by the leader's outbox loop
//! (`leader::run_webhook_outbox`), at least once across failovers and restarts; each
//! carries its `event_id` so that a receiver can drop a repeat. Alert firings are the
//! leader's own observations, not replicated: they go through a bounded channel here,
//! and a full channel drops one (counted in `suslik_webhook_dropped_total`).

use super::WebhookConfig;
use crate::core::BrokerCore;
use crate::state_machine::outbox::OutboxEvent;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Alerts waiting for the sender; more are dropped.
pub const QUEUE_CAPACITY: usize = 4096;
/// First retry delay; it doubles per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Something to POST.
#[derive(Debug, Clone)]
pub enum Notification {
    /// A process lifecycle event from the outbox.
    Lifecycle(OutboxEvent),
    /// An alert firing: `{event: "alert", name, kind, at, detail}`.
    Alert(Value),
}

impl Notification {
    fn event(&self) -> &str {
        match self {
            Notification::Lifecycle(e) => e.name(),
            Notification::Alert(_) => "alert",
        }
    }

    /// The JSON body: `{event, event_id, process_id, state, at}` for a lifecycle event.
    pub fn body(&self) -> Value {
        match self {
            Notification::Lifecycle(e) => json!({
                "event": e.name(),
                "event_id": e.seq,
                "process_id": e.process_id,
                "state": crate::metrics::state_name(e.state),
                "at": e.at,
            }),
            Notification::Alert(v) => v.clone(),
        }
    }
}

/// The HTTP client of a webhook: no proxy, the configured timeout per request.
pub fn client(cfg: &WebhookConfig) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(cfg.timeout_ms.max(1)))
        .build()?)
}

/// Handle for queueing alert notifications. Cheap to clone.
#[derive(Clone)]
pub struct Webhook {
    tx: mpsc::Sender<Notification>,
    core: Arc<BrokerCore>,
}

impl Webhook {
    /// Starts the alert sender for `cfg`. Returns the handle and its task.
    pub fn start(
        core: Arc<BrokerCore>,
        cfg: WebhookConfig,
    ) -> anyhow::Result<(Webhook, Vec<tokio::task::JoinHandle<()>>)> {
        let http = client(&cfg)?;
        let (tx, mut rx) = mpsc::channel::<Notification>(QUEUE_CAPACITY);
        let send_core = core.clone();
        let sender = tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                if !subscribed(&cfg, &n) {
                    continue;
                }
                let metrics = &send_core.metrics;
                let delivered =
                    deliver(&http, &cfg, &n, || metrics.record_webhook_failed_attempt()).await;
                metrics.record_webhook(delivered);
            }
        });
        Ok((Webhook { tx, core }, vec![sender]))
    }

    /// Queues a notification without waiting; a full queue drops it (counted).
    pub fn notify(&self, n: Notification) {
        if self.tx.try_send(n).is_err() {
            self.core.metrics.record_webhook_dropped();
            tracing::warn!("webhook queue full; a notification was dropped");
        }
    }
}

/// Whether `cfg` subscribes to `n`'s event.
pub fn subscribed(cfg: &WebhookConfig, n: &Notification) -> bool {
    cfg.events.iter().any(|e| e == n.event())
}

/// POSTs `n`, retrying up to `max_retries` times on a transport error or a non-2xx
/// answer; `on_failure` hears of each failed POST as it happens (a receiver that is down
/// shows in the metrics at once, not after the last retry). Returns whether it was
/// delivered.
pub async fn deliver(
    http: &reqwest::Client,
    cfg: &WebhookConfig,
    n: &Notification,
    mut on_failure: impl FnMut(),
) -> bool {
    let body = n.body();
    let mut backoff = FIRST_BACKOFF;
    for attempt in 0..=cfg.max_retries {
        if attempt > 0 {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        match http.post(&cfg.url).json(&body).send().await {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => {
                on_failure();
                tracing::debug!(status = %r.status(), attempt, event = n.event(), "webhook refused; will retry")
            }
            Err(e) => {
                on_failure();
                tracing::debug!(error = %e, attempt, event = n.event(), "webhook failed; will retry")
            }
        }
    }
    tracing::warn!(url = %cfg.url, event = n.event(), body = %body, "webhook not delivered after retries");
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Millis, ProcessId, ProcessState};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn finished(id: ProcessId) -> Notification {
        Notification::Lifecycle(OutboxEvent {
            seq: 7,
            started: false,
            process_id: id,
            state: ProcessState::Finished,
            at: Millis(42),
        })
    }

    #[test]
    fn a_lifecycle_event_posts_event_id_process_state_and_time() {
        let id = ProcessId::random();
        assert_eq!(
            finished(id).body(),
            json!({"event": "finished", "event_id": 7, "process_id": id, "state": "finished", "at": 42})
        );
        assert_eq!(finished(id).event(), "finished");
        assert_eq!(
            Notification::Alert(json!({"event": "alert"})).event(),
            "alert"
        );
    }

    /// A receiver answering 500 to its first `refuse` requests; counts requests.
    async fn receiver(refuse: usize) -> (String, Arc<AtomicUsize>) {
        use axum::http::StatusCode;
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < refuse {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, seen)
    }

    #[tokio::test]
    async fn delivery_retries_until_accepted_or_out_of_retries() {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let (url, seen) = receiver(2).await;
        let mut cfg = WebhookConfig::new(url);
        cfg.max_retries = 2;
        let mut failed = 0;
        let delivered = deliver(&http, &cfg, &finished(ProcessId::random()), || failed += 1).await;
        assert_eq!((delivered, failed), (true, 2), "delivered, failed attempts");
        assert_eq!(seen.load(Ordering::SeqCst), 3);

        let (url, seen) = receiver(usize::MAX).await;
        let mut cfg = WebhookConfig::new(url);
        cfg.max_retries = 1;
        let mut failed = 0;
        let delivered = deliver(&http, &cfg, &finished(ProcessId::random()), || failed += 1).await;
        assert_eq!(
            (delivered, failed),
            (false, 2),
            "delivered, failed attempts"
        );
        assert_eq!(
            seen.load(Ordering::SeqCst),
            2,
            "the first try and one retry"
        );
    }
}
