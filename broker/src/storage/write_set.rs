//! What one applied log entry changes, before it reaches the tree.
//!
//! The state machine's logic writes into a `WriteSet` and reads through it
//! ([`super::StateStore::get`] and [`super::StateStore::range`] see its pending writes
//! first), so a command sees what the commands before it in the same entry did; the whole
//! set then goes to disk as one atomic batch.

use super::codec;
use super::StorageError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::RangeBounds;

/// Pending writes: `Some(value)` puts, `None` deletes.
#[derive(Debug, Default, Clone)]
pub struct WriteSet {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl WriteSet {
    pub fn new() -> WriteSet {
        WriteSet::default()
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    /// Puts `record` in the current record format.
    pub fn put_record<T: Serialize>(
        &mut self,
        key: Vec<u8>,
        record: &T,
    ) -> Result<(), StorageError> {
        let value = codec::encode(record)?;
        self.put(key, value);
        Ok(())
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// The pending write of `key`: `Some(None)` when it is deleted, `None` when this set
    /// does not touch it.
    pub fn pending(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes.get(key).map(|v| v.as_deref())
    }

    /// The pending writes in `range`, in key order.
    pub fn pending_range<R: RangeBounds<Vec<u8>>>(
        &self,
        range: R,
    ) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.writes
            .range(range)
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }

    pub(crate) fn into_writes(self) -> impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)> {
        self.writes.into_iter()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.writes.keys().map(|k| k.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_write_of_a_key_wins_and_a_delete_is_remembered() {
        let mut ws = WriteSet::new();
        ws.put(b"a".to_vec(), b"1".to_vec());
        ws.put(b"a".to_vec(), b"2".to_vec());
        ws.delete(b"b".to_vec());
        assert_eq!(ws.pending(b"a"), Some(Some(&b"2"[..])));
        assert_eq!(ws.pending(b"b"), Some(None));
        assert_eq!(ws.pending(b"c"), None);
        assert_eq!(ws.len(), 2);
        let in_range: Vec<_> = ws.pending_range(b"a".to_vec()..b"b".to_vec()).collect();
        assert_eq!(in_range, vec![(&b"a"[..], Some(&b"2"[..]))]);
    }
}
