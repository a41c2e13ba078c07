//! Any node accepts any client call: a node that is not the leader forwards the
//! request over HTTP to the leader and relays the answer, so clients need not know
//! which node leads. A forwarded request carries a marker header and is never
//! forwarded twice (no loops while leadership moves): it is served where it lands, so
//! on a node that no longer leads a write or a poll gets 503 from the API itself.

use crate::raft::{Raft, StartupLog};
use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::{ready, BoxFuture, Either, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower_layer::Layer;
use tower_service::Service;

use super::ApiError;

/// Marks a request that one node already forwarded.
pub const FORWARDED_HEADER: &str = "x-suslik-forwarded-by";

/// Asks a node to answer from its own replica, leader or not (for inspecting a
/// follower's state in tests and by operators; never sent by nodes or the SDK).
pub const LOCAL_READ_HEADER: &str = "x-suslik-local-read";

/// What the forwarding layer needs.
pub struct Forwarder {
    raft: Raft,
    /// What this node's log held at startup (when a leader that resumed its term serves).
    startup: StartupLog,
    client: reqwest::Client,
    max_body_bytes: usize,
    /// Upper bound for a forwarded call (long polls included).
    timeout: Duration,
}

impl Forwarder {
    pub fn new(
        raft: Raft,
        startup: StartupLog,
        max_body_bytes: usize,
        max_poll_wait_ms: u64,
    ) -> anyhow::Result<Self> {
        Ok(Forwarder {
            raft,
            startup,
            client: reqwest::Client::builder()
                .no_proxy()
                .pool_idle_timeout(Duration::from_secs(30))
                .build()?,
            max_body_bytes,
            timeout: Duration::from_millis(max_poll_wait_ms) + Duration::from_secs(15),
        })
    }

    /// Where a client call to this node is served.
    fn route(&self) -> Route {
        let m = self.raft.metrics();
        let m = m.borrow();
        match m.current_leader {
            Some(leader) if leader == m.id && crate::raft::is_serving_leader(&m, self.startup) => {
                Route::Here
            }
            Some(leader) if leader == m.id => Route::Nowhere,
            Some(leader) => m
                .membership_config
                .membership()
                .get_node(&leader)
                .map_or(Route::Nowhere, |n| Route::Leader(n.addr.clone())),
            None => Route::Nowhere,
        }
    }
}

/// Where a client call is served.
enum Route {
    /// This node leads.
    Here,
    /// Another node leads, at this address.
    Leader(String),
    /// No leader is known (an election is on), or the known one is not in this
    /// node's membership (a leader that has just removed itself).
    Nowhere,
}

/// The forwarding layer: serve locally on the leader, forward to the leader elsewhere,
/// and answer 503 while no leader is known. A node without a leader does not answer
/// from its own replica: it may lack writes the old leader already acknowledged (a
/// read would call an acknowledged process unknown); writes and polls would be
/// refused there anyway.
///
/// A forwarded request is served only where this node still leads: the sender's idea
/// of the leader may be stale, and the node at that address may since have been
/// deposed or restarted as a lagging follower, whose replica could call an
/// acknowledged process unknown (the chaos test caught a 404 this way).
///
/// A hand-written tower layer rather than `axum::middleware::from_fn`: on the leader
/// (every request of a healthy cluster's clients) it only reads the Raft metrics and
/// calls the route, without the boxed service, boxed future and clones `from_fn` costs
/// per request; only a proxied call is boxed.
#[derive(Clone)]
pub struct LeaderForwarding(Arc<Forwarder>);

impl LeaderForwarding {
    pub fn new(forwarder: Forwarder) -> Self {
        LeaderForwarding(Arc::new(forwarder))
    }
}

impl<S> Layer<S> for LeaderForwarding {
    type Service = LeaderForwardingService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LeaderForwardingService {
            fwd: self.0.clone(),
            inner,
        }
    }
}

/// [`LeaderForwarding`] around one route.
#[derive(Clone)]
pub struct LeaderForwardingService<S> {
    fwd: Arc<Forwarder>,
    inner: S,
}

/// The answer of a call this node does not serve itself: an error at once, or a proxied
/// call.
type Elsewhere<E> = Either<Ready<Result<Response, E>>, BoxFuture<'static, Result<Response, E>>>;

impl<S> Service<Request> for LeaderForwardingService<S>
where
    S: Service<Request, Response = Response>,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, Elsewhere<S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let answer = |e: ApiError| Either::Right(Either::Left(ready(Ok(e.into_response()))));
        if req.headers().contains_key(LOCAL_READ_HEADER) {
            return Either::Left(self.inner.call(req));
        }
        if req.headers().contains_key(FORWARDED_HEADER) {
            return match self.fwd.route() {
                Route::Here => Either::Left(self.inner.call(req)),
                _ => answer(ApiError::new(
                    503,
                    "no_leader",
                    "this request was forwarded to a node that no longer leads; retry shortly",
                )),
            };
        }
        match self.fwd.route() {
            Route::Here => Either::Left(self.inner.call(req)),
            Route::Leader(leader) => {
                let fwd = self.fwd.clone();
                Either::Right(Either::Right(Box::pin(async move {
                    Ok(match proxy(&fwd, &leader, req).await {
                        Ok(r) => r,
                        Err(e) => e.into_response(),
                    })
                })))
            }
            Route::Nowhere => answer(ApiError::new(
                503,
                "no_leader",
                "no leader is ready right now (an election, or a new leader applying its log); retry shortly",
            )),
        }
    }
}

async fn proxy(fwd: &Forwarder, leader: &str, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let bytes = to_bytes(body, fwd.max_body_bytes).await.map_err(|_| {
        ApiError::new(
            413,
            "payload_too_large",
            format!("request body is larger than {} bytes", fwd.max_body_bytes),
        )
    })?;
    let me = fwd.raft.metrics().borrow().id;
    let mut out = fwd
        .client
        .request(parts.method.clone(), format!("http://{leader}{path}"))
        .header(FORWARDED_HEADER, me.to_string())
        .timeout(fwd.timeout)
        .body(bytes);
    // The leader checks the caller's token again (it has its own copy of the tokens).
    for name in [
        axum::http::header::CONTENT_TYPE,
        axum::http::header::AUTHORIZATION,
    ] {
        if let Some(v) = parts.headers.get(&name) {
            out = out.header(name.clone(), v.clone());
        }
    }
    let resp = out.send().await.map_err(|e| {
        ApiError::new(
            503,
            "no_leader",
            format!("the leader at {leader} did not answer: {e}"),
        )
    })?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).cloned();
    let body = resp.bytes().await.map_err(|e| {
        ApiError::new(
            503,
            "no_leader",
            format!("the leader at {leader} broke off: {e}"),
        )
    })?;
    let mut response = (status, Body::from(body)).into_response();
    if let Some(ct) = content_type.and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, ct);
    }
    Ok(response)
}
