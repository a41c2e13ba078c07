//! Node-to-node Raft RPC, client side: HTTP POSTs with bincode bodies (see [`super::server`]).
//!
//! Each RPC is `POST http://{addr}/raft/{append,vote,snapshot}` with the bincode of openraft's
//! request; the reply is the bincode of `Result<Response, RaftError<..>>`. Snapshots use
//! openraft's chunked transport (each chunk is one `InstallSnapshotRequest`), so no single
//! body is larger than `snapshot_max_chunk_size`.
//!
//! Error mapping matters for liveness: a refused connection or a `503` is [`Unreachable`]
//! (openraft backs off before retrying), an expired deadline is [`Timeout`], anything else on the wire is a
//! [`NetworkError`], and an error the peer's Raft returned is a [`RemoteError`].

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, RPCTypes};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{BasicNode, NodeId, TypeConfig};
use crate::formats::{ClusterFormats, FORMATS_HEADER};

/// URL path of the AppendEntries RPC.
pub const APPEND_PATH: &str = "/raft/append";
/// URL path of the RequestVote RPC.
pub const VOTE_PATH: &str = "/raft/vote";
/// URL path of the InstallSnapshot (chunk) RPC.
pub const SNAPSHOT_PATH: &str = "/raft/snapshot";

/// Creates [`HttpNetwork`] connections; holds the one HTTP client (and its connection pool).
#[derive(Clone)]
pub struct HttpNetworkFactory {
    self_id: NodeId,
    client: reqwest::Client,
    /// Sent on every RPC in [`crate::api::auth::PEER_SECRET_HEADER`] when set.
    peer_secret: Option<String>,
    /// Where the formats each peer announces in its answers are recorded.
    formats: Arc<ClusterFormats>,
}

impl HttpNetworkFactory {
    /// A factory for node `self_id` (used in timeout reports).
    pub fn new(self_id: NodeId) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            // Cluster traffic is node-to-node; never route it through an HTTP proxy from the env.
            .no_proxy()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            self_id,
            client,
            peer_secret: None,
            formats: Arc::new(ClusterFormats::new(self_id)),
        })
    }

    /// Records the formats peers announce into `formats` (see [`crate::formats::announce`]).
    pub fn with_formats(mut self, formats: Arc<ClusterFormats>) -> Self {
        self.formats = formats;
        self
    }

    /// Sends the cluster's shared secret with every RPC (peers require it when they
    /// have one configured).
    pub fn with_peer_secret(mut self, secret: Option<String>) -> Self {
        self.peer_secret = secret.filter(|s| !s.is_empty());
        self
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetworkFactory {
    type Network = HttpNetwork;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        HttpNetwork {
            self_id: self.self_id,
            target,
            node: node.clone(),
            client: self.client.clone(),
            peer_secret: self.peer_secret.clone(),
            formats: self.formats.clone(),
        }
    }
}

/// The RPC client towards one peer.
pub struct HttpNetwork {
    self_id: NodeId,
    target: NodeId,
    node: BasicNode,
    client: reqwest::Client,
    peer_secret: Option<String>,
    formats: Arc<ClusterFormats>,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

fn network_error<E>(msg: String) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>>
where
    E: StdError,
{
    RPCError::Network(NetworkError::new(&AnyError::error(msg)))
}

impl HttpNetwork {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        action: RPCTypes,
        req: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: StdError + DeserializeOwned,
    {
        let url = format!("http://{}{}", self.node.addr, path);
        let body = bincode::serialize(req)
            .map_err(|e| network_error(format!("encoding {action} request: {e}")))?;
        let timeout = option.hard_ttl();
        let mut request = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(timeout)
            .body(body);
        if let Some(secret) = &self.peer_secret {
            request = request.header(crate::api::auth::PEER_SECRET_HEADER, secret);
        }
        let reply = request.send().await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => return Err(self.send_error(e, action, timeout)),
        };
        let status = reply.status();
        if status.is_success() {
            let announced = reply
                .headers()
                .get(FORMATS_HEADER)
                .and_then(|v| v.to_str().ok());
            self.formats.heard(self.target, announced);
        }
        let bytes = match reply.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return Err(self.send_error(e, action, timeout)),
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            let msg = format!("{action} to {url}: HTTP {status}: {text}");
            // A 503 is a peer that cannot serve Raft now (its storage stand-in while it
            // waits for disk space): back off as for a dead peer instead of re-sending
            // the entries every heartbeat.
            if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                return Err(RPCError::Unreachable(Unreachable::new(&AnyError::error(
                    msg,
                ))));
            }
            return Err(network_error(msg));
        }
        let result: Result<Resp, RaftError<NodeId, E>> = bincode::deserialize(&bytes)
            .map_err(|e| network_error(format!("decoding {action} reply from {url}: {e}")))?;
        result.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }

    fn send_error<E>(
        &self,
        e: reqwest::Error,
        action: RPCTypes,
        timeout: Duration,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>>
    where
        E: StdError,
    {
        if e.is_timeout() {
            tracing::debug!(target_node = self.target, %action, "raft rpc timed out");
            RPCError::Timeout(Timeout {
                action,
                id: self.self_id,
                target: self.target,
                timeout,
            })
        } else if e.is_connect() {
            tracing::debug!(target_node = self.target, %action, error = %e, "raft peer unreachable");
            RPCError::Unreachable(Unreachable::new(&e))
        } else {
            tracing::debug!(target_node = self.target, %action, error = %e, "raft rpc failed");
            RPCError::Network(NetworkError::new(&e))
        }
    }
}

impl RaftNetwork<TypeConfig> for HttpNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.call(APPEND_PATH, RPCTypes::AppendEntries, &rpc, &option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(SNAPSHOT_PATH, RPCTypes::InstallSnapshot, &rpc, &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call(VOTE_PATH, RPCTypes::Vote, &rpc, &option).await
    }
}
