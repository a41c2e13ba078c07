//! Making sled's writes durable.
//!
//! sled 0.34 ends `flush` with `sync_file_range` (pagecache/iobuf.rs), which starts and
//! waits for writeback of the data but neither flushes the drive's cache nor commits
//! file metadata: enough for a process crash, not for a power loss. And values larger
//! than a quarter of sled's segment are written to separate blob files that are never
//! synced at all. "Acknowledged means fsync'd", so after every sled flush that must be
//! durable the store calls [`Durable::sync`]: `fdatasync` of sled's data file, plus (when
//! a value may have gone to a blob) every blob file and the blob directory.
//!
//! The segment size is raised so that batched log entries stay inline (the common
//! case costs one `fdatasync`); snapshots and huge entries take the blob path.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// sled's segment size for the Raft store: 8 MiB, so values up to [`INLINE_LIMIT`]
/// stay in the main data file.
pub const SEGMENT_SIZE: usize = 8 << 20;

/// Values longer than this (sled: segment / 4, less headers) go to blob files.
pub const INLINE_LIMIT: usize = SEGMENT_SIZE / 4 - 4096;

/// sled's page cache for the Raft store. sled's default is 1 GiB, which a large backlog
/// fills with log pages that are read again only by a follower catching up (the state
/// itself lives in memory, outside sled): 64 MiB keeps the recent log tail cached.
pub const CACHE_BYTES: u64 = 64 << 20;

/// The sled configuration of a Raft store at `path`: the same segment size on every open
/// (sled keeps it in its `conf` file and refuses another one).
pub fn sled_config(path: &Path) -> sled::Config {
    sled::Config::new()
        .path(path)
        .segment_size(SEGMENT_SIZE)
        .cache_capacity(CACHE_BYTES)
}

/// Opens the Raft store at `path` and its durability handle.
///
/// sled holds an exclusive file lock, released by its background thread shortly after
/// the last handle drops. A store reopened right after it was closed (a restart in the
/// same process, or a new process while the old one is still exiting) waits up to
/// [`LOCK_WAIT`] for that instead of failing. Blocking.
pub fn open_store(path: &Path) -> io::Result<(sled::Db, Arc<Durable>)> {
    let db = open_db(&sled_config(path))?;
    let durable = Durable::open(path)?;
    Ok((db, Arc::new(durable)))
}

/// Opens the sled database `config` describes, waiting up to [`LOCK_WAIT`] for a
/// previous owner to release its lock (see [`open_store`]). Blocking.
pub fn open_db(config: &sled::Config) -> io::Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_conflict(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(io::Error::other(e)),
        }
    }
}

/// How long [`open_store`] waits for another owner to release the store's lock.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn is_lock_conflict(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// Forces sled's flushed writes to stable storage.
#[derive(Debug)]
pub struct Durable {
    data: File,
    blobs: PathBuf,
}

impl Durable {
    /// `dir` is the sled directory (holding `db` and `blobs/`), already opened by sled.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Ok(Durable {
            data: File::open(dir.join("db"))?,
            blobs: dir.join("blobs"),
        })
    }

    /// Syncs sled's data file; with `blobs`, also every blob file and their directory.
    /// Call after `flush_async` has returned. Blocking: run it off the async threads.
    pub fn sync_blocking(&self, blobs: bool) -> io::Result<()> {
        self.data.sync_data()?;
        if blobs {
            match std::fs::read_dir(&self.blobs) {
                Ok(entries) => {
                    for entry in entries {
                        let path = entry?.path();
                        match File::open(&path) {
                            Ok(f) => f.sync_data()?,
                            // sled may remove an old blob meanwhile: nothing to sync.
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => return Err(e),
                        }
                    }
                    File::open(&self.blobs)?.sync_all()?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// [`Durable::sync_blocking`] on the blocking thread pool.
    pub async fn sync(self: &Arc<Self>, blobs: bool) -> io::Result<()> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.sync_blocking(blobs))
            .await
            .map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_the_data_file_and_blobs_of_a_real_store() {
        let dir = tempfile::tempdir().unwrap();
        let (db, durable) = open_store(dir.path()).unwrap();
        db.insert(b"small", vec![1u8; 16]).unwrap();
        db.insert(b"large", vec![2u8; INLINE_LIMIT + 10_000])
            .unwrap();
        db.flush().unwrap();
        durable.sync_blocking(true).unwrap();
        assert!(dir.path().join("blobs").read_dir().unwrap().count() >= 1);
        drop(db);
        // Reopened at once: waits for sled's lock instead of failing.
        let (db, _) = open_store(dir.path()).unwrap();
        assert_eq!(
            db.get(b"large").unwrap().unwrap().len(),
            INLINE_LIMIT + 10_000
        );
    }
}
