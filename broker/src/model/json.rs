//! A JSON value kept as its raw text.
//!
//! Argument and result values travel client → log → snapshot → poll answer without the
//! broker ever looking inside them. Keeping the text avoids a parse and a re-serialize
//! on the hot path, and it lets the same type go through bincode (which cannot decode
//! `serde_json::Value`, a self-describing type) as a plain string.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::fmt;
use std::sync::Arc;

/// Raw, already-validated JSON text. Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct JsonValue(Arc<str>);

impl JsonValue {
    /// Validates `text` as one JSON value.
    pub fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        let raw: Box<RawValue> = serde_json::from_str(text)?;
        Ok(JsonValue(Arc::from(raw.get())))
    }

    /// Serializes any value to JSON.
    pub fn from_serialize<T: Serialize + ?Sized>(v: &T) -> Result<Self, serde_json::Error> {
        Ok(JsonValue(Arc::from(serde_json::to_string(v)?)))
    }

    /// JSON `null`.
    pub fn null() -> Self {
        JsonValue(Arc::from("null"))
    }

    /// The raw JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Decodes the value into `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// Deepest nesting of arrays and objects (0 for a scalar). One pass over the text;
    /// brackets inside strings do not count.
    pub fn depth(&self) -> usize {
        let (mut depth, mut deepest) = (0usize, 0usize);
        let (mut in_string, mut escaped) = (false, false);
        for b in self.0.bytes() {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        deepest
    }

    /// Size of the text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for JsonValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for JsonValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for JsonValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let raw: &RawValue =
                serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
            raw.serialize(s)
        } else {
            s.serialize_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let raw = Box::<RawValue>::deserialize(d)?;
            Ok(JsonValue(Arc::from(raw.get())))
        } else {
            let text = String::deserialize(d)?;
            JsonValue::from_text(&text).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_arrays_and_objects_but_not_brackets_in_strings() {
        let d = |t: &str| JsonValue::from_text(t).unwrap().depth();
        assert_eq!(d("1"), 0);
        assert_eq!(d(r#""[[[""#), 0);
        assert_eq!(d(r#"[1, {"a": [2]}, []]"#), 3);
        assert_eq!(d(r#"{"k\"[": ["]\\", [{}]]}"#), 4);
    }

    #[test]
    fn embeds_as_json_and_travels_as_text_in_bincode() {
        let v = JsonValue::from_text(r#"{"a":[1,2]}"#).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":[1,2]}"#);
        let back: JsonValue = serde_json::from_str(r#" {"a":[1,2]} "#).unwrap();
        assert_eq!(back.as_str(), r#"{"a":[1,2]}"#);
        let bin = bincode::serialize(&v).unwrap();
        assert_eq!(bincode::deserialize::<JsonValue>(&bin).unwrap(), v);
        assert_eq!(v.decode::<serde_json::Value>().unwrap()["a"][1], 2);
    }

    #[test]
    fn rejects_malformed_text() {
        assert!(JsonValue::from_text("{").is_err());
        assert!(JsonValue::from_text("1 2").is_err());
    }
}
