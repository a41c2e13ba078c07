//! What can go wrong reading or writing the state store: every error names what it was
//! doing and, for bad data, which record and what is wrong with it.

/// A storage failure. The node stops serving on any of them rather than serve a state it
/// cannot vouch for.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The storage engine failed (I/O, its own corruption check, a file locked by
    /// another process).
    #[error("state store: {doing}: {source}")]
    Engine {
        doing: String,
        #[source]
        source: redb::Error,
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
}

impl StorageError {
    pub(crate) fn engine<E: Into<redb::Error>>(
        doing: impl Into<String>,
    ) -> impl FnOnce(E) -> StorageError {
        let doing = doing.into();
        move |source| StorageError::Engine {
            doing,
            source: source.into(),
        }
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
