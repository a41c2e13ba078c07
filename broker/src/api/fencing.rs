//! Delivery fencing and heartbeats in the client API.
//!
//! Both are leader-local (leases live only in the leader's memory, see
//! [`crate::state_machine::DeliveryError`]): a heartbeat changes no replicated state and
//! needs no log entry, and losing every lease on a leader change is harmless (the
//! tasks are delivered again, and releases of the old deliveries are accepted because
//! nothing is leased yet, or refused as stale once a new delivery owns the task).

use super::http::ApiJson;
use super::{ApiError, BrokerApi};
use crate::model::{DeliveryId, Millis, TaskId};
use crate::state_machine::DeliveryError;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/tasks/{task_id}/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatRequest {
    /// The delivery whose lease to extend.
    pub delivery_id: DeliveryId,
    /// Extend the lease to this long from now (default: the node's lease length;
    /// capped by `max_heartbeat_extend_ms` and by the task's timeout).
    #[serde(default)]
    pub extend_ms: Option<u64>,
}

/// Answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatResponse {
    /// The lease now ends then.
    pub lease_until: Millis,
}

impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> Self {
        let code = match e {
            DeliveryError::UnknownTask(_) => {
                return ApiError::not_found("unknown_task", e.to_string())
            }
            DeliveryError::Stale { .. } => "stale_delivery",
            DeliveryError::NotLeased(_) => "not_leased",
        };
        ApiError::new(409, code, e.to_string())
    }
}

impl BrokerApi {
    /// Extends the lease of `task`'s current delivery (a worker still working on it).
    pub fn heartbeat(
        &self,
        task: TaskId,
        req: HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ApiError> {
        self.require_leader()?;
        let extend = req
            .extend_ms
            .unwrap_or(self.limits.lease_ms)
            .min(self.limits.max_heartbeat_extend_ms);
        let until = Millis::now().plus(extend);
        let lease_until = self
            .core
            .with_state(|s| s.heartbeat(task, req.delivery_id, until))?;
        tracing::debug!(task_id = %task, delivery_id = %req.delivery_id, %lease_until, "lease extended");
        Ok(HeartbeatResponse { lease_until })
    }
}

/// The heartbeat route.
pub fn routes(api: BrokerApi) -> Router {
    Router::new()
        .route("/api/v1/tasks/{id}/heartbeat", post(heartbeat))
        .with_state(api)
}

/// Extends the lease of a delivered task that a worker is still working on.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/heartbeat", tag = "tasks",
    params(("id" = TaskId, Path, description = "The task id")),
    request_body = HeartbeatRequest,
    responses(
        (status = 200, description = "The lease's new end", body = HeartbeatResponse),
        (status = 404, description = "No such task (`unknown_task`)", body = crate::model::wire::ErrorBody),
        (status = 409, description = "The task was handed to another worker since (`stale_delivery`) or is not leased (`not_leased`)", body = crate::model::wire::ErrorBody),
    ))]
async fn heartbeat(
    State(api): State<BrokerApi>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> Result<Response, ApiError> {
    let id: TaskId = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("{id:?} is not a task id (a UUID)")))?;
    Ok(Json(api.heartbeat(id, req)?).into_response())
}
