//! Monitoring endpoints: `/metrics` (Prometheus text, served by every node for itself),
//! and under `/api/v1` (answered by the leader, whose activity counters they show):
//! queue activity, the cluster-wide monitoring series, hovering queues, repeated tasks
//! and recent alert firings.

use super::{ApiError, BrokerApi};
use crate::metrics::activity::Series;
use crate::metrics::hovering::{hovering, HoveringQueue};
use crate::metrics::RaftGauges;
use crate::model::{ActorId, Millis, TaskList};
use crate::notify::AlertFiring;
use crate::state_machine::RepeatedTask;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Default `idle_ms` of hovering queues: 5 minutes.
pub const DEFAULT_HOVERING_IDLE_MS: u64 = 5 * 60 * 1000;
/// Default `min_attempts` of repeated tasks.
pub const DEFAULT_MIN_ATTEMPTS: u32 = 3;
/// Largest page of a listing.
const MAX_LIMIT: usize = 1000;

/// One queue of `GET /api/v1/queues/activity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueActivityItem {
    pub actor_id: ActorId,
    pub task_list: TaskList,
    pub size: usize,
    pub leased: usize,
    pub blocked: bool,
    pub last_poll_at: Option<Millis>,
    pub enqueued_1h: u64,
    pub polled_1h: u64,
    pub enqueued_24h: u64,
    pub polled_24h: u64,
}

/// `GET /api/v1/monitoring`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Monitoring {
    pub now: Millis,
    pub bucket_ms: u64,
    pub series: Series,
    pub raft: RaftSummary,
}

/// The Raft part of `GET /api/v1/monitoring`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RaftSummary {
    pub node_id: u64,
    pub role: String,
    pub term: u64,
    pub leader: Option<u64>,
    pub members: Vec<Member>,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub node_id: u64,
    pub addr: String,
}

impl BrokerApi {
    /// The Prometheus exposition of this node.
    pub async fn metrics_text(&self) -> String {
        let raft = self.raft_gauges().await;
        let (queues, outbox) = {
            let state = self.core.lock();
            (
                state.queue_snapshots(false),
                state.outbox_gauges(Millis::now()),
            )
        };
        self.core.metrics.render(&queues, raft, outbox)
    }

    /// Raft positions, the commit index included (asked from the Raft core; the
    /// applied index comes from openraft's metrics, which may trail it by a moment).
    pub async fn raft_gauges(&self) -> RaftGauges {
        let committed = self
            .raft
            .with_raft_state(|st| st.committed.map(|l| l.index))
            .await
            .ok()
            .flatten();
        let m = self.raft.metrics().borrow().clone();
        let applied = m.last_applied.map_or(0, |l| l.index);
        let committed = committed.unwrap_or(applied).max(applied);
        RaftGauges {
            term: m.current_term,
            is_leader: m.current_leader == Some(m.id),
            // The metrics may trail the core's commit index; the log holds it.
            last_log_index: m.last_log_index.unwrap_or(0).max(committed),
            committed,
            applied,
        }
    }

    /// Every queue with tasks, leases or activity in the last 24 hours.
    pub fn queue_activity(&self) -> Vec<QueueActivityItem> {
        let now = Millis::now();
        let activity = &self.core.metrics.activity;
        let active = activity.active_queues(now);
        let (snapshots, blocked): (Vec<_>, HashMap<_, _>) = {
            let s = self.core.lock();
            let snaps = s.queue_snapshots(false);
            let blocked = active
                .into_iter()
                .map(|k| {
                    let b = s.is_blocked(&k);
                    (k, b)
                })
                .collect();
            (snaps, blocked)
        };
        let mut items: BTreeMap<_, QueueActivityItem> = BTreeMap::new();
        let empty = |k: &crate::model::QueueKey, blocked: bool| QueueActivityItem {
            actor_id: k.actor_id.clone(),
            task_list: k.task_list.clone(),
            size: 0,
            leased: 0,
            blocked,
            last_poll_at: None,
            enqueued_1h: 0,
            polled_1h: 0,
            enqueued_24h: 0,
            polled_24h: 0,
        };
        for q in snapshots {
            let mut item = empty(&q.key, q.blocked);
            item.size = q.size;
            item.leased = q.leased;
            items.insert(q.key, item);
        }
        for (k, b) in blocked {
            items.entry(k.clone()).or_insert_with(|| empty(&k, b));
        }
        for (k, item) in items.iter_mut() {
            if let Some(a) = activity.queue(k, now) {
                item.last_poll_at = a.last_poll_at;
                item.enqueued_1h = a.enqueued_1h;
                item.polled_1h = a.polled_1h;
                item.enqueued_24h = a.enqueued_24h;
                item.polled_24h = a.polled_24h;
            }
        }
        items.into_values().collect()
    }

    /// The last hour, minute by minute, and the Raft summary.
    pub fn monitoring(&self) -> Monitoring {
        let now = Millis::now();
        let queued = self.core.lock().total_queued() as u64;
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        Monitoring {
            now,
            bucket_ms: 60_000,
            series: self.core.metrics.activity.series(now, queued),
            raft: RaftSummary {
                node_id: m.id,
                role: format!("{:?}", m.state),
                term: m.current_term,
                leader: m.current_leader,
                members: membership
                    .nodes()
                    .map(|(id, n)| Member {
                        node_id: *id,
                        addr: n.addr.clone(),
                    })
                    .collect(),
                last_log_index: m.last_log_index,
                last_applied: m.last_applied.map(|l| l.index),
            },
        }
    }

    /// Queues whose tasks waited `idle_ms` with no poll.
    pub fn hovering_queues(&self, idle_ms: u64) -> Vec<HoveringQueue> {
        hovering(&self.core, idle_ms, Millis::now())
    }

    /// Tasks at attempt `min_attempts` or later: `(total, page)`.
    pub fn repeated_tasks(
        &self,
        min_attempts: u32,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<RepeatedTask>) {
        self.core.lock().repeated_tasks(min_attempts, offset, limit)
    }

    /// Recent alert firings, newest first.
    pub fn alerts(&self) -> Vec<AlertFiring> {
        self.core.metrics.alerts.recent()
    }
}

/// The `/api/v1` monitoring routes (merged into the forwarded client API).
pub fn routes(api: BrokerApi) -> Router {
    Router::new()
        .route("/api/v1/queues/activity", get(activity))
        .route("/api/v1/queues/hovering", get(hovering_route))
        .route("/api/v1/tasks/repeated", get(repeated))
        .route("/api/v1/monitoring", get(monitoring))
        .route("/api/v1/alerts", get(alerts))
        .with_state(api)
}

/// `GET /metrics`: answered by every node itself (merged outside forwarding).
pub fn local_routes(api: BrokerApi) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(api)
}

/// This node's metrics in the OpenMetrics text format (Prometheus scrapes it).
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)))]
async fn metrics(State(api): State<BrokerApi>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.metrics_text().await,
    )
        .into_response()
}

/// Per-queue activity: last poll, enqueued and polled in the last hour and day.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QueueActivityList {
    pub queues: Vec<QueueActivityItem>,
}

/// Per-queue activity: last poll, enqueued and polled in the last hour and day.
#[utoipa::path(get, path = "/api/v1/queues/activity", tag = "monitoring",
    responses((status = 200, description = "Activity per queue", body = QueueActivityList)))]
async fn activity(State(api): State<BrokerApi>) -> Response {
    Json(QueueActivityList {
        queues: api.queue_activity(),
    })
    .into_response()
}

/// The cluster's minute series and every member's Raft state (the console's
/// Monitoring view).
#[utoipa::path(get, path = "/api/v1/monitoring", tag = "monitoring",
    responses((status = 200, description = "Series and members", body = Monitoring)))]
async fn monitoring(State(api): State<BrokerApi>) -> Response {
    Json(api.monitoring()).into_response()
}

/// Recent alert firings, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertList {
    pub items: Vec<AlertFiring>,
}

/// Recent alert firings, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "monitoring",
    responses((status = 200, description = "Recent firings", body = AlertList)))]
async fn alerts(State(api): State<BrokerApi>) -> Response {
    Json(AlertList {
        items: api.alerts(),
    })
    .into_response()
}

/// Queues whose tasks wait while nobody polls.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HoveringList {
    pub items: Vec<HoveringQueue>,
}

/// Tasks that ran at least `min_attempts` times.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RepeatedList {
    pub total: usize,
    pub items: Vec<RepeatedTask>,
}

type Params = Query<HashMap<String, String>>;

/// A numeric query parameter, `default` if absent; a bad one is a 400.
fn number<T: std::str::FromStr>(params: &Params, name: &str, default: T) -> Result<T, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            ApiError::invalid(format!(
                "{name} must be a non-negative integer, not {text:?}"
            ))
        }),
    }
}

/// Queues with ready tasks that nobody polled for `idle_ms`.
#[utoipa::path(get, path = "/api/v1/queues/hovering", tag = "monitoring",
    params(("idle_ms" = Option<u64>, Query, description = "Idle for at least this long, in ms (default 300 000)")),
    responses((status = 200, description = "The hovering queues", body = HoveringList)))]
async fn hovering_route(
    State(api): State<BrokerApi>,
    params: Params,
) -> Result<Response, ApiError> {
    let idle_ms = number(&params, "idle_ms", DEFAULT_HOVERING_IDLE_MS)?;
    Ok(Json(HoveringList {
        items: api.hovering_queues(idle_ms),
    })
    .into_response())
}

/// Tasks that ran at least `min_attempts` times (retried), most attempts first.
#[utoipa::path(get, path = "/api/v1/tasks/repeated", tag = "monitoring",
    params(
        ("min_attempts" = Option<u32>, Query, minimum = 1, description = "At least this many attempts (default 3)"),
        ("offset" = Option<usize>, Query, description = "Items to skip"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "Items to return (default 50)"),
    ),
    responses((status = 200, description = "A page of tasks", body = RepeatedList)))]
async fn repeated(State(api): State<BrokerApi>, params: Params) -> Result<Response, ApiError> {
    let min_attempts = number(&params, "min_attempts", DEFAULT_MIN_ATTEMPTS)?;
    if min_attempts == 0 {
        return Err(ApiError::invalid("min_attempts must be at least 1"));
    }
    let offset = number(&params, "offset", 0usize)?;
    let limit = number(&params, "limit", 50usize)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let (total, items) = api.repeated_tasks(min_attempts, offset, limit);
    Ok(Json(RepeatedList { total, items }).into_response())
}
