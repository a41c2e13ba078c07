//! Online backup of a running node, and restore into a fresh data directory.
//!
//! A backup is the node's state at one applied log index: the node builds a snapshot
//! (openraft's snapshot builder captures the state on the apply task, so the image is
//! of exactly one index while apply, polls and writes go on) and the backup is that
//! snapshot, read back from the store, in a file of its own format:
//!
//! ```text
//! "SUSLIKBK" | u32 LE backup format | bincode(BackupContents) | u32 LE crc32 of all before
//! ```
//!
//! A restore writes a new data directory that starts as a one-node cluster holding the
//! backup's state: the snapshot with its membership replaced by the restored node, an
//! empty log purged up to the snapshot, and a vote in the snapshot's term (so the node's
//! first election is in a later term than every entry it holds). More nodes join it
//! with `suslik cluster add-node` and catch up from a snapshot.

use crate::formats::data_dir;
use crate::raft::durable::open_store;
use crate::raft::log_store::seed_restored;
use crate::raft::state_machine_store::{read_current, seed_snapshot, SnapshotPayload};
use crate::raft::typ::SnapshotMeta;
use crate::raft::{BasicNode, NodeId, Raft};
use openraft::{Membership, StoredMembership, Vote};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"SUSLIKBK";
/// The backup file format this build writes (and the newest it reads).
pub const BACKUP_FORMAT: u32 = 1;

/// What a backup holds besides the snapshot's bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BackupContents {
    /// `suslik <version>` of the node that took it.
    written_by: String,
    /// The node it was taken from.
    node_id: NodeId,
    /// When, in milliseconds since the Unix epoch.
    taken_at_ms: u64,
    meta: SnapshotMeta,
    /// bincode of [`SnapshotPayload`].
    data: Vec<u8>,
}

/// What is wrong with a backup, or why one could not be taken or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{file} is not a suslik backup (it does not start with the backup marker)", file = .0.display())]
    NotABackup(PathBuf),
    #[error("{file} is truncated or corrupt: {reason}", file = .file.display())]
    Corrupt { file: PathBuf, reason: String },
    #[error(
        "{file} is in backup format {found}; this build reads format {BACKUP_FORMAT}: restore it with a newer suslik",
        file = .file.display()
    )]
    Newer { file: PathBuf, found: u32 },
    #[error("{dir} is not empty: restore into a new directory", dir = .0.display())]
    TargetNotEmpty(PathBuf),
    #[error("the node has no snapshot to back up")]
    NoSnapshot,
    #[error("the snapshot for the backup did not complete within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Storage(String),
}

/// Builds a snapshot on this node now and returns it as a backup file's bytes.
pub async fn take(raft: &Raft, db: &sled::Db, node_id: NodeId) -> Result<Vec<u8>, BackupError> {
    let applied = raft.metrics().borrow().last_applied;
    let want = applied.map(|l| l.index);
    if want.is_some() {
        raft.trigger()
            .snapshot()
            .await
            .map_err(|e| BackupError::Storage(format!("cannot start a snapshot: {e}")))?;
        let timeout = Duration::from_secs(600);
        raft.wait(Some(timeout))
            .metrics(
                |m| m.snapshot.map(|s| s.index) >= want,
                "snapshot for a backup",
            )
            .await
            .map_err(|_| BackupError::Timeout(timeout))?;
    }
    let db = db.clone();
    let (meta, data) =
        tokio::task::spawn_blocking(move || read_current(&db).map_err(|e| e.to_string()))
            .await
            .map_err(|e| BackupError::Storage(format!("snapshot read task failed: {e}")))?
            .map_err(BackupError::Storage)?
            .ok_or(BackupError::NoSnapshot)?;
    let contents = BackupContents {
        written_by: format!("suslik {}", env!("CARGO_PKG_VERSION")),
        node_id,
        taken_at_ms: crate::model::Millis::now().0,
        meta,
        data,
    };
    encode(&contents)
}

fn encode(contents: &BackupContents) -> Result<Vec<u8>, BackupError> {
    let body = bincode::serialize(contents)
        .map_err(|e| BackupError::Storage(format!("cannot encode the backup: {e}")))?;
    let mut out = Vec::with_capacity(body.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&BACKUP_FORMAT.to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn decode(file: &Path, bytes: &[u8]) -> Result<BackupContents, BackupError> {
    let corrupt = |reason: String| BackupError::Corrupt {
        file: file.to_path_buf(),
        reason,
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(BackupError::NotABackup(file.to_path_buf()));
    }
    if bytes.len() < MAGIC.len() + 8 {
        return Err(corrupt(format!("only {} bytes", bytes.len())));
    }
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[8..12]);
    let format = u32::from_le_bytes(word);
    let (covered, tail) = bytes.split_at(bytes.len() - 4);
    word.copy_from_slice(tail);
    if crc32fast::hash(covered) != u32::from_le_bytes(word) {
        return Err(corrupt(
            "its checksum does not match (cut short, or changed after it was written)".into(),
        ));
    }
    if format > BACKUP_FORMAT {
        return Err(BackupError::Newer {
            file: file.to_path_buf(),
            found: format,
        });
    }
    if format == 0 {
        return Err(corrupt("backup format 0, which no build writes".into()));
    }
    let contents: BackupContents =
        bincode::deserialize(&covered[12..]).map_err(|e| corrupt(e.to_string()))?;
    let payload: SnapshotPayload = bincode::deserialize(&contents.data)
        .map_err(|e| corrupt(format!("its snapshot does not decode: {e}")))?;
    if payload.last_applied != contents.meta.last_log_id {
        return Err(corrupt("its snapshot and its description disagree".into()));
    }
    Ok(contents)
}

/// What a restore produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The log index the restored state is at.
    pub index: u64,
    /// The node the backup was taken from, and when.
    pub taken_from: NodeId,
    pub taken_at_ms: u64,
}

/// Writes the backup `file` into the new data directory `dir` (missing or empty) as
/// the state of a one-node cluster whose member is `node_id` at `addr`. Blocking.
pub fn restore(
    file: &Path,
    dir: &Path,
    node_id: NodeId,
    addr: &str,
) -> Result<Restored, BackupError> {
    let bytes = std::fs::read(file)
        .map_err(|e| BackupError::Storage(format!("cannot read {}: {e}", file.display())))?;
    let contents = decode(file, &bytes)?;
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| BackupError::Storage(format!("cannot read {}: {e}", dir.display())))?;
        if entries.next().is_some() {
            return Err(BackupError::TargetNotEmpty(dir.to_path_buf()));
        }
    }
    let storage = |e: &dyn std::fmt::Display| BackupError::Storage(e.to_string());
    let mut payload: SnapshotPayload =
        bincode::deserialize(&contents.data).map_err(|e| storage(&e))?;
    let last = contents
        .meta
        .last_log_id
        .ok_or_else(|| BackupError::Storage("the backup holds an empty state".into()))?;
    let membership = StoredMembership::new(
        payload.last_membership.log_id().to_owned(),
        Membership::new(
            vec![BTreeSet::from([node_id])],
            BTreeMap::from([(node_id, BasicNode::new(addr))]),
        ),
    );
    payload.last_membership = membership.clone();
    let meta = SnapshotMeta {
        last_log_id: contents.meta.last_log_id,
        last_membership: membership,
        snapshot_id: format!("restored-{}", contents.meta.snapshot_id),
    };
    let data = bincode::serialize(&payload).map_err(|e| storage(&e))?;

    std::fs::create_dir_all(dir).map_err(|e| storage(&e))?;
    data_dir::open(dir).map_err(|e| storage(&e))?;
    let raft_dir = dir.join("raft");
    let (db, durable) = open_store(&raft_dir).map_err(|e| storage(&e))?;
    seed_snapshot(&db, &durable, &meta, &data).map_err(|e| storage(&e))?;
    let vote = Vote::new(last.leader_id.term, node_id);
    seed_restored(&db, &durable, &vote, last).map_err(|e| storage(&e))?;
    drop(db);
    Ok(Restored {
        index: last.index,
        taken_from: contents.node_id,
        taken_at_ms: contents.taken_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BackupContents {
        let payload = SnapshotPayload {
            last_applied: None,
            last_membership: StoredMembership::default(),
            app: vec![1, 2, 3],
        };
        BackupContents {
            written_by: "suslik test".into(),
            node_id: 1,
            taken_at_ms: 5,
            meta: SnapshotMeta {
                last_log_id: None,
                last_membership: StoredMembership::default(),
                snapshot_id: "s".into(),
            },
            data: bincode::serialize(&payload).unwrap(),
        }
    }

    #[test]
    fn a_backup_file_round_trips() {
        let bytes = encode(&sample()).unwrap();
        let back = decode(Path::new("b"), &bytes).unwrap();
        assert_eq!(back.taken_at_ms, 5);
        assert_eq!(back.meta.snapshot_id, "s");
    }

    #[test]
    fn a_cut_or_changed_backup_is_refused_naming_the_file() {
        let bytes = encode(&sample()).unwrap();
        let cut = decode(Path::new("b.bak"), &bytes[..bytes.len() - 3]).unwrap_err();
        assert!(
            cut.to_string().contains("b.bak is truncated or corrupt"),
            "{cut}"
        );
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(matches!(
            decode(Path::new("b"), &flipped),
            Err(BackupError::Corrupt { .. })
        ));
        let other = decode(Path::new("x.txt"), b"hello world, not a backup").unwrap_err();
        assert!(matches!(other, BackupError::NotABackup(_)), "{other}");
    }

    #[test]
    fn a_newer_backup_format_is_refused() {
        let mut bytes = encode(&sample()).unwrap();
        bytes[8..12].copy_from_slice(&9u32.to_le_bytes());
        let n = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
        let e = decode(Path::new("b"), &bytes).unwrap_err();
        assert!(e.to_string().contains("backup format 9"), "{e}");
    }
}
