//! The webhook sender: POSTs process lifecycle events and alert firings as JSON to the
//! configured URL, retrying with exponential backoff.
//!
//! The state machine never waits for it: lifecycle events reach it through a bounded
//! channel filled with `try_send` after each applied log entry (on the leader only, so
//! a cluster sends each event once); when the channel is full the event is dropped,
//! counted in `suslik_webhook_dropped_total` and logged. Delivery is at most once per
//! leader: an event queued when leadership moves, or one that fails every retry, is not
//! sent again.

use super::WebhookConfig;
use crate::core::{BrokerCore, LifecycleEvent};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events waiting for the sender; more are dropped.
pub const QUEUE_CAPACITY: usize = 4096;
/// First retry delay; it doubles per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Something to POST.
#[derive(Debug, Clone)]
pub enum Notification {
    Lifecycle(LifecycleEvent),
    /// An alert firing: `{event: "alert", name, kind, at, detail}`.
    Alert(Value),
}

impl Notification {
    fn event(&self) -> &str {
        match self {
            Notification::Lifecycle(e) => e.event,
            Notification::Alert(_) => "alert",
        }
    }

    /// The JSON body: `{event, process_id, state, at}` for a lifecycle event.
    pub fn body(&self) -> Value {
        match self {
            Notification::Lifecycle(e) => json!({
                "event": e.event,
                "process_id": e.process_id,
                "state": e.state,
                "at": e.at,
            }),
            Notification::Alert(v) => v.clone(),
        }
    }
}

/// Handle for queueing notifications (alerts use it; lifecycle events come from the
/// core). Cheap to clone.
#[derive(Clone)]
pub struct Webhook {
    tx: mpsc::Sender<Notification>,
    core: Arc<BrokerCore>,
}

impl Webhook {
    /// Starts the sender for `cfg`: subscribes to the core's lifecycle events and spawns
    /// the tasks that forward and deliver them. Returns the handle and the tasks.
    pub fn start(
        core: Arc<BrokerCore>,
        cfg: WebhookConfig,
    ) -> anyhow::Result<(Webhook, Vec<tokio::task::JoinHandle<()>>)> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(cfg.timeout_ms.max(1)))
            .build()?;
        let (life_tx, mut life_rx) = mpsc::channel::<LifecycleEvent>(QUEUE_CAPACITY);
        core.subscribe_lifecycle(life_tx);
        let (tx, mut rx) = mpsc::channel::<Notification>(QUEUE_CAPACITY);
        let forward_tx = tx.clone();
        let forward_core = core.clone();
        // Entries applied again after a restart (the log replays) carry their old
        // times: events from before this node started were sent by an earlier run.
        let since = crate::model::Millis::now();
        let forward = tokio::spawn(async move {
            while let Some(e) = life_rx.recv().await {
                if e.at < since {
                    continue;
                }
                if forward_tx.try_send(Notification::Lifecycle(e)).is_err() {
                    forward_core.metrics.record_webhook_dropped();
                    tracing::warn!("webhook queue full; a lifecycle event was dropped");
                }
            }
        });
        let send_core = core.clone();
        let sender = tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                if !cfg.events.iter().any(|e| e == n.event()) {
                    continue;
                }
                let delivered = deliver(&http, &cfg, &n).await;
                send_core.metrics.record_webhook(delivered);
            }
        });
        Ok((Webhook { tx, core }, vec![forward, sender]))
    }

    /// Queues a notification without waiting; a full queue drops it (counted).
    pub fn notify(&self, n: Notification) {
        if self.tx.try_send(n).is_err() {
            self.core.metrics.record_webhook_dropped();
            tracing::warn!("webhook queue full; a notification was dropped");
        }
    }
}

/// POSTs `n`, retrying up to `max_retries` times on a transport error or a non-2xx
/// answer. Returns whether it was delivered.
async fn deliver(http: &reqwest::Client, cfg: &WebhookConfig, n: &Notification) -> bool {
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
                tracing::debug!(status = %r.status(), attempt, event = n.event(), "webhook refused; will retry")
            }
            Err(e) => {
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
    use crate::model::{Millis, ProcessId};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn finished(id: ProcessId) -> Notification {
        Notification::Lifecycle(LifecycleEvent {
            event: "finished",
            process_id: id,
            state: "finished",
            at: Millis(42),
        })
    }

    #[test]
    fn a_lifecycle_event_posts_event_process_state_and_time() {
        let id = ProcessId::random();
        assert_eq!(
            finished(id).body(),
            json!({"event": "finished", "process_id": id, "state": "finished", "at": 42})
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
        assert!(deliver(&http, &cfg, &finished(ProcessId::random())).await);
        assert_eq!(seen.load(Ordering::SeqCst), 3);

        let (url, seen) = receiver(usize::MAX).await;
        let mut cfg = WebhookConfig::new(url);
        cfg.max_retries = 1;
        assert!(!deliver(&http, &cfg, &finished(ProcessId::random())).await);
        assert_eq!(
            seen.load(Ordering::SeqCst),
            2,
            "the first try and one retry"
        );
    }
}
