//! Record values: one byte of record format, then the bincode of the record.
//!
//! The version byte lets a later build change a record's layout and still read the
//! records an older one wrote (decode by version, rewrite in the new one), and lets an
//! older build refuse a newer record instead of decoding it into garbage.

use super::error::show_key;
use super::StorageError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The record format this build writes. Format 1: bincode (fixed-width integers, as the
/// rest of Suslik encodes) of the record type.
pub const RECORD_FORMAT: u8 = 1;

/// Encodes `record` as a value of the state tree.
pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StorageError> {
    let mut out = Vec::with_capacity(64);
    out.push(RECORD_FORMAT);
    bincode::serialize_into(&mut out, record).map_err(|e| StorageError::Corrupt {
        key: "<being written>".to_string(),
        reason: format!("the record does not encode: {e}"),
    })?;
    Ok(out)
}

/// Decodes the value stored under `key`.
pub fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        key: show_key(key),
        reason,
    };
    match value.split_first() {
        None => Err(corrupt("the value is empty (no record format byte)".into())),
        Some((&RECORD_FORMAT, body)) => {
            bincode::deserialize(body).map_err(|e| corrupt(format!("it does not decode: {e}")))
        }
        Some((&0, _)) => Err(corrupt("record format 0 does not exist".into())),
        Some((&found, _)) => Err(StorageError::NewerRecord {
            key: show_key(key),
            found,
            max: RECORD_FORMAT,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Family, KeyBuf};

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
        n: u64,
    }

    fn key() -> Vec<u8> {
        KeyBuf::new(Family::Task).u64(1).build()
    }

    #[test]
    fn a_record_decodes_as_it_was_encoded_and_starts_with_its_format() {
        let s = Sample {
            name: "run".into(),
            n: 7,
        };
        let bytes = encode(&s).unwrap();
        assert_eq!(bytes[0], RECORD_FORMAT);
        assert_eq!(decode::<Sample>(&key(), &bytes).unwrap(), s);
    }

    #[test]
    fn a_newer_record_is_refused_with_its_format_and_a_cut_one_names_its_key() {
        let mut bytes = encode(&Sample {
            name: "x".into(),
            n: 1,
        })
        .unwrap();
        bytes[0] = RECORD_FORMAT + 1;
        let err = decode::<Sample>(&key(), &bytes).unwrap_err().to_string();
        assert!(err.contains("newer") && err.contains("task/"), "{err}");
        bytes[0] = RECORD_FORMAT;
        let err = decode::<Sample>(&key(), &bytes[..4])
            .unwrap_err()
            .to_string();
        assert!(err.contains("task/0000000000000001 is corrupt"), "{err}");
        let err = decode::<Sample>(&key(), &[]).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }
}
