//! Suslik broker: a Raft-replicated task broker in the style of Taskurotta.
//!
//! Deciders and workers poll for tasks and release decisions; a decision may spawn
//! new tasks whose arguments are *promises* of other tasks' results. The broker keeps
//! the promise graph and hands out only tasks whose arguments are ready.
//!
//! Layout, one concept per module:
//! - [`model`]: the domain vocabulary shared with clients (ids, tasks, arguments, decisions).
//! - [`graph`], [`queue`], [`timers`], [`retry`]: the data structures of the state machine.
//! - [`state_machine`]: commands and their deterministic application.
//! - [`formats`]: every persisted format and its version (upgrades, migrations).
//! - [`raft`]: openraft wiring: log and snapshots in sled, node-to-node network.
//! - [`core`]: the state behind its lock, and the signals that wake pollers and loops.
//! - [`leader`]: what only the leader does: batching proposals, firing timers, expiring leases.
//! - [`api`]: the client API, in process and over HTTP.
//! - [`metrics`]: Prometheus metrics and the activity series of the console.
//! - [`notify`]: webhooks and alerts.
//! - [`node`]: assembling one broker node from all of the above.
//! - [`supervisor`]: keeping a node up through disk trouble (restart in place).

pub mod api;
pub mod backup;
pub mod core;
pub mod cron;
pub mod formats;
pub mod graph;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod node;
pub mod notify;
pub mod queue;
pub mod raft;
pub mod retry;
pub mod state_machine;
pub mod storage;
pub mod supervisor;
pub mod timers;

pub use api::{ApiError, BrokerApi};
pub use node::{Node, NodeConfig};
