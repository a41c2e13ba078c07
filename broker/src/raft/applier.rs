//! The seam between the Raft layer and the broker's application state.
//!
//! The Raft layer only needs three things from the state machine: apply a committed
//! command, dump the whole state for a snapshot, and replace the state from a snapshot.
//! Keeping that behind a small object-safe trait lets the state machine evolve without
//! touching the storage code, and lets the storage code be tested with a fake.

use crate::state_machine::{Request, Response};

/// The replicated application state, as seen by the Raft layer.
pub trait Applier: Send + Sync + 'static {
    /// Apply one committed request. Deterministic; never fails (a rejected command is a result inside Response).
    fn apply(&self, request: &Request) -> Response;
    /// Serialize the whole application state (bincode) for a snapshot.
    fn snapshot(&self) -> Result<Vec<u8>, String>;
    /// Replace the whole application state with a snapshot's bytes.
    fn restore(&self, data: &[u8]) -> Result<(), String>;
}
