//! The JSON stand-ins for promises inside serde values.
//!
//! Promises are not JSON values, yet users want to write them where values go: as
//! items of a `Vec` argument, as a decider's return value, as parameters of a
//! continuation. Rather than a family of special-cased trait impls (which Rust's
//! coherence rules forbid next to a blanket impl for `T: Serialize`), a promise
//! serializes as a small marker object, `{"$suslik": "pending", "task_id": …}` or
//! `{"$suslik": "error", "error": {…}}`, and deserializes back from one. This module
//! converts between serde values holding markers and the broker's [`Arg`] tree.

use serde_json::{Map, Value};
use suslik_broker::model::{Arg, ErrorInfo, JsonValue, TaskId};

/// Key of the marker objects.
pub(crate) const MARKER: &str = "$suslik";
const PENDING: &str = "pending";
const ERROR: &str = "error";

/// What a marker object stands for.
pub(crate) enum Marker {
    /// An unresolved promise of a task.
    Pending { task_id: TaskId, no_wait: bool },
    /// A promise resolved with an error.
    Error(ErrorInfo),
}

/// The marker of an unresolved promise.
pub(crate) fn pending(task_id: TaskId, no_wait: bool) -> Value {
    let mut m = Map::new();
    m.insert(MARKER.into(), Value::from(PENDING));
    m.insert("task_id".into(), Value::from(task_id.to_string()));
    if no_wait {
        m.insert("no_wait".into(), Value::Bool(true));
    }
    Value::Object(m)
}

/// The marker of a failed promise.
pub(crate) fn error(info: &ErrorInfo) -> Value {
    let mut m = Map::new();
    m.insert(MARKER.into(), Value::from(ERROR));
    m.insert(
        "error".into(),
        serde_json::to_value(info).unwrap_or(Value::Null),
    );
    Value::Object(m)
}

/// Reads a marker object; `Ok(None)` for any other value.
pub(crate) fn parse(v: &Value) -> Result<Option<Marker>, String> {
    let Some(kind) = v.as_object().and_then(|o| o.get(MARKER)) else {
        return Ok(None);
    };
    match kind.as_str() {
        Some(PENDING) => {
            let task_id = v
                .get("task_id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<TaskId>().ok())
                .ok_or("pending promise marker without a valid task_id")?;
            let no_wait = v.get("no_wait").and_then(Value::as_bool).unwrap_or(false);
            Ok(Some(Marker::Pending { task_id, no_wait }))
        }
        Some(ERROR) => {
            let info = v
                .get("error")
                .cloned()
                .ok_or("failed promise marker without an error")
                .and_then(|e| {
                    serde_json::from_value::<ErrorInfo>(e)
                        .map_err(|_| "failed promise marker with a malformed error")
                })?;
            Ok(Some(Marker::Error(info)))
        }
        _ => Err(format!("unknown {MARKER} marker {kind}")),
    }
}

fn contains_marker(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key(MARKER) || o.values().any(contains_marker),
        Value::Array(items) => items.iter().any(contains_marker),
        _ => false,
    }
}

/// Converts a serialized argument into the wire form: markers become promises,
/// arrays holding promises become [`Arg::Array`], everything else one value.
pub(crate) fn to_arg(v: Value) -> Result<Arg, String> {
    match parse(&v)? {
        Some(Marker::Pending { task_id, no_wait }) => Ok(Arg::Promise { task_id, no_wait }),
        Some(Marker::Error(e)) => Err(format!(
            "a promise failed with {}: {} cannot be passed as an argument (check has_fail() first)",
            e.error_type, e.message
        )),
        None if !contains_marker(&v) => JsonValue::from_serialize(&v)
            .map(Arg::Value)
            .map_err(|e| e.to_string()),
        None => match v {
            Value::Array(items) => items
                .into_iter()
                .map(to_arg)
                .collect::<Result<_, _>>()
                .map(Arg::Array),
            _ => Err("promises can be nested in arrays only, not in objects".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_arrays_of_promises_become_arg_arrays() {
        let id = TaskId::random();
        let v = serde_json::json!([1, pending(id, true), [2, 3]]);
        let arg = to_arg(v).expect("converts");
        let Arg::Array(items) = arg else {
            panic!("expected an array, got {arg:?}")
        };
        assert_eq!(
            items[0],
            Arg::Value(JsonValue::from_text("1").expect("json"))
        );
        assert_eq!(
            items[1],
            Arg::Promise {
                task_id: id,
                no_wait: true
            }
        );
        assert_eq!(
            items[2],
            Arg::Value(JsonValue::from_text("[2,3]").expect("json"))
        );
    }

    #[test]
    fn promises_inside_objects_and_failed_promises_are_refused() {
        let id = TaskId::random();
        assert!(to_arg(serde_json::json!({ "p": pending(id, false) })).is_err());
        assert!(to_arg(error(&ErrorInfo::new("a", "b"))).is_err());
        assert!(parse(&serde_json::json!({ MARKER: "weird" })).is_err());
    }
}
