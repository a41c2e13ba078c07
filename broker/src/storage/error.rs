//! What can go wrong reading or writing the state store: every error names what it was
//! doing and, for bad data, which record and what is wrong with it.

/// A storage failure. The node stops serving on any of them rather than serve a state it
/// cannot vouch for.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// sled failed (I/O, or its own corruption check).
    #[error("state store: {doing}: {source}")]
    Sled {
        doing: String,
        #[source]
        source: sled::Error,
    },
    /// A stored record does not decode.
    #[error("state store: record {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    /// A record written by a newer build.
    #[error(
        "state store: record {key} is in record format {found}, newer than this build reads \
         ({max}): this node needs a newer suslik binary"
    )]
    NewerRecord { key: String, found: u8, max: u8 },
    /// A snapshot stream that is cut, changed or of another format.
    #[error("state snapshot stream: {0}")]
    Stream(String),
    /// A state store laid out by a newer build.
    #[error(
        "state store is in store format {found}, newer than this build reads ({max}): this \
         node needs a newer suslik binary"
    )]
    NewerStore { found: u32, max: u32 },
    /// A write to a key the store keeps for itself.
    #[error("state store: {0}")]
    Misuse(String),
    /// A second snapshot was asked for while one is still being read.
    #[error("state store: a snapshot is already being read; one runs at a time")]
    SnapshotBusy,
}

impl StorageError {
    pub(crate) fn sled(doing: impl Into<String>) -> impl FnOnce(sled::Error) -> StorageError {
        let doing = doing.into();
        move |source| StorageError::Sled { doing, source }
    }
}

/// A key as an error message shows it: its family and the rest in hex.
pub(crate) fn show_key(key: &[u8]) -> String {
    match key.split_first() {
        Some((family, rest)) => {
            let name = super::Family::from_tag(*family).map_or("unknown family", |f| f.name());
            let hex: String = rest.iter().map(|b| format!("{b:02x}")).collect();
            format!("{name}/{hex}")
        }
        None => "<empty key>".to_string(),
    }
}
