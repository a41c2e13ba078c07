//! The data directory's layout version: a marker file, checked and migrated on open.
//!
//! `<data_dir>/format.json` holds `{"format": N, "written_by": "suslik X.Y.Z"}`.
//! Layouts so far:
//!
//! - **1**: every build before formats had versions: no marker; `raft/` is the sled
//!   store (trees `logs` and `meta` for the Raft log and vote, `snapshot` for the state
//!   snapshot), log entries in command format 1, snapshots in state format 4.
//! - **2**: the same trees, plus the marker; log entries may be in command format 1 or
//!   2 (each entry says which, see [`super::command`]).
//!
//! On open, a directory newer than this build is refused (naming both versions and the
//! build that wrote it), a corrupt marker is refused (naming the file and the fault),
//! and an older one is migrated in place, one version at a time. Each step leaves the
//! old data readable until its last act, the atomic replacement of the marker
//! (written to a temporary file, fsync'd, renamed over, directory fsync'd): a crash
//! anywhere in a step leaves the directory at the old version, and the next open runs
//! the step again.

use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The data directory layout this build writes.
pub const DATA_DIR_FORMAT: u32 = 2;

/// The marker's file name.
pub const MARKER: &str = "format.json";

/// The marker's content.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marker {
    format: u32,
    written_by: String,
}

/// Why a data directory cannot be used by this build.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "data directory {dir} is in format {found} (written by {written_by}); this build \
         ({this}) reads formats 1 to {DATA_DIR_FORMAT}: run a newer suslik on it",
        dir = .dir.display(), this = this_build()
    )]
    Newer {
        dir: PathBuf,
        found: u32,
        written_by: String,
    },
    #[error("{file} is not a data directory format marker: {reason}", file = .file.display())]
    CorruptMarker { file: PathBuf, reason: String },
    #[error("{what} {path}: {source}", path = .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What [`open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The format the directory was in (`None`: it was new).
    pub found: Option<u32>,
    /// The format it is in now: [`DATA_DIR_FORMAT`].
    pub format: u32,
}

fn this_build() -> String {
    format!("suslik {}", env!("CARGO_PKG_VERSION"))
}

/// Checks the layout of the data directory `dir` (which exists), migrating an older
/// one to [`DATA_DIR_FORMAT`] and marking a new one. Blocking.
pub fn open(dir: &Path) -> Result<Opened, DataDirError> {
    let found = read_format(dir)?;
    match found {
        Some(f) if f > DATA_DIR_FORMAT => {
            return Err(DataDirError::Newer {
                dir: dir.to_path_buf(),
                found: f,
                written_by: read_marker(dir)?.map_or_else(String::new, |m| m.written_by),
            })
        }
        Some(f) if f == DATA_DIR_FORMAT => {}
        Some(mut f) => {
            while f < DATA_DIR_FORMAT {
                migrate_step(dir, f)?;
                write_marker(dir, f + 1)?;
                tracing::info!(dir = %dir.display(), from = f, to = f + 1, "migrated the data directory");
                f += 1;
            }
        }
        None => write_marker(dir, DATA_DIR_FORMAT)?,
    }
    Ok(Opened {
        found,
        format: DATA_DIR_FORMAT,
    })
}

/// The directory's format: its marker's, 1 for an unmarked directory that holds a
/// store, `None` for a new one.
fn read_format(dir: &Path) -> Result<Option<u32>, DataDirError> {
    if let Some(m) = read_marker(dir)? {
        return Ok(Some(m.format));
    }
    let store = dir.join("raft");
    match fs::metadata(&store) {
        Ok(_) => Ok(Some(1)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DataDirError::Io {
            what: "reading",
            path: store,
            source,
        }),
    }
}

fn read_marker(dir: &Path) -> Result<Option<Marker>, DataDirError> {
    let file = dir.join(MARKER);
    let bytes = match fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DataDirError::Io {
                what: "reading",
                path: file,
                source,
            })
        }
    };
    let marker: Marker =
        serde_json::from_slice(&bytes).map_err(|e| DataDirError::CorruptMarker {
            file: file.clone(),
            reason: e.to_string(),
        })?;
    if marker.format == 0 {
        return Err(DataDirError::CorruptMarker {
            file,
            reason: "format 0 does not exist (formats start at 1)".into(),
        });
    }
    Ok(Some(marker))
}

/// Rewrites what changes from format `from` to `from + 1`, leaving the data readable
/// as `from` (the marker still says `from` until the caller replaces it).
fn migrate_step(_dir: &Path, from: u32) -> Result<(), DataDirError> {
    match from {
        // 1 → 2: nothing to rewrite. Format-1 log entries stay as they are (command
        // entries say their own format) and the snapshot layout is unchanged; what the
        // step adds is the marker.
        1 => Ok(()),
        _ => Err(DataDirError::CorruptMarker {
            file: PathBuf::from(MARKER),
            reason: format!("no migration from format {from}"),
        }),
    }
}

/// Replaces the marker atomically with one saying `format`.
fn write_marker(dir: &Path, format: u32) -> Result<(), DataDirError> {
    let io_err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| DataDirError::Io { what, path, source }
    };
    let file = dir.join(MARKER);
    let tmp = dir.join(format!("{MARKER}.tmp"));
    let marker = Marker {
        format,
        written_by: this_build(),
    };
    let mut bytes = serde_json::to_vec(&marker).map_err(|e| DataDirError::CorruptMarker {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    let mut f = File::create(&tmp).map_err(io_err("writing", &tmp))?;
    f.write_all(&bytes).map_err(io_err("writing", &tmp))?;
    f.sync_all().map_err(io_err("syncing", &tmp))?;
    drop(f);
    fs::rename(&tmp, &file).map_err(io_err("renaming into", &file))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker_of(dir: &Path) -> serde_json::Value {
        serde_json::from_slice(&fs::read(dir.join(MARKER)).unwrap()).unwrap()
    }

    #[test]
    fn a_new_directory_is_marked_with_this_builds_format() {
        let dir = tempfile::tempdir().unwrap();
        let opened = open(dir.path()).unwrap();
        assert_eq!(
            opened,
            Opened {
                found: None,
                format: DATA_DIR_FORMAT
            }
        );
        assert_eq!(marker_of(dir.path())["format"], DATA_DIR_FORMAT);
        assert!(!dir.path().join("format.json.tmp").exists());
        // Opening again changes nothing.
        assert_eq!(open(dir.path()).unwrap().found, Some(DATA_DIR_FORMAT));
    }

    #[test]
    fn an_unmarked_directory_with_a_store_is_format_1_and_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("raft")).unwrap();
        let opened = open(dir.path()).unwrap();
        assert_eq!(opened.found, Some(1));
        assert_eq!(marker_of(dir.path())["format"], DATA_DIR_FORMAT);
    }

    #[test]
    fn a_crash_before_the_marker_is_replaced_leaves_the_old_format_to_migrate_again() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("raft")).unwrap();
        // A migration that died after writing its temporary marker.
        fs::write(dir.path().join("format.json.tmp"), b"{\"form").unwrap();
        assert_eq!(read_format(dir.path()).unwrap(), Some(1));
        assert_eq!(open(dir.path()).unwrap().found, Some(1));
        assert_eq!(marker_of(dir.path())["format"], DATA_DIR_FORMAT);
    }

    #[test]
    fn a_newer_directory_is_refused_naming_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(MARKER),
            br#"{"format": 9, "written_by": "suslik 9.0.0"}"#,
        )
        .unwrap();
        let err = open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("is in format 9 (written by suslik 9.0.0)"),
            "{err}"
        );
        assert!(
            err.contains(&format!("reads formats 1 to {DATA_DIR_FORMAT}")),
            "{err}"
        );
        // Untouched.
        assert_eq!(marker_of(dir.path())["format"], 9);
    }

    #[test]
    fn a_corrupt_marker_is_refused_naming_the_file() {
        for bad in [
            &b"not json"[..],
            br#"{"format": 0, "written_by": "x"}"#,
            br#"{"format": 2}"#,
            br#"{"format": 2, "written_by": "x", "extra": 1}"#,
        ] {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join(MARKER), bad).unwrap();
            let err = open(dir.path()).unwrap_err();
            assert!(matches!(err, DataDirError::CorruptMarker { .. }), "{err}");
            assert!(err.to_string().contains("format.json"), "{err}");
        }
    }
}
