//! Point-in-time snapshots of the state table, read and installed as a stream of chunks.
//!
//! **Consistency.** A snapshot reads one redb read transaction: a point-in-time view of
//! the last commit before [`super::StateStore::begin_snapshot`], however many commits
//! follow while it is read. Commits never wait for it; the cost is that pages the later
//! commits free cannot be reused until the snapshot ends, so the file grows by what
//! changes meanwhile. Memory: one chunk.
//!
//! **Stream format 1**: `SUSLIKSS`, the format as u32 LE, then frames: `0x01` u32 LE key
//! length, key, u32 LE value length, value; and one final `0x02`, the number of entry
//! frames as u64 LE and the CRC-32 of all entry frames as u32 LE. A writer refuses a cut
//! stream, a changed one, one of another format, or bytes after the end.

use super::store::{table, table_name, write, Pair, StateStore, Table};
use super::StorageError;
use redb::OwnedRange;

/// The first bytes of a state snapshot stream.
pub const STREAM_MAGIC: &[u8; 8] = b"SUSLIKSS";
/// The snapshot stream format this build writes and reads.
pub const STREAM_FORMAT: u32 = 1;

const FRAME_ENTRY: u8 = 0x01;
const FRAME_END: u8 = 0x02;
/// No key or value in a stream is longer: a corrupt length is refused before it
/// allocates.
const MAX_FIELD: usize = 256 << 20;
/// An install writes this many bytes per transaction.
const INSTALL_BATCH_BYTES: usize = 4 << 20;

enum Phase {
    Header,
    /// Walking the records.
    Records(Box<OwnedRange<&'static [u8], &'static [u8]>>),
    End,
    Done,
}

/// Reads one snapshot as chunks.
pub struct SnapshotReader {
    view: Table,
    phase: Phase,
    crc: crc32fast::Hasher,
    count: u64,
}

impl SnapshotReader {
    pub(crate) fn new(view: Table) -> SnapshotReader {
        SnapshotReader {
            view,
            phase: Phase::Header,
            crc: crc32fast::Hasher::new(),
            count: 0,
        }
    }

    fn entry(&mut self, out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
        let start = out.len();
        out.push(FRAME_ENTRY);
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
        self.crc.update(&out[start..]);
        self.count += 1;
    }

    /// The next chunk of about `max_bytes` (at least one frame), or `None` after the
    /// last one.
    pub fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<Vec<u8>>, StorageError> {
        let mut out = Vec::with_capacity(max_bytes.min(1 << 20) + 64);
        while out.len() < max_bytes.max(1) {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Header => {
                    out.extend_from_slice(STREAM_MAGIC);
                    out.extend_from_slice(&STREAM_FORMAT.to_le_bytes());
                    let range = self
                        .view
                        .range_owned(..)
                        .map_err(StorageError::engine("reading a snapshot"))?;
                    self.phase = Phase::Records(Box::new(range));
                }
                Phase::Records(mut range) => match range.next() {
                    None => self.phase = Phase::End,
                    Some(item) => {
                        let (k, v) = item.map_err(StorageError::engine("reading a snapshot"))?;
                        self.entry(&mut out, k.value(), v.value());
                        self.phase = Phase::Records(range);
                    }
                },
                Phase::End => {
                    out.push(FRAME_END);
                    out.extend_from_slice(&self.count.to_le_bytes());
                    let crc = std::mem::take(&mut self.crc).finalize();
                    out.extend_from_slice(&crc.to_le_bytes());
                    self.phase = Phase::Done;
                    return Ok(Some(out));
                }
                Phase::Done => {
                    return Ok(if out.is_empty() { None } else { Some(out) });
                }
            }
        }
        Ok(Some(out))
    }
}

/// Installs a snapshot stream into a new generation of the state tree.
pub struct SnapshotWriter {
    store: StateStore,
    generation: u64,
    /// Bytes of a frame not complete yet.
    buf: Vec<u8>,
    header_seen: bool,
    batch: Vec<Pair>,
    batch_bytes: usize,
    crc: crc32fast::Hasher,
    count: u64,
    /// The end frame's count and checksum, once read.
    end: Option<(u64, u32)>,
}

impl SnapshotWriter {
    pub(crate) fn new(store: StateStore, generation: u64) -> SnapshotWriter {
        SnapshotWriter {
            store,
            generation,
            buf: Vec::new(),
            header_seen: false,
            batch: Vec::new(),
            batch_bytes: 0,
            crc: crc32fast::Hasher::new(),
            count: 0,
            end: None,
        }
    }

    /// Takes the next bytes of the stream (any split).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        if !self.header_seen {
            let header = STREAM_MAGIC.len() + 4;
            if self.buf.len() < header {
                return Ok(());
            }
            if &self.buf[..STREAM_MAGIC.len()] != STREAM_MAGIC {
                return Err(StorageError::Stream(
                    "it does not start with SUSLIKSS: not a state snapshot".into(),
                ));
            }
            let found = le_u32(&self.buf[STREAM_MAGIC.len()..header]);
            if found != STREAM_FORMAT {
                return Err(StorageError::Stream(format!(
                    "it is in snapshot stream format {found}, this build reads format {STREAM_FORMAT}"
                )));
            }
            self.header_seen = true;
            at = header;
        }
        loop {
            let rest = &self.buf[at..];
            let Some(&tag) = rest.first() else { break };
            if self.end.is_some() {
                return Err(StorageError::Stream("bytes after the end frame".into()));
            }
            match tag {
                FRAME_ENTRY => {
                    let Some((key, value, len)) = parse_entry(rest)? else {
                        break;
                    };
                    if key.is_empty() {
                        return Err(StorageError::Stream(format!(
                            "entry {} has a key outside the state's families",
                            self.count + 1
                        )));
                    }
                    self.crc.update(&rest[..len]);
                    self.count += 1;
                    self.batch_bytes += len;
                    self.batch.push((key.to_vec(), value.to_vec()));
                    at += len;
                }
                FRAME_END => {
                    if rest.len() < 13 {
                        break;
                    }
                    let mut c = [0u8; 8];
                    c.copy_from_slice(&rest[1..9]);
                    self.end = Some((u64::from_le_bytes(c), le_u32(&rest[9..13])));
                    at += 13;
                }
                other => {
                    return Err(StorageError::Stream(format!(
                        "unknown frame tag {other:#04x} after {} entries",
                        self.count
                    )))
                }
            }
            if self.batch_bytes >= INSTALL_BATCH_BYTES {
                self.apply_batch()?;
            }
        }
        self.buf.drain(..at);
        Ok(())
    }

    fn apply_batch(&mut self) -> Result<(), StorageError> {
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        if batch.is_empty() {
            return Ok(());
        }
        let name = table_name(self.generation);
        write(self.store.db(), "writing an installed snapshot", |txn| {
            let mut t = txn.open_table(table(&name))?;
            for (k, v) in &batch {
                t.insert(k.as_slice(), v.as_slice())?;
            }
            Ok(())
        })
    }

    /// Checks that the stream was complete and intact, and switches the store to it.
    /// On any error the current state stays as it was.
    pub fn finish(mut self) -> Result<(), StorageError> {
        if !self.buf.is_empty() || !self.header_seen {
            return Err(StorageError::Stream(format!(
                "it is cut: it ends inside a frame after {} entries",
                self.count
            )));
        }
        let Some((count, crc)) = self.end else {
            return Err(StorageError::Stream(format!(
                "it is cut: no end frame after {} entries",
                self.count
            )));
        };
        let mine = std::mem::take(&mut self.crc).finalize();
        if count != self.count || crc != mine {
            return Err(StorageError::Stream(format!(
                "it was changed: the end frame says {count} entries with checksum {crc:08x}, \
                 the stream held {} with checksum {mine:08x}",
                self.count
            )));
        }
        self.apply_batch()?;
        self.store.switch_to(self.generation)
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// An entry frame's key, value and length in bytes.
type Frame<'a> = (&'a [u8], &'a [u8], usize);

/// An entry frame at the start of `rest`: its key, value and length, or `None` when it
/// is not complete yet.
fn parse_entry(rest: &[u8]) -> Result<Option<Frame<'_>>, StorageError> {
    let field = |at: usize| -> Result<Option<(usize, usize)>, StorageError> {
        if rest.len() < at + 4 {
            return Ok(None);
        }
        let len = le_u32(&rest[at..at + 4]) as usize;
        if len > MAX_FIELD {
            return Err(StorageError::Stream(format!(
                "a field of {len} bytes is longer than any record ({MAX_FIELD})"
            )));
        }
        Ok(if rest.len() < at + 4 + len {
            None
        } else {
            Some((at + 4, len))
        })
    };
    let Some((k_at, k_len)) = field(1)? else {
        return Ok(None);
    };
    let Some((v_at, v_len)) = field(k_at + k_len)? else {
        return Ok(None);
    };
    Ok(Some((
        &rest[k_at..k_at + k_len],
        &rest[v_at..v_at + v_len],
        v_at + v_len,
    )))
}
