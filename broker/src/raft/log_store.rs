//! The Raft log, the vote and the committed pointer, stored in sled.
//!
//! Layout (all in the node's sled `Db`):
//! - tree `logs`: key = log index as big-endian `u64` (so byte order is index order),
//!   value = bincode of the [`Entry`](super::typ::Entry);
//! - tree `meta`: keys `vote`, `committed`, `last_purged`, values bincode.
//!
//! Durability is group-committed: [`RaftLogStorage::append`] writes all entries it is given
//! with one [`sled::Batch`], calls `flush_async` once and then forces it to stable storage
//! with one `fdatasync` ([`super::durable`]: sled's own flush stops short of that), so a
//! burst of proposals that openraft hands over together costs one fsync. The vote is flushed before `save_vote`
//! returns; the committed pointer is not (it rides along with the next flush: losing it
//! means a restarted node re-applies a little less before the leader re-commits, and a
//! leader that resumes its term after a restart holds back its reads until it applied
//! the whole log it restarted with: [`super::StartupLog`]).

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader, StorageError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use std::sync::Arc;

use super::codec::{decode, encode, sto_err, sto_msg};
use super::durable::{Durable, INLINE_LIMIT};
use super::typ::Entry;
use super::{NodeId, TypeConfig};

const LOGS_TREE: &str = "logs";
const META_TREE: &str = "meta";
const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// Raft log storage in sled. Cheap to clone (sled trees are shared handles).
#[derive(Clone)]
pub struct SledLogStore {
    logs: sled::Tree,
    meta: sled::Tree,
    durable: Arc<Durable>,
}

/// Read-only view of the log, handed to openraft's replication tasks.
#[derive(Clone)]
pub struct SledLogReader {
    logs: sled::Tree,
}

impl SledLogStore {
    /// Open (or create) the log trees in `db`.
    pub fn open(db: &sled::Db, durable: Arc<Durable>) -> Result<Self, StorageError<NodeId>> {
        let logs = db
            .open_tree(LOGS_TREE)
            .map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
        let meta = db
            .open_tree(META_TREE)
            .map_err(|e| sto_err(ErrorSubject::Store, ErrorVerb::Read, &e))?;
        Ok(Self {
            logs,
            meta,
            durable,
        })
    }

    fn read_meta<T: DeserializeOwned>(
        &self,
        key: &[u8],
        subject: ErrorSubject<NodeId>,
    ) -> Result<Option<T>, StorageError<NodeId>> {
        match self.meta.get(key) {
            Ok(Some(bytes)) => decode(subject, &bytes).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(sto_err(subject, ErrorVerb::Read, &e)),
        }
    }

    fn write_meta<T: Serialize>(
        &self,
        key: &[u8],
        value: &T,
        subject: ErrorSubject<NodeId>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = encode(subject.clone(), value)?;
        self.meta
            .insert(key, bytes)
            .map_err(|e| sto_err(subject, ErrorVerb::Write, &e))?;
        Ok(())
    }

    async fn flush(&self, subject: ErrorSubject<NodeId>) -> Result<(), StorageError<NodeId>> {
        // sled flushes the whole Db, so this covers both trees.
        self.logs
            .flush_async()
            .await
            .map_err(|e| sto_err(subject.clone(), ErrorVerb::Write, &e))?;
        self.durable
            .sync(false)
            .await
            .map_err(|e| sto_err(subject, ErrorVerb::Write, &e))
    }

    /// Remove every log entry whose index is within `range`, with one batch.
    fn remove_range<R: RangeBounds<[u8; 8]>>(&self, range: R) -> Result<(), StorageError<NodeId>> {
        let mut batch = sled::Batch::default();
        for key in self.logs.range(range).keys() {
            let key = key.map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
            batch.remove(key);
        }
        self.logs
            .apply_batch(batch)
            .map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Delete, &e))
    }
}

/// Prepares the log of a store being created from a backup (`suslik restore`): empty,
/// purged up to `snapshot` (the backup's snapshot covers everything before), with
/// `vote` saved so that the first election runs in a later term than the snapshot's
/// entries. Flushed and synced. Blocking.
pub fn seed_restored(
    db: &sled::Db,
    durable: &Durable,
    vote: &Vote<NodeId>,
    snapshot: LogId<NodeId>,
) -> Result<(), StorageError<NodeId>> {
    let meta = db
        .open_tree(META_TREE)
        .map_err(|e| sto_err(ErrorSubject::Store, ErrorVerb::Write, &e))?;
    let mut batch = sled::Batch::default();
    batch.insert(KEY_VOTE, encode(ErrorSubject::Vote, vote)?);
    batch.insert(KEY_LAST_PURGED, encode(ErrorSubject::Logs, &snapshot)?);
    batch.insert(KEY_COMMITTED, encode(ErrorSubject::Store, &Some(snapshot))?);
    meta.apply_batch(batch)
        .map_err(|e| sto_err(ErrorSubject::Store, ErrorVerb::Write, &e))?;
    db.flush()
        .map_err(|e| sto_err(ErrorSubject::Store, ErrorVerb::Write, &e))?;
    durable
        .sync_blocking(false)
        .map_err(|e| sto_err(ErrorSubject::Store, ErrorVerb::Write, &e))
}

/// The sled key of log index `index`.
fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The log index of a sled key, or an error if the key is not 8 bytes.
fn key_index(key: &[u8]) -> Result<u64, StorageError<NodeId>> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        sto_msg(
            ErrorSubject::Logs,
            ErrorVerb::Read,
            format!("malformed log key of {} bytes", key.len()),
        )
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// Decode one stored entry and check that it sits at the index its key says.
fn decode_entry(key: &[u8], value: &[u8]) -> Result<Entry, StorageError<NodeId>> {
    let index = key_index(key)?;
    let entry: Entry = decode(ErrorSubject::LogIndex(index), value)?;
    if entry.log_id.index != index {
        return Err(sto_msg(
            ErrorSubject::LogIndex(index),
            ErrorVerb::Read,
            format!("entry {} stored under index {index}", entry.log_id),
        ));
    }
    Ok(entry)
}

/// Read the entries in `range` (of log indexes) from `logs`, in order.
fn read_entries<RB: RangeBounds<u64>>(
    logs: &sled::Tree,
    range: &RB,
) -> Result<Vec<Entry>, StorageError<NodeId>> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => match s.checked_add(1) {
            Some(s) => s,
            None => return Ok(Vec::new()),
        },
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => Bound::Included(index_key(e)),
        Bound::Excluded(&e) => Bound::Excluded(index_key(e)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let empty = match end {
        Bound::Included(e) => start > u64::from_be_bytes(e),
        Bound::Excluded(e) => start >= u64::from_be_bytes(e),
        Bound::Unbounded => false,
    };
    if empty {
        return Ok(Vec::new());
    }
    let mut entries: Vec<Entry> = Vec::new();
    for item in logs.range((Bound::Included(index_key(start)), end)) {
        let (key, value) = item.map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
        let entry = decode_entry(&key, &value)?;
        // The log is contiguous by construction; a gap means lost entries, which must
        // stop the node rather than be skipped silently by the apply that asked.
        let expected = entries.last().map_or(start, |e| e.log_id.index + 1);
        if entry.log_id.index != expected && !(entries.is_empty() && entry.log_id.index > start) {
            let err = io::Error::other(format!(
                "raft log has a gap: entry {} follows {}",
                entry.log_id.index,
                expected.saturating_sub(1)
            ));
            return Err(sto_err(ErrorSubject::Logs, ErrorVerb::Read, &err));
        }
        entries.push(entry);
    }
    Ok(entries)
}

impl RaftLogReader<TypeConfig> for SledLogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        read_entries(&self.logs, &range)
    }
}

impl RaftLogReader<TypeConfig> for SledLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        read_entries(&self.logs, &range)
    }
}

impl RaftLogStorage<TypeConfig> for SledLogStore {
    type LogReader = SledLogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id: Option<LogId<NodeId>> =
            self.read_meta(KEY_LAST_PURGED, ErrorSubject::Logs)?;
        let last_stored = match self
            .logs
            .last()
            .map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Read, &e))?
        {
            Some((key, value)) => Some(decode_entry(&key, &value)?.log_id),
            None => None,
        };
        // Entries at or below `last_purged` may survive a crash in the middle of `purge`;
        // they are never read again, and the last log id is never below the purged one.
        let last_log_id = std::cmp::max(last_stored, last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        SledLogReader {
            logs: self.logs.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.write_meta(KEY_VOTE, vote, ErrorSubject::Vote)?;
        self.flush(ErrorSubject::Vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        self.read_meta(KEY_VOTE, ErrorSubject::Vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        self.write_meta(KEY_COMMITTED, &committed, ErrorSubject::Store)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self
            .read_meta::<Option<LogId<NodeId>>>(KEY_COMMITTED, ErrorSubject::Store)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        let mut count = 0usize;
        let mut blob = false;
        for entry in entries {
            let bytes = encode(ErrorSubject::Log(entry.log_id), &entry)?;
            blob |= bytes.len() > INLINE_LIMIT;
            batch.insert(&index_key(entry.log_id.index)[..], bytes);
            count += 1;
        }
        self.logs
            .apply_batch(batch)
            .map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
        // One flush and one fdatasync for the whole batch: this is the group commit.
        let flushed = match self.logs.flush_async().await {
            Ok(_) => self.durable.sync(blob).await,
            Err(e) => Err(io::Error::other(e)),
        };
        match flushed {
            Ok(_) => {
                tracing::trace!(count, "raft log entries appended and flushed");
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "flushing the raft log failed");
                callback.log_io_completed(Err(io::Error::other(e.to_string())));
                Err(sto_err(ErrorSubject::Logs, ErrorVerb::Write, &e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "truncating raft log");
        self.remove_range(index_key(log_id.index)..)?;
        self.flush(ErrorSubject::Logs).await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "purging raft log");
        // Record the purge point first: a crash in between leaves extra old entries, never a hole.
        self.write_meta(KEY_LAST_PURGED, &log_id, ErrorSubject::Logs)?;
        self.remove_range(..=index_key(log_id.index))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use openraft::storage::RaftLogStorageExt;
    use openraft::testing::{StoreBuilder, Suite};

    use super::*;
    use crate::raft::state_machine_store::SledStateMachine;
    use crate::raft::test_support::{blank, log_id, membership, normal, CountingApplier};

    fn open(path: &std::path::Path) -> (sled::Db, SledLogStore) {
        let (db, durable) = crate::raft::durable::open_store(path).unwrap();
        let store = SledLogStore::open(&db, durable).unwrap();
        (db, store)
    }

    fn indexes(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index).collect()
    }

    #[tokio::test]
    async fn a_gap_in_the_stored_log_is_an_error_not_a_skip() {
        let dir = tempfile::tempdir().unwrap();
        let (_db, mut store) = open(&dir.path().join("raft"));
        store
            .blocking_append((1..=5).map(|i| normal(1, i)))
            .await
            .unwrap();
        store.logs.remove(index_key(3)).unwrap();
        let mut reader = store.get_log_reader().await;
        let err = reader.try_get_log_entries(1..=5).await.unwrap_err();
        assert!(err.to_string().contains("gap"), "{err}");
        // Reads on either side of the gap still work.
        assert_eq!(
            indexes(&reader.try_get_log_entries(1..3).await.unwrap()),
            [1, 2]
        );
        assert_eq!(
            indexes(&reader.try_get_log_entries(4..).await.unwrap()),
            [4, 5]
        );
    }

    #[tokio::test]
    async fn log_vote_committed_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft");
        {
            let (_db, mut store) = open(&path);
            let state = store.get_log_state().await.unwrap();
            assert_eq!(state.last_log_id, None);
            assert_eq!(state.last_purged_log_id, None);
            assert_eq!(store.read_vote().await.unwrap(), None);
            assert_eq!(store.read_committed().await.unwrap(), None);

            let mut batch = vec![membership(1, 1, &[1])];
            batch.extend((2..=10).map(|i| normal(1, i)));
            store.blocking_append(batch).await.unwrap();
            store
                .blocking_append([blank(2, 11), normal(2, 12)])
                .await
                .unwrap();
            store.save_vote(&Vote::new(2, 1)).await.unwrap();
            store.save_committed(Some(log_id(2, 11))).await.unwrap();

            let mut reader = store.get_log_reader().await;
            let got = reader.try_get_log_entries(3..6).await.unwrap();
            assert_eq!(indexes(&got), vec![3, 4, 5]);
            assert_eq!(got[0], normal(1, 3));
            let got = reader.try_get_log_entries(10..=12).await.unwrap();
            assert_eq!(indexes(&got), vec![10, 11, 12]);
            assert!(reader.try_get_log_entries(6..6).await.unwrap().is_empty());
            let (from, to) = (7, 3);
            assert!(reader
                .try_get_log_entries(from..to)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                indexes(&reader.try_get_log_entries(11..).await.unwrap()),
                vec![11, 12]
            );

            // Conflict at 12: truncate it and append a different entry there.
            store.truncate(log_id(2, 12)).await.unwrap();
            assert_eq!(
                store.get_log_state().await.unwrap().last_log_id,
                Some(log_id(2, 11))
            );
            store
                .blocking_append([blank(3, 12), normal(3, 13)])
                .await
                .unwrap();

            store.purge(log_id(1, 4)).await.unwrap();
        }
        // Everything above must be readable from disk after a reopen.
        let (db, mut store) = open(&path);
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 4)));
        assert_eq!(state.last_log_id, Some(log_id(3, 13)));
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(2, 1)));
        assert_eq!(store.read_committed().await.unwrap(), Some(log_id(2, 11)));
        let all = store.try_get_log_entries(..).await.unwrap();
        assert_eq!(indexes(&all), (5..=13).collect::<Vec<_>>());
        assert_eq!(all.last().unwrap(), &normal(3, 13));
        assert_eq!(all[all.len() - 2], blank(3, 12));

        // Purging everything leaves the purged id as the last log id.
        store.purge(log_id(3, 13)).await.unwrap();
        drop(store);
        drop(db);
        let (_db, mut store) = open(&path);
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(3, 13)));
        assert_eq!(state.last_log_id, Some(log_id(3, 13)));
        assert!(store.try_get_log_entries(..).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn corrupt_data_is_a_storage_error() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut store) = open(dir.path());
        store.blocking_append([blank(1, 1)]).await.unwrap();
        db.open_tree(LOGS_TREE)
            .unwrap()
            .insert(index_key(2), &b"garbage"[..])
            .unwrap();
        assert!(store.try_get_log_entries(1..3).await.is_err());
        assert!(store.get_log_state().await.is_err());

        // An entry stored under the wrong index is detected too.
        let misplaced = bincode::serialize(&blank(1, 7)).unwrap();
        db.open_tree(LOGS_TREE)
            .unwrap()
            .insert(index_key(2), misplaced)
            .unwrap();
        assert!(store.try_get_log_entries(2..3).await.is_err());

        db.open_tree(META_TREE)
            .unwrap()
            .insert(KEY_VOTE, &b"x"[..])
            .unwrap();
        assert!(store.read_vote().await.is_err());
    }

    struct Builder;

    impl StoreBuilder<TypeConfig, SledLogStore, SledStateMachine, tempfile::TempDir> for Builder {
        async fn build(
            &self,
        ) -> Result<(tempfile::TempDir, SledLogStore, SledStateMachine), StorageError<NodeId>>
        {
            let dir = tempfile::tempdir().unwrap();
            let (db, durable) = crate::raft::durable::open_store(dir.path()).unwrap();
            let log = SledLogStore::open(&db, durable.clone())?;
            let sm =
                SledStateMachine::open(&db, durable, Arc::new(CountingApplier::default())).await?;
            Ok((dir, log, sm))
        }
    }

    /// openraft's own conformance suite for log and state machine storage.
    #[test]
    fn openraft_storage_suite() {
        Suite::test_all(Builder).unwrap();
    }
}
