//! Size of a directory tree on disk.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes of a directory tree: allocated on disk (like `du`) and apparent (file lengths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskUsage {
    pub allocated: u64,
    pub apparent: u64,
}

/// Walks `path` (not following symlinks) and adds up its files.
pub fn usage(path: &Path) -> io::Result<DiskUsage> {
    let mut total = DiskUsage::default();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&p)? {
                stack.push(entry?.path());
            }
        } else if meta.is_file() {
            // st_blocks is in 512-byte units whatever the file system's block size.
            total.allocated += meta.blocks() * 512;
            total.apparent += meta.len();
        }
    }
    Ok(total)
}

/// Length of the largest file directly in `dir`; `None` if `dir` is missing or empty.
/// (The broker's sled store keeps values over 2 MiB, i.e. its snapshot, as one file
/// each under `raft/blobs`; the largest one there is the current snapshot.)
pub fn largest_file(dir: &Path) -> io::Result<Option<u64>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut largest = None;
    for entry in entries {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            largest = largest.max(Some(meta.len()));
        }
    }
    Ok(largest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_up_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 10_000]).unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![2u8; 5]).unwrap();
        let u = usage(dir.path()).unwrap();
        assert_eq!(u.apparent, 10_005);
        assert!(u.allocated >= 10_000 || u.allocated == 0);
    }

    #[test]
    fn largest_file_ignores_subdirectories_and_missing_dirs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(largest_file(dir.path()).unwrap(), None);
        assert_eq!(largest_file(&dir.path().join("nope")).unwrap(), None);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/big"), vec![0u8; 500]).unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 30]).unwrap();
        std::fs::write(dir.path().join("b"), vec![1u8; 70]).unwrap();
        assert_eq!(largest_file(dir.path()).unwrap(), Some(70));
    }
}
