//! External promises over the API: `POST /api/v1/promises/{task_id}/resolve`.

use super::http::ApiJson;
use super::{unexpected, ApiError, BrokerApi};
use crate::model::signal::{ResolvePromiseRequest, ResolvePromiseResponse};
use crate::model::wire::ErrorBody;
use crate::model::{ErrorInfo, JsonValue, Millis, TaskId};
use crate::state_machine::{Command, Reply, Resolution};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

impl BrokerApi {
    /// Resolves an external promise with a value or an error. Idempotent: the same
    /// resolution again answers `duplicate`; a different one is `409`.
    pub async fn resolve_promise(
        &self,
        task_id: TaskId,
        req: ResolvePromiseRequest,
    ) -> Result<ResolvePromiseResponse, ApiError> {
        let resolution = match req {
            // Canonical text (sorted keys, no spaces), so that a resend of the same value
            // compares equal however it was formatted.
            ResolvePromiseRequest::Value(v) => {
                let parsed: serde_json::Value = v
                    .decode()
                    .map_err(|e| ApiError::invalid(format!("value: {e}")))?;
                Resolution::Value(
                    JsonValue::from_serialize(&parsed)
                        .map_err(|e| ApiError::invalid(format!("value: {e}")))?,
                )
            }
            ResolvePromiseRequest::Error(e) => {
                let e = ErrorInfo::from(e);
                if e.error_type.is_empty() || e.error_type.len() > self.limits.max_name_bytes {
                    return Err(ApiError::invalid(format!(
                        "error type must be 1 to {} bytes",
                        self.limits.max_name_bytes
                    )));
                }
                Resolution::Fail(e)
            }
        };
        let cmd = Command::ResolvePromise {
            now: Millis::now(),
            task_id,
            resolution,
        };
        match self.commit(cmd).await? {
            Reply::PromiseResolved { duplicate } => Ok(ResolvePromiseResponse {
                resolved: true,
                duplicate,
            }),
            other => Err(unexpected(other)),
        }
    }
}

/// `/api/v1/promises/…`.
pub fn routes(api: BrokerApi) -> Router {
    Router::new()
        .route("/api/v1/promises/{task_id}/resolve", post(resolve))
        .with_state(api)
}

/// Resolves an external promise (a signal): a task a decider created with an
/// external kind, which no worker runs. A second, identical resolution answers
/// `duplicate`; a different one is `409`.
#[utoipa::path(post, path = "/api/v1/promises/{task_id}/resolve", tag = "promises",
    params(("task_id" = TaskId, Path, description = "The external promise's task id")),
    request_body = ResolvePromiseRequest,
    responses(
        (status = 200, description = "Resolved (or resolved already the same way)", body = ResolvePromiseResponse),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The promise is not external, or resolved already another way", body = ErrorBody),
    ))]
async fn resolve(
    State(api): State<BrokerApi>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ResolvePromiseRequest>,
) -> Result<Response, ApiError> {
    let id: TaskId = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("{id:?} is not a task id (a UUID)")))?;
    Ok(Json(api.resolve_promise(id, req).await?).into_response())
}
