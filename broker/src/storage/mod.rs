//! The state machine's storage: records in one sled tree, written one applied log entry
//! at a time, with point-in-time snapshots that never stop apply.
//!
//! This is the seam issue 14 puts between the state machine's logic and the disk (TiKV's
//! engine traits are the model): the logic reads records by key and by ordered range,
//! collects what one log entry changes in a [`WriteSet`], and hands it to
//! [`StateStore::commit`], which writes it as **one atomic sled batch together with the
//! applied log id**. After a crash the tree therefore matches exactly one applied index,
//! and only the log after it is replayed. The state tree lives in the same sled `Db` as
//! the Raft log, so the log's `fdatasync` on every group commit makes the state durable
//! too: the state is never synced on its own, and its applied mark can never run ahead of
//! the durable log (only committed, locally stored entries are applied).
//!
//! sled has no point-in-time read view, and its iterators see writes that happen while
//! they run. A snapshot ([`snapshot`]) gets its consistent image from **undo images**:
//! while one is being read, every commit saves the value a key had when the snapshot
//! began (once per key, in the same atomic batch as the change) under an undo prefix of
//! the same tree, and the reader prefers that saved value. The cost is paid only while a
//! snapshot runs, and only for keys changed meanwhile; apply, polls, starts and releases
//! never wait for it.
//!
//! An installed snapshot (a follower catching up, a restore) is written into a new
//! *generation* of the tree; one write to the `meta` tree switches to it once it is
//! complete and flushed, so a crash during an install leaves the old state in place.
//!
//! Every value carries a format version ([`codec::RECORD_FORMAT`]); so does the snapshot
//! stream ([`snapshot::STREAM_FORMAT`]).

pub mod codec;
mod error;
pub mod keys;
mod records;
pub mod snapshot;
mod store;
mod write_set;

pub use error::StorageError;
pub use keys::{Family, KeyBuf, KeyReader};
pub use records::{RecordKey, Records};
pub use snapshot::{SnapshotReader, SnapshotWriter};
pub use store::{Pair, StateStore};
pub use write_set::WriteSet;

#[cfg(test)]
mod tests;
