//! The state file: reads that see an entry's pending writes, atomic commits, durable
//! points, point-in-time snapshot views, and the generations that make an installed
//! snapshot appear all at once.

use super::error::show_key;
use super::snapshot::{SnapshotReader, SnapshotWriter};
use super::{codec, Family, KeyBuf, StorageError, WriteSet};
use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition,
    TableHandle,
};
use serde::de::DeserializeOwned;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// A key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);

/// A table of the state file: byte keys (family tag first), byte values (record format
/// first).
pub(crate) type Table = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// The layout of the state file (its tables and key families) this build writes.
pub const STORE_FORMAT: u32 = 1;

/// The name of the state file in a node's data directory.
pub const STATE_FILE: &str = "state.redb";

/// The state file's page cache when the config names none: enough for the hot records of
/// a small machine; the OS page cache holds the rest of the file.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// The table holding the store's own pointers (format, current generation).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEY_FORMAT: &str = "format";
const KEY_GENERATION: &str = "generation";
const GENERATION_PREFIX: &str = "state.";

pub(crate) fn table_name(generation: u64) -> String {
    format!("{GENERATION_PREFIX}{generation}")
}

pub(crate) fn table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

/// The state records of one node, in its state file. Cheap to clone.
#[derive(Clone)]
pub struct StateStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    path: PathBuf,
    /// The current generation. Held by every commit and by an install's switch, so a
    /// commit never writes into a generation being replaced.
    writer: Mutex<u64>,
    /// A read view of the last commit, opened by the first read after it.
    view: RwLock<Option<Arc<Table>>>,
}

impl StateStore {
    /// Opens (or creates) the state file at `path` with a page cache of `cache_bytes`.
    /// Refuses a file of a newer store format, and drops a generation that an install cut
    /// off by a crash left behind.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<StateStore, StorageError> {
        let shown = path.display().to_string();
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(StorageError::engine(format!("opening {shown}")))?;
        let generation = prepare(&db, &shown)?;
        Ok(StateStore {
            inner: Arc::new(Inner {
                db,
                path: path.to_path_buf(),
                writer: Mutex::new(generation),
                view: RwLock::new(None),
            }),
        })
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The generation of the current table (raised by every installed snapshot).
    pub fn generation(&self) -> u64 {
        *self.writer()
    }

    pub(crate) fn writer(&self) -> MutexGuard<'_, u64> {
        self.inner.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn db(&self) -> &Database {
        &self.inner.db
    }

    fn forget_view(&self) {
        *self.inner.view.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A read view of the current table as the last commit left it.
    fn view(&self) -> Result<Arc<Table>, StorageError> {
        if let Some(v) = self
            .inner
            .view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(v.clone());
        }
        let generation = self.writer();
        let view = Arc::new(self.open_view(*generation)?);
        *self.inner.view.write().unwrap_or_else(|p| p.into_inner()) = Some(view.clone());
        drop(generation);
        Ok(view)
    }

    /// A new point-in-time view of `generation`'s table.
    pub(crate) fn open_view(&self, generation: u64) -> Result<Table, StorageError> {
        let name = table_name(generation);
        let txn = self
            .inner
            .db
            .begin_read()
            .map_err(StorageError::engine("starting a read"))?;
        txn.open_table(table(&name))
            .map_err(StorageError::engine(format!("opening table {name}")))
    }

    /// The value of `key` as `pending` leaves it.
    pub fn get(&self, pending: &WriteSet, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(v) = pending.pending(key) {
            return Ok(v.map(<[u8]>::to_vec));
        }
        let view = self.view()?;
        let v = view
            .get(key)
            .map_err(StorageError::engine(format!("reading {}", show_key(key))))?;
        Ok(v.map(|v| v.value().to_vec()))
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
        let mut mine = pending.pending_range(bounds).peekable();
        let view = self.view()?;
        let mut disk = view
            .range(from..to)
            .map_err(StorageError::engine("scanning the state table"))?
            .peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let take_mine = match (mine.peek(), disk.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((mk, _)), Some(Ok((dk, _)))) => {
                    let dk = dk.value();
                    if *mk == dk {
                        disk.next(); // the pending write replaces what is on disk
                        true
                    } else {
                        *mk < dk
                    }
                }
                (Some(_), Some(Err(_))) => false,
            };
            if take_mine {
                if let Some((k, Some(v))) = mine.next() {
                    out.push((k.to_vec(), v.to_vec()));
                }
            } else if let Some(item) = disk.next() {
                let (k, v) = item.map_err(StorageError::engine("scanning the state table"))?;
                out.push((k.value().to_vec(), v.value().to_vec()));
            }
        }
        Ok(out)
    }

    /// Writes `changes` as one atomic transaction. It is visible to reads at once and
    /// reaches the disk with the next [`StateStore::persist`]; a crash before that goes
    /// back to the last persisted commit, as a whole.
    pub fn commit(&self, changes: WriteSet) -> Result<(), StorageError> {
        if changes.is_empty() {
            return Ok(());
        }
        if let Some(bad) = changes.keys().find(|k| k.is_empty()) {
            return Err(StorageError::Misuse(format!(
                "{} has no family",
                show_key(bad)
            )));
        }
        let generation = self.writer();
        let name = table_name(*generation);
        let mut txn = self
            .inner
            .db
            .begin_write()
            .map_err(StorageError::engine("starting a commit"))?;
        txn.set_durability(Durability::None)
            .map_err(StorageError::engine("starting a commit"))?;
        {
            let mut t = txn
                .open_table(table(&name))
                .map_err(StorageError::engine(format!("opening table {name}")))?;
            for (k, v) in changes.into_writes() {
                match v {
                    Some(v) => t.insert(k.as_slice(), v.as_slice()).map(drop),
                    None => t.remove(k.as_slice()).map(drop),
                }
                .map_err(StorageError::engine(format!("writing {}", show_key(&k))))?;
            }
        }
        txn.commit()
            .map_err(StorageError::engine("committing an applied entry"))?;
        self.forget_view();
        drop(generation);
        Ok(())
    }

    /// Makes every commit so far durable (`fdatasync`), with the allocator state saved so
    /// that the reopen after a crash is quick. What the caller had applied when it called
    /// this is what a crash can no longer take back: the log before it may be purged.
    pub fn persist(&self) -> Result<(), StorageError> {
        let _generation = self.writer();
        durable_write(&self.inner.db, "persisting the state", |_| Ok(()))
    }

    /// Starts a snapshot of the state as the last commit left it: a point-in-time view,
    /// read while commits go on (they never wait for it).
    pub fn begin_snapshot(&self) -> Result<SnapshotReader, StorageError> {
        let generation = self.writer();
        let view = self.open_view(*generation)?;
        drop(generation);
        Ok(SnapshotReader::new(view))
    }

    /// Starts installing a snapshot stream into a new generation; the current state
    /// stays in place until [`SnapshotWriter::finish`] switches to it.
    pub fn install(&self) -> Result<SnapshotWriter, StorageError> {
        let generation = *self.writer() + 1;
        let name = table_name(generation);
        write(&self.inner.db, &format!("creating table {name}"), |txn| {
            txn.delete_table(table(&name))?;
            txn.open_table(table(&name))?;
            Ok(())
        })?;
        Ok(SnapshotWriter::new(self.clone(), generation))
    }

    /// Makes `generation` (fully written) the current state, durably, and drops the one
    /// it replaces (snapshots still reading it keep their view).
    pub(crate) fn switch_to(&self, generation: u64) -> Result<(), StorageError> {
        let mut current = self.writer();
        let old = table_name(*current);
        durable_write(
            &self.inner.db,
            "switching to the installed generation",
            |txn| {
                txn.open_table(META)?
                    .insert(KEY_GENERATION, generation.to_be_bytes().as_slice())?;
                txn.delete_table(table(&old))?;
                Ok(())
            },
        )?;
        *current = generation;
        self.forget_view();
        Ok(())
    }

    /// A digest of every record: two stores with the same digest hold the same state.
    pub fn digest(&self) -> Result<u32, StorageError> {
        let mut h = crc32fast::Hasher::new();
        let view = self.view()?;
        for item in view
            .iter()
            .map_err(StorageError::engine("scanning the state table"))?
        {
            let (k, v) = item.map_err(StorageError::engine("scanning the state table"))?;
            let (k, v) = (k.value(), v.value());
            h.update(&(k.len() as u32).to_le_bytes());
            h.update(k);
            h.update(&(v.len() as u32).to_le_bytes());
            h.update(v);
        }
        Ok(h.finalize())
    }

    /// The key of a meta value named `name` (the applied log id, counters).
    pub fn meta_key(name: &str) -> Vec<u8> {
        KeyBuf::new(Family::Meta).str(name).build()
    }
}

/// Checks the file's format (writing it into a new file), drops generations an
/// interrupted install left, makes sure the current table exists; returns its generation.
fn prepare(db: &Database, shown: &str) -> Result<u64, StorageError> {
    let mut generation = 0;
    durable_write(db, &format!("preparing {shown}"), |txn| {
        let mut meta = txn.open_table(META)?;
        let format = meta.get(KEY_FORMAT)?.map(|v| v.value().to_vec());
        match format {
            None => {
                meta.insert(KEY_FORMAT, STORE_FORMAT.to_be_bytes().as_slice())?;
            }
            Some(v) => {
                let found = be_u32(&v).ok_or_else(|| StorageError::Corrupt {
                    key: format!("{shown}: meta/format"),
                    reason: format!("{} bytes, expected 4", v.len()),
                })?;
                if found > STORE_FORMAT {
                    return Err(StorageError::NewerStore {
                        found,
                        max: STORE_FORMAT,
                    }
                    .into());
                }
            }
        }
        if let Some(v) = meta.get(KEY_GENERATION)?.map(|v| v.value().to_vec()) {
            generation = be_u64(&v).ok_or_else(|| StorageError::Corrupt {
                key: format!("{shown}: meta/generation"),
                reason: format!("{} bytes, expected 8", v.len()),
            })?;
        }
        drop(meta);
        let current = table_name(generation);
        let stale: Vec<String> = txn
            .list_tables()?
            .map(|t| t.name().to_string())
            .filter(|n| n.starts_with(GENERATION_PREFIX) && *n != current)
            .collect();
        for name in stale {
            tracing::info!(table = %name, "dropping a state generation left by an unfinished install");
            txn.delete_table(table(&name))?;
        }
        txn.open_table(table(&current))?;
        Ok(())
    })?;
    Ok(generation)
}

/// Why a write transaction's body stopped: the engine failed, or the store refused.
pub(crate) enum TxnError {
    Engine(redb::Error),
    Store(StorageError),
}

impl<E: Into<redb::Error>> From<E> for TxnError {
    fn from(e: E) -> TxnError {
        TxnError::Engine(e.into())
    }
}

impl From<StorageError> for TxnError {
    fn from(e: StorageError) -> TxnError {
        TxnError::Store(e)
    }
}

type Body<'a> = dyn FnOnce(&redb::WriteTransaction) -> Result<(), TxnError> + 'a;

fn run(db: &Database, doing: &str, durable: bool, body: Box<Body<'_>>) -> Result<(), StorageError> {
    let fail = |e: TxnError| match e {
        TxnError::Engine(source) => StorageError::Engine {
            doing: doing.to_string(),
            source,
        },
        TxnError::Store(e) => e,
    };
    let mut txn = db.begin_write().map_err(|e| fail(e.into()))?;
    if durable {
        txn.set_quick_repair(true);
    } else {
        txn.set_durability(Durability::None)
            .map_err(|e| fail(e.into()))?;
    }
    body(&txn).map_err(fail)?;
    txn.commit().map_err(|e| fail(e.into()))
}

/// Runs `body` in one non-durable write transaction.
pub(crate) fn write(
    db: &Database,
    doing: &str,
    body: impl FnOnce(&redb::WriteTransaction) -> Result<(), TxnError>,
) -> Result<(), StorageError> {
    run(db, doing, false, Box::new(body))
}

/// Runs `body` in one durable write transaction (quick repair on).
pub(crate) fn durable_write(
    db: &Database,
    doing: &str,
    body: impl FnOnce(&redb::WriteTransaction) -> Result<(), TxnError>,
) -> Result<(), StorageError> {
    run(db, doing, true, Box::new(body))
}

fn be_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.try_into().ok()?))
}

fn be_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}
