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
}
