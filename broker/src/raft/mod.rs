//! openraft wiring: the type configuration, the sled-backed log and snapshot storage,
//! the node-to-node HTTP network, and node startup.
//!
//! The application state itself lives outside this module and is reached only through
//! the [`Applier`] trait, so the Raft layer never depends on the state machine's internals.
//!
//! - [`applier`]: the trait the state machine implements for the Raft layer.
//! - [`log_store`]: the Raft log, vote and committed pointer in sled (group-committed appends).
//! - [`state_machine_store`]: applies entries through an [`Applier`], persists snapshots in sled.
//! - [`network`]: the RPC client side (reqwest, bincode bodies).
//! - [`server`]: the RPC server side (axum routes to merge into the broker's router).
//! - [`node`]: configuration and startup of one Raft node.

// `StorageError` is openraft's own (large) error type, returned by value throughout its
// storage API; our helpers return it the same way rather than boxing and unboxing it.
#![allow(clippy::result_large_err)]

pub mod applier;
mod codec;
pub mod durable;
pub mod log_store;
pub mod network;
pub mod node;
pub mod server;
pub mod state_machine_store;

use std::io::Cursor;

use crate::state_machine::{Request, Response};

pub use applier::Applier;
pub use log_store::SledLogStore;
pub use network::HttpNetworkFactory;
pub use node::{start_raft, wait_for_leader, RaftConfig, WaitLeaderError};
pub use openraft::BasicNode;
pub use server::raft_routes;
pub use state_machine_store::SledStateMachine;

/// Raft node id.
pub type NodeId = u64;

/// What this node's log held when it started: the term of its stored vote and its last
/// log index.
///
/// A leader that restarts before anyone else was elected resumes its term: openraft
/// restores it as the leader at once, without a new blank entry, and keeps the first
/// entry of its term as the read barrier. The committed index it restarts with may lag
/// behind writes it had already acknowledged (that pointer is not synced on its own:
/// see [`log_store`]), so until it has applied every entry it held at startup its state
/// can miss an acknowledged start. The chaos test caught such a leader answering 404
/// for a process it finished a tenth of a second later. Every entry it held is of its
/// term or older, so it commits them as it leads; if it is deposed first, it can never
/// lead that term again and the floor no longer matters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartupLog {
    /// The term of the vote stored at startup.
    pub term: u64,
    /// The index of the last log entry stored at startup.
    pub last_index: Option<u64>,
}

/// Whether this node leads *and* may serve from its state: it has applied an entry of
/// its own term (a new leader first commits a blank entry of its term; until it has
/// applied it, it may still lack entries the previous leader committed) and, if it
/// resumed the term it held at startup, every entry its log held then ([`StartupLog`]).
pub fn is_serving_leader(m: &typ::RaftMetrics, startup: StartupLog) -> bool {
    m.current_leader == Some(m.id)
        && m.last_applied.is_some_and(|l| {
            l.leader_id.term == m.current_term
                && (m.current_term != startup.term || Some(l.index) >= startup.last_index)
        })
}

openraft::declare_raft_types!(
    /// The openraft type configuration of the broker: log payloads are [`Request`]s,
    /// apply results are [`Response`]s, nodes are addressed by `host:port`.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A running Raft node of the broker.
pub type Raft = openraft::Raft<TypeConfig>;

/// Short aliases for openraft's generic types, instantiated for [`TypeConfig`].
pub mod typ {
    use openraft::BasicNode;

    use super::{NodeId, TypeConfig};

    /// A log entry.
    pub type Entry = openraft::Entry<TypeConfig>;
    /// A log id (term, leader, index).
    pub type LogId = openraft::LogId<NodeId>;
    /// A vote.
    pub type Vote = openraft::Vote<NodeId>;
    /// Membership with the log id it was written at.
    pub type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
    /// Snapshot metadata.
    pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
    /// A snapshot handle.
    pub type Snapshot = openraft::Snapshot<TypeConfig>;
    /// Storage failure (fatal to the node).
    pub type StorageError = openraft::StorageError<NodeId>;
    /// Node metrics.
    pub type RaftMetrics = openraft::RaftMetrics<NodeId, BasicNode>;

    /// Error returned by a Raft API call; `E` is the API-specific part.
    pub type RaftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
    /// Error of a node-to-node RPC.
    pub type RPCError<E = openraft::error::Infallible> =
        openraft::error::RPCError<NodeId, BasicNode, RaftError<E>>;
    /// The node is shutting down or failed.
    pub type Fatal = openraft::error::Fatal<NodeId>;
    /// Why `client_write` failed (e.g. not the leader).
    pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, BasicNode>;
    /// Why a leadership check (linearizable read) failed.
    pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, BasicNode>;
    /// "Not the leader; try this one".
    pub type ForwardToLeader = openraft::error::ForwardToLeader<NodeId, BasicNode>;
    /// Why `initialize` failed.
    pub type InitializeError = openraft::error::InitializeError<NodeId, BasicNode>;
    /// Why installing a snapshot chunk failed.
    pub type InstallSnapshotError = openraft::error::InstallSnapshotError;
    /// Successful `client_write` result: the log id and the [`Response`](crate::state_machine::Response).
    pub type ClientWriteResponse = openraft::raft::ClientWriteResponse<TypeConfig>;
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod serving_tests {
    use super::*;
    use test_support::log_id;

    /// Metrics of node 1 leading `term` with `applied` the last applied log id.
    fn leading(term: u64, applied: Option<typ::LogId>) -> typ::RaftMetrics {
        let mut m = typ::RaftMetrics::new_initial(1);
        m.current_leader = Some(1);
        m.current_term = term;
        m.last_applied = applied;
        m
    }

    #[test]
    fn a_leader_that_resumed_its_term_serves_only_once_it_applied_the_log_it_restarted_with() {
        // Restarted as leader of term 3 holding entries up to 10; its stored committed
        // index (7) lagged writes it had acknowledged.
        let startup = StartupLog {
            term: 3,
            last_index: Some(10),
        };
        assert!(!is_serving_leader(&leading(3, Some(log_id(3, 7))), startup));
        assert!(!is_serving_leader(&leading(3, Some(log_id(3, 9))), startup));
        assert!(is_serving_leader(&leading(3, Some(log_id(3, 10))), startup));
        assert!(is_serving_leader(&leading(3, Some(log_id(3, 12))), startup));
    }

    #[test]
    fn a_leader_elected_in_a_later_term_serves_once_it_applied_its_blank_entry() {
        let startup = StartupLog {
            term: 3,
            last_index: Some(10),
        };
        // Its blank entry of term 4 sits after every entry it held: applied, it serves,
        // even if the entries it held were cut back by the leader in between.
        assert!(!is_serving_leader(
            &leading(4, Some(log_id(3, 10))),
            startup
        ));
        assert!(is_serving_leader(&leading(4, Some(log_id(4, 8))), startup));
    }

    #[test]
    fn a_follower_or_a_node_with_nothing_applied_never_serves() {
        let startup = StartupLog::default();
        let mut follower = leading(2, Some(log_id(2, 5)));
        follower.current_leader = Some(2);
        assert!(!is_serving_leader(&follower, startup));
        assert!(!is_serving_leader(&leading(2, None), startup));
        assert!(is_serving_leader(&leading(2, Some(log_id(2, 5))), startup));
    }
}
