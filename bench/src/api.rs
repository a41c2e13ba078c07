//! A thin HTTP client of the broker's `/api/v1`, over one shared keep-alive pool.
//!
//! Every call returns `Result`: the load driver counts failures instead of stopping,
//! and nothing here panics on whatever the server answers.
//!
//! One [`Api`] talks to a list of nodes. It sends each request to its *current* node;
//! with [`Failover`] set, a connection error, a timeout or a 503 (no leader) moves it to
//! the next node of the list and the request is sent again after a short backoff, until
//! it succeeds or [`Failover::give_up`] has passed. Without it, the first error is
//! returned. [`Api::homed`] gives each load task its own current node, the way each
//! worker process of a real deployment has its own client.

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use suslik_broker::api::cluster::ClusterStatus;
use suslik_broker::model::wire::{
    ErrorBody, PollRequest, PollResponse, ProcessView, ReleaseBatchRequest, ReleaseBatchResponse,
    ReleaseResult, StartProcessRequest, StartProcessResponse,
};
use suslik_broker::model::{Decision, ProcessId};

/// How a client fails over across the node list.
#[derive(Clone)]
pub struct Failover {
    /// First backoff after a failure; doubled per consecutive failure up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// A call still failing this long after its first attempt returns its last error.
    pub give_up: Duration,
    pub stats: Arc<FailoverStats>,
}

impl Failover {
    pub fn new(give_up: Duration) -> Failover {
        Failover {
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            give_up,
            stats: Arc::new(FailoverStats::default()),
        }
    }
}

/// Failed attempts seen by every client sharing one [`Failover`].
#[derive(Default, Debug)]
pub struct FailoverStats {
    /// Attempts that got no HTTP answer (refused, reset, timed out).
    pub transport: AtomicU64,
    /// Attempts answered 503 (no leader known, or the leader did not answer a forward).
    pub unavailable: AtomicU64,
    /// Attempts sent again after a failure.
    pub retries: AtomicU64,
    /// Calls that still failed after `give_up`.
    pub gave_up: AtomicU64,
}

/// A plain copy of [`FailoverStats`].
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FailoverCounts {
    pub transport: u64,
    pub unavailable: u64,
    pub retries: u64,
    pub gave_up: u64,
}

impl FailoverStats {
    pub fn snapshot(&self) -> FailoverCounts {
        FailoverCounts {
            transport: self.transport.load(Ordering::Relaxed),
            unavailable: self.unavailable.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            gave_up: self.gave_up.load(Ordering::Relaxed),
        }
    }
}

impl std::ops::Sub for FailoverCounts {
    type Output = FailoverCounts;
    fn sub(self, o: FailoverCounts) -> FailoverCounts {
        FailoverCounts {
            transport: self.transport.saturating_sub(o.transport),
            unavailable: self.unavailable.saturating_sub(o.unavailable),
            retries: self.retries.saturating_sub(o.retries),
            gave_up: self.gave_up.saturating_sub(o.gave_up),
        }
    }
}

/// The backoff before retry number `failures` (1-based): `base · 2^(failures-1)`,
/// at most `max`.
pub fn backoff(failures: u32, base: Duration, max: Duration) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    base.saturating_mul(1u32 << shift).min(max)
}

/// An answer and where it came from.
#[derive(Debug)]
pub struct Served<T> {
    pub value: T,
    /// Index of the node that answered (in the node list).
    pub node: usize,
    /// When the request that succeeded was sent.
    pub sent: Instant,
}

/// Why one attempt failed.
#[derive(Debug)]
enum AttemptError {
    /// No HTTP answer.
    Transport(reqwest::Error),
    /// An answer with a non-success status.
    Status(u16, String),
    /// A success status with a body that did not decode.
    Decode(anyhow::Error),
}

impl AttemptError {
    /// Whether another node (or the same one a moment later) may serve the request.
    fn retryable(&self) -> bool {
        match self {
            AttemptError::Transport(_) => true,
            AttemptError::Status(s, _) => *s == 503,
            AttemptError::Decode(_) => false,
        }
    }

    fn into_error(self, base: &str) -> anyhow::Error {
        match self {
            AttemptError::Transport(e) => anyhow::Error::new(e).context(format!("calling {base}")),
            AttemptError::Status(status, body) => {
                anyhow::Error::new(HttpStatus { status, body }).context(format!("answer of {base}"))
            }
            AttemptError::Decode(e) => e.context(format!("answer of {base}")),
        }
    }
}

/// A non-success answer (inside the `anyhow::Error` of a call; see [`error_body`]).
#[derive(Debug)]
pub struct HttpStatus {
    pub status: u16,
    pub body: String,
}

impl std::fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body)
    }
}

impl std::error::Error for HttpStatus {}

/// The broker's JSON error (`{"error": code, "message": …}`) if `e` is an HTTP answer
/// that carries one.
pub fn error_body(e: &anyhow::Error) -> Option<ErrorBody> {
    let s = e.downcast_ref::<HttpStatus>()?;
    serde_json::from_str(&s.body).ok()
}

/// Client of one broker or a cluster. Clones share the current node and the pool.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    nodes: Arc<[String]>,
    current: Arc<AtomicUsize>,
    failover: Option<Failover>,
}

impl Api {
    /// A client of the nodes at `bases` (e.g. `http://127.0.0.1:7700`), starting at the
    /// first. Requests time out after `timeout` (which must exceed the long-poll wait).
    pub fn cluster(
        bases: Vec<String>,
        timeout: Duration,
        failover: Option<Failover>,
    ) -> anyhow::Result<Api> {
        if bases.is_empty() {
            bail!("no node to talk to");
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(Api {
            http,
            nodes: bases
                .into_iter()
                .map(|b| b.trim_end_matches('/').to_string())
                .collect(),
            current: Arc::new(AtomicUsize::new(0)),
            failover,
        })
    }

    /// A client of the same nodes (same pool) with its own current node, `node` first.
    pub fn homed(&self, node: usize) -> Api {
        Api {
            current: Arc::new(AtomicUsize::new(node % self.nodes.len())),
            ..self.clone()
        }
    }

    /// The same client, without failover (a call fails on its first error).
    pub fn without_failover(&self) -> Api {
        Api {
            failover: None,
            ..self.clone()
        }
    }

    /// Index of the node requests go to now.
    pub fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed) % self.nodes.len()
    }

    /// Moves on to the next node of the list.
    pub fn rotate(&self) {
        let n = self.nodes.len();
        let cur = self.current.load(Ordering::Relaxed);
        // Only one of several concurrent failures of this client moves it.
        let _ = self.current.compare_exchange(
            cur,
            (cur % n + 1) % n,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    pub fn failover(&self) -> Option<&Failover> {
        self.failover.as_ref()
    }

    /// Sends the request `build(base)` makes, failing over if configured.
    async fn call<R, F>(&self, build: F) -> anyhow::Result<Served<R>>
    where
        R: DeserializeOwned,
        F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    {
        let first = Instant::now();
        let mut failures = 0u32;
        loop {
            let node = self.current();
            let base = &self.nodes[node];
            let sent = Instant::now();
            let err = match build(&self.http, base).send().await {
                Ok(resp) => match decode::<R>(resp).await {
                    Ok(value) => return Ok(Served { value, node, sent }),
                    Err(e) => e,
                },
                Err(e) => AttemptError::Transport(e),
            };
            let Some(f) = &self.failover else {
                return Err(err.into_error(base));
            };
            if !err.retryable() {
                return Err(err.into_error(base));
            }
            match err {
                AttemptError::Status(..) => f.stats.unavailable.fetch_add(1, Ordering::Relaxed),
                _ => f.stats.transport.fetch_add(1, Ordering::Relaxed),
            };
            if first.elapsed() >= f.give_up {
                f.stats.gave_up.fetch_add(1, Ordering::Relaxed);
                return Err(err.into_error(base));
            }
            failures += 1;
            self.rotate();
            tokio::time::sleep(backoff(failures, f.backoff, f.max_backoff)).await;
            f.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<Served<R>> {
        self.call(|http, base| http.post(format!("{base}{path}")).json(body))
            .await
    }

    async fn get<R: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Served<R>> {
        self.call(|http, base| http.get(format!("{base}{path}")))
            .await
    }

    /// `POST /api/v1/processes`.
    pub async fn start(&self, req: &StartProcessRequest) -> anyhow::Result<StartProcessResponse> {
        Ok(self.post("/api/v1/processes", req).await?.value)
    }

    /// `POST /api/v1/tasks/poll` (long poll).
    pub async fn poll(&self, req: &PollRequest) -> anyhow::Result<Served<PollResponse>> {
        self.post("/api/v1/tasks/poll", req).await
    }

    /// Releases `decisions`: `POST /api/v1/tasks/release` for one, the batch endpoint
    /// for several. Answers in the order of the decisions; a single release the broker
    /// refused with its JSON error comes back as [`ReleaseResult::Error`], as it would
    /// inside a batch.
    pub async fn release(&self, decisions: &[Decision]) -> anyhow::Result<Vec<ReleaseResult>> {
        if let [one] = decisions {
            return match self.post("/api/v1/tasks/release", one).await {
                Ok(served) => Ok(vec![ReleaseResult::Receipt(served.value)]),
                Err(e) => match error_body(&e) {
                    Some(body) => Ok(vec![ReleaseResult::Error(body)]),
                    None => Err(e),
                },
            };
        }
        let n = decisions.len();
        let req = ReleaseBatchRequest {
            decisions: decisions.to_vec(),
        };
        let resp: ReleaseBatchResponse =
            self.post("/api/v1/tasks/release/batch", &req).await?.value;
        if resp.results.len() != n {
            bail!(
                "batch release of {n} decisions answered {}",
                resp.results.len()
            );
        }
        Ok(resp.results)
    }

    /// `GET /api/v1/processes/{id}`.
    pub async fn process(&self, id: ProcessId) -> anyhow::Result<ProcessView> {
        Ok(self.get(&format!("/api/v1/processes/{id}")).await?.value)
    }

    /// `GET /api/v1/stats`: the sizes of the state (processes, tasks, timers, …).
    pub async fn stats(&self) -> anyhow::Result<serde_json::Value> {
        Ok(self.get("/api/v1/stats").await?.value)
    }

    /// The Raft log's last index from `GET /ready` (`None` if the answer lacks it).
    pub async fn last_log_index(&self) -> anyhow::Result<Option<u64>> {
        let v: serde_json::Value = self.get("/ready").await?.value;
        Ok(v["raft"]["last_log_index"].as_u64())
    }

    /// `GET /cluster/status` of the current node (never forwarded).
    pub async fn cluster_status(&self) -> anyhow::Result<ClusterStatus> {
        Ok(self.get("/cluster/status").await?.value)
    }

    /// Whether `GET /ready` of the current node answers 200 right now.
    pub async fn is_ready(&self) -> bool {
        let base = &self.nodes[self.current()];
        self.http
            .get(format!("{base}/ready"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    }

    /// Waits until `GET /ready` says a leader is known.
    pub async fn wait_ready(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        let base = &self.nodes[self.current()];
        loop {
            if self.is_ready().await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{base} not ready within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The body as `R` if the status is a success, else an error with the status and body.
async fn decode<R: DeserializeOwned>(resp: reqwest::Response) -> Result<R, AttemptError> {
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(AttemptError::Transport)?;
    if !status.is_success() {
        return Err(AttemptError::Status(
            status.as_u16(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    serde_json::from_slice(&bytes)
        .with_context(|| format!("decoding a {status} answer"))
        .map_err(AttemptError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (b, m) = (Duration::from_millis(20), Duration::from_millis(200));
        assert_eq!(backoff(1, b, m), Duration::from_millis(20));
        assert_eq!(backoff(2, b, m), Duration::from_millis(40));
        assert_eq!(backoff(4, b, m), Duration::from_millis(160));
        assert_eq!(backoff(5, b, m), m);
        assert_eq!(backoff(1000, b, m), m);
        assert_eq!(backoff(0, b, m), b);
    }

    #[test]
    fn homed_clients_rotate_independently_and_wrap() {
        let api = Api::cluster(
            vec!["http://a/".into(), "http://b".into(), "http://c".into()],
            Duration::from_secs(1),
            None,
        )
        .unwrap();
        assert_eq!(&*api.nodes[0], "http://a");
        let x = api.homed(2);
        let y = api.homed(4);
        assert_eq!((x.current(), y.current()), (2, 1));
        x.rotate();
        assert_eq!((x.current(), y.current()), (0, 1));
        // A clone is the same client: it moves with it.
        let x2 = x.clone();
        x2.rotate();
        assert_eq!(x.current(), 1);
        assert!(Api::cluster(vec![], Duration::from_secs(1), None).is_err());
    }

    #[test]
    fn only_transport_errors_and_503_are_retried() {
        assert!(AttemptError::Status(503, String::new()).retryable());
        assert!(!AttemptError::Status(404, String::new()).retryable());
        assert!(!AttemptError::Status(500, String::new()).retryable());
        assert!(!AttemptError::Decode(anyhow::anyhow!("x")).retryable());
    }

    #[test]
    fn a_refusal_keeps_the_brokers_error_body() {
        let e = AttemptError::Status(
            404,
            r#"{"error":"unknown_task","message":"unknown task x"}"#.into(),
        )
        .into_error("http://a");
        let body = error_body(&e).unwrap();
        assert_eq!(body.error, "unknown_task");
        assert!(format!("{e:#}").contains("HTTP 404"));
        let plain = AttemptError::Status(502, "bad gateway".into()).into_error("http://a");
        assert!(error_body(&plain).is_none());
        assert!(error_body(&anyhow::anyhow!("x")).is_none());
    }

    #[test]
    fn failover_counts_subtract() {
        let a = FailoverCounts {
            transport: 5,
            unavailable: 7,
            retries: 12,
            gave_up: 0,
        };
        let b = FailoverCounts {
            transport: 2,
            unavailable: 7,
            retries: 3,
            gave_up: 1,
        };
        assert_eq!(
            a - b,
            FailoverCounts {
                transport: 3,
                unavailable: 0,
                retries: 9,
                gave_up: 0
            }
        );
    }
}
