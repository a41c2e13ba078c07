//! Does the data directory take writes? The question the supervisor asks before it
//! (re)starts a node.
//!
//! Two checks, because either alone misleads: the file system's free space (a disk
//! with a few KiB left takes a small test write, then fails the node's next log
//! segment), and a real write + `fsync` + delete of a small file (a read-only mount, a
//! permission problem or a dying disk reports free space but refuses the write).

use std::io::{self, Write};
use std::path::Path;

/// Free space below which the node is not started: two of sled's segments, so a
/// restarted node can replay, write its next segment and take a snapshot.
pub const MIN_FREE_BYTES: u64 = 2 * crate::raft::durable::SEGMENT_SIZE as u64;

/// The probe file, written and removed inside the data directory.
const PROBE_FILE: &str = ".suslik-write-probe";

/// Size of the test write.
const PROBE_BYTES: usize = 64 * 1024;

/// Whether a probe error is disk trouble that goes away by itself or by an operator
/// freeing space or remounting (full, read-only, over quota, an I/O error), rather
/// than a wrong path or permission, which a node should not wait out at start-up.
pub fn is_disk_trouble(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull
            | io::ErrorKind::ReadOnlyFilesystem
            | io::ErrorKind::QuotaExceeded
            | io::ErrorKind::FileTooLarge
    ) || e.raw_os_error() == Some(EIO)
}

/// Linux's `EIO`.
const EIO: i32 = 5;

/// `Ok` if `data_dir` (created if missing) has at least [`MIN_FREE_BYTES`] free and
/// takes a durable write; otherwise the error that says why (`StorageFull`,
/// `ReadOnlyFilesystem`, `PermissionDenied`, …). Runs on the blocking pool.
pub async fn probe(data_dir: &Path) -> io::Result<()> {
    let dir = data_dir.to_path_buf();
    tokio::task::spawn_blocking(move || probe_blocking(&dir))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(format!("storage probe failed: {e}"))))
}

fn probe_blocking(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let free = fs2::available_space(dir)?;
    if free < MIN_FREE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "no space left: {} KiB free, the node needs {} MiB",
                free / 1024,
                MIN_FREE_BYTES >> 20
            ),
        ));
    }
    let path = dir.join(PROBE_FILE);
    let written = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&[0u8; PROBE_BYTES])?;
        f.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    written?;
    match removed {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_writable_directory_passes_and_keeps_no_probe_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        probe(&data).await.unwrap();
        assert!(data.is_dir(), "the data directory is created");
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_path_under_a_file_fails_with_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = probe(&file.join("data")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory, "{err}");
        assert!(!is_disk_trouble(&err), "a wrong path is not waited out");
        let full = io::Error::from_raw_os_error(28);
        assert!(is_disk_trouble(&full), "ENOSPC is");
        assert!(
            is_disk_trouble(&io::Error::from_raw_os_error(30)),
            "EROFS is"
        );
    }
}
