//! Request bodies are decoded strictly, and a body that does not decode says exactly
//! what is wrong.
//!
//! - A misspelt field is an error, not silently ignored: `{"waitms": 5000}` in a poll
//!   would otherwise turn a long poll into a busy loop. Every ignored key is reported by
//!   `serde_ignored` with its path (`tasks[0].options.priorty`), and the field that was
//!   probably meant is found among the names the type itself declares ([`fields_at`]),
//!   so the suggestion cannot drift from the code. The wire types stay lenient for
//!   reading answers (an SDK must read answers of a newer server that added a field);
//!   only the server's decoding of requests is strict.
//! - Valid JSON of the wrong shape (`"args": [0]`) is `400 invalid` naming the field
//!   and what it expects; only a body that is not JSON at all is `malformed_json`.

use super::ApiError;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use std::cell::RefCell;
use std::fmt;

/// Decodes `bytes` as a `T` request body (see the module docs).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut unknown: Vec<String> = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let decoded = serde_ignored::deserialize(&mut de, |path| unknown.push(path.to_string()))
        .and_then(|v: T| de.end().map(|()| v));
    match decoded {
        Ok(v) if unknown.is_empty() => Ok(v),
        Ok(_) => Err(unknown_fields::<T>(&unknown)),
        Err(_) => Err(shape_error::<T>(bytes)),
    }
}

/// `400 unknown_field` naming every unknown field, each with the field probably meant.
fn unknown_fields<T: DeserializeOwned>(paths: &[String]) -> ApiError {
    let described: Vec<String> = paths
        .iter()
        .map(|path| {
            let segments: Vec<&str> = path
                .split(['.', '[', ']'])
                .filter(|s| !s.is_empty())
                .collect();
            let (name, parent) = segments
                .split_last()
                .map_or(("?", &[][..]), |(n, p)| (*n, p));
            let known = fields_at::<T>(parent);
            let shown = display_path(path);
            match known.as_deref().and_then(|k| closest(name, k)) {
                Some(meant) => format!("unknown field `{shown}` (did you mean `{meant}`?)"),
                None => match known {
                    Some(k) if !k.is_empty() => {
                        format!(
                            "unknown field `{shown}` (expected one of: {})",
                            k.join(", ")
                        )
                    }
                    _ => format!("unknown field `{shown}`"),
                },
            }
        })
        .collect();
    ApiError::new(400, "unknown_field", described.join("; "))
}

/// serde_ignored writes array indexes as path segments (`tasks.0.options`); show them
/// the way JSON paths usually are (`tasks[0].options`).
fn display_path(path: &str) -> String {
    let mut out = String::new();
    for seg in path.split('.') {
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// The known name closest to `name`, if it is close enough to be a typo of it.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// serde's `unknown field `X`, expected one of `a`, `b`` (or ``expected `a` or `b```)
/// with the expected name closest to `X` named, if one is close: for error messages of
/// strictly decoded files such as the config.
pub fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((name, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(name, &known) {
        Some(meant) => format!("{message} (did you mean `{meant}`?)"),
        None => message.to_string(),
    }
}

/// Why a body that serde_json would not decode as `T` failed: not JSON at all, or JSON
/// of the wrong shape at a named path.
fn shape_error<T: DeserializeOwned>(bytes: &[u8]) -> ApiError {
    if let Err(e) = serde_json::from_slice::<de::IgnoredAny>(bytes) {
        return ApiError::new(
            400,
            "malformed_json",
            format!("the request body is not valid JSON: {e}"),
        );
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => ApiError::invalid("the request body does not have the expected shape"),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // serde_json's position is of the whole body: noise next to the path.
            let msg = strip_position(&inner.to_string());
            if path == "." {
                ApiError::invalid(format!("request body: {msg}"))
            } else {
                ApiError::invalid(format!("field `{path}`: {msg}"))
            }
        }
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The field names `T` declares for the object at `path` (keys and array indexes from
/// the body's root), or `None` if the path leads to no struct.
///
/// Found by deserializing `T` from a probe that walks `path` and, where it ends,
/// catches the list of fields serde's derive passes to `deserialize_struct`.
pub fn fields_at<T: DeserializeOwned>(path: &[&str]) -> Option<Vec<&'static str>> {
    FOUND.with(|f| f.borrow_mut().take());
    let _ = T::deserialize(Probe { path });
    FOUND.with(|f| f.borrow_mut().take())
}

thread_local! {
    static FOUND: RefCell<Option<Vec<&'static str>>> = const { RefCell::new(None) };
}

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe stopped")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Stop
    }
}

/// A deserializer that is the body only along `path`.
struct Probe<'p> {
    path: &'p [&'p str],
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    /// A type decoding by hand (e.g. [`crate::model::Arg`]) asks for any value: along
    /// the path, that is an object with the path's next key.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.deserialize_map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            None => {
                FOUND.with(|f| *f.borrow_mut() = Some(fields.to_vec()));
                Err(Stop)
            }
            Some((key, rest)) => visitor.visit_map(ProbeMap {
                key: Some(key),
                rest,
            }),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            None => Err(Stop),
            Some((key, rest)) => visitor.visit_map(ProbeMap {
                key: Some(key),
                rest,
            }),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            Some((index, rest)) if index.parse::<usize>().is_ok() => {
                visitor.visit_seq(ProbeSeq { rest: Some(rest) })
            }
            _ => Err(Stop),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            Some((variant, rest)) => visitor.visit_enum(ProbeEnum { variant, rest }),
            None => Err(Stop),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
    }
}

struct ProbeMap<'p> {
    key: Option<&'p str>,
    rest: &'p [&'p str],
}

impl<'de> de::MapAccess<'de> for ProbeMap<'_> {
    type Error = Stop;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(k) => seed.deserialize(k.into_deserializer()).map(Some),
            None => Err(Stop),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        seed.deserialize(Probe { path: self.rest })
    }
}

struct ProbeSeq<'p> {
    rest: Option<&'p [&'p str]>,
}

impl<'de> de::SeqAccess<'de> for ProbeSeq<'_> {
    type Error = Stop;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        match self.rest.take() {
            Some(rest) => seed.deserialize(Probe { path: rest }).map(Some),
            None => Err(Stop),
        }
    }
}

struct ProbeEnum<'p> {
    variant: &'p str,
    rest: &'p [&'p str],
}

impl<'de, 'p> de::EnumAccess<'de> for ProbeEnum<'p> {
    type Error = Stop;
    type Variant = Probe<'p>;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Probe<'p>), Stop> {
        let v = seed.deserialize(self.variant.into_deserializer())?;
        Ok((v, Probe { path: self.rest }))
    }
}

impl<'de> de::VariantAccess<'de> for Probe<'_> {
    type Error = Stop;

    fn unit_variant(self) -> Result<(), Stop> {
        Err(Stop)
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Stop> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::wire::{PollRequest, StartProcessRequest};

    #[test]
    fn a_misspelt_poll_field_is_refused_with_the_field_meant() {
        let body = br#"{"actor_id": "a#1", "waitms": 5000, "mx": 10}"#;
        let e = decode::<PollRequest>(body).unwrap_err();
        assert_eq!((e.status, e.body.error.as_str()), (400, "unknown_field"));
        assert!(
            e.body
                .message
                .contains("unknown field `waitms` (did you mean `wait_ms`?)"),
            "{}",
            e.body.message
        );
        assert!(e.body.message.contains("`mx`"), "{}", e.body.message);
    }

    #[test]
    fn an_unknown_field_deep_in_a_start_names_its_path() {
        let body = br#"{"actor_id": "a#1", "method": "start", "args": [],
            "options": {"priorty": 3}}"#;
        let e = decode::<StartProcessRequest>(body).unwrap_err();
        assert_eq!(e.body.error, "unknown_field", "{}", e.body.message);
        assert!(
            e.body
                .message
                .contains("`options.priorty` (did you mean `priority`?)"),
            "{}",
            e.body.message
        );
    }

    #[test]
    fn a_name_far_from_every_field_lists_the_fields() {
        let e = decode::<PollRequest>(br#"{"actor_id": "a#1", "zzz": 1}"#).unwrap_err();
        assert!(
            e.body.message.contains("expected one of: "),
            "{}",
            e.body.message
        );
        assert!(e.body.message.contains("wait_ms"), "{}", e.body.message);
    }

    #[test]
    fn json_of_the_wrong_shape_names_the_field_and_is_not_called_malformed() {
        let body = br#"{"actor_id": "a#1", "method": "start", "args": [0]}"#;
        let e = decode::<StartProcessRequest>(body).unwrap_err();
        assert_eq!(e.body.error, "invalid", "{}", e.body.message);
        assert!(
            e.body.message.starts_with("field `args[0]`"),
            "{}",
            e.body.message
        );
        assert!(e.body.message.contains("{\"value\""), "{}", e.body.message);
    }

    #[test]
    fn a_body_that_is_not_json_is_malformed() {
        let e = decode::<PollRequest>(br#"{"actor_id": "#).unwrap_err();
        assert_eq!(e.body.error, "malformed_json");
        let e = decode::<PollRequest>(br#"{"actor_id": "a#1"} trailing"#).unwrap_err();
        assert_eq!(e.body.error, "malformed_json");
    }

    #[test]
    fn a_serde_unknown_field_message_gets_the_field_meant() {
        let m = "unknown field `snapshot_evry`, expected one of `node_id`, `snapshot_every`";
        assert_eq!(
            with_suggestion(m),
            format!("{m} (did you mean `snapshot_every`?)")
        );
        let far = "unknown field `zzz`, expected `node_id` or `listen`";
        assert_eq!(with_suggestion(far), far);
        assert_eq!(with_suggestion("invalid type"), "invalid type");
    }

    #[test]
    fn a_well_formed_body_decodes() {
        let p: PollRequest = decode(br#"{"actor_id": "a#1", "wait_ms": 10}"#).unwrap();
        assert_eq!(p.wait_ms, 10);
    }

    #[test]
    fn the_probe_finds_fields_through_options_arrays_and_enum_variants() {
        let top = fields_at::<StartProcessRequest>(&[]).unwrap();
        assert!(top.contains(&"actor_id"));
        let options = fields_at::<StartProcessRequest>(&["options"]).unwrap();
        assert!(options.contains(&"priority"));
        let promise = fields_at::<StartProcessRequest>(&["args", "0", "promise"]).unwrap();
        assert!(promise.contains(&"task_id"), "{promise:?}");
        assert_eq!(fields_at::<StartProcessRequest>(&["nope", "deeper"]), None);
    }
}
