//! Process operations over HTTP and in process: a process's history, broken processes
//! (list, groups, restart with preview), deleting ended processes and aborting running
//! ones.
//!
//! Bulk calls take a selection: explicit process ids, or a filter over broken
//! processes that the leader resolves to ids before proposing, so the log entry names
//! exactly what it changes. Apply re-checks every id and skips one that is no longer
//! eligible (someone else restarted or deleted it meanwhile); the answers count what
//! was done.

use super::{ApiError, BrokerApi};
use crate::model::history::HistoryPage;
use crate::model::ProcessId;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

/// Default page size of list answers.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size of list answers.
pub const MAX_LIMIT: usize = 1000;

/// `offset` and `limit` of a list call.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub offset: usize,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    DEFAULT_LIMIT
}

impl PageQuery {
    /// The limit capped at [`MAX_LIMIT`].
    pub fn limit(&self) -> usize {
        self.limit.min(MAX_LIMIT)
    }
}

impl BrokerApi {
    /// Events of a process's history, oldest first.
    pub fn history(
        &self,
        id: ProcessId,
        offset: usize,
        limit: usize,
    ) -> Result<HistoryPage, ApiError> {
        self.core
            .lock()
            .history(&id, offset, limit.min(MAX_LIMIT))
            .ok_or_else(|| unknown_process(id))
    }
}

pub(super) fn unknown_process(id: ProcessId) -> ApiError {
    ApiError::not_found("unknown_process", format!("unknown process {id}"))
}

/// The HTTP routes of process operations.
pub fn routes(api: BrokerApi) -> Router {
    Router::new()
        .route("/api/v1/processes/{id}/history", get(history))
        .with_state(api)
}

/// A query string decoded into `T`, rejections as JSON [`ApiError`]s.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::invalid(format!("bad query string: {}", e.body_text())))
}

fn process_id(id: &str) -> Result<ProcessId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::invalid(format!("{id:?} is not a process id (a UUID)")))
}

async fn history(
    State(api): State<BrokerApi>,
    Path(id): Path<String>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let page = query(page)?;
    let id = process_id(&id)?;
    Ok(Json(api.history(id, page.offset, page.limit())?).into_response())
}
