//! Node-to-node Raft RPC, server side: axum routes that decode a bincode request, hand it
//! to the local [`Raft`], and answer with the bincode of its `Result`.
//!
//! A body that does not decode is answered `400 Bad Request`; nothing here can panic on
//! peer input. The router carries its own body limit because AppendEntries batches and
//! snapshot chunks are larger than axum's 2 MiB default.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::network::{APPEND_PATH, SNAPSHOT_PATH, VOTE_PATH};
use super::{NodeId, Raft, TypeConfig};
use crate::formats::{Supported, FORMATS_HEADER};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};

/// Largest accepted RPC body (an AppendEntries batch or one snapshot chunk).
pub const MAX_RPC_BODY: usize = 64 * 1024 * 1024;

/// The `/raft/append`, `/raft/vote` and `/raft/snapshot` endpoints for `raft`,
/// to be merged into the node's HTTP router.
pub fn raft_routes(raft: Raft) -> Router {
    Router::new()
        .route(APPEND_PATH, post(append))
        .route(VOTE_PATH, post(vote))
        .route(SNAPSHOT_PATH, post(snapshot))
        .layer(DefaultBodyLimit::max(MAX_RPC_BODY))
        .with_state(raft)
}

fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    bincode::deserialize(body).map_err(|e| {
        tracing::warn!(error = %e, "malformed raft rpc body");
        (
            StatusCode::BAD_REQUEST,
            format!("malformed raft rpc body: {e}"),
        )
            .into_response()
    })
}

/// The answer to a peer: the bincode of `reply`, with the formats this node reads in
/// [`FORMATS_HEADER`] (see [`crate::formats::announce`]).
fn encode_reply<T: Serialize>(reply: &T) -> Response {
    match bincode::serialize(reply) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (
                    HeaderName::from_static(FORMATS_HEADER),
                    Supported::this_build().to_header(),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding raft rpc reply failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding reply: {e}"),
            )
                .into_response()
        }
    }
}

async fn append(State(raft): State<Raft>, body: Bytes) -> Response {
    let req: AppendEntriesRequest<TypeConfig> = match decode_body(&body) {
        Ok(req) => req,
        Err(resp) => return resp,
    };
    encode_reply(&raft.append_entries(req).await)
}

async fn vote(State(raft): State<Raft>, body: Bytes) -> Response {
    let req: VoteRequest<NodeId> = match decode_body(&body) {
        Ok(req) => req,
        Err(resp) => return resp,
    };
    encode_reply(&raft.vote(req).await)
}

async fn snapshot(State(raft): State<Raft>, body: Bytes) -> Response {
    let req: InstallSnapshotRequest<TypeConfig> = match decode_body(&body) {
        Ok(req) => req,
        Err(resp) => return resp,
    };
    encode_reply(&raft.install_snapshot(req).await)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::time::Duration;

    use openraft::error::RPCError;
    use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
    use openraft::Vote;

    use super::*;
    use crate::raft::network::HttpNetworkFactory;
    use crate::raft::node::{start_raft, wait_for_leader, RaftConfig};
    use crate::raft::test_support::{write, CountingApplier};
    use crate::raft::BasicNode;

    const WAIT: Duration = Duration::from_secs(20);

    struct TestNode {
        raft: Raft,
        applier: Arc<CountingApplier>,
        addr: String,
        _db: sled::Db,
        _dir: tempfile::TempDir,
    }

    async fn spawn_node(id: u64, bootstrap: bool) -> TestNode {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = RaftConfig::new(id, addr.clone(), dir.path());
        cfg.snapshot_every = 3;
        cfg.logs_kept_after_snapshot = 0;
        cfg.bootstrap = bootstrap;
        let applier = Arc::new(CountingApplier::default());
        let (raft, db, _) = start_raft(&cfg, applier.clone()).await.unwrap();
        let routes = raft_routes(raft.clone());
        tokio::spawn(async move { axum::serve(listener, routes).await });
        TestNode {
            raft,
            applier,
            addr,
            _db: db,
            _dir: dir,
        }
    }

    async fn caught_up(follower: &TestNode, last: u64) {
        follower
            .raft
            .wait(Some(WAIT))
            .applied_index_at_least(Some(last), "follower caught up")
            .await
            .unwrap();
    }

    /// Two nodes over real HTTP: a learner joins behind a purged log (snapshot transfer),
    /// becomes a voter (append), then an election is forced (vote).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_replicate_snapshot_append_and_vote_over_http() {
        let n1 = spawn_node(1, true).await;
        let n2 = spawn_node(2, false).await;
        assert_eq!(wait_for_leader(&n1.raft, WAIT).await.unwrap(), 1);

        let last = write(&n1.raft, 10).await;
        n1.raft
            .wait(Some(WAIT))
            .metrics(
                |m| m.purged.is_some(),
                "leader log purged behind a snapshot",
            )
            .await
            .unwrap();

        n1.raft
            .add_learner(2, BasicNode::new(&n2.addr), true)
            .await
            .unwrap();
        caught_up(&n2, last).await;
        assert_eq!(n2.applier.applied(), 10);
        assert!(
            !n2.applier.restored().is_empty(),
            "learner was seeded by a snapshot"
        );

        n1.raft
            .change_membership(BTreeSet::from([1, 2]), false)
            .await
            .unwrap();
        let last = write(&n1.raft, 2).await;
        caught_up(&n2, last).await;
        assert_eq!(n2.applier.applied(), 12);

        // Force an election. Whoever wins (node 2, or node 1 after its lease made it reject
        // node 2), a leader at a higher term needs votes carried over HTTP.
        let term = n1.raft.metrics().borrow().current_term;
        n2.raft.trigger().elect().await.unwrap();
        let m = n1
            .raft
            .wait(Some(WAIT))
            .metrics(
                |m| m.current_term > term && m.current_leader.is_some(),
                "new leader at a higher term",
            )
            .await
            .unwrap();
        let (leader, follower) = if m.current_leader == Some(2) {
            (&n2, &n1)
        } else {
            (&n1, &n2)
        };
        let new_term = m.current_term;
        follower
            .raft
            .wait(Some(WAIT))
            .metrics(
                |m| m.current_term >= new_term && m.current_leader.is_some(),
                "follower sees the new leader",
            )
            .await
            .unwrap();
        wait_for_leader(&leader.raft, WAIT).await.unwrap();
        let last = write(&leader.raft, 1).await;
        caught_up(follower, last).await;
        assert_eq!(follower.applier.applied(), 13);
        assert_eq!(leader.applier.applied(), 13);

        n1.raft.shutdown().await.unwrap();
        n2.raft.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn malformed_bodies_get_400() {
        let node = spawn_node(1, true).await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        for path in [APPEND_PATH, VOTE_PATH, SNAPSHOT_PATH] {
            let resp = client
                .post(format!("http://{}{}", node.addr, path))
                .body(vec![0xff_u8; 3])
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST, "{path}");
        }
        node.raft.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn refused_connection_is_unreachable() {
        // Find a port nobody listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);

        let mut factory = HttpNetworkFactory::new(1).unwrap();
        let mut net = factory.new_client(2, &BasicNode::new(&addr)).await;
        let req = openraft::raft::VoteRequest::new(Vote::new(1, 1), None);
        let err = net
            .vote(req, RPCOption::new(Duration::from_secs(1)))
            .await
            .unwrap_err();
        assert!(matches!(err, RPCError::Unreachable(_)), "{err:?}");
    }
}
