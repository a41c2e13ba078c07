//! A thin HTTP client of the broker's `/api/v1`, over one shared keep-alive pool.
//!
//! Every call returns `Result`: the load driver counts failures instead of stopping,
//! and nothing here panics on whatever the server answers.

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use suslik_broker::model::wire::{
    PollRequest, PollResponse, ProcessView, ReleaseBatchRequest, ReleaseBatchResponse,
    ReleaseReceipt, ReleaseResult, StartProcessRequest, StartProcessResponse,
};
use suslik_broker::model::{Decision, ProcessId};

/// Client of one broker. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// A client of the broker at `base` (e.g. `http://127.0.0.1:7700`). Requests time
    /// out after `timeout` (which must exceed the long-poll wait).
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<R> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        decode(resp).await
    }

    /// `POST /api/v1/processes`.
    pub async fn start(&self, req: &StartProcessRequest) -> anyhow::Result<StartProcessResponse> {
        self.post("/api/v1/processes", req).await
    }

    /// `POST /api/v1/tasks/poll` (long poll).
    pub async fn poll(&self, req: &PollRequest) -> anyhow::Result<PollResponse> {
        self.post("/api/v1/tasks/poll", req).await
    }

    /// Releases `decisions`: `POST /api/v1/tasks/release` for one, the batch endpoint
    /// for several. Answers in the order of the decisions.
    pub async fn release(&self, decisions: Vec<Decision>) -> anyhow::Result<Vec<ReleaseResult>> {
        if decisions.len() == 1 {
            let receipt: ReleaseReceipt = self.post("/api/v1/tasks/release", &decisions[0]).await?;
            return Ok(vec![ReleaseResult::Receipt(receipt)]);
        }
        let n = decisions.len();
        let resp: ReleaseBatchResponse = self
            .post(
                "/api/v1/tasks/release/batch",
                &ReleaseBatchRequest { decisions },
            )
            .await?;
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
        let resp = self
            .http
            .get(format!("{}/api/v1/processes/{id}", self.base))
            .send()
            .await?;
        decode(resp).await
    }

    /// The Raft log's last index from `GET /ready` (`None` if the answer lacks it).
    pub async fn last_log_index(&self) -> anyhow::Result<Option<u64>> {
        let resp = self.http.get(format!("{}/ready", self.base)).send().await?;
        let v: serde_json::Value = decode(resp).await?;
        Ok(v["raft"]["last_log_index"].as_u64())
    }

    /// Waits until `GET /ready` says a leader is known.
    pub async fn wait_ready(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let ok = self
                .http
                .get(format!("{}/ready", self.base))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{} not ready within {within:?}", self.base);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The body as `R` if the status is a success, else an error with the status and body.
async fn decode<R: DeserializeOwned>(resp: reqwest::Response) -> anyhow::Result<R> {
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if !status.is_success() {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    serde_json::from_slice(&bytes).with_context(|| format!("decoding a {status} answer"))
}
