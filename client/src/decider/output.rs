//! What a decider method replies with: a value now, or the promise of one.
//!
//! Replying with a promise (Taskurotta: returning a `Promise` from a decider) makes
//! the broker resolve this task's own promise when that one resolves, so a process's
//! result can be the result of its last worker without another decider step.

use crate::marker::{self, Marker};
use crate::task_error::INVALID_RESULT;
use crate::TaskError;
use serde::Serialize;
use suslik_broker::model::{JsonValue, TaskId};

#[cfg(doc)]
use crate::Promise;

/// A decider method's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeciderOutput {
    /// The result, known now.
    Value(JsonValue),
    /// The result is the result of this task, once it resolves.
    Promise(TaskId),
}

/// Types a decider method may return: any `Serialize` value, or a [`Promise`] (a
/// resolved promise replies with its value, a failed one with its error).
pub trait IntoDeciderOutput {
    /// Converts to the reply.
    fn into_output(self) -> Result<DeciderOutput, TaskError>;
}

impl<T: Serialize> IntoDeciderOutput for T {
    fn into_output(self) -> Result<DeciderOutput, TaskError> {
        let bad = |msg: String| TaskError::new(INVALID_RESULT, msg);
        let value = serde_json::to_value(&self).map_err(|e| bad(e.to_string()))?;
        match marker::parse(&value).map_err(bad)? {
            Some(Marker::Pending { task_id, .. }) => Ok(DeciderOutput::Promise(task_id)),
            Some(Marker::Error(info)) => Err(TaskError::from_info(info)),
            None => match marker::to_arg(value) {
                Ok(suslik_broker::model::Arg::Value(v)) => Ok(DeciderOutput::Value(v)),
                Ok(_) => Err(bad(
                    "a decider can reply with one promise, not with a collection holding promises; \
                     reply with the promise of a step that combines them"
                        .into(),
                )),
                Err(e) => Err(bad(e)),
            },
        }
    }
}

impl IntoDeciderOutput for DeciderOutput {
    fn into_output(self) -> Result<DeciderOutput, TaskError> {
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Promise;
    use suslik_broker::model::ErrorInfo;

    #[test]
    fn values_promises_and_failed_promises() {
        let id = TaskId::random();
        assert_eq!(
            Promise::<i64>::pending(id).into_output().ok(),
            Some(DeciderOutput::Promise(id))
        );
        assert_eq!(
            Promise::ready(5).into_output().ok(),
            Some(DeciderOutput::Value(
                JsonValue::from_text("5").expect("json")
            ))
        );
        let failed = Promise::<i64>::failed(ErrorInfo::new("pay.Declined", "no")).into_output();
        assert_eq!(
            failed.err().map(|e| e.error_type().to_string()).as_deref(),
            Some("pay.Declined")
        );
        let nested = vec![Promise::<i64>::pending(id)].into_output();
        assert_eq!(
            nested.err().map(|e| e.error_type().to_string()).as_deref(),
            Some(INVALID_RESULT)
        );
        assert!(().into_output().is_ok());
    }
}
