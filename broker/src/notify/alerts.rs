//! Alerts: conditions the leader checks every `check_period_ms` (it sleeps in between).
//! An alert fires once per episode: when its condition becomes true (for
//! `queue_not_polled`, per queue), not on every check while it stays true; once the
//! condition clears, the next time it holds is a new episode. A firing is logged, kept
//! in a short in-memory list for `GET /api/v1/alerts`, counted, and sent to the webhook
//! as event `alert`.
//!
//! Leader-local: episodes and the firing list start empty on a new leader (a condition
//! still true after a failover fires again there, once).

use super::{Notification, Webhook};
use crate::core::BrokerCore;
use crate::metrics::hovering::hovering;
use crate::model::Millis;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Firings kept for `GET /api/v1/alerts`.
pub const KEPT_FIRINGS: usize = 200;

/// What an alert watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertKind {
    /// A non-empty queue nobody polled for `idle_ms` (actors starting with
    /// `actor_prefix` only, if given).
    QueueNotPolled {
        idle_ms: u64,
        actor_prefix: Option<String>,
    },
    /// More than `more_than` broken processes.
    BrokenProcesses { more_than: usize },
}

impl AlertKind {
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::QueueNotPolled { .. } => "queue_not_polled",
            AlertKind::BrokenProcesses { .. } => "broken_processes",
        }
    }
}

/// One configured alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertConfig {
    pub name: String,
    pub kind: AlertKind,
}

/// Every alert and how often they are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    pub check_period_ms: u64,
    pub alerts: Vec<AlertConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            check_period_ms: 30_000,
            alerts: Vec::new(),
        }
    }
}

/// One firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AlertFiring {
    pub name: String,
    pub kind: &'static str,
    pub fired_at: Millis,
    pub detail: String,
}

/// The recent firings, newest last.
#[derive(Debug, Default)]
pub struct AlertLog {
    firings: Mutex<VecDeque<AlertFiring>>,
}

impl AlertLog {
    pub fn push(&self, f: AlertFiring) {
        let mut l = self.firings.lock().unwrap_or_else(|p| p.into_inner());
        if l.len() == KEPT_FIRINGS {
            l.pop_front();
        }
        l.push_back(f);
    }

    /// The recent firings, newest first.
    pub fn recent(&self) -> Vec<AlertFiring> {
        let l = self.firings.lock().unwrap_or_else(|p| p.into_inner());
        l.iter().rev().cloned().collect()
    }
}

/// What is firing right now, per alert: the keys of its open episodes.
#[derive(Debug, Default)]
struct Episodes {
    open: Vec<BTreeSet<String>>,
}

/// Evaluates `alert` now: the episode keys whose condition holds, each with a detail.
fn evaluate(core: &BrokerCore, alert: &AlertConfig, now: Millis) -> Vec<(String, String)> {
    match &alert.kind {
        AlertKind::QueueNotPolled {
            idle_ms,
            actor_prefix,
        } => hovering(core, *idle_ms, now)
            .into_iter()
            .filter(|q| {
                actor_prefix
                    .as_deref()
                    .is_none_or(|p| q.actor_id.as_str().starts_with(p))
            })
            .map(|q| {
                let key = format!("{}@{}", q.actor_id, q.task_list);
                let list = if q.task_list.is_default() {
                    String::new()
                } else {
                    format!(" (task list {})", q.task_list)
                };
                let detail = format!(
                    "queue {}{list} has {} ready task(s) and was not polled for {idle_ms} ms",
                    q.actor_id, q.size
                );
                (key, detail)
            })
            .collect(),
        AlertKind::BrokenProcesses { more_than } => {
            let n = core.lock().broken_count();
            if n > *more_than {
                vec![(
                    String::new(),
                    format!("{n} broken processes (more than {more_than})"),
                )]
            } else {
                Vec::new()
            }
        }
    }
}

/// One check of every alert: fires the ones whose condition newly holds.
fn check(
    core: &BrokerCore,
    cfg: &AlertsConfig,
    episodes: &mut Episodes,
    webhook: Option<&Webhook>,
    now: Millis,
) -> usize {
    episodes.open.resize_with(cfg.alerts.len(), BTreeSet::new);
    let mut fired = 0;
    for (alert, open) in cfg.alerts.iter().zip(episodes.open.iter_mut()) {
        let holding = evaluate(core, alert, now);
        let keys: BTreeSet<String> = holding.iter().map(|(k, _)| k.clone()).collect();
        for (key, detail) in holding {
            if open.contains(&key) {
                continue;
            }
            let firing = AlertFiring {
                name: alert.name.clone(),
                kind: alert.kind.name(),
                fired_at: now,
                detail,
            };
            tracing::warn!(alert = %firing.name, kind = firing.kind, detail = %firing.detail, "alert fired");
            if let Some(w) = webhook {
                w.notify(Notification::Alert(json!({
                    "event": "alert",
                    "name": firing.name,
                    "kind": firing.kind,
                    "at": firing.fired_at,
                    "detail": firing.detail,
                })));
            }
            core.metrics.record_alert();
            core.metrics.alerts.push(firing);
            fired += 1;
        }
        *open = keys;
    }
    fired
}

/// Runs until the node shuts down: every `check_period_ms`, on the leader, checks the
/// alerts. Does nothing without alerts.
pub async fn run_alerts(core: Arc<BrokerCore>, cfg: AlertsConfig, webhook: Option<Webhook>) {
    if cfg.alerts.is_empty() {
        return;
    }
    let period = Duration::from_millis(cfg.check_period_ms.max(1));
    let mut episodes = Episodes::default();
    loop {
        tokio::time::sleep(period).await;
        if core.leading.load(Ordering::Relaxed) {
            check(&core, &cfg, &mut episodes, webhook.as_ref(), Millis::now());
        } else {
            episodes = Episodes::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActorId, QueueKey, TaskId, TaskKind, TaskList, TaskOptions, TaskSpec};
    use crate::state_machine::Command;

    fn start(core: &BrokerCore, actor: &str, now: u64) {
        let cmd = Command::StartProcess {
            now: Millis(now),
            process_id: crate::model::ProcessId::random(),
            custom_id: None,
            idempotency_key: None,
            start: TaskSpec {
                task_id: TaskId::random(),
                actor_id: ActorId::new(actor).unwrap(),
                method: "start".into(),
                kind: TaskKind::DeciderStart,
                args: vec![],
                options: TaskOptions::default(),
            },
        };
        core.with_state(|s| s.apply(&cmd)).unwrap();
    }

    fn not_polled(idle_ms: u64, prefix: Option<&str>) -> AlertsConfig {
        AlertsConfig {
            check_period_ms: 10,
            alerts: vec![AlertConfig {
                name: "stuck".into(),
                kind: AlertKind::QueueNotPolled {
                    idle_ms,
                    actor_prefix: prefix.map(str::to_owned),
                },
            }],
        }
    }

    #[test]
    fn a_queue_nobody_polls_fires_once_per_episode() {
        let core = BrokerCore::new();
        start(&core, "billing#1", 1_000);
        let cfg = not_polled(500, None);
        let mut ep = Episodes::default();
        assert_eq!(check(&core, &cfg, &mut ep, None, Millis(1_200)), 0);
        assert_eq!(check(&core, &cfg, &mut ep, None, Millis(1_600)), 1);
        // Still hovering: no second firing.
        assert_eq!(check(&core, &cfg, &mut ep, None, Millis(5_000)), 0);
        let recent = core.metrics.alerts.recent();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].kind, "queue_not_polled");
        assert!(
            recent[0].detail.contains("billing#1"),
            "{}",
            recent[0].detail
        );
        // A poll ends the episode; hovering again later is a new one.
        let key = QueueKey::new(ActorId::new("billing#1").unwrap(), TaskList::default_list());
        core.metrics.activity.polled(&key, 0, None, Millis(5_100));
        assert_eq!(check(&core, &cfg, &mut ep, None, Millis(5_200)), 0);
        assert_eq!(check(&core, &cfg, &mut ep, None, Millis(5_700)), 1);
    }

    #[test]
    fn the_actor_prefix_limits_which_queues_count() {
        let core = BrokerCore::new();
        start(&core, "billing#1", 0);
        let mut ep = Episodes::default();
        let cfg = not_polled(10, Some("shipping"));
        assert_eq!(check(&core, &cfg, &mut ep, None, Millis(1_000)), 0);
        let cfg = not_polled(10, Some("bill"));
        assert_eq!(check(&core, &cfg, &mut ep, None, Millis(1_000)), 1);
    }

    #[test]
    fn the_firing_list_keeps_the_most_recent() {
        let log = AlertLog::default();
        for i in 0..(KEPT_FIRINGS as u64 + 5) {
            log.push(AlertFiring {
                name: "a".into(),
                kind: "broken_processes",
                fired_at: Millis(i),
                detail: String::new(),
            });
        }
        let recent = log.recent();
        assert_eq!(recent.len(), KEPT_FIRINGS);
        assert_eq!(recent[0].fired_at, Millis(KEPT_FIRINGS as u64 + 4));
    }
}
