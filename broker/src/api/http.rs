//! `/api/v1` over HTTP: thin handlers that decode JSON, call [`BrokerApi`] and encode
//! the answer. Every rejection, including a malformed or oversized body, comes back as
//! the JSON error shape of [`ApiError`].

use super::cluster::{AddNodeRequest, ClusterAdmin, RemoveNodeRequest};
use super::forward::{Forwarder, LeaderForwarding, LOCAL_READ_HEADER};
use super::{ApiError, BrokerApi};
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
use serde::Deserialize;
use serde_json::json;

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

async fn cluster_status(State(admin): State<ClusterAdmin>) -> Response {
    Json(admin.status()).into_response()
}

/// `GET /cluster/backup`: this node's state as a backup file (operator token).
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

async fn add_node(
    State(admin): State<ClusterAdmin>,
    ApiJson(req): ApiJson<AddNodeRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(admin.add_node(req).await?).into_response())
}

async fn remove_node(
    State(admin): State<ClusterAdmin>,
    ApiJson(req): ApiJson<RemoveNodeRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(admin.remove_node(req).await?).into_response())
}

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

async fn poll(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<PollRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(api.poll(req).await?).into_response())
}

async fn release(
    State(api): State<BrokerApi>,
    ApiJson(d): ApiJson<Decision>,
) -> Result<Response, ApiError> {
    Ok(Json(api.release(d).await?).into_response())
}

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

async fn queues(State(api): State<BrokerApi>) -> Response {
    Json(json!({ "queues": api.queues() })).into_response()
}

/// Body of block/unblock.
#[derive(Deserialize)]
struct BlockRequest {
    actor_id: ActorId,
    #[serde(default)]
    task_list: Option<TaskList>,
}

async fn block(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<BlockRequest>,
) -> Result<Response, ApiError> {
    let changed = api.block(req.actor_id, req.task_list).await?;
    Ok(Json(json!({ "changed": changed })).into_response())
}

async fn unblock(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<BlockRequest>,
) -> Result<Response, ApiError> {
    let changed = api.unblock(req.actor_id, req.task_list).await?;
    Ok(Json(json!({ "changed": changed })).into_response())
}

async fn blocked(State(api): State<BrokerApi>) -> Response {
    let list: Vec<_> = api
        .blocked()
        .into_iter()
        .map(|(a, l)| json!({ "actor_id": a, "task_list": l }))
        .collect();
    Json(json!({ "blocked": list })).into_response()
}

async fn stats(State(api): State<BrokerApi>) -> Response {
    Json(api.counts()).into_response()
}

/// Liveness: `200` while the node's Raft core runs. A core that stopped (it does so for
/// good on a storage error such as a full disk) answers `503 raft_stopped`: `suslik
/// serve` then restarts the node in place ([`crate::supervisor`]); an embedded node
/// must be restarted by its owner, and recovers from its log.
async fn health(State(api): State<BrokerApi>) -> Response {
    if api.raft_status().state == RAFT_STOPPED {
        let body = json!({ "status": "raft_stopped", "message": RAFT_STOPPED_MESSAGE });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    Json(json!({ "status": "ok" })).into_response()
}

/// How [`BrokerApi::raft_status`] spells a stopped Raft core.
const RAFT_STOPPED: &str = "Shutdown";
const RAFT_STOPPED_MESSAGE: &str =
    "the Raft core stopped (a storage error, e.g. a full disk); `suslik serve` restarts the node in place once its data directory takes writes again, an embedded node must be restarted";

/// Ready means: a leader is known (this node, serving its own term, or another one),
/// and this node's applied index has caught up with the commit index it knows (within
/// [`READY_MAX_APPLY_LAG`] entries, so a busy node does not flap). The body names the
/// failed check.
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
    let body = json!({
        "ready": failed.is_none(),
        "failed": failed,
        "checks": {
            "leader": raft.leader.is_some(),
            "applied_caught_up": apply_lag <= READY_MAX_APPLY_LAG,
        },
        "committed_index": gauges.committed,
        "apply_lag": apply_lag,
        "raft": raft,
    });
    (status, Json(body)).into_response()
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
