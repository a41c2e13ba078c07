//! Queue purge over the API (`POST /api/v1/queues/purge`), the operator's way to clear
//! a queue (Taskurotta's console has one). Purged tasks stall their processes until
//! recovery puts them back (see `state_machine::recovery`).

use super::http::ApiJson;
use super::{unexpected, ApiError, BrokerApi};
use crate::model::{ActorId, Millis, TaskList};
use crate::state_machine::{Command, Reply};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

impl BrokerApi {
    /// Drops every ready task of `actor_id`'s queue (`task_list`, or every list);
    /// answers how many.
    pub async fn purge_queue(
        &self,
        actor_id: ActorId,
        task_list: Option<TaskList>,
    ) -> Result<u32, ApiError> {
        let cmd = Command::PurgeQueue {
            now: Millis::now(),
            actor_id,
            task_list,
        };
        match self.commit(cmd).await? {
            Reply::Purged(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }
}

/// Body of a purge.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    actor_id: ActorId,
    #[serde(default)]
    task_list: Option<TaskList>,
}

/// `/api/v1/queues/purge`.
pub fn routes(api: BrokerApi) -> Router {
    Router::new()
        .route("/api/v1/queues/purge", post(purge))
        .with_state(api)
}

/// How many tasks a purge removed.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Purged {
    purged: u32,
}

/// Drops every ready task of an actor's queue (one task list, or all of them): the
/// tasks become `purged`, in no queue, until recovery finds their processes.
#[utoipa::path(post, path = "/api/v1/queues/purge", tag = "queues",
    request_body = PurgeRequest,
    responses((status = 200, description = "How many tasks were removed", body = Purged)))]
async fn purge(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<PurgeRequest>,
) -> Result<Response, ApiError> {
    let purged = api.purge_queue(req.actor_id, req.task_list).await?;
    Ok(Json(Purged { purged }).into_response())
}
