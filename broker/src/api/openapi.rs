//! The API's contract as OpenAPI 3.1, generated from the code: the request and
//! response types derive their schemas next to their serde attributes, each handler
//! carries its `#[utoipa::path]`, and what every route shares (the token it needs, the
//! error answers of the layers in front of it) is added here from the same tables the
//! layers use ([`super::auth::classify`]), so the document cannot drift from what a
//! node does. Every node serves it at `GET /api/v1/openapi.json`; `docs/openapi.json`
//! is the committed copy, and a test fails when the two differ.

use super::auth::{classify, Access};
use crate::model::wire::ErrorBody;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema};

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Suslik",
        description = "A task broker for deciders and workers: processes are trees of tasks whose arguments may be promises of other tasks' results; the broker hands out a task once its arguments are ready. Every answer is JSON; errors are `{\"error\": code, \"message\": text}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::http::start_process,
        super::console::list_processes,
        super::http::get_process,
        super::process_ops::history,
        super::console::graph,
        super::process_ops::delete,
        super::process_ops::abort,
        super::http::poll,
        super::http::release,
        super::http::release_batch,
        super::http::get_task,
        super::fencing::heartbeat,
        super::promises::resolve,
        super::http::queues,
        super::console::queue_tasks,
        super::recovery::purge,
        super::console::actors,
        super::http::blocked,
        super::http::block,
        super::http::unblock,
        super::process_ops::broken,
        super::process_ops::broken_groups,
        super::process_ops::restart_preview,
        super::process_ops::restart,
        super::schedules::list,
        super::schedules::create,
        super::schedules::show,
        super::schedules::delete,
        super::schedules::pause,
        super::schedules::resume,
        super::schedules::run,
        super::http::stats,
        super::monitoring::activity,
        super::monitoring::hovering_route,
        super::monitoring::repeated,
        super::monitoring::monitoring,
        super::monitoring::alerts,
        super::monitoring::metrics,
        super::http::health,
        super::http::ready,
        super::http::cluster_status,
        super::http::backup,
        super::http::add_node,
        super::http::remove_node,
        openapi_json,
    ),
    components(schemas(crate::model::ops::GroupBy)),
    modifiers(&Shared),
)]
struct ApiDoc;

/// The document every node serves.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The document as the JSON text served and committed (pretty, stable order).
pub fn document_json() -> String {
    let mut doc = match serde_json::to_value(document()) {
        Ok(doc) => doc,
        Err(e) => return format!("{{\"error\": \"openapi\", \"message\": \"{e}\"}}\n"),
    };
    optional_as_any_of(&mut doc);
    camel_case_links(&mut doc);
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// utoipa writes an `Option<T>` as `oneOf: [null, T]`; where `T` itself admits `null`
/// (a raw JSON value) `null` then matches both, and `oneOf` rejects it. `anyOf` says
/// what an option means ("null, or a T") and is never ambiguous.
fn optional_as_any_of(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let optional = map
                .get("oneOf")
                .and_then(|o| o.as_array())
                .is_some_and(|alts| {
                    alts.iter()
                        .any(|a| a.get("type").and_then(|t| t.as_str()) == Some("null"))
                });
            if optional {
                if let Some(alts) = map.remove("oneOf") {
                    map.insert("anyOf".to_string(), alts);
                }
            }
            map.values_mut().for_each(optional_as_any_of);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(optional_as_any_of),
        _ => {}
    }
}

/// utoipa 5.5 writes a Link object's fields in snake case (`operation_id`,
/// `request_body`); OpenAPI names them `operationId`, `operationRef`, `requestBody`.
fn camel_case_links(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|r| r.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
            continue;
        };
        for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(snake) {
                    link.insert(camel.to_string(), v);
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object)))]
async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
        .into_response()
}

/// The route serving the document (answered by every node itself).
pub fn routes() -> Router {
    Router::new().route(PATH, get(openapi_json))
}

/// Paths answered by the node itself; every other one is forwarded to the leader
/// and may answer `503 no_leader` during an election.
const LOCAL_PATHS: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/cluster/status",
    "/cluster/backup",
    PATH,
];

/// What every operation shares: its security and the error answers of the layers in
/// front of the handlers (access control, body decoding, leader forwarding).
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, scheme) in [
            ("actor_token", "The actor token (workers, deciders, starters) or the operator token, as a bearer token. Needed only when the node has tokens configured."),
            ("operator_token", "The operator token, as a bearer token. Needed only when the node has tokens configured."),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(scheme))
                        .build(),
                ),
            );
        }
        components
            .schemas
            .insert("ErrorBody".to_string(), ErrorBody::schema());
        for (path, item) in doc.paths.paths.iter_mut() {
            let sample = sample_path(path);
            for (method, op) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
            ] {
                let Some(op) = op else { continue };
                let access = classify(&http_method(&method), &sample);
                share(op, path, access);
                add_links(op);
            }
        }
    }
}

/// The links a client (and schemathesis's stateful phase) follows from an answer to
/// the next call: a started process to its record, history, graph and start task; a
/// poll's first delivery to its task, its heartbeat and its release.
fn add_links(op: &mut Operation) {
    use serde_json::json;
    use utoipa::openapi::link::LinkBuilder;
    let link = |target: &str, param: Option<(&str, &str)>, body: Option<serde_json::Value>| {
        let mut b = LinkBuilder::new().operation_id(target);
        if let Some((name, value)) = param {
            b = b.parameter(name, value);
        }
        b.request_body(body).build()
    };
    let links: Vec<(&str, utoipa::openapi::link::Link)> = match op.operation_id.as_deref() {
        Some("start_process") => {
            let process = Some(("id", "$response.body#/process_id"));
            vec![
                ("GetProcess", link("get_process", process, None)),
                ("GetHistory", link("history", process, None)),
                ("GetGraph", link("graph", process, None)),
                (
                    "GetStartTask",
                    link("get_task", Some(("id", "$response.body#/task_id")), None),
                ),
            ]
        }
        Some("poll") => {
            let task = Some(("id", "$response.body#/tasks/0/task_id"));
            vec![
                ("GetTask", link("get_task", task, None)),
                (
                    "Heartbeat",
                    link(
                        "heartbeat",
                        task,
                        Some(json!({"delivery_id": "$response.body#/tasks/0/delivery_id"})),
                    ),
                ),
                (
                    "Release",
                    link(
                        "release",
                        None,
                        Some(json!({
                            "task_id": "$response.body#/tasks/0/task_id",
                            "delivery_id": "$response.body#/tasks/0/delivery_id",
                            "attempt": "$response.body#/tasks/0/attempt",
                            "outcome": {"value": null},
                        })),
                    ),
                ),
            ]
        }
        _ => return,
    };
    for (_, response) in op
        .responses
        .responses
        .iter_mut()
        .filter(|(status, _)| status.starts_with('2'))
    {
        if let RefOr::T(response) = response {
            for (name, l) in &links {
                response.links.insert(name.to_string(), RefOr::T(l.clone()));
            }
        }
    }
}

/// Adds `access`'s security and the shared error answers to one operation.
fn share(op: &mut Operation, path: &str, access: Access) {
    let none = SecurityRequirement::default();
    let actor = SecurityRequirement::new::<_, _, &str>("actor_token", []);
    let operator = SecurityRequirement::new::<_, _, &str>("operator_token", []);
    op.security = Some(match access {
        Access::Open | Access::Peer => vec![none],
        // No token is needed while the node has none configured.
        Access::Actor => vec![actor, operator, none],
        Access::Operator => vec![operator, none],
    });
    let has_body = op.request_body.is_some();
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    };
    if has_body || has_params {
        add(
            "400",
            "The request is wrong: `invalid` (a field, parameter or id names what), `unknown_field` (with the field probably meant), `malformed_json`",
        );
    }
    if has_body {
        add(
            "413",
            "The body is larger than the node's `max_body_bytes` (`payload_too_large`)",
        );
        add(
            "415",
            "The body is not declared JSON (`unsupported_media_type`)",
        );
    }
    if !matches!(access, Access::Open | Access::Peer) {
        add(
            "401",
            "Tokens are configured and none (or an unknown one) was sent (`unauthorized`)",
        );
        add(
            "403",
            "The actor token was sent to an operator call (`forbidden`)",
        );
    }
    if !LOCAL_PATHS.contains(&path) {
        add(
            "503",
            "No leader is ready (an election, or a new leader applying its log), or the leader did not answer (`no_leader`); retry",
        );
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                "ErrorBody",
            )))),
        )
        .build()
        .into()
}

fn http_method(m: &HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// A concrete path for a template, with a UUID in each parameter (what the access
/// table matches ids against).
fn sample_path(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "00000000-0000-4000-8000-000000000000"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed copy, next to the docs.
    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let generated = document_json();
        if std::env::var_os("SUSLIK_WRITE_OPENAPI").is_some() {
            std::fs::write(COMMITTED, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json differs from the document the code generates; after changing the API, \
             write it again with `SUSLIK_WRITE_OPENAPI=1 cargo test -p suslik-broker --lib openapi` and commit it"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_operation() {
        let doc: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let ops: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(ops, 45, "one operation per route handler");
    }

    #[test]
    fn security_follows_the_access_table() {
        let doc: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        let security = |path: &str, method: &str| doc["paths"][path][method]["security"].clone();
        assert_eq!(security("/health", "get"), serde_json::json!([{}]));
        assert_eq!(
            security("/api/v1/tasks/poll", "post"),
            serde_json::json!([{"actor_token": []}, {"operator_token": []}, {}])
        );
        assert_eq!(
            security("/api/v1/processes/delete", "post"),
            serde_json::json!([{"operator_token": []}, {}])
        );
    }

    #[test]
    fn forwarded_operations_document_no_leader_and_local_ones_do_not() {
        let doc: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        assert!(doc["paths"]["/api/v1/tasks/poll"]["post"]["responses"]["503"].is_object());
        assert!(doc["paths"]["/cluster/status"]["get"]["responses"]["503"].is_null());
        assert!(doc["paths"]["/api/v1/tasks/poll"]["post"]["responses"]["415"].is_object());
    }
}
