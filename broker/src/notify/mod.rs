//! Notifications to the outside: webhook delivery of process lifecycle events, and
//! alerts (conditions checked periodically by the leader) that fire the webhook and are
//! kept for `GET /api/v1/alerts`.

pub mod alerts;
pub mod webhook;

pub use alerts::{run_alerts, AlertConfig, AlertFiring, AlertKind, AlertLog, AlertsConfig};
pub use webhook::{Notification, Webhook};

/// Where and what the webhook sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The URL every event is POSTed to.
    pub url: String,
    /// Which events to send: `started`, `finished`, `broken`, `aborted`, `alert`.
    pub events: Vec<String>,
    /// Timeout of one POST.
    pub timeout_ms: u64,
    /// Retries after a failed POST (exponential backoff from 100 ms, at most 10 s).
    pub max_retries: u32,
}

/// The events a webhook may subscribe to.
pub const WEBHOOK_EVENTS: [&str; 5] = ["started", "finished", "broken", "aborted", "alert"];

impl WebhookConfig {
    /// A webhook for `url` sending every event, 5 s timeout, 5 retries.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            events: WEBHOOK_EVENTS.iter().map(|e| e.to_string()).collect(),
            timeout_ms: 5_000,
            max_retries: 5,
        }
    }
}
