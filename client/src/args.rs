//! Typed access to the arguments of a delivered task.
//!
//! A poll hands out arguments as [`ResolvedArg`]s: plain values, arrays, and — for
//! promises a decider accepted fails of or did not wait for — errors and pending task
//! ids. Actor methods want Rust types instead. [`Args::decode`] renders the argument
//! list as one JSON array and lets serde decode the method's parameter type from it,
//! so a method taking `(i64, String)` receives the two arguments, and a method taking
//! `Vec<Promise<i64>>` receives a collection of promises.
//!
//! Errors and pending promises have no JSON value, so they are rendered as small
//! marker objects (`{"$suslik": "error", …}`) that [`Promise`](crate::Promise) decodes
//! into a failed or unresolved promise. A parameter of a plain type meeting such a
//! marker fails to decode, and the error says which argument was the culprit.

use crate::marker;
use crate::task_error::INVALID_ARGUMENTS;
use crate::TaskError;
use serde::de::DeserializeOwned;
use std::fmt::Write as _;
use suslik_broker::model::ResolvedArg;

/// The arguments of one delivered task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Args {
    items: Vec<ResolvedArg>,
}

impl Args {
    /// Wraps the arguments of a delivery.
    pub fn new(items: Vec<ResolvedArg>) -> Self {
        Args { items }
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The arguments as the broker sent them.
    pub fn raw(&self) -> &[ResolvedArg] {
        &self.items
    }

    /// Takes the arguments as the broker sent them.
    pub fn into_raw(self) -> Vec<ResolvedArg> {
        self.items
    }

    /// Decodes the arguments into the method's parameter type `T`.
    ///
    /// - Several arguments decode as one list, so a tuple `(A, B)` takes them in order.
    /// - Exactly one argument decodes as itself first (`|x: A|`), and failing that as a
    ///   one-element list (`|(x,): (A,)|`). Trying the argument alone first is what
    ///   makes `|parts: Vec<Promise<i64>>|` receive the items of an array argument.
    /// - No argument decodes as an empty list first and as `null` next, so `()`,
    ///   `Vec<A>` and `Option<A>` all work.
    ///
    /// The one ambiguous shape: a one-element tuple of a type that accepts anything
    /// (`(Promise<A>,)`, `(serde_json::Value,)`) given an array argument of exactly
    /// one element decodes from that element; use the bare form for one argument.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
        let list = self.to_json();
        let (first, second) = match self.items.as_slice() {
            [one] => (arg_json(one), Some(list)),
            [] => (list, Some("null".to_string())),
            _ => (list, None),
        };
        let err = match serde_json::from_str::<T>(&first) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if let Some(text) = second {
            if let Ok(v) = serde_json::from_str::<T>(&text) {
                return Ok(v);
            }
        }
        Err(self.decode_error::<T>(&err.to_string()))
    }

    /// Decodes argument `index` alone.
    pub fn get<T: DeserializeOwned>(&self, index: usize) -> Result<T, TaskError> {
        let arg = self.items.get(index).ok_or_else(|| {
            TaskError::new(
                INVALID_ARGUMENTS,
                format!(
                    "argument {index} missing: the task has {} arguments",
                    self.len()
                ),
            )
        })?;
        serde_json::from_str(&arg_json(arg)).map_err(|e| self.decode_error::<T>(&e.to_string()))
    }

    /// The argument list as one JSON array (failed and pending promises as markers).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(2 + self.items.len() * 8);
        write_list(&self.items, &mut out);
        out
    }

    fn decode_error<T>(&self, cause: &str) -> TaskError {
        let mut msg = format!(
            "cannot decode {} arguments as {}: {cause}",
            self.len(),
            std::any::type_name::<T>()
        );
        for (i, arg) in self.items.iter().enumerate() {
            describe_unusual(arg, &i.to_string(), &mut msg);
        }
        TaskError::new(INVALID_ARGUMENTS, msg)
    }
}

impl From<Vec<ResolvedArg>> for Args {
    fn from(items: Vec<ResolvedArg>) -> Self {
        Args::new(items)
    }
}

/// Notes failed and pending promises (at any depth) in a decode error message.
fn describe_unusual(arg: &ResolvedArg, path: &str, msg: &mut String) {
    match arg {
        ResolvedArg::Value(_) => {}
        ResolvedArg::Error(e) => {
            let _ = write!(
                msg,
                "; argument {path} is a failed promise ({}: {})",
                e.error_type, e.message
            );
        }
        ResolvedArg::Pending(id) => {
            let _ = write!(
                msg,
                "; argument {path} is an unresolved promise of task {id}"
            );
        }
        ResolvedArg::Array(items) => {
            for (i, a) in items.iter().enumerate() {
                describe_unusual(a, &format!("{path}[{i}]"), msg);
            }
        }
    }
}

fn arg_json(arg: &ResolvedArg) -> String {
    let mut out = String::new();
    write_arg(arg, &mut out);
    out
}

fn write_list(items: &[ResolvedArg], out: &mut String) {
    out.push('[');
    for (i, a) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_arg(a, out);
    }
    out.push(']');
}

fn write_arg(arg: &ResolvedArg, out: &mut String) {
    match arg {
        ResolvedArg::Value(v) => out.push_str(v.as_str()),
        ResolvedArg::Array(items) => write_list(items, out),
        ResolvedArg::Pending(id) => out.push_str(&marker::pending(*id, false).to_string()),
        ResolvedArg::Error(e) => out.push_str(&marker::error(e).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suslik_broker::model::{ErrorInfo, JsonValue, TaskId};

    fn val(text: &str) -> ResolvedArg {
        ResolvedArg::Value(JsonValue::from_text(text).expect("valid json"))
    }

    #[test]
    fn tuples_take_the_arguments_in_order() {
        let args = Args::new(vec![val("1"), val("\"two\"")]);
        let (a, b): (i64, String) = args.decode().expect("decodes");
        assert_eq!((a, b.as_str()), (1, "two"));
        assert_eq!(args.get::<String>(1).ok().as_deref(), Some("two"));
        assert!(args.get::<String>(2).is_err());
    }

    #[test]
    fn one_argument_may_be_taken_bare_and_none_as_unit() {
        let args = Args::new(vec![val("[1,2]")]);
        assert_eq!(args.decode::<Vec<i64>>().ok(), Some(vec![1, 2]));
        assert_eq!(args.decode::<(Vec<i64>,)>().ok(), Some((vec![1, 2],)));
        assert_eq!(Args::new(vec![val("7")]).decode::<i64>().ok(), Some(7));
        assert!(Args::default().decode::<()>().is_ok());
        assert_eq!(Args::default().decode::<Option<i64>>().ok(), Some(None));
        assert_eq!(Args::default().decode::<Vec<i64>>().ok(), Some(vec![]));
    }

    #[test]
    fn one_array_argument_feeds_a_vec_of_promises_item_by_item() {
        let args = Args::new(vec![ResolvedArg::Array(vec![val("1"), val("2")])]);
        let parts: Vec<crate::Promise<i64>> = args.decode().expect("decodes");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].get().ok(), Some(2));
        let (parts,): (Vec<crate::Promise<i64>>,) = args.decode().expect("decodes");
        assert_eq!(parts.len(), 2);
    }

    #[test]
    fn a_failed_promise_where_a_value_is_expected_is_named_in_the_error() {
        let args = Args::new(vec![
            val("1"),
            ResolvedArg::Array(vec![ResolvedArg::Error(ErrorInfo::new(
                "pay.Declined",
                "no",
            ))]),
        ]);
        let err = args.decode::<(i64, Vec<i64>)>().expect_err("must fail");
        assert_eq!(err.error_type(), INVALID_ARGUMENTS);
        assert!(err
            .message()
            .contains("argument 1[0] is a failed promise (pay.Declined: no)"));
        let pending = Args::new(vec![ResolvedArg::Pending(TaskId::random())]);
        let err = pending.decode::<i64>().expect_err("must fail");
        assert!(err.message().contains("unresolved promise"));
    }
}
