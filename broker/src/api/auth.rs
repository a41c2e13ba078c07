//! Access control: bearer tokens for clients, a shared secret between cluster peers.
//!
//! Every request is classified by method and path into one [`Access`] class before it is
//! routed or forwarded, so a refused call never reaches the API, the forwarder or Raft:
//! - [`Access::Open`]: `/health`, `/ready` and the console's static assets (the console
//!   asks for the operator token itself and sends it with its API calls);
//! - [`Access::Actor`]: what deciders and workers need ([`ACTOR_ROUTES`]); the actor
//!   token or the operator token;
//! - [`Access::Operator`]: everything else (the rest of `/api/v1`, `/cluster/*`,
//!   `/metrics`, unknown paths): only the operator token. A route nobody classified is
//!   therefore operator-only: a new endpoint fails closed;
//! - [`Access::Peer`]: Raft RPC under `/raft/`: the peer secret in [`PEER_SECRET_HEADER`].
//!
//! Clients send `Authorization: Bearer <token>`. A missing or unknown token is `401
//! unauthorized`; a valid token of the wrong role is `403 forbidden`. With no client
//! token configured the client API is open (the binary allows that only on a loopback
//! address, see `suslik serve --insecure`); with no peer secret Raft RPC is open.
//! Tokens are compared in constant time.

use super::ApiError;
use axum::extract::Request;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use futures::future::{ready, Either, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Header carrying the cluster's shared secret on Raft RPC.
pub const PEER_SECRET_HEADER: &str = "x-suslik-peer-secret";

/// Routes the actor token may call: (method, path pattern; `{uuid}` is one segment
/// holding a UUID, so `/api/v1/tasks/repeated` is not `/api/v1/tasks/{uuid}`).
/// Everything under `/api/v1` and `/cluster` that is not listed here needs the
/// operator token.
pub const ACTOR_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/processes"),
    ("GET", "/api/v1/processes/{uuid}"),
    ("POST", "/api/v1/tasks/poll"),
    ("POST", "/api/v1/tasks/release"),
    ("POST", "/api/v1/tasks/release/batch"),
    ("GET", "/api/v1/tasks/{uuid}"),
    ("POST", "/api/v1/tasks/{uuid}/heartbeat"),
    ("POST", "/api/v1/promises/{uuid}/resolve"),
];

/// Paths anyone may call.
pub const OPEN_PATHS: &[&str] = &["/health", "/ready", super::openapi::PATH];

/// Path prefixes anyone may call (static console assets; its API calls carry a token).
pub const OPEN_PREFIXES: &[&str] = &["/console"];

/// Path prefix of node-to-node Raft RPC.
pub const PEER_PREFIX: &str = "/raft/";

/// Who may make a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    Actor,
    Operator,
    Peer,
}

/// The tokens of one node. Empty strings count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// Grants the [`ACTOR_ROUTES`].
    pub actor_token: Option<String>,
    /// Grants every call (operator and actor routes).
    pub operator_token: Option<String>,
    /// Shared by all members of a cluster; sent and required on Raft RPC.
    pub peer_secret: Option<String>,
}

impl AuthConfig {
    /// Whether client calls need a token.
    pub fn clients_need_token(&self) -> bool {
        set(&self.actor_token).is_some() || set(&self.operator_token).is_some()
    }

    /// The peer secret, if one is set.
    pub fn peer_secret(&self) -> Option<&str> {
        set(&self.peer_secret)
    }
}

fn set(t: &Option<String>) -> Option<&str> {
    t.as_deref().filter(|t| !t.is_empty())
}

/// Classifies a request by method and path.
pub fn classify(method: &Method, path: &str) -> Access {
    if OPEN_PATHS.contains(&path)
        || OPEN_PREFIXES.iter().any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    {
        return Access::Open;
    }
    if path.starts_with(PEER_PREFIX) {
        return Access::Peer;
    }
    if ACTOR_ROUTES
        .iter()
        .any(|(m, pattern)| method.as_str() == *m && matches_pattern(pattern, path))
    {
        return Access::Actor;
    }
    Access::Operator
}

/// `/a/{uuid}/b` matches `/a/<a UUID>/b`; other segments match literally.
fn matches_pattern(pattern: &str, path: &str) -> bool {
    if !pattern.contains('{') {
        return pattern == path;
    }
    let mut p = pattern.split('/');
    let mut s = path.split('/');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some("{uuid}"), Some(got)) => {
                if got.len() != 36 || uuid::Uuid::parse_str(got).is_err() {
                    return false;
                }
            }
            (Some(want), Some(got)) => {
                if want != got {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Equality that takes the same time wherever the first difference is.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a bearer token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Actor,
    Operator,
}

impl AuthConfig {
    fn grant(&self, token: &str) -> Option<Grant> {
        // Check both in full so the timing does not say which one matched.
        let operator = set(&self.operator_token).is_some_and(|t| same_secret(t, token));
        let actor = set(&self.actor_token).is_some_and(|t| same_secret(t, token));
        if operator {
            Some(Grant::Operator)
        } else if actor {
            Some(Grant::Actor)
        } else {
            None
        }
    }

    /// Decides one call: `Ok` to serve it, or the error answer.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &axum::http::HeaderMap,
    ) -> Result<(), ApiError> {
        // No token and no secret configured (the loopback default): everything is open,
        // and no request needs classifying.
        if !self.clients_need_token() && self.peer_secret().is_none() {
            return Ok(());
        }
        match classify(method, path) {
            Access::Open => Ok(()),
            Access::Peer => match self.peer_secret() {
                None => Ok(()),
                Some(secret) => {
                    let sent = headers
                        .get(PEER_SECRET_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if same_secret(secret, sent) {
                        Ok(())
                    } else {
                        Err(ApiError::new(
                            401,
                            "unauthorized",
                            "raft rpc needs the cluster's peer secret (peer_secret in [auth])",
                        ))
                    }
                }
            },
            access @ (Access::Actor | Access::Operator) => {
                if !self.clients_need_token() {
                    return Ok(());
                }
                let grant = bearer(headers).and_then(|t| self.grant(t)).ok_or_else(|| {
                    ApiError::new(
                        401,
                        "unauthorized",
                        "this call needs a token: send `Authorization: Bearer <token>`",
                    )
                })?;
                match (access, grant) {
                    (_, Grant::Operator) | (Access::Actor, Grant::Actor) => Ok(()),
                    _ => Err(ApiError::new(
                        403,
                        "forbidden",
                        format!("{method} {path} needs the operator token"),
                    )),
                }
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// The access-control layer: answers 401/403 for a call its token does not allow and
/// passes the rest on. A hand-written tower layer rather than `axum::middleware::from_fn`:
/// every request passes here, and `from_fn` costs a boxed service, a boxed future and a
/// clone of the inner service per request; this costs an `Arc` clone and the check.
#[derive(Clone)]
pub struct RequireToken(Arc<AuthConfig>);

impl RequireToken {
    pub fn new(auth: AuthConfig) -> Self {
        RequireToken(Arc::new(auth))
    }
}

impl<S> Layer<S> for RequireToken {
    type Service = RequireTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireTokenService {
            auth: self.0.clone(),
            inner,
        }
    }
}

/// [`RequireToken`] around one route.
#[derive(Clone)]
pub struct RequireTokenService<S> {
    auth: Arc<AuthConfig>,
    inner: S,
}

impl<S> Service<Request> for RequireTokenService<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match self
            .auth
            .check(req.method(), req.uri().path(), req.headers())
        {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(e) => {
                tracing::debug!(method = %req.method(), path = req.uri().path(), code = %e.body.error, "call refused");
                Either::Right(ready(Ok(e.into_response())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn tokens() -> AuthConfig {
        AuthConfig {
            actor_token: Some("act".into()),
            operator_token: Some("op".into()),
            peer_secret: Some("peer".into()),
        }
    }

    fn with_bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
        h
    }

    fn status(r: Result<(), ApiError>) -> u16 {
        r.err().map_or(200, |e| e.status)
    }

    #[test]
    fn routes_are_classified_by_method_and_path() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(classify(&get, "/health"), Access::Open);
        assert_eq!(classify(&get, "/console/app.js"), Access::Open);
        assert_eq!(classify(&get, "/consoleX"), Access::Operator);
        assert_eq!(classify(&post, "/raft/append"), Access::Peer);
        assert_eq!(classify(&post, "/api/v1/tasks/poll"), Access::Actor);
        let id = "0b6e2c1a-4b7e-4f2e-9a57-0c1d2e3f4a5b";
        assert_eq!(
            classify(&get, &format!("/api/v1/tasks/{id}")),
            Access::Actor
        );
        let heartbeat = format!("/api/v1/tasks/{id}/heartbeat");
        assert_eq!(classify(&post, &heartbeat), Access::Actor);
        assert_eq!(classify(&get, "/api/v1/tasks/abc"), Access::Operator);
        assert_eq!(classify(&get, "/api/v1/tasks/repeated"), Access::Operator);
        assert_eq!(classify(&get, "/api/v1/tasks/"), Access::Operator);
        assert_eq!(classify(&get, "/api/v1/processes"), Access::Operator);
        assert_eq!(classify(&post, "/api/v1/processes"), Access::Actor);
        let history = format!("/api/v1/processes/{id}/history");
        assert_eq!(classify(&get, &history), Access::Operator);
        assert_eq!(classify(&get, "/metrics"), Access::Operator);
        assert_eq!(classify(&post, "/cluster/add-node"), Access::Operator);
    }

    #[test]
    fn tokens_grant_their_role_only() {
        let a = tokens();
        let poll = (Method::POST, "/api/v1/tasks/poll");
        let stats = (Method::GET, "/api/v1/stats");
        let none = HeaderMap::new();
        assert_eq!(status(a.check(&poll.0, poll.1, &none)), 401);
        assert_eq!(status(a.check(&poll.0, poll.1, &with_bearer("nope"))), 401);
        assert_eq!(status(a.check(&poll.0, poll.1, &with_bearer("act"))), 200);
        assert_eq!(status(a.check(&poll.0, poll.1, &with_bearer("op"))), 200);
        assert_eq!(status(a.check(&stats.0, stats.1, &with_bearer("act"))), 403);
        assert_eq!(status(a.check(&stats.0, stats.1, &with_bearer("op"))), 200);
        assert_eq!(status(a.check(&Method::GET, "/ready", &none)), 200);
    }

    #[test]
    fn raft_rpc_needs_the_peer_secret_when_one_is_set() {
        let a = tokens();
        let mut h = HeaderMap::new();
        assert_eq!(status(a.check(&Method::POST, "/raft/vote", &h)), 401);
        // A client token is not the peer secret.
        assert_eq!(
            status(a.check(&Method::POST, "/raft/vote", &with_bearer("op"))),
            401
        );
        h.insert(PEER_SECRET_HEADER, HeaderValue::from_static("peer"));
        assert_eq!(status(a.check(&Method::POST, "/raft/vote", &h)), 200);
        let open = AuthConfig::default();
        assert_eq!(
            status(open.check(&Method::POST, "/raft/vote", &HeaderMap::new())),
            200
        );
    }

    #[test]
    fn no_tokens_means_an_open_client_api() {
        let open = AuthConfig {
            actor_token: Some(String::new()),
            ..AuthConfig::default()
        };
        assert!(!open.clients_need_token());
        assert_eq!(
            status(open.check(&Method::GET, "/api/v1/stats", &HeaderMap::new())),
            200
        );
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
