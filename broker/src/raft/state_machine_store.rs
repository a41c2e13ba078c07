//! openraft's state machine and snapshot storage, wrapping the broker's [`Applier`].
//!
//! The application state is in memory (inside the `Applier`); durability comes from the
//! log plus snapshots. A snapshot is the bincode of [`SnapshotPayload`] (last applied log id,
//! last membership, and the applier's own bytes). The current snapshot is kept in the sled
//! tree `snapshot`, its meta under `meta` and its bytes under `data` (written together in
//! one atomic batch), and flushed before it is reported, so on open the store restores
//! the applier from it and reports its log id as applied; openraft then replays the
//! committed log tail after it. Only the meta stays in memory: the bytes (about half a
//! KiB per queued task) are read back from sled when a follower needs them. A store
//! written before that split (both under `current`) is refused on open.
//!
//! The snapshot view is taken in [`RaftStateMachine::get_snapshot_builder`], which openraft
//! calls on the apply task, so the applier bytes and the recorded last-applied id always
//! match; only the encoding and the disk write run on the spawned builder task.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder, StorageError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::applier::Applier;
use super::codec::{decode, encode, sto_err, sto_msg};
use super::durable::Durable;
use super::typ::{Entry, Snapshot, SnapshotMeta};
use super::{BasicNode, NodeId, TypeConfig};
use crate::state_machine::Response;

const SNAPSHOT_TREE: &str = "snapshot";
/// Where builds before the meta/data split kept the whole snapshot. Their snapshots
/// also predate the state format header, so a store holding this key is refused on
/// open with a clear error (ignoring it would replay a purged log from the middle).
const KEY_CURRENT: &[u8] = b"current";
/// bincode of the current snapshot's [`SnapshotMeta`].
const KEY_META: &[u8] = b"meta";
/// The current snapshot's bytes (bincode of [`SnapshotPayload`]).
const KEY_DATA: &[u8] = b"data";

/// The content of a snapshot, as sent to followers and stored on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotPayload {
    /// The last log id reflected in `app`.
    pub last_applied: Option<LogId<NodeId>>,
    /// The last membership applied at that point.
    pub last_membership: StoredMembership<NodeId, BasicNode>,
    /// [`Applier::snapshot`] bytes.
    pub app: Vec<u8>,
}

/// The current snapshot as read back from the store.
struct StoredSnapshot {
    meta: SnapshotMeta,
    /// bincode of [`SnapshotPayload`].
    data: Vec<u8>,
}

/// Persistent holder of the current snapshot, shared by the store and its builders.
struct SnapshotSlot {
    db: sled::Db,
    tree: sled::Tree,
    /// The current snapshot's meta; its bytes are in the tree.
    current: Mutex<Option<SnapshotMeta>>,
    durable: Arc<Durable>,
}

impl SnapshotSlot {
    /// Persist `data` as the current snapshot unless a newer one is already there.
    /// Returns whether it was stored.
    async fn store(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<bool, StorageError<NodeId>> {
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        let mut current = self.current.lock().await;
        if let Some(cur) = current.as_ref() {
            if cur.last_log_id > meta.last_log_id {
                tracing::info!(
                    current = %cur, ignored = %meta,
                    "not replacing a newer snapshot with an older one"
                );
                return Ok(false);
            }
        }
        let mut batch = sled::Batch::default();
        batch.insert(KEY_META, encode(subject.clone(), meta)?);
        batch.insert(KEY_DATA, data);
        self.tree
            .apply_batch(batch)
            .map_err(|e| sto_err(subject.clone(), ErrorVerb::Write, &e))?;
        self.tree
            .flush_async()
            .await
            .map_err(|e| sto_err(subject.clone(), ErrorVerb::Write, &e))?;
        // A snapshot is usually large enough to live in a sled blob file.
        self.durable
            .sync(true)
            .await
            .map_err(|e| sto_err(subject, ErrorVerb::Write, &e))?;
        *current = Some(meta.clone());
        Ok(true)
    }

    /// The current snapshot, read back from sled (on the blocking pool: it can be
    /// hundreds of MiB, and the caller is the state machine's task).
    async fn load(&self) -> Result<Option<Snapshot>, StorageError<NodeId>> {
        let current = self.current.lock().await;
        if current.is_none() {
            return Ok(None);
        }
        let tree = self.tree.clone();
        let stored = tokio::task::spawn_blocking(move || Self::read_stored(&tree))
            .await
            .map_err(|e| {
                let err = std::io::Error::other(format!("snapshot read task failed: {e}"));
                sto_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, &err)
            })??;
        let Some(stored) = stored else {
            let err = std::io::Error::other("snapshot missing from the store");
            return Err(sto_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, &err));
        };
        Ok(Some(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }

    /// The stored snapshot, if any.
    fn read_stored(tree: &sled::Tree) -> Result<Option<StoredSnapshot>, StorageError<NodeId>> {
        let subject = ErrorSubject::Snapshot(None);
        let read = |key| {
            tree.get(key)
                .map_err(|e| sto_err(subject.clone(), ErrorVerb::Read, &e))
        };
        let Some(meta) = read(KEY_META)? else {
            if read(KEY_CURRENT)?.is_some() {
                let err = std::io::Error::other(
                    "the snapshot was stored by an older build, whose state format this build \
                     cannot read",
                );
                return Err(sto_err(subject, ErrorVerb::Read, &err));
            }
            return Ok(None);
        };
        let meta: SnapshotMeta = decode(subject.clone(), &meta)?;
        let Some(data) = read(KEY_DATA)? else {
            let err = std::io::Error::other("snapshot meta without its bytes");
            return Err(sto_err(subject, ErrorVerb::Read, &err));
        };
        Ok(Some(StoredSnapshot {
            meta,
            data: data.to_vec(),
        }))
    }
}

/// The current snapshot of the store in `db`: its meta and its bytes, read so that
/// they belong to the same snapshot (a snapshot written meanwhile makes it read again),
/// for a backup. `None` if the node has not built one yet.
pub fn read_current(
    db: &sled::Db,
) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StorageError<NodeId>> {
    let tree = db
        .open_tree(SNAPSHOT_TREE)
        .map_err(|e| sto_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, &e))?;
    for _ in 0..16 {
        let Some(stored) = SnapshotSlot::read_stored(&tree)? else {
            return Ok(None);
        };
        let meta_again = tree
            .get(KEY_META)
            .map_err(|e| sto_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, &e))?;
        let same = meta_again.is_some_and(|m| {
            decode::<SnapshotMeta>(ErrorSubject::Snapshot(None), &m)
                .ok()
                .as_ref()
                == Some(&stored.meta)
        });
        if same {
            let payload: SnapshotPayload = decode(
                ErrorSubject::Snapshot(Some(stored.meta.signature())),
                &stored.data,
            )?;
            if payload.last_applied == stored.meta.last_log_id {
                return Ok(Some((stored.meta, stored.data)));
            }
        }
    }
    Err(sto_msg(
        ErrorSubject::Snapshot(None),
        ErrorVerb::Read,
        "the snapshot kept changing while it was read".to_string(),
    ))
}

/// Writes `meta` and `data` as the current snapshot of a store being created from a
/// backup (`suslik restore`), flushed and synced. Blocking.
pub fn seed_snapshot(
    db: &sled::Db,
    durable: &Durable,
    meta: &SnapshotMeta,
    data: &[u8],
) -> Result<(), StorageError<NodeId>> {
    let subject = ErrorSubject::Snapshot(Some(meta.signature()));
    let tree = db
        .open_tree(SNAPSHOT_TREE)
        .map_err(|e| sto_err(subject.clone(), ErrorVerb::Write, &e))?;
    let mut batch = sled::Batch::default();
    batch.insert(KEY_META, encode(subject.clone(), meta)?);
    batch.insert(KEY_DATA, data);
    tree.apply_batch(batch)
        .map_err(|e| sto_err(subject.clone(), ErrorVerb::Write, &e))?;
    db.flush()
        .map_err(|e| sto_err(subject.clone(), ErrorVerb::Write, &e))?;
    durable
        .sync_blocking(true)
        .map_err(|e| sto_err(subject, ErrorVerb::Write, &e))
}

/// openraft state machine over an [`Applier`], with snapshots persisted in sled.
pub struct SledStateMachine {
    applier: Arc<dyn Applier>,
    last_applied: Option<LogId<NodeId>>,
    last_membership: StoredMembership<NodeId, BasicNode>,
    snapshots: Arc<SnapshotSlot>,
}

impl SledStateMachine {
    /// Open the snapshot tree in `db`; if a snapshot is stored, restore `applier` from it
    /// and start from its log id and membership. `applier` is expected to be empty.
    pub async fn open(
        db: &sled::Db,
        durable: Arc<Durable>,
        applier: Arc<dyn Applier>,
    ) -> Result<Self, StorageError<NodeId>> {
        let tree = db
            .open_tree(SNAPSHOT_TREE)
            .map_err(|e| sto_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, &e))?;
        let stored = SnapshotSlot::read_stored(&tree)?;
        let mut sm = Self {
            applier,
            last_applied: None,
            last_membership: StoredMembership::default(),
            snapshots: Arc::new(SnapshotSlot {
                db: db.clone(),
                tree,
                current: Mutex::new(None),
                durable,
            }),
        };
        if let Some(stored) = stored {
            tracing::info!(snapshot = %stored.meta, "restoring state machine from snapshot");
            sm.restore(&stored.meta, &stored.data)?;
            *sm.snapshots.current.lock().await = Some(stored.meta);
        }
        Ok(sm)
    }

    /// Replace the application state with snapshot `data` described by `meta`.
    fn restore(&mut self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError<NodeId>> {
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        let payload: SnapshotPayload = decode(subject.clone(), data)?;
        if payload.last_applied != meta.last_log_id {
            return Err(sto_msg(
                subject,
                ErrorVerb::Read,
                format!(
                    "snapshot payload is at {:?}, meta says {}",
                    payload.last_applied, meta
                ),
            ));
        }
        self.applier.restore(&payload.app).map_err(|e| {
            sto_msg(
                subject,
                ErrorVerb::Read,
                format!("applier rejected snapshot: {e}"),
            )
        })?;
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        Ok(())
    }
}

/// Builds a snapshot from a view captured when the builder was created.
pub struct SledSnapshotBuilder {
    /// The state captured when the builder was taken, or why it could not be.
    payload: Result<SnapshotPayload, String>,
    snapshots: Arc<SnapshotSlot>,
}

impl RaftSnapshotBuilder<TypeConfig> for SledSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError<NodeId>> {
        let payload = match &self.payload {
            Ok(p) => p,
            Err(e) => {
                let err = std::io::Error::other(e.clone());
                return Err(sto_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, &err));
            }
        };
        let last_log_id = payload.last_applied;
        let seq = self
            .snapshots
            .db
            .generate_id()
            .map_err(|e| sto_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, &e))?;
        let snapshot_id = match last_log_id {
            Some(id) => format!("{}-{}-{seq}", id.leader_id.term, id.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership: payload.last_membership.clone(),
            snapshot_id,
        };
        let data = encode(ErrorSubject::Snapshot(Some(meta.signature())), payload)?;
        if self.snapshots.store(&meta, &data).await? {
            tracing::info!(snapshot = %meta, bytes = payload.app.len(), "snapshot built");
        }
        // The captured state is no longer needed: free it before openraft holds the bytes.
        self.payload = Err("snapshot already built".to_string());
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for SledStateMachine {
    type SnapshotBuilder = SledSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries = entries.into_iter();
        let mut responses = Vec::with_capacity(entries.size_hint().0);
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => Response::default(),
                EntryPayload::Normal(ref request) => self.applier.apply(request),
                EntryPayload::Membership(ref membership) => {
                    self.last_membership =
                        StoredMembership::new(Some(entry.log_id), membership.clone());
                    Response::default()
                }
            };
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SledSnapshotBuilder {
            payload: self.applier.snapshot().map(|app| SnapshotPayload {
                last_applied: self.last_applied,
                last_membership: self.last_membership.clone(),
                app,
            }),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        tracing::info!(snapshot = %meta, "installing snapshot from leader");
        let data = snapshot.into_inner();
        self.restore(meta, &data)?;
        self.snapshots.store(meta, &data).await?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError<NodeId>> {
        self.snapshots.load().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::test_support::{blank, log_id, membership, normal, CountingApplier};

    async fn open(path: &std::path::Path) -> (sled::Db, Arc<CountingApplier>, SledStateMachine) {
        let (db, durable) = crate::raft::durable::open_store(path).unwrap();
        let applier = Arc::new(CountingApplier::default());
        let sm = SledStateMachine::open(&db, durable, applier.clone())
            .await
            .unwrap();
        (db, applier, sm)
    }

    #[tokio::test]
    async fn apply_snapshot_and_restore_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let built = {
            let (_db, applier, mut sm) = open(dir.path()).await;
            assert_eq!(
                sm.applied_state().await.unwrap(),
                (None, StoredMembership::default())
            );
            assert!(sm.get_current_snapshot().await.unwrap().is_none());

            let responses = sm
                .apply([
                    membership(1, 1, &[1]),
                    blank(1, 2),
                    normal(1, 3),
                    normal(1, 4),
                    normal(1, 5),
                ])
                .await
                .unwrap();
            assert_eq!(responses.len(), 5);
            assert!(responses.iter().all(|r| *r == Response::default()));
            assert_eq!(applier.applied(), 3);
            let (applied, mem) = sm.applied_state().await.unwrap();
            assert_eq!(applied, Some(log_id(1, 5)));
            assert_eq!(mem.log_id(), &Some(log_id(1, 1)));

            let mut builder = sm.get_snapshot_builder().await;
            // Entries applied after the builder was taken are not in the snapshot.
            sm.apply([normal(1, 6)]).await.unwrap();
            let snap = builder.build_snapshot().await.unwrap();
            assert_eq!(snap.meta.last_log_id, Some(log_id(1, 5)));
            assert_eq!(snap.meta.last_membership.log_id(), &Some(log_id(1, 1)));
            let payload: SnapshotPayload = bincode::deserialize(snap.snapshot.get_ref()).unwrap();
            assert_eq!(payload.app, applier_bytes(3));

            let current = sm.get_current_snapshot().await.unwrap().unwrap();
            assert_eq!(current.meta, snap.meta);
            assert_eq!(current.snapshot.get_ref(), snap.snapshot.get_ref());
            snap
        };

        // A fresh applier is restored from the persisted snapshot with the same bytes.
        let (_db, applier, mut sm) = open(dir.path()).await;
        assert_eq!(applier.restored(), vec![applier_bytes(3)]);
        assert_eq!(applier.applied(), 3);
        let (applied, mem) = sm.applied_state().await.unwrap();
        assert_eq!(applied, Some(log_id(1, 5)));
        assert_eq!(mem, built.meta.last_membership);
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, built.meta);
        assert_eq!(current.snapshot.get_ref(), built.snapshot.get_ref());
    }

    fn applier_bytes(count: u64) -> Vec<u8> {
        bincode::serialize(&count).unwrap()
    }

    #[tokio::test]
    async fn install_snapshot_replaces_state_and_persists() {
        let leader_dir = tempfile::tempdir().unwrap();
        let follower_dir = tempfile::tempdir().unwrap();
        let (_ldb, _lapplier, mut leader) = open(leader_dir.path()).await;
        leader
            .apply([membership(1, 1, &[1, 2]), normal(1, 2), normal(1, 3)])
            .await
            .unwrap();
        let snap = leader
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();

        {
            let (_fdb, fapplier, mut follower) = open(follower_dir.path()).await;
            follower.apply([normal(1, 1)]).await.unwrap();
            let mut data = follower.begin_receiving_snapshot().await.unwrap();
            *data = *snap.snapshot.clone();
            follower.install_snapshot(&snap.meta, data).await.unwrap();
            assert_eq!(fapplier.applied(), 2);
            assert_eq!(
                follower.applied_state().await.unwrap(),
                (snap.meta.last_log_id, snap.meta.last_membership.clone())
            );
        }
        let (_fdb, fapplier, mut follower) = open(follower_dir.path()).await;
        assert_eq!(fapplier.applied(), 2);
        let current = follower.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, snap.meta);

        // A snapshot whose bytes do not decode is refused, state untouched.
        let mut meta = snap.meta.clone();
        meta.last_log_id = Some(log_id(2, 9));
        let bad = Box::new(Cursor::new(b"not a snapshot".to_vec()));
        assert!(follower.install_snapshot(&meta, bad).await.is_err());
        assert_eq!(
            follower.applied_state().await.unwrap().0,
            snap.meta.last_log_id
        );
    }

    #[tokio::test]
    async fn a_store_from_before_the_split_is_refused_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (db, durable) = crate::raft::durable::open_store(dir.path()).unwrap();
        db.open_tree(SNAPSHOT_TREE)
            .unwrap()
            .insert(KEY_CURRENT, &b"an old snapshot record"[..])
            .unwrap();
        let applier = Arc::new(CountingApplier::default());
        let err = SledStateMachine::open(&db, durable, applier)
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains("older build"), "{err}");
    }

    #[tokio::test]
    async fn corrupt_snapshot_on_disk_fails_open() {
        let dir = tempfile::tempdir().unwrap();
        let (db, durable) = crate::raft::durable::open_store(dir.path()).unwrap();
        let tree = db.open_tree(SNAPSHOT_TREE).unwrap();
        tree.insert(KEY_META, &b"garbage"[..]).unwrap();
        tree.insert(KEY_DATA, &b"garbage"[..]).unwrap();
        let applier = Arc::new(CountingApplier::default());
        assert!(SledStateMachine::open(&db, durable, applier).await.is_err());
    }
}
