//! Test helpers shared by the raft module's tests: a fake [`Applier`] and entry builders.

use std::sync::Mutex;
use std::time::Duration;

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership};

use super::applier::Applier;
use super::{NodeId, TypeConfig};
use crate::state_machine::{Request, Response};

/// What a [`CountingApplier`] has seen.
#[derive(Debug, Default, Clone)]
pub struct CountingState {
    /// Requests applied, including those restored from a snapshot.
    pub applied: u64,
    /// Bytes passed to each `restore` call.
    pub restored: Vec<Vec<u8>>,
}

/// A fake application state: counts applied requests; its snapshot is that count.
#[derive(Debug, Default)]
pub struct CountingApplier {
    /// The state; public so tests can inspect it.
    pub state: Mutex<CountingState>,
}

impl CountingApplier {
    /// Number of requests reflected in the state.
    pub fn applied(&self) -> u64 {
        self.state.lock().unwrap().applied
    }

    /// Copies of every `restore` argument so far.
    pub fn restored(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().restored.clone()
    }
}

impl Applier for CountingApplier {
    fn apply(&self, _request: &Request) -> Response {
        self.state.lock().unwrap().applied += 1;
        Response::default()
    }

    fn snapshot(&self) -> Result<Vec<u8>, String> {
        bincode::serialize(&self.applied()).map_err(|e| e.to_string())
    }

    fn restore(&self, data: &[u8]) -> Result<(), String> {
        let applied: u64 = bincode::deserialize(data).map_err(|e| e.to_string())?;
        let mut state = self.state.lock().unwrap();
        state.applied = applied;
        state.restored.push(data.to_vec());
        Ok(())
    }
}

/// A log id of `term` (leader 1) at `index`.
pub fn log_id(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// A blank entry.
pub fn blank(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Blank,
    }
}

/// A normal entry carrying `Request::default()`.
pub fn normal(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request::default()),
    }
}

/// A membership entry with voters `voters`.
pub fn membership(term: u64, index: u64, voters: &[NodeId]) -> Entry<TypeConfig> {
    let set = voters
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>();
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![set], None)),
    }
}

/// Open a sled Db at `path`, retrying while a previous instance in this process (whose
/// last handle may be dropped by a task that is still finishing) holds the lock.
pub async fn reopen_db(path: &std::path::Path) -> sled::Db {
    let mut last_err = None;
    for _ in 0..100 {
        match super::durable::sled_config(path).open() {
            Ok(db) => return db,
            Err(e) => last_err = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot reopen sled at {}: {:?}", path.display(), last_err);
}

/// Writes `n` empty requests through `raft`; returns the log index of the last one.
pub async fn write(raft: &super::Raft, n: usize) -> u64 {
    let mut last = 0;
    for _ in 0..n {
        last = raft
            .client_write(Request::default())
            .await
            .unwrap()
            .log_id
            .index;
    }
    last
}
