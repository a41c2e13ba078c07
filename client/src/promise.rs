//! `Promise<T>`: the future result of a task, as a decider sees it.
//!
//! In a decider, [`DeciderContext::call`](crate::DeciderContext::call) returns an
//! *unresolved* promise at once: it only names the task that will produce the value,
//! and can be passed as an argument of other calls, collected into arrays, waited for,
//! or returned as the decider's own result. The broker resolves it later.
//!
//! When a decider continues (a task of kind `decider` created with
//! [`call_self`](crate::DeciderContext::call_self)), its `Promise<T>` parameters
//! arrive *resolved*: with a value ([`Promise::get`]), with an error the caller
//! accepted ([`Promise::get_fail`]), or — for a no-wait argument — still unresolved.
//!
//! A promise serializes as a marker object (see the `marker` module) and
//! deserializes from one, which is how promises travel inside argument tuples,
//! collections and return values through plain serde.

use crate::marker::{self, Marker};
use crate::task_error::{INVALID_ARGUMENTS, PROMISE_NOT_READY};
use crate::TaskError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;
use suslik_broker::model::{ErrorInfo, TaskId};

/// The (possibly future) result of a task, of type `T`.
pub struct Promise<T> {
    pub(crate) state: PromiseState,
    _type: PhantomData<fn() -> T>,
}

/// Where a promise stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PromiseState {
    /// Not resolved yet: the task that will produce it.
    Pending(TaskId),
    /// Resolved with a value.
    Ready(serde_json::Value),
    /// Resolved with an (accepted) error.
    Failed(ErrorInfo),
}

impl<T> Promise<T> {
    pub(crate) fn from_state(state: PromiseState) -> Self {
        Promise {
            state,
            _type: PhantomData,
        }
    }

    /// A promise already resolved with `value` (Taskurotta's `Promise.asPromise`).
    /// Passed as an argument, it travels as a plain value.
    pub fn ready(value: T) -> Self
    where
        T: Serialize,
    {
        match serde_json::to_value(&value) {
            Ok(v) => Promise::from_state(PromiseState::Ready(v)),
            Err(e) => Promise::from_state(PromiseState::Failed(ErrorInfo::new(
                INVALID_ARGUMENTS,
                format!("value cannot be serialized: {e}"),
            ))),
        }
    }

    /// A promise already resolved with an error.
    pub fn failed(error: ErrorInfo) -> Self {
        Promise::from_state(PromiseState::Failed(error))
    }

    /// A promise of task `task_id`'s result, not resolved yet. Deciders normally get
    /// these from `call`; this is for tasks created by other means.
    pub fn pending(task_id: TaskId) -> Self {
        Promise::from_state(PromiseState::Pending(task_id))
    }

    /// The task this promise waits for, while it is unresolved.
    pub fn task_id(&self) -> Option<TaskId> {
        match self.state {
            PromiseState::Pending(id) => Some(id),
            _ => None,
        }
    }

    /// Whether the promise is resolved, with a value or with an error.
    pub fn is_ready(&self) -> bool {
        !matches!(self.state, PromiseState::Pending(_))
    }

    /// Whether the promise resolved with an error (an accepted fail).
    pub fn has_fail(&self) -> bool {
        matches!(self.state, PromiseState::Failed(_))
    }

    /// The error the promise resolved with, if any.
    pub fn get_fail(&self) -> Option<&ErrorInfo> {
        match &self.state {
            PromiseState::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The value. A failed promise yields its error (so `?` propagates the fail with
    /// its original type); an unresolved one yields a `suslik.PromiseNotReady` error.
    pub fn get(&self) -> Result<T, TaskError>
    where
        T: DeserializeOwned,
    {
        match &self.state {
            PromiseState::Ready(v) => T::deserialize(v).map_err(|e| {
                TaskError::new(
                    INVALID_ARGUMENTS,
                    format!(
                        "promise value does not decode as {}: {e}",
                        std::any::type_name::<T>()
                    ),
                )
            }),
            PromiseState::Failed(e) => Err(TaskError::from_info(e.clone())),
            PromiseState::Pending(id) => Err(TaskError::new(
                PROMISE_NOT_READY,
                format!("promise of task {id} is not resolved yet"),
            )),
        }
    }

    /// Marks this promise, used as an argument, as not to be waited for: the task may
    /// start before it resolves and then receives it unresolved (Taskurotta's NO_WAIT).
    pub fn no_wait(&self) -> NoWait<T> {
        NoWait(self.clone())
    }

    /// The same promise viewed as another result type (e.g. to collect promises of
    /// different types for `wait_for`).
    pub fn cast<U>(self) -> Promise<U> {
        Promise::from_state(self.state)
    }
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Self {
        Promise::from_state(self.state.clone())
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            PromiseState::Pending(id) => write!(f, "Promise(pending {id})"),
            PromiseState::Ready(v) => write!(f, "Promise(ready {v})"),
            PromiseState::Failed(e) => write!(f, "Promise(failed {}: {})", e.error_type, e.message),
        }
    }
}

impl<T> Serialize for Promise<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_state(&self.state, false, s)
    }
}

fn serialize_state<S: Serializer>(
    state: &PromiseState,
    no_wait: bool,
    s: S,
) -> Result<S::Ok, S::Error> {
    match state {
        PromiseState::Pending(id) => marker::pending(*id, no_wait).serialize(s),
        PromiseState::Ready(v) => v.serialize(s),
        PromiseState::Failed(e) => marker::error(e).serialize(s),
    }
}

impl<'de, T> Deserialize<'de> for Promise<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let state = match marker::parse(&value).map_err(serde::de::Error::custom)? {
            Some(Marker::Pending { task_id, .. }) => PromiseState::Pending(task_id),
            Some(Marker::Error(info)) => PromiseState::Failed(info),
            None => PromiseState::Ready(value),
        };
        Ok(Promise::from_state(state))
    }
}

/// A promise argument that the task does not wait for; see [`Promise::no_wait`].
pub struct NoWait<T>(pub(crate) Promise<T>);

impl<T> Serialize for NoWait<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_state(&self.0.state, true, s)
    }
}

impl<T> Clone for NoWait<T> {
    fn clone(&self) -> Self {
        NoWait(self.0.clone())
    }
}

impl<T> fmt::Debug for NoWait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoWait({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Args;
    use suslik_broker::model::{JsonValue, ResolvedArg};

    #[test]
    fn continuation_arguments_arrive_as_resolved_promises() {
        let pending = TaskId::random();
        let args = Args::new(vec![
            ResolvedArg::Value(JsonValue::from_text("5").expect("json")),
            ResolvedArg::Error(ErrorInfo::new("pay.Declined", "no funds")),
            ResolvedArg::Array(vec![
                ResolvedArg::Value(JsonValue::from_text("1").expect("json")),
                ResolvedArg::Pending(pending),
            ]),
        ]);
        let (a, b, c): (Promise<i64>, Promise<i64>, Vec<Promise<i64>>) =
            args.decode().expect("decodes");
        assert!(a.is_ready() && !a.has_fail());
        assert_eq!(a.get().ok(), Some(5));
        assert!(b.is_ready() && b.has_fail());
        assert_eq!(
            b.get_fail().map(|e| e.error_type.as_str()),
            Some("pay.Declined")
        );
        assert_eq!(
            b.get().err().map(|e| e.error_type().to_string()).as_deref(),
            Some("pay.Declined")
        );
        assert_eq!(c[0].get().ok(), Some(1));
        assert!(!c[1].is_ready());
        assert_eq!(c[1].task_id(), Some(pending));
        assert_eq!(
            c[1].get()
                .err()
                .map(|e| e.error_type().to_string())
                .as_deref(),
            Some(PROMISE_NOT_READY)
        );
    }

    #[test]
    fn ready_values_decode_lazily_with_a_typed_error() {
        let p: Promise<i64> = Promise::from_state(PromiseState::Ready(serde_json::json!("x")));
        let err = p.get().expect_err("string is not i64");
        assert_eq!(err.error_type(), INVALID_ARGUMENTS);
        assert_eq!(Promise::ready(vec![1, 2]).get().ok(), Some(vec![1, 2]));
    }
}
