//! Process operations over HTTP and in process: a process's history, broken processes
//! (list, groups, restart with preview), deleting ended processes and aborting running
//! ones.
//!
//! Bulk calls take a selection: explicit process ids, or a filter over broken
//! processes that the leader resolves to ids before proposing, so the log entry names
//! exactly what it changes. Apply re-checks every id and skips one that is no longer
//! eligible (someone else restarted or deleted it meanwhile); the answers count what
//! was done.

use super::http::ApiJson;
use super::{unexpected, ApiError, BrokerApi};
use crate::model::history::HistoryPage;
use crate::model::ops::{
    AbortAnswer, AbortRequest, BrokenFilter, BrokenGroups, BrokenList, DeleteAnswer, GroupBy,
    RestartAnswer, RestartPreview, Selection,
};
use crate::model::wire::ErrorBody;
use crate::model::{Millis, ProcessId};
use crate::state_machine::{Command, Reply, MAX_DETAIL_BYTES};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::HashSet;

/// Most processes one bulk call acts on; a filter that matches more selects the most
/// recently broken ones (call again for the rest).
pub const MAX_SELECTION: usize = 10_000;

/// Default page size of list answers.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size of list answers.
pub const MAX_LIMIT: usize = 1000;

/// `offset` and `limit` of a list call.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items to skip.
    #[serde(default)]
    pub offset: usize,
    /// Items to return (50 if absent, at most 1000).
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
    /// Broken processes matching `filter`, most recently broken first.
    pub fn broken(&self, filter: &BrokenFilter, offset: usize, limit: usize) -> BrokenList {
        self.core
            .lock()
            .broken_list(filter, offset, limit.min(MAX_LIMIT))
    }

    /// Broken processes matching `filter`, grouped by `by`.
    pub fn broken_groups(&self, by: GroupBy, filter: &BrokenFilter) -> BrokenGroups {
        self.core.lock().broken_groups(by, filter)
    }

    /// The tasks a restart of `selection` would re-run.
    pub fn restart_preview(&self, selection: Selection) -> Result<RestartPreview, ApiError> {
        let ids = self.select(selection.process_ids, selection.filter)?;
        Ok(RestartPreview {
            tasks: self.core.lock().restart_preview(&ids),
        })
    }

    /// Restarts the broken processes of `selection`.
    pub async fn restart(&self, selection: Selection) -> Result<RestartAnswer, ApiError> {
        let ids = self.select(selection.process_ids, selection.filter)?;
        let selected = ids.len();
        let cmd = Command::RestartProcesses {
            now: Millis::now(),
            process_ids: ids,
        };
        match self.commit(cmd).await? {
            Reply::Restarted(process_ids) => Ok(RestartAnswer {
                restarted: process_ids.len(),
                skipped: selected - process_ids.len(),
                process_ids,
            }),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes the ended processes of `selection` (a filter selects broken ones).
    pub async fn delete_processes(&self, selection: Selection) -> Result<DeleteAnswer, ApiError> {
        let ids = self.select(selection.process_ids, selection.filter)?;
        let selected = ids.len();
        match self
            .commit(Command::DeleteProcesses { process_ids: ids })
            .await?
        {
            Reply::Deleted(n) => Ok(DeleteAnswer {
                deleted: n as usize,
                skipped: selected - n as usize,
            }),
            other => Err(unexpected(other)),
        }
    }

    /// Aborts the running or broken processes of the request's selection.
    pub async fn abort(&self, req: AbortRequest) -> Result<AbortAnswer, ApiError> {
        let ids = self.select(req.process_ids, req.filter)?;
        let selected = ids.len();
        let reason = req.reason.map(|r| {
            let mut end = r.len().min(MAX_DETAIL_BYTES);
            while !r.is_char_boundary(end) {
                end -= 1;
            }
            r[..end].to_string()
        });
        let cmd = Command::AbortProcesses {
            now: Millis::now(),
            process_ids: ids,
            reason,
        };
        match self.commit(cmd).await? {
            Reply::Aborted(n) => Ok(AbortAnswer {
                aborted: n as usize,
                skipped: selected - n as usize,
            }),
            other => Err(unexpected(other)),
        }
    }

    /// Resolves a selection to process ids on this node (the leader, for a bulk
    /// call): explicit ids must all exist; a filter selects matching broken processes.
    fn select(
        &self,
        ids: Option<Vec<ProcessId>>,
        filter: Option<BrokenFilter>,
    ) -> Result<Vec<ProcessId>, ApiError> {
        match (ids, filter) {
            (Some(ids), None) => {
                if ids.is_empty() {
                    return Err(ApiError::invalid("empty selection: process_ids is []"));
                }
                if ids.len() > MAX_SELECTION {
                    return Err(ApiError::invalid(format!(
                        "at most {MAX_SELECTION} process ids per call"
                    )));
                }
                let state = self.core.lock();
                if let Some(id) = ids.iter().find(|id| !state.has_process(id)) {
                    return Err(unknown_process(*id));
                }
                let mut seen = HashSet::with_capacity(ids.len());
                Ok(ids.into_iter().filter(|id| seen.insert(*id)).collect())
            }
            (None, Some(filter)) => {
                if filter.is_empty() {
                    return Err(ApiError::invalid(
                        "a filter needs at least one of error_type, actor, starter",
                    ));
                }
                Ok(self.core.lock().broken_ids(&filter, MAX_SELECTION))
            }
            _ => Err(ApiError::invalid(
                "select processes with exactly one of process_ids or filter",
            )),
        }
    }

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
        .route("/api/v1/broken", get(broken))
        .route("/api/v1/broken/groups", get(broken_groups))
        .route("/api/v1/broken/restart/preview", post(restart_preview))
        .route("/api/v1/broken/restart", post(restart))
        .route("/api/v1/processes/delete", post(delete))
        .route("/api/v1/processes/abort", post(abort))
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

/// A page of a process's history, oldest event first.
#[utoipa::path(get, path = "/api/v1/processes/{id}/history", tag = "processes",
    params(("id" = ProcessId, Path, description = "The process id"), PageQuery),
    responses(
        (status = 200, description = "A page of events", body = HistoryPage),
        (status = 404, description = "No such process", body = ErrorBody),
    ))]
async fn history(
    State(api): State<BrokerApi>,
    Path(id): Path<String>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let page = query(page)?;
    let id = process_id(&id)?;
    Ok(Json(api.history(id, page.offset, page.limit())?).into_response())
}

/// Query of the broken listings: the filter, paging, and for groups `by`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct BrokenQuery {
    /// Only processes broken by this error type.
    #[serde(default)]
    error_type: Option<String>,
    /// Only processes broken at a task of this actor.
    #[serde(default)]
    actor: Option<String>,
    /// Only processes started by this decider.
    #[serde(default)]
    starter: Option<String>,
    /// Items to skip.
    #[serde(default)]
    offset: usize,
    /// Items to return (50 if absent, at most 1000).
    #[serde(default = "default_limit")]
    limit: usize,
    /// For `/api/v1/broken/groups` (required there): what to group by.
    #[serde(default)]
    by: Option<GroupBy>,
}

impl BrokenQuery {
    fn filter(&self) -> BrokenFilter {
        BrokenFilter {
            error_type: self.error_type.clone(),
            actor: self.actor.clone(),
            starter: self.starter.clone(),
        }
    }
}

/// Broken processes, most recently broken first.
#[utoipa::path(get, path = "/api/v1/broken", tag = "broken processes",
    params(BrokenQuery),
    responses((status = 200, description = "A page of broken processes", body = BrokenList)))]
async fn broken(
    State(api): State<BrokerApi>,
    q: Result<Query<BrokenQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    Ok(Json(api.broken(&q.filter(), q.offset, q.limit)).into_response())
}

/// Broken processes counted by error type, actor or starter.
#[utoipa::path(get, path = "/api/v1/broken/groups", tag = "broken processes",
    params(BrokenQuery),
    responses((status = 200, description = "The groups", body = BrokenGroups)))]
async fn broken_groups(
    State(api): State<BrokerApi>,
    q: Result<Query<BrokenQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let by =
        q.by.ok_or_else(|| ApiError::invalid("by is required: error_type, actor or starter"))?;
    Ok(Json(api.broken_groups(by, &q.filter())).into_response())
}

/// The tasks a restart of the selection would run again.
#[utoipa::path(post, path = "/api/v1/broken/restart/preview", tag = "broken processes",
    request_body = Selection,
    responses(
        (status = 200, description = "The tasks", body = RestartPreview),
        (status = 404, description = "A selected process does not exist", body = ErrorBody),
    ))]
async fn restart_preview(
    State(api): State<BrokerApi>,
    ApiJson(sel): ApiJson<Selection>,
) -> Result<Response, ApiError> {
    Ok(Json(api.restart_preview(sel)?).into_response())
}

/// Restarts the broken processes of the selection (their failed tasks run again).
#[utoipa::path(post, path = "/api/v1/broken/restart", operation_id = "restart_broken", tag = "broken processes",
    request_body = Selection,
    responses(
        (status = 200, description = "What was restarted and what was skipped (not broken)", body = RestartAnswer),
        (status = 404, description = "A selected process does not exist", body = ErrorBody),
    ))]
async fn restart(
    State(api): State<BrokerApi>,
    ApiJson(sel): ApiJson<Selection>,
) -> Result<Response, ApiError> {
    Ok(Json(api.restart(sel).await?).into_response())
}

/// Deletes the ended processes of the selection.
#[utoipa::path(post, path = "/api/v1/processes/delete", operation_id = "delete_processes", tag = "processes",
    request_body = Selection,
    responses(
        (status = 200, description = "What was deleted and what was skipped (still running)", body = DeleteAnswer),
        (status = 404, description = "A selected process does not exist", body = ErrorBody),
    ))]
async fn delete(
    State(api): State<BrokerApi>,
    ApiJson(sel): ApiJson<Selection>,
) -> Result<Response, ApiError> {
    Ok(Json(api.delete_processes(sel).await?).into_response())
}

/// Aborts the running or broken processes of the selection.
#[utoipa::path(post, path = "/api/v1/processes/abort", operation_id = "abort_processes", tag = "processes",
    request_body = AbortRequest,
    responses(
        (status = 200, description = "What was aborted and what was skipped (ended)", body = AbortAnswer),
        (status = 404, description = "A selected process does not exist", body = ErrorBody),
    ))]
async fn abort(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<AbortRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(api.abort(req).await?).into_response())
}
