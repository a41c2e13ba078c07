//! `/api/v1` over HTTP: thin handlers that decode JSON, call [`BrokerApi`] and encode
//! the answer. Every rejection, including a malformed or oversized body, comes back as
//! the JSON error shape of [`ApiError`].

use super::cluster::{AddNodeRequest, ClusterAdmin, RemoveNodeRequest};
use super::forward::{Forwarder, LeaderForwarding, LOCAL_READ_HEADER};
use super::{ApiError, BrokerApi};
use crate::model::wire::{
    ErrorBody, PollResponse, ProcessView, QueueView, ReleaseReceipt, StartProcessResponse, TaskView,
};
use crate::model::wire::{PollRequest, ReleaseBatchRequest, StartProcessRequest};
use crate::model::{ActorId, Decision, ProcessId, TaskId, TaskList};
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A JSON body whose rejections are [`ApiError`]s, decoded strictly
/// ([`super::strict_json`]: unknown fields are refused, a wrong shape names its field).
///
/// The body must be declared JSON (`application/json`, or an `application/…+json`
/// type); anything else is `415 unsupported_media_type`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_plain_json(req.headers()) && !is_suffixed_json(req.headers()) {
            return Err(ApiError::new(
                415,
                "unsupported_media_type",
                "the request body must be JSON: send `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(JsonRejection::from)?;
        super::strict_json::decode(&bytes).map(ApiJson)
    }
}

/// Whether the body is declared as a JSON-based type, `application/…+json`.
fn is_suffixed_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime.starts_with("application/") && mime.ends_with("+json")
        })
}

/// Whether the body is declared `application/json` (optionally with parameters such as
/// `; charset=utf-8`), the type every client of the API sends.
fn is_plain_json(headers: &HeaderMap) -> bool {
    const JSON: &[u8] = b"application/json";
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .is_some_and(|v| {
            v.len() >= JSON.len()
                && v[..JSON.len()].eq_ignore_ascii_case(JSON)
                && v[JSON.len()..]
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_none_or(|b| *b == b';')
        })
}

/// Every HTTP route of a node except Raft RPC: the client API and cluster management
/// (forwarded to the leader when this node does not lead), plus local `/health`,
/// `/ready` and `/cluster/status`.
pub fn router(api: BrokerApi, admin: ClusterAdmin, forwarder: Forwarder) -> Router {
    let limit = api.limits().max_body_bytes;
    let management = Router::new()
        .route("/cluster/add-node", post(add_node))
        .route("/cluster/remove-node", post(remove_node))
        .with_state(admin.clone());
    let local = Router::new()
        .route("/cluster/status", get(cluster_status))
        .route("/cluster/backup", get(backup))
        .with_state(admin);
    client_api(api.clone())
        .merge(management)
        .layer(LeaderForwarding::new(forwarder))
        .merge(local)
        .merge(super::monitoring::local_routes(api.clone()))
        .merge(super::openapi::routes())
        .merge(super::console::assets())
        .merge(
            Router::new()
                .route("/health", get(health))
                .route("/ready", get(ready))
                .with_state(api),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(method_not_allowed_as_json))
        .layer(axum::middleware::map_response(security_headers))
}

/// The console's policy: its page, script, styles and API calls come from this node
/// only, no inline script runs, and no page elsewhere may frame it (its restart,
/// abort and delete buttons cannot be clicked through a disguise).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The usual security headers on every answer, API and console alike.
async fn security_headers(mut response: Response) -> Response {
    use axum::http::header::{
        CONTENT_SECURITY_POLICY as CSP, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
    };
    use axum::http::HeaderValue;
    let headers = response.headers_mut();
    headers.insert(CSP, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// axum answers a known path with the wrong method `405` with an `Allow` header and an
/// empty body; the API promises its JSON error shape on every answer, so the body
/// names the method, the path and the methods the path takes.
async fn method_not_allowed_as_json(req: Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let response = next.run(req).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let allowed = allow
        .as_ref()
        .and_then(|a| a.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut answer = ApiError::new(
        405,
        "method_not_allowed",
        format!("{method} is not allowed on {path}; it takes {allowed}"),
    )
    .into_response();
    if let Some(allow) = allow {
        answer
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow);
    }
    answer
}

fn client_api(api: BrokerApi) -> Router {
    Router::new()
        .route(
            "/api/v1/processes",
            post(start_process).get(super::console::list_processes),
        )
        .route("/api/v1/processes/{id}", get(get_process))
        .route("/api/v1/tasks/poll", post(poll))
        .route("/api/v1/tasks/release", post(release))
        .route("/api/v1/tasks/release/batch", post(release_batch))
        .route("/api/v1/tasks/{id}", get(get_task))
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/actors/blocked", get(blocked))
        .route("/api/v1/actors/block", post(block))
        .route("/api/v1/actors/unblock", post(unblock))
        .with_state(api.clone())
        .merge(super::process_ops::routes(api.clone()))
        .merge(super::schedules::routes(api.clone()))
        .merge(super::promises::routes(api.clone()))
        .merge(super::monitoring::routes(api.clone()))
        .merge(super::console::routes(api.clone()))
        .merge(super::recovery::routes(api.clone()))
        .merge(super::fencing::routes(api))
}

/// The cluster's members, leader, terms and formats as this node sees them.
#[utoipa::path(get, path = "/cluster/status", tag = "cluster",
    responses((status = 200, description = "The cluster as this node sees it", body = super::cluster::ClusterStatus)))]
async fn cluster_status(State(admin): State<ClusterAdmin>) -> Response {
    Json(admin.status()).into_response()
}

/// `GET /cluster/backup`: this node's state as a backup file (operator token).
#[utoipa::path(get, path = "/cluster/backup", tag = "cluster",
    responses(
        (status = 200, description = "A backup file (SUSLIKBK, format 1): give it to `suslik restore`", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 503, description = "The snapshot could not be built (`backup_failed`)", body = ErrorBody),
    ))]
async fn backup(State(admin): State<ClusterAdmin>) -> Result<Response, ApiError> {
    let bytes = admin.backup().await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/octet-stream"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"suslik.backup\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Adds a node: as a learner that catches up, then (unless `learner_only`) as a voter.
#[utoipa::path(post, path = "/cluster/add-node", tag = "cluster",
    request_body = AddNodeRequest,
    responses(
        (status = 200, description = "The cluster after the change", body = super::cluster::ClusterStatus),
        (status = 400, description = "No node answers at `addr` as `node_id` (`bad_node`)", body = ErrorBody),
        (status = 409, description = "The address belongs to another member, the id is a member at another address (`conflict`), or another membership change is under way (`membership_conflict`)", body = ErrorBody),
    ))]
async fn add_node(
    State(admin): State<ClusterAdmin>,
    ApiJson(req): ApiJson<AddNodeRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(admin.add_node(req).await?).into_response())
}

/// Removes a node from the cluster.
#[utoipa::path(post, path = "/cluster/remove-node", tag = "cluster",
    request_body = RemoveNodeRequest,
    responses(
        (status = 200, description = "The cluster after the change", body = super::cluster::ClusterStatus),
        (status = 404, description = "The node is not a member (`unknown_node`)", body = ErrorBody),
        (status = 409, description = "Another membership change is under way, or the change would leave no voter (`membership_conflict`)", body = ErrorBody),
    ))]
async fn remove_node(
    State(admin): State<ClusterAdmin>,
    ApiJson(req): ApiJson<RemoveNodeRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(admin.remove_node(req).await?).into_response())
}

/// Starts a process: registers it and enqueues its start task for the decider.
#[utoipa::path(post, path = "/api/v1/processes", tag = "processes",
    request_body = StartProcessRequest,
    responses(
        (status = 201, description = "Started", body = StartProcessResponse),
        (status = 200, description = "The idempotency key (or unique custom id) was used before: the process it started", body = StartProcessResponse),
        (status = 409, description = "The process id or start task id is taken by another process", body = ErrorBody),
    ))]
async fn start_process(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<StartProcessRequest>,
) -> Result<Response, ApiError> {
    let r = api.start_process(req).await?;
    let status = if r.existing {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(r)).into_response())
}

/// A process with its state, result and tasks (a linearizable read).
#[utoipa::path(get, path = "/api/v1/processes/{id}", tag = "processes",
    params(("id" = ProcessId, Path, description = "The process id")),
    responses(
        (status = 200, description = "The process", body = ProcessView),
        (status = 404, description = "No such process (`unknown_process`)", body = ErrorBody),
    ))]
async fn get_process(
    State(api): State<BrokerApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id: ProcessId = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("{id:?} is not a process id (a UUID)")))?;
    let view = if headers.contains_key(LOCAL_READ_HEADER) {
        api.process_local(id)?
    } else {
        api.process(id).await?
    };
    Ok(Json(view).into_response())
}

/// One task with its status, arguments and result (a linearizable read).
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = TaskId, Path, description = "The task id")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 404, description = "No such task (`unknown_task`)", body = ErrorBody),
    ))]
async fn get_task(
    State(api): State<BrokerApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id: TaskId = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("{id:?} is not a task id (a UUID)")))?;
    let view = if headers.contains_key(LOCAL_READ_HEADER) {
        api.task_local(id)?
    } else {
        api.task(id).await?
    };
    Ok(Json(view).into_response())
}

/// Hands out up to `max` ready tasks of one actor and task list, waiting up to
/// `wait_ms` for one (a long poll costs nothing while it waits).
#[utoipa::path(post, path = "/api/v1/tasks/poll", tag = "tasks",
    request_body = PollRequest,
    responses((status = 200, description = "The tasks handed out (possibly none)", body = PollResponse)))]
async fn poll(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<PollRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(api.poll(req).await?).into_response())
}

/// Releases a delivered task: its result, error or promise, and the tasks a decider
/// spawns. Idempotent by task id: a repeat answers the first receipt with `duplicate`.
#[utoipa::path(post, path = "/api/v1/tasks/release", tag = "tasks",
    request_body = Decision,
    responses(
        (status = 200, description = "What the release did", body = ReleaseReceipt),
        (status = 404, description = "No such task or process", body = ErrorBody),
        (status = 409, description = "The task was released already with another outcome, was handed to another worker since (`stale_delivery`), or its process was aborted", body = ErrorBody),
    ))]
async fn release(
    State(api): State<BrokerApi>,
    ApiJson(d): ApiJson<Decision>,
) -> Result<Response, ApiError> {
    Ok(Json(api.release(d).await?).into_response())
}

/// Releases several tasks at once; each decision gets its own receipt or error.
#[utoipa::path(post, path = "/api/v1/tasks/release/batch", tag = "tasks",
    request_body = ReleaseBatchRequest,
    responses((status = 200, description = "One answer per decision, in order", body = crate::model::wire::ReleaseBatchResponse)))]
async fn release_batch(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<ReleaseBatchRequest>,
) -> Result<Response, ApiError> {
    if req.decisions.len() > api.limits().max_poll_tasks as usize {
        return Err(ApiError::invalid(format!(
            "a batch may hold at most {} decisions",
            api.limits().max_poll_tasks
        )));
    }
    Ok(Json(api.release_batch(req.decisions).await).into_response())
}

/// Every non-empty queue and every blocked one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QueueList {
    pub queues: Vec<QueueView>,
}

/// The ready queues: per actor and task list, how many tasks wait.
#[utoipa::path(get, path = "/api/v1/queues", tag = "queues",
    responses((status = 200, description = "The queues", body = QueueList)))]
async fn queues(State(api): State<BrokerApi>) -> Response {
    Json(QueueList {
        queues: api.queues(),
    })
    .into_response()
}

/// Body of block/unblock.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct BlockRequest {
    actor_id: ActorId,
    #[serde(default)]
    task_list: Option<TaskList>,
}

/// Whether a block or unblock changed anything.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Changed {
    pub changed: bool,
}

/// Blocks an actor (every task list, or one): its polls get nothing until unblocked.
#[utoipa::path(post, path = "/api/v1/actors/block", tag = "actors",
    request_body = BlockRequest,
    responses((status = 200, description = "`changed` is false if it was blocked already", body = Changed)))]
async fn block(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<BlockRequest>,
) -> Result<Response, ApiError> {
    let changed = api.block(req.actor_id, req.task_list).await?;
    Ok(Json(Changed { changed }).into_response())
}

/// Unblocks an actor.
#[utoipa::path(post, path = "/api/v1/actors/unblock", tag = "actors",
    request_body = BlockRequest,
    responses((status = 200, description = "`changed` is false if it was not blocked", body = Changed)))]
async fn unblock(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<BlockRequest>,
) -> Result<Response, ApiError> {
    let changed = api.unblock(req.actor_id, req.task_list).await?;
    Ok(Json(Changed { changed }).into_response())
}

/// One blocked actor; no task list means every task list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BlockedActor {
    pub actor_id: ActorId,
    pub task_list: Option<TaskList>,
}

/// The blocked actors.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BlockedList {
    pub blocked: Vec<BlockedActor>,
}

/// The blocked actors.
#[utoipa::path(get, path = "/api/v1/actors/blocked", tag = "actors",
    responses((status = 200, description = "The blocked actors", body = BlockedList)))]
async fn blocked(State(api): State<BrokerApi>) -> Response {
    let blocked = api
        .blocked()
        .into_iter()
        .map(|(actor_id, task_list)| BlockedActor {
            actor_id,
            task_list,
        })
        .collect();
    Json(BlockedList { blocked }).into_response()
}

/// Sizes of the replicated state.
#[utoipa::path(get, path = "/api/v1/stats", tag = "monitoring",
    responses((status = 200, description = "Counts of processes, tasks, timers, promises, leases", body = crate::state_machine::Counts)))]
async fn stats(State(api): State<BrokerApi>) -> Response {
    Json(api.counts()).into_response()
}

/// Liveness: `200` while the node's Raft core runs. A core that stopped (it does so for
/// good on a storage error such as a full disk) answers `503 raft_stopped`: `suslik
/// serve` then restarts the node in place ([`crate::supervisor`]); an embedded node
/// must be restarted by its owner, and recovers from its log.
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "The Raft core runs", body = Health),
        (status = 503, description = "The Raft core stopped (`raft_stopped`)", body = Health),
    ))]
async fn health(State(api): State<BrokerApi>) -> Response {
    if api.raft_status().state == RAFT_STOPPED {
        let body = Health {
            status: "raft_stopped".into(),
            message: Some(RAFT_STOPPED_MESSAGE.into()),
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    Json(Health {
        status: "ok".into(),
        message: None,
    })
    .into_response()
}

/// Answer of `/health`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `raft_stopped`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How [`BrokerApi::raft_status`] spells a stopped Raft core.
const RAFT_STOPPED: &str = "Shutdown";
const RAFT_STOPPED_MESSAGE: &str =
    "the Raft core stopped (a storage error, e.g. a full disk); `suslik serve` restarts the node in place once its data directory takes writes again, an embedded node must be restarted";

/// Ready means: a leader is known (this node, serving its own term, or another one),
/// and this node's applied index has caught up with the commit index it knows (within
/// [`READY_MAX_APPLY_LAG`] entries, so a busy node does not flap). The body names the
/// failed check.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: `failed` names the check", body = Readiness),
    ))]
async fn ready(State(api): State<BrokerApi>) -> Response {
    let raft = api.raft_status();
    let gauges = api.raft_gauges().await;
    let apply_lag = gauges.committed.saturating_sub(gauges.applied);
    let failed = if raft.state == RAFT_STOPPED {
        Some("raft_stopped")
    } else if raft.leader.is_none() {
        Some("no_leader")
    } else if raft.leader == Some(raft.node_id) && !api.is_serving_leader() {
        Some("leader_applying_earlier_terms")
    } else if apply_lag > READY_MAX_APPLY_LAG {
        Some("apply_lag")
    } else {
        None
    };
    let status = if failed.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready: failed.is_none(),
        failed,
        checks: ReadinessChecks {
            leader: raft.leader.is_some(),
            applied_caught_up: apply_lag <= READY_MAX_APPLY_LAG,
        },
        committed_index: gauges.committed,
        apply_lag,
        raft,
    };
    (status, Json(body)).into_response()
}

/// Answer of `/ready`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// The check that failed: `raft_stopped`, `no_leader`,
    /// `leader_applying_earlier_terms` or `apply_lag`.
    pub failed: Option<&'static str>,
    pub checks: ReadinessChecks,
    pub committed_index: u64,
    pub apply_lag: u64,
    pub raft: super::RaftStatus,
}

/// The checks of `/ready`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadinessChecks {
    pub leader: bool,
    pub applied_caught_up: bool,
}

/// Committed-but-unapplied entries `/ready` tolerates.
pub const READY_MAX_APPLY_LAG: u64 = 16;

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint; see docs/api.md")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_str(t).unwrap(),
        );
        h
    }

    #[test]
    fn plain_json_bodies_take_the_direct_decoder() {
        for t in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=utf-8",
        ] {
            assert!(is_plain_json(&with_type(t)), "{t}");
        }
        // Everything else goes through axum's `Json`, which accepts `+json` types and
        // rejects the rest with 415.
        for t in [
            "application/jsonx",
            "application/cloudevents+json",
            "text/json",
            "",
        ] {
            assert!(!is_plain_json(&with_type(t)), "{t}");
        }
        assert!(!is_plain_json(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn a_body_that_does_not_decode_names_the_field() {
        let req = Request::builder()
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                r#"{"actor_id": "a#1", "max": "many"}"#,
            ))
            .unwrap();
        let Err(e) = ApiJson::<PollRequest>::from_request(req, &()).await else {
            panic!("a string is not a count");
        };
        assert_eq!((e.status, e.body.error.as_str()), (400, "invalid"));
        assert!(e.body.message.contains("max"), "{}", e.body.message);
    }
}
