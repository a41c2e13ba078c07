//! A family of records as the state machine's logic uses it: a typed map with a bounded
//! cache of decoded records in front of the state table.
//!
//! The logic reads and changes records in place (`get_mut`), as it did with its hash
//! maps; what it changed stays in the cache, marked dirty, until the end of the log
//! entry, when [`Records::flush_into`] encodes every dirty record into the entry's
//! [`WriteSet`] (one atomic commit with the applied id) and [`Records::trim`], after the
//! commit, drops clean records beyond the configured capacity. So a release that touches
//! three records decodes and encodes three records, and memory holds at most `capacity`
//! of them, however many the state has. Readers that only have `&self` (listings, views)
//! use [`Records::peek`], which borrows a cached record or decodes one without caching it.

use super::{codec, Family, StateStore, StorageError, WriteSet};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;

/// A record's identity and its key in the state table.
pub trait RecordKey: Clone + Eq + Hash {
    /// The key in the state table (the family tag first).
    fn key(&self) -> Vec<u8>;
}

struct Slot<V> {
    /// `None`: deleted in this entry.
    value: Option<Box<V>>,
    dirty: bool,
}

/// One family of records.
pub struct Records<K, V> {
    family: Family,
    store: StateStore,
    cache: HashMap<K, Slot<V>>,
    capacity: usize,
    /// Keys marked dirty since the last flush, each once: a flush and a trim touch what
    /// the entry changed, never the whole cache.
    dirty: Vec<K>,
    /// Keys flushed by the last flush (trim drops the deleted ones among them).
    flushed: Vec<K>,
    /// How many records the family holds (kept under a meta key, so `len` needs no scan).
    len: u64,
    len_changed: bool,
}

impl<K: RecordKey, V: Serialize + DeserializeOwned + Clone> Records<K, V> {
    /// The records of `family` in `store`, caching at most `capacity` clean ones.
    pub fn open(family: Family, store: StateStore, capacity: usize) -> Result<Self, StorageError> {
        let len = stored_len(&store, family)?;
        Ok(Records {
            family,
            store,
            cache: HashMap::new(),
            capacity,
            dirty: Vec::new(),
            flushed: Vec::new(),
            len,
            len_changed: false,
        })
    }

    /// Marks the cached record of `id` to be written at the next flush.
    fn mark_dirty(&mut self, id: &K) {
        if let Some(slot) = self.cache.get_mut(id) {
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(id.clone());
            }
        }
    }

    fn load(&self, id: &K) -> Result<Option<V>, StorageError> {
        self.store.get_record(&WriteSet::new(), &id.key())
    }

    /// The record, borrowed from the cache or decoded from the tree (not cached).
    pub fn peek(&self, id: &K) -> Result<Option<Cow<'_, V>>, StorageError> {
        match self.cache.get(id) {
            Some(slot) => Ok(slot.value.as_deref().map(Cow::Borrowed)),
            None => Ok(self.load(id)?.map(Cow::Owned)),
        }
    }

    fn slot(&mut self, id: &K) -> Result<&mut Slot<V>, StorageError> {
        if !self.cache.contains_key(id) {
            let value = self.load(id)?.map(Box::new);
            self.cache.insert(
                id.clone(),
                Slot {
                    value,
                    dirty: false,
                },
            );
        }
        self.cache
            .get_mut(id)
            .ok_or_else(|| StorageError::Misuse("a record left the cache while in use".into()))
    }

    /// The record, cached.
    pub fn get(&mut self, id: &K) -> Result<Option<&V>, StorageError> {
        Ok(self.slot(id)?.value.as_deref())
    }

    /// The record, to change in place: it is written at the next flush.
    pub fn get_mut(&mut self, id: &K) -> Result<Option<&mut V>, StorageError> {
        if self.slot(id)?.value.is_some() {
            self.mark_dirty(id);
        }
        Ok(self.slot(id)?.value.as_deref_mut())
    }

    pub fn contains(&mut self, id: &K) -> Result<bool, StorageError> {
        Ok(self.get(id)?.is_some())
    }

    /// Puts `value` under `id`; returns whether the record is new.
    pub fn insert(&mut self, id: K, value: V) -> Result<bool, StorageError> {
        let slot = self.slot(&id)?;
        let new = slot.value.is_none();
        slot.value = Some(Box::new(value));
        self.mark_dirty(&id);
        if new {
            self.len += 1;
            self.len_changed = true;
        }
        Ok(new)
    }

    /// Deletes the record; returns it if there was one.
    pub fn remove(&mut self, id: &K) -> Result<Option<V>, StorageError> {
        let old = self.slot(id)?.value.take();
        if old.is_some() {
            self.mark_dirty(id);
            self.len -= 1;
            self.len_changed = true;
        }
        Ok(old.map(|b| *b))
    }

    /// How many records the family holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every record, in key order, as of the last commit (a scan: for start-up and
    /// maintenance, never for the hot path). Call it with nothing dirty.
    pub fn scan(&self, mut each: impl FnMut(V)) -> Result<(), StorageError> {
        let (from, to) = (self.family.start(), vec![self.family.tag() + 1]);
        let mut after = from;
        loop {
            let page = self.store.range(&WriteSet::new(), &after, &to, 1024)?;
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            let mut next = last.clone();
            next.push(0);
            for (k, v) in page {
                each(codec::decode(&k, &v)?);
            }
            after = next;
        }
    }

    /// Writes every record changed since the last flush (and the count) into `changes`.
    pub fn flush_into(&mut self, changes: &mut WriteSet) -> Result<(), StorageError> {
        for id in std::mem::take(&mut self.dirty) {
            if let Some(slot) = self.cache.get_mut(&id) {
                match &slot.value {
                    Some(v) => changes.put_record(id.key(), v.as_ref())?,
                    None => changes.delete(id.key()),
                }
                slot.dirty = false;
            }
            self.flushed.push(id);
        }
        if self.len_changed {
            changes.put_record(count_key(self.family), &self.len)?;
            self.len_changed = false;
        }
        Ok(())
    }

    /// After the commit: forgets the records the entry deleted and keeps at most
    /// `capacity` cached ones. Over capacity, it evicts down to nine tenths of it, so
    /// the walk for victims is paid once per tenth of the capacity, not per entry.
    pub fn trim(&mut self) {
        for id in std::mem::take(&mut self.flushed) {
            if self
                .cache
                .get(&id)
                .is_some_and(|s| !s.dirty && s.value.is_none())
            {
                self.cache.remove(&id);
            }
        }
        if self.cache.len() > self.capacity {
            let excess = self.cache.len() - self.capacity * 9 / 10;
            let victims: Vec<K> = self
                .cache
                .iter()
                .filter(|(_, s)| !s.dirty)
                .map(|(k, _)| k.clone())
                .take(excess)
                .collect();
            for k in victims {
                self.cache.remove(&k);
            }
        }
    }

    /// Forgets every cached record (after a snapshot replaced the tree).
    pub fn reload(&mut self) -> Result<(), StorageError> {
        self.cache.clear();
        self.dirty.clear();
        self.flushed.clear();
        self.len = stored_len(&self.store, self.family)?;
        self.len_changed = false;
        Ok(())
    }

    /// How many records are cached now.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

fn stored_len(store: &StateStore, family: Family) -> Result<u64, StorageError> {
    Ok(store
        .get_record::<u64>(&WriteSet::new(), &count_key(family))?
        .unwrap_or(0))
}

fn count_key(family: Family) -> Vec<u8> {
    StateStore::meta_key(&format!("count.{}", family.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::KeyBuf;

    #[derive(Clone, PartialEq, Eq, Hash, Debug)]
    struct Id(u64);

    impl RecordKey for Id {
        fn key(&self) -> Vec<u8> {
            KeyBuf::new(Family::Task).u64(self.0).build()
        }
    }

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Task {
        attempt: u32,
        name: String,
    }

    fn task(n: u32) -> Task {
        Task {
            attempt: n,
            name: format!("step-{n}"),
        }
    }

    use crate::storage::tests::open;

    /// Ends an entry as the state machine does: flush, commit, trim.
    fn end_entry(records: &mut Records<Id, Task>, store: &StateStore) {
        let mut ws = WriteSet::new();
        records.flush_into(&mut ws).unwrap();
        store.commit(ws).unwrap();
        records.trim();
    }

    #[test]
    fn records_changed_in_place_reach_the_tree_at_the_end_of_the_entry_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            let mut tasks = Records::<Id, Task>::open(Family::Task, store.clone(), 10).unwrap();
            assert!(tasks.insert(Id(1), task(1)).unwrap());
            assert!(tasks.insert(Id(2), task(1)).unwrap());
            end_entry(&mut tasks, &store);
            tasks.get_mut(&Id(1)).unwrap().unwrap().attempt = 2;
            assert!(
                store
                    .get_record::<Task>(&WriteSet::new(), &Id(1).key())
                    .unwrap()
                    .unwrap()
                    .attempt
                    == 1,
                "not written before the entry ends"
            );
            assert_eq!(tasks.remove(&Id(2)).unwrap(), Some(task(1)));
            assert_eq!(tasks.remove(&Id(2)).unwrap(), None);
            end_entry(&mut tasks, &store);
            store.persist().unwrap();
        }
        let store = open(dir.path());
        let tasks = Records::<Id, Task>::open(Family::Task, store, 10).unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks.peek(&Id(1)).unwrap().unwrap().attempt, 2);
        assert!(tasks.peek(&Id(2)).unwrap().is_none());
    }

    #[test]
    fn the_cache_stays_within_its_capacity_and_evicted_records_read_back_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut tasks = Records::<Id, Task>::open(Family::Task, store.clone(), 100).unwrap();
        for n in 0..1_000 {
            tasks.insert(Id(n), task(n as u32)).unwrap();
            if n % 50 == 49 {
                end_entry(&mut tasks, &store);
                assert!(tasks.cached() <= 100, "{} cached", tasks.cached());
            }
        }
        assert_eq!(tasks.len(), 1_000);
        for n in (0..1_000).step_by(37) {
            assert_eq!(tasks.get(&Id(n)).unwrap(), Some(&task(n as u32)));
        }
        let mut seen = 0;
        tasks.scan(|_| seen += 1).unwrap();
        assert_eq!(seen, 1_000);
    }

    #[test]
    fn a_peek_does_not_fill_the_cache_and_sees_changes_not_yet_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut tasks = Records::<Id, Task>::open(Family::Task, store.clone(), 10).unwrap();
        tasks.insert(Id(7), task(1)).unwrap();
        end_entry(&mut tasks, &store);
        tasks.reload().unwrap();
        assert_eq!(tasks.peek(&Id(7)).unwrap().unwrap().name, "step-1");
        assert_eq!(tasks.cached(), 0);
        tasks.get_mut(&Id(7)).unwrap().unwrap().name = "renamed".into();
        assert_eq!(tasks.peek(&Id(7)).unwrap().unwrap().name, "renamed");
    }

    #[test]
    fn a_corrupt_record_is_an_error_naming_it_not_a_missing_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut ws = WriteSet::new();
        ws.put(Id(3).key(), vec![codec::RECORD_FORMAT, 0xff]);
        store.commit(ws).unwrap();
        let mut tasks = Records::<Id, Task>::open(Family::Task, store, 10).unwrap();
        let err = tasks.get(&Id(3)).unwrap_err().to_string();
        assert!(err.contains("task/0000000000000003 is corrupt"), "{err}");
    }
}
