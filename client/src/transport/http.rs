//! [`Transport`] over the broker's HTTP JSON API, with failover between nodes.
//!
//! A Suslik cluster answers 503 on a node that has no leader (during an election, or
//! on a node cut off from the majority), and a dead node refuses connections. Either
//! way another node may serve the request, so the transport walks its address list:
//! it starts at the node that answered last (usually the leader's side of the
//! cluster), moves to the next address at once on failure, and sleeps with capped
//! exponential backoff after each full round of failures, until the attempt budget or
//! the time budget is spent. A 4xx answer is the broker's final word and is returned
//! as [`Error::Rejected`] without retrying.
//!
//! Retrying is safe for every endpoint: polls are at-least-once anyway, a repeated
//! release is answered as a duplicate, and [`ProcessClient`](crate::ProcessClient)
//! mints the process and start-task ids itself, so the broker answers a repeated
//! start like the first one instead of starting a second process.

use super::walk::FailoverWalk;
use super::{Backoff, Transport};
use crate::error::is_unavailable_status;
use crate::{Error, Result};
use futures::future::BoxFuture;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use suslik_broker::api::{HeartbeatRequest, HeartbeatResponse};
use suslik_broker::model::history::HistoryPage;
use suslik_broker::model::ops::{AbortAnswer, AbortRequest};
use suslik_broker::model::schedule::{CreateSchedule, Schedule};
use suslik_broker::model::signal::{ResolvePromiseRequest, ResolvePromiseResponse};
use suslik_broker::model::wire::{
    ErrorBody, PollRequest, PollResponse, ProcessView, ReleaseBatchRequest, ReleaseBatchResponse,
    ReleaseReceipt, StartProcessRequest, StartProcessResponse, TaskView,
};
use suslik_broker::model::{Decision, ProcessId, TaskId};

/// Tuning of [`HttpTransport`]. `Default` suits a LAN cluster.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Deadline of one request (except long polls, see `long_poll_slack`).
    pub request_timeout: Duration,
    /// Deadline for establishing a TCP connection.
    pub connect_timeout: Duration,
    /// A long poll may take `wait_ms` on the server; its client deadline is
    /// `wait_ms + long_poll_slack`.
    pub long_poll_slack: Duration,
    /// Sleep between rounds of failed attempts over all addresses.
    pub backoff: Backoff,
    /// Most attempts for one request, across addresses (at least 1).
    pub max_attempts: u32,
    /// Stop retrying once this much time has passed since the first attempt.
    pub give_up_after: Duration,
    /// Sent as `Authorization: Bearer <token>` when the broker has tokens (the actor
    /// token for deciders and workers, the operator token for admin tools).
    pub token: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            long_poll_slack: Duration::from_secs(5),
            backoff: Backoff::default(),
            max_attempts: 30,
            give_up_after: Duration::from_secs(30),
            token: None,
        }
    }
}

/// A [`Transport`] speaking HTTP/JSON to one or more broker nodes. Cheap to clone
/// (clones share the connection pool and the preferred-node memory).
#[derive(Clone)]
pub struct HttpTransport {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    bases: Vec<Url>,
    /// Index of the address that answered last: the next request starts there.
    preferred: AtomicUsize,
    config: HttpConfig,
}

/// Why one attempt failed, and whether another address may do better.
enum AttemptError {
    /// Try the next address.
    Failover(Error),
    /// Return this error to the caller.
    Fatal(Error),
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let config = HttpConfig {
            token: self.inner.config.token.as_ref().map(|_| "<set>".into()),
            ..self.inner.config.clone()
        };
        f.debug_struct("HttpTransport")
            .field("addresses", &self.addresses())
            .field("config", &config)
            .finish()
    }
}

impl HttpTransport {
    /// A transport over the given broker addresses (`http://host:port`, or just
    /// `host:port`), with default tuning.
    pub fn new<I, S>(addresses: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        HttpTransport::with_config(addresses, HttpConfig::default())
    }

    /// A transport over the given broker addresses that sends `token` with every
    /// request, with default tuning.
    pub fn with_token<I, S>(addresses: I, token: impl Into<String>) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let config = HttpConfig {
            token: Some(token.into()),
            ..HttpConfig::default()
        };
        HttpTransport::with_config(addresses, config)
    }

    /// A transport over the given broker addresses with explicit tuning.
    pub fn with_config<I, S>(addresses: I, config: HttpConfig) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let bases = addresses
            .into_iter()
            .map(|a| parse_base(a.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        if bases.is_empty() {
            return Err(Error::Invalid("no broker address given".into()));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| Error::Invalid(format!("cannot build HTTP client: {e}")))?;
        Ok(HttpTransport {
            inner: Arc::new(Inner {
                client,
                bases,
                preferred: AtomicUsize::new(0),
                config,
            }),
        })
    }

    /// The broker base addresses, in failover order.
    pub fn addresses(&self) -> Vec<String> {
        self.inner.bases.iter().map(|u| u.to_string()).collect()
    }

    async fn call<B, R>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<R>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let inner = &*self.inner;
        let body = body.map(serde_json::to_vec).transpose()?;
        let first = inner.preferred.load(Ordering::Relaxed);
        let mut walk = FailoverWalk::new(inner.bases.len(), first, inner.config.backoff);
        let started = Instant::now();
        let max_attempts = inner.config.max_attempts.max(1);
        let mut attempt: u32 = 0;
        loop {
            let idx = walk.current();
            let err = match self
                .attempt(idx, method.clone(), path, body.as_deref(), timeout)
                .await
            {
                Ok(v) => {
                    inner.preferred.store(idx, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(AttemptError::Fatal(e)) => return Err(e),
                Err(AttemptError::Failover(e)) => e,
            };
            attempt += 1;
            tracing::debug!(address = %inner.bases[idx], attempt, error = %err, "broker attempt failed");
            let elapsed = started.elapsed();
            if attempt >= max_attempts || elapsed >= inner.config.give_up_after {
                return Err(Error::Unavailable {
                    attempts: attempt,
                    last: Box::new(err),
                });
            }
            let pause = walk.failed();
            if !pause.is_zero() {
                let left = inner.config.give_up_after.saturating_sub(elapsed);
                tokio::time::sleep(pause.min(left)).await;
            }
        }
    }

    async fn attempt<R: DeserializeOwned>(
        &self,
        idx: usize,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> std::result::Result<R, AttemptError> {
        let base = &self.inner.bases[idx];
        let url = base
            .join(path)
            .map_err(|e| AttemptError::Fatal(Error::Invalid(format!("bad path {path}: {e}"))))?;
        let mut req = self
            .inner
            .client
            .request(method, url.clone())
            .timeout(timeout);
        if let Some(token) = self.inner.config.token.as_deref().filter(|t| !t.is_empty()) {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_vec());
        }
        let resp = req.send().await.map_err(|e| classify(&url, e, timeout))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| classify(&url, e, timeout))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| AttemptError::Fatal(e.into()));
        }
        let err = Error::rejected(status, error_body(status, &bytes));
        if is_unavailable_status(status) {
            Err(AttemptError::Failover(err))
        } else {
            Err(AttemptError::Fatal(err))
        }
    }

    fn timeout(&self) -> Duration {
        self.inner.config.request_timeout
    }
}

/// A schedule name as one path segment. Names hold only letters, digits and `-_.:`
/// (the broker refuses others), so only a stray character needs escaping.
fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Parses `http://host:port[/prefix]` or `host:port` into a base URL ending in `/`.
fn parse_base(address: &str) -> Result<Url> {
    let with_scheme = if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    };
    let mut url = Url::parse(&with_scheme)
        .map_err(|e| Error::Invalid(format!("bad broker address {address:?}: {e}")))?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The broker's error body, or a synthetic one when the answer is not JSON (a proxy
/// page, an empty 503).
fn error_body(status: u16, bytes: &[u8]) -> ErrorBody {
    serde_json::from_slice(bytes).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(bytes);
        ErrorBody {
            error: format!("http_{status}"),
            message: text.chars().take(200).collect(),
        }
    })
}

fn classify(url: &Url, e: reqwest::Error, timeout: Duration) -> AttemptError {
    if e.is_timeout() {
        return AttemptError::Failover(Error::Timeout(timeout));
    }
    if e.is_builder() {
        return AttemptError::Fatal(Error::Invalid(e.to_string()));
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    AttemptError::Failover(Error::Transport {
        url: url.to_string(),
        message,
    })
}

impl Transport for HttpTransport {
    fn start_process(
        &self,
        req: StartProcessRequest,
    ) -> BoxFuture<'_, Result<StartProcessResponse>> {
        Box::pin(async move {
            self.call(Method::POST, "api/v1/processes", Some(&req), self.timeout())
                .await
        })
    }

    fn poll(&self, req: PollRequest) -> BoxFuture<'_, Result<PollResponse>> {
        Box::pin(async move {
            let timeout = Duration::from_millis(req.wait_ms) + self.inner.config.long_poll_slack;
            self.call(Method::POST, "api/v1/tasks/poll", Some(&req), timeout)
                .await
        })
    }

    fn release(&self, decision: Decision) -> BoxFuture<'_, Result<ReleaseReceipt>> {
        Box::pin(async move {
            self.call(
                Method::POST,
                "api/v1/tasks/release",
                Some(&decision),
                self.timeout(),
            )
            .await
        })
    }

    fn release_batch(
        &self,
        decisions: Vec<Decision>,
    ) -> BoxFuture<'_, Result<ReleaseBatchResponse>> {
        Box::pin(async move {
            let req = ReleaseBatchRequest { decisions };
            self.call(
                Method::POST,
                "api/v1/tasks/release/batch",
                Some(&req),
                self.timeout(),
            )
            .await
        })
    }

    fn process(&self, id: ProcessId) -> BoxFuture<'_, Result<ProcessView>> {
        Box::pin(async move {
            let path = format!("api/v1/processes/{id}");
            self.call::<(), _>(Method::GET, &path, None, self.timeout())
                .await
        })
    }

    fn task(&self, id: TaskId) -> BoxFuture<'_, Result<TaskView>> {
        Box::pin(async move {
            let path = format!("api/v1/tasks/{id}");
            self.call::<(), _>(Method::GET, &path, None, self.timeout())
                .await
        })
    }

    fn resolve_promise(
        &self,
        id: TaskId,
        req: ResolvePromiseRequest,
    ) -> BoxFuture<'_, Result<ResolvePromiseResponse>> {
        Box::pin(async move {
            let path = format!("api/v1/promises/{id}/resolve");
            self.call(Method::POST, &path, Some(&req), self.timeout())
                .await
        })
    }

    fn history(
        &self,
        id: ProcessId,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'_, Result<HistoryPage>> {
        Box::pin(async move {
            let path = format!("api/v1/processes/{id}/history?offset={offset}&limit={limit}");
            self.call::<(), _>(Method::GET, &path, None, self.timeout())
                .await
        })
    }

    fn abort(&self, req: AbortRequest) -> BoxFuture<'_, Result<AbortAnswer>> {
        Box::pin(async move {
            // Safe to resend after a failover: aborting an aborted process is a no-op.
            self.call(
                Method::POST,
                "api/v1/processes/abort",
                Some(&req),
                self.timeout(),
            )
            .await
        })
    }

    fn heartbeat(
        &self,
        task_id: TaskId,
        req: HeartbeatRequest,
    ) -> BoxFuture<'_, Result<HeartbeatResponse>> {
        Box::pin(async move {
            let path = format!("api/v1/tasks/{task_id}/heartbeat");
            self.call(Method::POST, &path, Some(&req), self.timeout())
                .await
        })
    }

    fn create_schedule(&self, req: CreateSchedule) -> BoxFuture<'_, Result<Schedule>> {
        Box::pin(async move {
            self.call(Method::POST, "api/v1/schedules", Some(&req), self.timeout())
                .await
        })
    }

    fn schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        Box::pin(async move {
            let path = format!("api/v1/schedules/{}", path_segment(&name));
            self.call::<(), _>(Method::GET, &path, None, self.timeout())
                .await
        })
    }

    fn run_schedule(&self, name: String) -> BoxFuture<'_, Result<StartProcessResponse>> {
        Box::pin(async move {
            let path = format!("api/v1/schedules/{}/run", path_segment(&name));
            self.call::<(), _>(Method::POST, &path, None, self.timeout())
                .await
        })
    }

    fn delete_schedule(&self, name: String) -> BoxFuture<'_, Result<Schedule>> {
        Box::pin(async move {
            let path = format!("api/v1/schedules/{}", path_segment(&name));
            self.call::<(), _>(Method::DELETE, &path, None, self.timeout())
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_a_scheme_and_a_trailing_slash() {
        let t = HttpTransport::new(["127.0.0.1:1", "http://h:2/prefix"]).expect("valid");
        assert_eq!(
            t.addresses(),
            vec!["http://127.0.0.1:1/", "http://h:2/prefix/"]
        );
        let joined = parse_base("http://h:2/prefix")
            .and_then(|u| {
                u.join("api/v1/processes")
                    .map_err(|e| Error::Invalid(e.to_string()))
            })
            .map(|u| u.to_string());
        assert_eq!(
            joined.ok().as_deref(),
            Some("http://h:2/prefix/api/v1/processes")
        );
    }

    #[test]
    fn no_address_is_an_error() {
        assert!(matches!(
            HttpTransport::new(Vec::<String>::new()),
            Err(Error::Invalid(_))
        ));
        assert!(HttpTransport::new(["http://[bad"]).is_err());
    }

    #[test]
    fn non_json_error_bodies_get_a_synthetic_code() {
        let b = error_body(502, b"<html>bad gateway</html>");
        assert_eq!(b.error, "http_502");
        assert!(b.message.contains("bad gateway"));
        let b = error_body(404, br#"{"error":"unknown_task","message":"gone"}"#);
        assert_eq!(b.error, "unknown_task");
    }
}
