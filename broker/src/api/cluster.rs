//! Cluster membership: status, adding a node (learner catch-up, then voter) and
//! removing one. Served under `/cluster` and used by `suslik cluster …`.

use super::ApiError;
use crate::formats::{ClusterFormats, CommandFormat, Supported};
use crate::raft::typ::ClientWriteError;
use crate::raft::{BasicNode, NodeId, Raft};
use openraft::error::RaftError;
use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// One member as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberStatus {
    #[schema(value_type = u64)]
    pub node_id: NodeId,
    pub addr: String,
    /// A voter counts for quorum; a learner only replicates.
    pub voter: bool,
    /// Highest log index known replicated to it (leader only).
    pub matched: Option<u64>,
    /// The formats it reads, as it announced them to this node (`null`: not heard
    /// from yet; see [`crate::formats::announce`]).
    #[serde(default)]
    pub formats: Option<Supported>,
}

/// A node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterStatus {
    #[schema(value_type = u64)]
    pub node_id: NodeId,
    /// Leader, Follower, Candidate or Learner.
    pub role: String,
    #[schema(value_type = Option<u64>)]
    pub leader: Option<NodeId>,
    pub leader_addr: Option<String>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub snapshot: Option<u64>,
    pub members: Vec<MemberStatus>,
    /// The command format this node writes log entries in when it leads: the newest
    /// one every member reads (`null` from builds before versioned formats).
    #[serde(default)]
    pub command_format: Option<CommandFormat>,
}

/// `POST /cluster/add-node`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddNodeRequest {
    #[schema(value_type = u64)]
    pub node_id: NodeId,
    /// `host:port` the other nodes reach it at.
    pub addr: String,
}

/// `POST /cluster/remove-node`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemoveNodeRequest {
    #[schema(value_type = u64)]
    pub node_id: NodeId,
}

/// How long `add-node` waits for the new node to say who it is.
const NODE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Membership operations of one node (they succeed on the leader).
#[derive(Clone)]
pub struct ClusterAdmin {
    raft: Raft,
    formats: Arc<ClusterFormats>,
    /// The node's store, for backups.
    db: Option<sled::Db>,
}

impl ClusterAdmin {
    pub fn new(raft: Raft, formats: Arc<ClusterFormats>) -> Self {
        ClusterAdmin {
            raft,
            formats,
            db: None,
        }
    }

    /// Lets `GET /cluster/backup` read the node's store `db`.
    pub fn with_store(mut self, db: sled::Db) -> Self {
        self.db = Some(db);
        self
    }

    /// A backup of this node's state now ([`crate::backup`]): a snapshot built for it,
    /// while the node goes on serving.
    pub async fn backup(&self) -> Result<Vec<u8>, ApiError> {
        let db = self.db.as_ref().ok_or_else(|| {
            ApiError::new(503, "unavailable", "this node has no store to back up")
        })?;
        let node_id = self.raft.metrics().borrow().id;
        crate::backup::take(&self.raft, db, node_id)
            .await
            .map_err(|e| ApiError::new(503, "backup_failed", e.to_string()))
    }

    /// This node's view of the cluster.
    pub fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, node)| MemberStatus {
                node_id: *id,
                addr: node.addr.clone(),
                voter: voters.contains(id),
                matched: m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id).cloned().flatten())
                    .map(|l| l.index),
                formats: self.formats.of(*id),
            })
            .collect();
        ClusterStatus {
            node_id: m.id,
            role: format!("{:?}", m.state),
            leader: m.current_leader,
            leader_addr: m
                .current_leader
                .and_then(|l| membership.get_node(&l).map(|n| n.addr.clone())),
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            snapshot: m.snapshot.map(|l| l.index),
            command_format: Some(
                self.formats
                    .command_format(membership.nodes().map(|(id, _)| *id)),
            ),
            members,
        }
    }

    /// Adds a node: first as a learner that catches up (from the log or a snapshot),
    /// then promotes it to voter.
    ///
    /// Refused before anything changes: an address that already belongs to a member
    /// (this node included: a node told to replicate to itself as another member
    /// would take its own messages for a second leader's), an id that is a member at
    /// another address, and an address where no node answers as that id. Adding a
    /// voter that is already there at that address changes nothing.
    pub async fn add_node(&self, req: AddNodeRequest) -> Result<ClusterStatus, ApiError> {
        if req.addr.trim().is_empty() {
            return Err(ApiError::invalid("addr is empty"));
        }
        let (same, holder, is_voter) = {
            let m = self.raft.metrics().borrow().clone();
            let membership = m.membership_config.membership();
            let holder = membership
                .nodes()
                .find(|(_, n)| n.addr == req.addr)
                .map(|(id, _)| *id);
            (
                membership.get_node(&req.node_id).map(|n| n.addr.clone()),
                holder,
                membership.voter_ids().any(|v| v == req.node_id),
            )
        };
        match (same, holder) {
            (Some(addr), _) if addr == req.addr && is_voter => return Ok(self.status()),
            (Some(addr), _) if addr != req.addr => {
                return Err(ApiError::new(
                    409,
                    "conflict",
                    format!(
                        "node {} is a member already, at {addr}; remove it first to move it",
                        req.node_id
                    ),
                ))
            }
            (_, Some(other)) if other != req.node_id => {
                return Err(ApiError::new(
                    409,
                    "conflict",
                    format!("{} is the address of node {other} already", req.addr),
                ))
            }
            _ => {}
        }
        self.check_node_answers(&req).await?;
        self.raft
            .add_learner(req.node_id, BasicNode::new(&req.addr), true)
            .await
            .map_err(membership_error)?;
        tracing::info!(node_id = req.node_id, addr = %req.addr, "learner caught up; promoting to voter");
        self.raft
            .change_membership(
                ChangeMembers::AddVoterIds(BTreeSet::from([req.node_id])),
                false,
            )
            .await
            .map_err(membership_error)?;
        Ok(self.status())
    }

    /// Asks the node at `req.addr` who it is: it must answer as `req.node_id`.
    async fn check_node_answers(&self, req: &AddNodeRequest) -> Result<(), ApiError> {
        let refused = |why: String| {
            ApiError::new(
                400,
                "bad_node",
                format!(
                    "no node {} answers at {}: {why}; start it (with --join) first",
                    req.node_id, req.addr
                ),
            )
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(NODE_CHECK_TIMEOUT)
            .build()
            .map_err(|e| refused(e.to_string()))?;
        // `/ready` is open (no token) and names the node; a node waiting to join
        // answers it too (503, not ready yet).
        let ready: serde_json::Value = client
            .get(format!("http://{}/ready", req.addr))
            .send()
            .await
            .map_err(|e| refused(e.to_string()))?
            .json()
            .await
            .map_err(|e| refused(format!("its answer is not a suslik node's ({e})")))?;
        match ready["raft"]["node_id"].as_u64() {
            Some(id) if id == req.node_id => Ok(()),
            Some(id) => Err(refused(format!("node {id} answers there"))),
            None => Err(refused("its answer is not a suslik node's".into())),
        }
    }

    /// Removes a node from the cluster (voter or learner).
    pub async fn remove_node(&self, req: RemoveNodeRequest) -> Result<ClusterStatus, ApiError> {
        let (known, voter) = {
            let m = self.raft.metrics().borrow().clone();
            let membership = m.membership_config.membership();
            (
                membership.get_node(&req.node_id).is_some(),
                membership.voter_ids().any(|v| v == req.node_id),
            )
        };
        if !known {
            return Err(ApiError::not_found(
                "unknown_node",
                format!("node {} is not a member", req.node_id),
            ));
        }
        let ids = BTreeSet::from([req.node_id]);
        // One change either way: with `retain = false`, removing a voter also drops it
        // from the node list. A second change after it must not be made: when the
        // leader removes itself it steps down once the first change commits, and
        // openraft 0.9 still accepts a change on the stepped-down node (a debug
        // assertion panics its core; a release build appends as a non-leader).
        let change = if voter {
            ChangeMembers::RemoveVoters(ids)
        } else {
            ChangeMembers::RemoveNodes(ids)
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(membership_error)?;
        tracing::info!(node_id = req.node_id, "node removed from the cluster");
        Ok(self.status())
    }
}

fn membership_error(e: RaftError<NodeId, ClientWriteError>) -> ApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ApiError::new(
            503,
            "no_leader",
            format!(
                "this node is not the leader{}",
                f.leader_node
                    .map(|n| format!("; the leader is at {}", n.addr))
                    .unwrap_or_default()
            ),
        ),
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ApiError::new(409, "membership_conflict", e.to_string())
        }
        RaftError::Fatal(f) => ApiError::new(503, "unavailable", f.to_string()),
    }
}
