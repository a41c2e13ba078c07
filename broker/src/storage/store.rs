//! The state tree: reads that see an entry's pending writes, atomic commits, and the
//! generations that make an installed snapshot appear all at once.

use super::error::show_key;
use super::snapshot::{self, SnapshotReader, SnapshotWriter};
use super::{codec, Family, KeyBuf, StorageError, WriteSet};
use serde::de::DeserializeOwned;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// A key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);

/// The layout of the state store (its trees and key families) this build writes.
pub const STORE_FORMAT: u32 = 1;

/// The tree holding the store's own pointers (format, current generation).
const META_TREE: &str = "state.meta";
const KEY_FORMAT: &[u8] = b"format";
const KEY_GENERATION: &[u8] = b"generation";

fn tree_name(generation: u64) -> String {
    format!("state.{generation}")
}

/// The state records of one node, in a tree of its sled `Db`. Cheap to clone.
#[derive(Clone)]
pub struct StateStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    meta: sled::Tree,
    /// The current generation's tree.
    live: RwLock<(u64, sled::Tree)>,
    /// Held by every commit, a snapshot's start and end, and an install's switch: the
    /// tree has one writer at a time.
    writer: Mutex<WriterState>,
}

#[derive(Default)]
pub(crate) struct WriterState {
    /// The snapshot being read, if one is: commits save undo images for it.
    pub(crate) snapshot: Option<u64>,
    next_snapshot: u64,
    /// Trees of replaced generations, dropped once no snapshot reads them.
    retired: Vec<String>,
}

impl StateStore {
    /// Opens (or creates) the state store in `db`. Clears what a crash may have left
    /// behind: undo images of a snapshot that was being read, and a generation that was
    /// being installed but not switched to.
    pub fn open(db: &sled::Db) -> Result<StateStore, StorageError> {
        let meta = db
            .open_tree(META_TREE)
            .map_err(StorageError::sled("opening the state meta tree"))?;
        match meta
            .get(KEY_FORMAT)
            .map_err(StorageError::sled("reading the state store format"))?
        {
            None => {
                meta.insert(KEY_FORMAT, &STORE_FORMAT.to_be_bytes())
                    .map_err(StorageError::sled("writing the state store format"))?;
            }
            Some(v) => {
                let found = be_u32(&v).ok_or_else(|| StorageError::Corrupt {
                    key: "state.meta/format".into(),
                    reason: format!("{} bytes, expected 4", v.len()),
                })?;
                if found > STORE_FORMAT {
                    return Err(StorageError::NewerStore {
                        found,
                        max: STORE_FORMAT,
                    });
                }
            }
        }
        let generation = match meta
            .get(KEY_GENERATION)
            .map_err(StorageError::sled("reading the state generation"))?
        {
            None => 0,
            Some(v) => be_u64(&v).ok_or_else(|| StorageError::Corrupt {
                key: "state.meta/generation".into(),
                reason: format!("{} bytes, expected 8", v.len()),
            })?,
        };
        let current = tree_name(generation);
        for name in db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            if name.starts_with("state.") && name != META_TREE && name != current {
                tracing::info!(tree = %name, "dropping a state generation left by an unfinished install");
                db.drop_tree(name.as_bytes())
                    .map_err(StorageError::sled(format!("dropping tree {name}")))?;
            }
        }
        let tree = db
            .open_tree(current.as_bytes())
            .map_err(StorageError::sled(format!("opening tree {current}")))?;
        clear_prefix(&tree, &Family::Undo.start())?;
        Ok(StateStore {
            inner: Arc::new(Inner {
                db: db.clone(),
                meta,
                live: RwLock::new((generation, tree)),
                writer: Mutex::new(WriterState {
                    next_snapshot: 1,
                    ..WriterState::default()
                }),
            }),
        })
    }

    pub(crate) fn tree(&self) -> sled::Tree {
        let live = self.inner.live.read().unwrap_or_else(|p| p.into_inner());
        live.1.clone()
    }

    /// The generation of the current tree (raised by every installed snapshot).
    pub fn generation(&self) -> u64 {
        let live = self.inner.live.read().unwrap_or_else(|p| p.into_inner());
        live.0
    }

    pub(crate) fn writer(&self) -> MutexGuard<'_, WriterState> {
        self.inner.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of `key` as `pending` leaves it.
    pub fn get(&self, pending: &WriteSet, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = pending.pending(key) {
            return Ok(v.map(<[u8]>::to_vec));
        }
        let v = self
            .tree()
            .get(key)
            .map_err(StorageError::sled(format!("reading {}", show_key(key))))?;
        Ok(v.map(|v| v.to_vec()))
    }

    /// The record under `key`, decoded.
    pub fn get_record<T: DeserializeOwned>(
        &self,
        pending: &WriteSet,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        match self.get(pending, key)? {
            None => Ok(None),
            Some(v) => codec::decode(key, &v).map(Some),
        }
    }

    /// At most `limit` keys and values in `[from, to)`, in key order, as `pending`
    /// leaves them.
    pub fn range(
        &self,
        pending: &WriteSet,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<Pair>, StorageError> {
        let bounds = (Bound::Included(from.to_vec()), Bound::Excluded(to.to_vec()));
        let mut mine = pending.pending_range(bounds.clone()).peekable();
        let mut disk = self.tree().range::<Vec<u8>, _>(bounds).peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let take_mine = match (mine.peek(), disk.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((mk, _)), Some(Ok((dk, _)))) => {
                    if *mk == dk.as_ref() {
                        disk.next(); // the pending write replaces what is on disk
                        true
                    } else {
                        *mk < dk.as_ref()
                    }
                }
                (Some(_), Some(Err(_))) => false,
            };
            if take_mine {
                if let Some((k, Some(v))) = mine.next() {
                    out.push((k.to_vec(), v.to_vec()));
                }
            } else if let Some(item) = disk.next() {
                let (k, v) = item.map_err(StorageError::sled("scanning the state tree"))?;
                out.push((k.to_vec(), v.to_vec()));
            }
        }
        Ok(out)
    }

    /// Writes `changes` as one atomic batch. While a snapshot is being read, the batch
    /// also saves, once per key, the value the snapshot must see.
    pub fn commit(&self, changes: WriteSet) -> Result<(), StorageError> {
        if changes.is_empty() {
            return Ok(());
        }
        if let Some(bad) = changes
            .keys()
            .find(|k| k.first() == Some(&Family::Undo.tag()))
        {
            return Err(StorageError::Misuse(format!(
                "{} is in the store's own undo family",
                show_key(bad)
            )));
        }
        let writer = self.writer();
        let tree = self.tree();
        let mut batch = sled::Batch::default();
        if let Some(id) = writer.snapshot {
            for key in changes.keys() {
                let undo = snapshot::undo_key(id, key);
                let saved = tree
                    .contains_key(&undo)
                    .map_err(StorageError::sled("reading an undo image"))?;
                if !saved {
                    let before = tree
                        .get(key)
                        .map_err(StorageError::sled(format!("reading {}", show_key(key))))?;
                    batch.insert(undo, snapshot::undo_value(before.as_deref()));
                }
            }
        }
        for (k, v) in changes.into_writes() {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        tree.apply_batch(batch)
            .map_err(StorageError::sled("committing an applied entry"))?;
        drop(writer);
        Ok(())
    }

    /// Starts a snapshot of the state as it is now. Call it between commits (on the
    /// apply task): the image is that of the last commit.
    pub fn begin_snapshot(&self) -> Result<SnapshotReader, StorageError> {
        let mut writer = self.writer();
        if writer.snapshot.is_some() {
            return Err(StorageError::SnapshotBusy);
        }
        let id = writer.next_snapshot;
        writer.next_snapshot += 1;
        writer.snapshot = Some(id);
        Ok(SnapshotReader::new(self.clone(), id, self.tree()))
    }

    /// Ends snapshot `id`: commits stop saving images for it, and its images and any
    /// generation retired meanwhile are removed.
    pub(crate) fn end_snapshot(&self, id: u64) {
        let mut writer = self.writer();
        if writer.snapshot == Some(id) {
            writer.snapshot = None;
        }
        let retired = std::mem::take(&mut writer.retired);
        drop(writer);
        if let Err(e) = clear_prefix(&self.tree(), &snapshot::undo_prefix(id)) {
            tracing::warn!(error = %e, "removing a finished snapshot's undo images failed (they go at the next start)");
        }
        self.drop_trees(retired);
    }

    fn drop_trees(&self, names: Vec<String>) {
        for name in names {
            if let Err(e) = self.inner.db.drop_tree(name.as_bytes()) {
                tracing::warn!(tree = %name, error = %e, "dropping a replaced state generation failed (it goes at the next start)");
            }
        }
    }

    /// Starts installing a snapshot stream into a new generation; the current state
    /// stays in place until [`SnapshotWriter::finish`] switches to it.
    pub fn install(&self) -> Result<SnapshotWriter, StorageError> {
        let generation = self.generation() + 1;
        let name = tree_name(generation);
        let tree = self
            .inner
            .db
            .open_tree(name.as_bytes())
            .map_err(StorageError::sled(format!("opening tree {name}")))?;
        tree.clear()
            .map_err(StorageError::sled(format!("clearing tree {name}")))?;
        Ok(SnapshotWriter::new(self.clone(), generation, tree))
    }

    /// Makes `generation` (fully written and flushed) the current state.
    pub(crate) fn switch_to(&self, generation: u64, tree: sled::Tree) -> Result<(), StorageError> {
        self.inner
            .db
            .flush()
            .map_err(StorageError::sled("flushing an installed snapshot"))?;
        let mut writer = self.writer();
        self.inner
            .meta
            .insert(KEY_GENERATION, &generation.to_be_bytes())
            .map_err(StorageError::sled("switching to the installed generation"))?;
        self.inner
            .meta
            .flush()
            .map_err(StorageError::sled("flushing the generation switch"))?;
        let old = {
            let mut live = self.inner.live.write().unwrap_or_else(|p| p.into_inner());
            let old = live.0;
            *live = (generation, tree);
            old
        };
        writer.retired.push(tree_name(old));
        if writer.snapshot.is_none() {
            let retired = std::mem::take(&mut writer.retired);
            drop(writer);
            self.drop_trees(retired);
        }
        Ok(())
    }

    /// A digest of every record (not the undo images): two stores with the same digest
    /// hold the same state.
    pub fn digest(&self) -> Result<u32, StorageError> {
        let mut h = crc32fast::Hasher::new();
        for item in self.tree().range(..Family::Undo.start()) {
            let (k, v) = item.map_err(StorageError::sled("scanning the state tree"))?;
            h.update(&(k.len() as u32).to_le_bytes());
            h.update(&k);
            h.update(&(v.len() as u32).to_le_bytes());
            h.update(&v);
        }
        Ok(h.finalize())
    }

    /// The key of a meta value named `name` (the applied log id, counters).
    pub fn meta_key(name: &str) -> Vec<u8> {
        KeyBuf::new(Family::Meta).str(name).build()
    }
}

fn be_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.try_into().ok()?))
}

fn be_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// Removes every key starting with `prefix`, a batch at a time.
fn clear_prefix(tree: &sled::Tree, prefix: &[u8]) -> Result<(), StorageError> {
    loop {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in tree.scan_prefix(prefix).keys().take(10_000) {
            batch.remove(item.map_err(StorageError::sled("scanning undo images"))?);
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        tree.apply_batch(batch)
            .map_err(StorageError::sled("removing undo images"))?;
    }
}
