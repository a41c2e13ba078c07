//! The console's side of the API: the read-only listings it shows (processes, actors,
//! a process's task graph, one queue's tasks) and the embedded console page itself.
//!
//! The listings are ordinary client API routes (forwarded to the leader like every
//! other call, so a console on a follower shows the leader's fresh state). The page
//! and its assets are served locally by every node ([`assets`]): they are static and
//! need no leader.

use super::{ApiError, BrokerApi};
use crate::model::{ActorId, Millis, ProcessId, ProcessState, QueueKey, TaskList};
use crate::state_machine::{
    ActorView, Page, ProcessGraph, ProcessQuery, ProcessSummary, QueuedTask,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;

/// Default page size of the lists.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page a list answers.
pub const MAX_LIMIT: usize = 1000;
/// Default and largest number of tasks one process graph lists.
pub const DEFAULT_GRAPH_NODES: usize = 1000;
pub const MAX_GRAPH_NODES: usize = 5000;

impl BrokerApi {
    /// Processes matching `q`, newest first.
    pub fn list_processes(&self, q: &ProcessQuery) -> Page<ProcessSummary> {
        self.core.lock().list_processes(q)
    }

    /// Every actor with tasks in the state or blocked.
    pub fn actors(&self) -> Vec<ActorView> {
        self.core.lock().actor_views()
    }

    /// A process's tasks and the promise dependencies between them.
    pub fn process_graph(&self, id: ProcessId, max_nodes: usize) -> Result<ProcessGraph, ApiError> {
        self.core
            .lock()
            .process_graph(&id, max_nodes)
            .ok_or_else(|| ApiError::not_found("unknown_process", format!("unknown process {id}")))
    }

    /// The tasks waiting in one queue, in delivery order.
    pub fn queue_tasks(&self, key: &QueueKey, offset: usize, limit: usize) -> Page<QueuedTask> {
        self.core.lock().queue_tasks(key, offset, limit)
    }
}

/// The console's listing routes (merged into the client API; `GET /api/v1/processes`
/// is registered next to the start in `http.rs`, as it shares the path).
pub fn routes(api: BrokerApi) -> Router {
    Router::new()
        .route("/api/v1/actors", get(actors))
        .route("/api/v1/processes/{id}/graph", get(graph))
        .route("/api/v1/queues/{actor_id}/tasks", get(queue_tasks))
        .with_state(api)
}

/// The console page and its assets, served by every node without forwarding.
pub fn assets() -> Router {
    Router::new()
        .route("/console", get(|| serve_asset(String::new())))
        .route("/console/", get(|| serve_asset(String::new())))
        .route(
            "/console/{*path}",
            get(|Path(p): Path<String>| serve_asset(p)),
        )
}

async fn serve_asset(path: String) -> Response {
    match suslik_console::asset(&path) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.bytes,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "not_found", "message": format!("no console asset {path:?}") })),
        )
            .into_response(),
    }
}

/// Query parameters, checked by name: an unknown one is a 400 (a typo would otherwise
/// silently list everything). Empty values count as absent, as HTML forms send them.
struct Params(HashMap<String, String>);

impl Params {
    fn new(
        q: Result<Query<HashMap<String, String>>, QueryRejection>,
        allowed: &[&str],
    ) -> Result<Params, ApiError> {
        let Query(map) = q.map_err(|e| ApiError::invalid(format!("bad query string: {e}")))?;
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!(
                "unknown query parameter {k:?}; known: {}",
                allowed.join(", ")
            )));
        }
        Ok(Params(map))
    }

    fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).filter(|v| !v.is_empty()).cloned()
    }

    fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.text(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::invalid(format!("{key} must be a non-negative integer, not {v:?}"))
                })
            })
            .transpose()
    }

    fn offset(&self) -> Result<usize, ApiError> {
        Ok(self.number("offset")?.unwrap_or(0) as usize)
    }

    fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        let limit = self.number("limit")?.map_or(default, |l| l as usize);
        if limit == 0 || limit > max {
            return Err(ApiError::invalid(format!(
                "limit must be between 1 and {max}, not {limit}"
            )));
        }
        Ok(limit)
    }
}

/// Processes, newest first, filtered by state, starter, custom id, id prefix and
/// start time. An unknown query parameter is a 400.
#[utoipa::path(get, path = "/api/v1/processes", tag = "processes",
    params(
        ("state" = Option<ProcessState>, Query, description = "Only processes in this state"),
        ("actor" = Option<String>, Query, description = "Only processes whose starting decider begins with this"),
        ("starter" = Option<String>, Query, description = "The same as `actor`"),
        ("custom_id" = Option<String>, Query, description = "Only processes with this custom id"),
        ("id" = Option<String>, Query, description = "Only processes whose id begins with this"),
        ("from" = Option<u64>, Query, description = "Started at or after (ms since the epoch)"),
        ("to" = Option<u64>, Query, description = "Started before (ms since the epoch)"),
        ("offset" = Option<usize>, Query, description = "Items to skip"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "Items to return (default 50)"),
    ),
    responses((status = 200, description = "A page of processes", body = Page<ProcessSummary>)))]
pub(super) async fn list_processes(
    State(api): State<BrokerApi>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = Params::new(
        q,
        &[
            "state",
            "actor",
            "starter",
            "custom_id",
            "id",
            "from",
            "to",
            "offset",
            "limit",
        ],
    )?;
    let state = p
        .text("state")
        .map(|s| {
            serde_json::from_value::<ProcessState>(json!(s)).map_err(|_| {
                ApiError::invalid(format!(
                    "state must be running, finished, broken or aborted, not {s:?}"
                ))
            })
        })
        .transpose()?;
    let starter = match (p.text("actor"), p.text("starter")) {
        (Some(a), Some(s)) if !a.starts_with(&s) && !s.starts_with(&a) => {
            // Two disjoint prefixes of the same field: nothing can match.
            return Ok(Json(Page::<ProcessSummary> {
                total: 0,
                items: vec![],
            })
            .into_response());
        }
        (Some(a), Some(s)) => Some(if a.len() >= s.len() { a } else { s }),
        (a, s) => a.or(s),
    };
    let q = ProcessQuery {
        state,
        id: p.text("id"),
        custom_id: p.text("custom_id"),
        starter,
        from: p.number("from")?.map(Millis),
        to: p.number("to")?.map(Millis),
        offset: p.offset()?,
        limit: p.limit(DEFAULT_LIMIT, MAX_LIMIT)?,
    };
    Ok(Json(api.list_processes(&q)).into_response())
}

/// Every actor with tasks, with its counts per task list.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ActorList {
    pub items: Vec<ActorView>,
}

/// Every actor that has tasks, with its counts.
#[utoipa::path(get, path = "/api/v1/actors", tag = "actors",
    responses((status = 200, description = "The actors", body = ActorList)))]
async fn actors(State(api): State<BrokerApi>) -> Response {
    Json(ActorList {
        items: api.actors(),
    })
    .into_response()
}

/// A process's tasks and the promises between them, as nodes and edges.
#[utoipa::path(get, path = "/api/v1/processes/{id}/graph", tag = "processes",
    params(
        ("id" = ProcessId, Path, description = "The process id"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 5000, description = "At most this many nodes (default 1000)"),
    ),
    responses(
        (status = 200, description = "The graph", body = ProcessGraph),
        (status = 404, description = "No such process", body = crate::model::wire::ErrorBody),
    ))]
async fn graph(
    State(api): State<BrokerApi>,
    Path(id): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = Params::new(q, &["limit"])?;
    let id: ProcessId = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("{id:?} is not a process id (a UUID)")))?;
    let max = p.limit(DEFAULT_GRAPH_NODES, MAX_GRAPH_NODES)?;
    Ok(Json(api.process_graph(id, max)?).into_response())
}

/// The tasks waiting in one queue, in the order they will be handed out.
#[utoipa::path(get, path = "/api/v1/queues/{actor_id}/tasks", tag = "queues",
    params(
        ("actor_id" = ActorId, Path, description = "The actor, `name#version`"),
        ("task_list" = Option<TaskList>, Query, description = "The task list (the default list if absent)"),
        ("offset" = Option<usize>, Query, description = "Items to skip"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "Items to return (default 50)"),
    ),
    responses((status = 200, description = "A page of queued tasks", body = Page<QueuedTask>)))]
async fn queue_tasks(
    State(api): State<BrokerApi>,
    Path(actor): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = Params::new(q, &["task_list", "offset", "limit"])?;
    let actor_id = ActorId::new(&actor)
        .map_err(|e| ApiError::invalid(format!("{actor:?} is not an actor id: {e}")))?;
    let task_list = match p.text("task_list") {
        Some(l) => TaskList::new(&l)
            .map_err(|e| ApiError::invalid(format!("{l:?} is not a task list: {e}")))?,
        None => TaskList::default_list(),
    };
    let key = QueueKey::new(actor_id, task_list);
    let page = api.queue_tasks(&key, p.offset()?, p.limit(DEFAULT_LIMIT, MAX_LIMIT)?);
    Ok(Json(page).into_response())
}
