//! Keys of the state tree: a family tag, then fields encoded so that byte order is the
//! order the reads need (big-endian integers, escaped and terminated strings). One table
//! holds every family, so one transaction changes any of them atomically.

use super::StorageError;

/// What a key holds: its first byte. Tags are part of the on-disk format: never reuse or
/// renumber one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Family {
    /// The store's own marks: the applied log id and membership, counters.
    Meta = 0x00,
    /// A process record, by process id.
    Process = 0x01,
    /// A task record, by task id.
    Task = 0x02,
    /// An unresolved promise's waiting tasks, by promise (task) id.
    Dependents = 0x03,
    /// A waiting task's count of missing promises, by task id.
    Missing = 0x04,
    /// An armed timer, by due time then task id.
    Timer = 0x05,
    /// A ready task in its queue, by queue, priority, ready time and sequence.
    Queue = 0x06,
    /// An ended process, by end time then process id (garbage collection walks it).
    Ended = 0x07,
    /// A broken process, by the time it broke then process id.
    Broken = 0x08,
    /// A running process, by last change then process id (recovery walks it).
    Changed = 0x09,
    /// An idempotency key's process.
    Idempotency = 0x0a,
    /// A schedule, by name.
    Schedule = 0x0b,
    /// A webhook outbox event, by sequence number.
    Outbox = 0x0c,
    /// A blocked actor (and task list).
    Blocked = 0x0d,
}

const ALL: [Family; 14] = [
    Family::Meta,
    Family::Process,
    Family::Task,
    Family::Dependents,
    Family::Missing,
    Family::Timer,
    Family::Queue,
    Family::Ended,
    Family::Broken,
    Family::Changed,
    Family::Idempotency,
    Family::Schedule,
    Family::Outbox,
    Family::Blocked,
];

impl Family {
    pub fn tag(self) -> u8 {
        self as u8
    }

    pub fn from_tag(tag: u8) -> Option<Family> {
        ALL.iter().copied().find(|f| f.tag() == tag)
    }

    /// The name error messages use.
    pub fn name(self) -> &'static str {
        match self {
            Family::Meta => "meta",
            Family::Process => "process",
            Family::Task => "task",
            Family::Dependents => "dependents",
            Family::Missing => "missing",
            Family::Timer => "timer",
            Family::Queue => "queue",
            Family::Ended => "ended",
            Family::Broken => "broken",
            Family::Changed => "changed",
            Family::Idempotency => "idempotency",
            Family::Schedule => "schedule",
            Family::Outbox => "outbox",
            Family::Blocked => "blocked",
        }
    }

    /// The smallest key of this family (a range scan's start).
    pub fn start(self) -> Vec<u8> {
        vec![self.tag()]
    }

    /// The smallest key after every key of this family (a range scan's end).
    pub fn end(self) -> Vec<u8> {
        vec![self.tag() + 1]
    }
}

/// Builds a key field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBuf(Vec<u8>);

impl KeyBuf {
    pub fn new(family: Family) -> KeyBuf {
        let mut v = Vec::with_capacity(32);
        v.push(family.tag());
        KeyBuf(v)
    }

    pub fn u8(mut self, x: u8) -> KeyBuf {
        self.0.push(x);
        self
    }

    pub fn u32(mut self, x: u32) -> KeyBuf {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }

    pub fn u64(mut self, x: u64) -> KeyBuf {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }

    /// A field of fixed length (an id): no terminator needed.
    pub fn fixed(mut self, bytes: &[u8]) -> KeyBuf {
        self.0.extend_from_slice(bytes);
        self
    }

    /// A string of any length, ordered as its bytes: `0x00` is escaped as `0x00 0xff`
    /// and the field ends with `0x00 0x01`, so no field is a prefix of another and what
    /// follows it cannot change the order.
    pub fn str(mut self, s: &str) -> KeyBuf {
        for &b in s.as_bytes() {
            self.0.push(b);
            if b == 0 {
                self.0.push(0xff);
            }
        }
        self.0.extend_from_slice(&[0x00, 0x01]);
        self
    }

    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

/// Reads a key back field by field, in the order [`KeyBuf`] wrote them.
#[derive(Debug)]
pub struct KeyReader<'a> {
    key: &'a [u8],
    rest: &'a [u8],
}

impl<'a> KeyReader<'a> {
    /// Starts after the family tag, which must be `family`.
    pub fn new(key: &'a [u8], family: Family) -> Result<KeyReader<'a>, StorageError> {
        match key.split_first() {
            Some((tag, rest)) if *tag == family.tag() => Ok(KeyReader { key, rest }),
            _ => Err(StorageError::Corrupt {
                key: super::error::show_key(key),
                reason: format!("expected a key of family {}", family.name()),
            }),
        }
    }

    fn corrupt(&self, reason: &str) -> StorageError {
        StorageError::Corrupt {
            key: super::error::show_key(self.key),
            reason: reason.to_string(),
        }
    }

    pub fn fixed(&mut self, n: usize) -> Result<&'a [u8], StorageError> {
        if self.rest.len() < n {
            return Err(self.corrupt(&format!("the key is cut: expected {n} more bytes")));
        }
        let (field, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(field)
    }

    pub fn u8(&mut self) -> Result<u8, StorageError> {
        Ok(self.fixed(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, StorageError> {
        let b = self.fixed(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, StorageError> {
        let b = self.fixed(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub fn str(&mut self) -> Result<String, StorageError> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            match (self.rest.get(i), self.rest.get(i + 1)) {
                (Some(0), Some(0x01)) => break,
                (Some(0), Some(0xff)) => {
                    out.push(0);
                    i += 2;
                }
                (Some(0), _) => return Err(self.corrupt("a string field has a bad escape")),
                (Some(&b), _) => {
                    out.push(b);
                    i += 1;
                }
                (None, _) => return Err(self.corrupt("a string field has no end")),
            }
        }
        self.rest = &self.rest[i + 2..];
        String::from_utf8(out).map_err(|_| self.corrupt("a string field is not UTF-8"))
    }

    /// Fails unless every byte was read.
    pub fn end(self) -> Result<(), StorageError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt(&format!("{} unexpected bytes at the end", self.rest.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_names_its_family_and_no_two_share_one() {
        let mut tags: Vec<u8> = ALL.iter().map(|f| f.tag()).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ALL.len());
        for f in ALL {
            assert_eq!(Family::from_tag(f.tag()), Some(f));
        }
        assert_eq!(Family::from_tag(0x7f), None);
    }

    #[test]
    fn keys_sort_by_their_fields_in_order() {
        let k = |at: u64, name: &str| KeyBuf::new(Family::Timer).u64(at).str(name).build();
        assert!(k(1, "zzz") < k(2, "a"), "the first field decides");
        assert!(k(1 << 40, "") > k(255, "zzzz"), "integers are big-endian");
        assert!(
            k(5, "a") < k(5, "ab"),
            "a string sorts before its extensions"
        );
        assert!(
            k(5, "a\0") < k(5, "a\x01"),
            "an escaped zero keeps its place"
        );
        assert!(k(5, "ab") < k(5, "b"));
    }

    #[test]
    fn a_key_reads_back_as_it_was_built() {
        let key = KeyBuf::new(Family::Queue)
            .str("scale.Queue0#1")
            .str("with\0zero")
            .u8(7)
            .u32(9)
            .u64(u64::MAX - 1)
            .fixed(&[1, 2, 3])
            .build();
        let mut r = KeyReader::new(&key, Family::Queue).unwrap();
        assert_eq!(r.str().unwrap(), "scale.Queue0#1");
        assert_eq!(r.str().unwrap(), "with\0zero");
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u32().unwrap(), 9);
        assert_eq!(r.u64().unwrap(), u64::MAX - 1);
        assert_eq!(r.fixed(3).unwrap(), &[1, 2, 3]);
        r.end().unwrap();
    }

    #[test]
    fn a_cut_or_foreign_key_is_an_error_naming_it() {
        let key = KeyBuf::new(Family::Timer).u64(3).build();
        let err = KeyReader::new(&key, Family::Task).unwrap_err().to_string();
        assert!(
            err.contains("timer/") && err.contains("family task"),
            "{err}"
        );
        let mut r = KeyReader::new(&key[..5], Family::Timer).unwrap();
        let err = r.u64().unwrap_err().to_string();
        assert!(err.contains("cut"), "{err}");
        let key = KeyBuf::new(Family::Schedule).build();
        let mut r = KeyReader::new(&key, Family::Schedule).unwrap();
        assert!(r.str().unwrap_err().to_string().contains("no end"));
    }
}
