//! The client side of `/cluster`, for `suslik cluster …` and for tests: a tiny HTTP
//! client that prints the broker's own error message when a call is refused.

use super::cluster::{AddNodeRequest, ClusterStatus, RemoveNodeRequest};
use crate::model::wire::ErrorBody;
use std::time::Duration;

/// Why a cluster call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterCallError {
    #[error("cannot reach {server}: {source}")]
    Unreachable {
        server: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{server} refused: {status} {code}: {message}")]
    Refused {
        server: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{server} answered something unreadable: {source}")]
    BadAnswer {
        server: String,
        #[source]
        source: reqwest::Error,
    },
}

/// Calls one node's `/cluster` endpoints.
pub struct ClusterClient {
    server: String,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer …` (the operator token).
    token: Option<String>,
}

impl ClusterClient {
    /// `server` is `host:port` or a full `http://host:port` URL.
    pub fn new(server: &str) -> Self {
        let server = if server.starts_with("http://") || server.starts_with("https://") {
            server.trim_end_matches('/').to_string()
        } else {
            format!("http://{}", server.trim_end_matches('/'))
        };
        ClusterClient {
            server,
            http: reqwest::Client::new(),
            token: None,
        }
    }

    /// Sends `token` (the operator token) with every call.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// The node's view of the cluster.
    pub async fn status(&self) -> Result<ClusterStatus, ClusterCallError> {
        let req = self.http.get(format!("{}/cluster/status", self.server));
        self.send(req).await
    }

    /// Adds a node (learner catch-up, then voter). Waits until done.
    pub async fn add_node(
        &self,
        node_id: u64,
        addr: &str,
    ) -> Result<ClusterStatus, ClusterCallError> {
        let body = AddNodeRequest {
            node_id,
            addr: addr.to_string(),
        };
        let req = self
            .http
            .post(format!("{}/cluster/add-node", self.server))
            .json(&body);
        self.send(req).await
    }

    /// Removes a node.
    pub async fn remove_node(&self, node_id: u64) -> Result<ClusterStatus, ClusterCallError> {
        let req = self
            .http
            .post(format!("{}/cluster/remove-node", self.server))
            .json(&RemoveNodeRequest { node_id });
        self.send(req).await
    }

    /// A backup of the node's state (`GET /cluster/backup`): the bytes of a backup file.
    pub async fn backup(&self) -> Result<Vec<u8>, ClusterCallError> {
        let req = self.http.get(format!("{}/cluster/backup", self.server));
        let resp = self.answer(req, Duration::from_secs(900)).await?;
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|source| ClusterCallError::BadAnswer {
                server: self.server.clone(),
                source,
            })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<ClusterStatus, ClusterCallError> {
        let resp = self.answer(req, Duration::from_secs(120)).await?;
        resp.json()
            .await
            .map_err(|source| ClusterCallError::BadAnswer {
                server: self.server.clone(),
                source,
            })
    }

    /// Sends `req` with the token and `timeout`: the answer if it is a success, the
    /// broker's refusal or the transport failure otherwise.
    async fn answer(
        &self,
        req: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<reqwest::Response, ClusterCallError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp =
            req.timeout(timeout)
                .send()
                .await
                .map_err(|source| ClusterCallError::Unreachable {
                    server: self.server.clone(),
                    source,
                })?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(refused(self.server.clone(), resp).await)
        }
    }
}

/// The broker's error answer as a [`ClusterCallError::Refused`].
async fn refused(server: String, resp: reqwest::Response) -> ClusterCallError {
    let status = resp.status().as_u16();
    let body: Option<ErrorBody> = resp.json().await.ok();
    ClusterCallError::Refused {
        server,
        status,
        code: body.as_ref().map_or("unknown".into(), |b| b.error.clone()),
        message: body.map_or_else(|| "no error body".into(), |b| b.message),
    }
}
