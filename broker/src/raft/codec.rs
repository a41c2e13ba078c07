//! bincode encoding for values stored in sled, with failures mapped to openraft's
//! [`StorageError`](openraft::StorageError): a value that cannot be decoded is a storage fault
//! that must stop the node, never a panic.

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageError, StorageIOError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::NodeId;

/// Build a storage error for `subject`/`verb` from any error.
pub(crate) fn sto_err<E>(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: &E,
) -> StorageError<NodeId>
where
    E: std::error::Error + 'static,
{
    StorageIOError::new(subject, verb, AnyError::new(e)).into()
}

/// Build a storage error from a message.
pub(crate) fn sto_msg(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    msg: String,
) -> StorageError<NodeId> {
    StorageIOError::new(subject, verb, AnyError::error(msg)).into()
}

/// bincode-encode `value`; `subject` says what was being written.
pub(crate) fn encode<T: Serialize>(
    subject: ErrorSubject<NodeId>,
    value: &T,
) -> Result<Vec<u8>, StorageError<NodeId>> {
    bincode::serialize(value).map_err(|e| sto_err(subject, ErrorVerb::Write, &e))
}

/// bincode-decode `bytes`; `subject` says what was being read.
pub(crate) fn decode<T: DeserializeOwned>(
    subject: ErrorSubject<NodeId>,
    bytes: &[u8],
) -> Result<T, StorageError<NodeId>> {
    bincode::deserialize(bytes).map_err(|e| sto_err(subject, ErrorVerb::Read, &e))
}
