//! The state machine's storage: records in one table of a redb file, written one applied
//! log entry at a time, with point-in-time snapshots that never stop apply.
//!
//! This is the seam issue 14 puts between the state machine's logic and the disk (TiKV's
//! engine traits are the model): the logic reads records by key and by ordered range,
//! collects what one log entry changes in a [`WriteSet`], and hands it to
//! [`StateStore::commit`], which writes it as **one atomic transaction together with the
//! applied log id**. Commits are not synced one by one: the Raft log, synced on every
//! group commit, is what makes an entry durable. [`StateStore::persist`] makes the state
//! durable up to the last commit (periodically, and before the log behind it is purged),
//! so after a crash the file matches exactly one applied index, that of the last persist,
//! and only the log after it is replayed.
//!
//! **Why redb and not sled** (docs/performance.md, "The state store alone"): sled 0.34
//! keeps about 2 KB of memory per record written since the process started, whatever its
//! cache capacity, which rules out millions of records in bounded memory; and it has no
//! point-in-time view, so a consistent snapshot needed undo images. redb's read
//! transactions are point-in-time views ([`snapshot`]), its memory is its configured
//! page cache, and it has no dependencies beyond libc.
//!
//! An installed snapshot (a follower catching up, a restore) is written into a new
//! *generation* table; one durable transaction switches to it once it is complete and
//! drops the old one, so a crash during an install leaves the old state in place.
//!
//! Every value carries a format version ([`codec::RECORD_FORMAT`]); so do the file
//! ([`STORE_FORMAT`]) and the snapshot stream ([`snapshot::STREAM_FORMAT`]).

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
pub use store::{Pair, StateStore, DEFAULT_CACHE_BYTES, STATE_FILE, STORE_FORMAT};
pub use write_set::WriteSet;

#[cfg(test)]
pub(crate) mod tests;
