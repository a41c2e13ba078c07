//! The error an actor's method fails with.
//!
//! It becomes the `{error: {error_type, message}}` outcome of a release, so it is
//! shaped like [`ErrorInfo`]: a dotted error type (the analogue of an exception class,
//! which callers match with `accept_fail`), a message, optional details, and an
//! optional retry time that overrides the task's retry policy.
//!
//! Like `anyhow::Error`, it converts from any `std::error::Error` so that `?` works
//! inside actor methods; the error type is then derived from the Rust type name
//! (`core::num::ParseIntError` → `core.num.error.ParseIntError`), which keeps the
//! hierarchy matchable by module prefix. For that blanket conversion to be allowed,
//! `TaskError` itself deliberately does not implement `std::error::Error`.

use std::fmt;
use std::time::Duration;
use suslik_broker::model::{ErrorInfo, Millis};

/// Error type of a method that panicked.
pub const PANIC: &str = "panic";
/// Error type when a task's arguments do not decode into the method's parameter type.
pub const INVALID_ARGUMENTS: &str = "suslik.InvalidArguments";
/// Error type when an actor is asked for a method it does not have.
pub const UNKNOWN_METHOD: &str = "suslik.UnknownMethod";
/// Error type when a result cannot be serialized.
pub const INVALID_RESULT: &str = "suslik.InvalidResult";
/// Error type when a decider recorded an invalid call (bad actor id, failed promise
/// used as an argument, ...).
pub const INVALID_DECISION: &str = "suslik.InvalidDecision";
/// Error type of reading a promise that has not resolved yet.
pub const PROMISE_NOT_READY: &str = "suslik.PromiseNotReady";

/// The failure of one task, as released to the broker.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskError {
    info: ErrorInfo,
    retry_at: Option<Millis>,
}

impl TaskError {
    /// A failure of the given dotted type (`payment.Declined`) with a message.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        TaskError {
            info: ErrorInfo::new(error_type, message),
            retry_at: None,
        }
    }

    /// The error exactly as stored (e.g. a failed promise's error, to propagate it).
    pub fn from_info(info: ErrorInfo) -> Self {
        TaskError {
            info,
            retry_at: None,
        }
    }

    /// Builds the error from a `dyn Error` (e.g. the inside of an `anyhow::Error` or a
    /// `Box<dyn Error>`), with the given type; the message includes the source chain.
    pub fn from_dyn(
        error_type: impl Into<String>,
        err: &(dyn std::error::Error + 'static),
    ) -> Self {
        TaskError::new(error_type, chain_message(err))
    }

    /// Adds details (a backtrace, a JSON document rendered as text).
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.info.details = Some(details.into());
        self
    }

    /// Asks the broker to try the task again at `at`, overriding its retry policy.
    pub fn retry_at(mut self, at: Millis) -> Self {
        self.retry_at = Some(at);
        self
    }

    /// Asks the broker to try the task again after `delay` from now.
    pub fn retry_after(self, delay: Duration) -> Self {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.retry_at(Millis::now().plus(ms))
    }

    /// The dotted error type.
    pub fn error_type(&self) -> &str {
        &self.info.error_type
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.info.message
    }

    /// The requested retry time, if any.
    pub fn retry_time(&self) -> Option<Millis> {
        self.retry_at
    }

    /// The error as the broker stores it.
    pub fn info(&self) -> &ErrorInfo {
        &self.info
    }

    /// Splits into the stored error and the requested retry time.
    pub fn into_parts(self) -> (ErrorInfo, Option<Millis>) {
        (self.info, self.retry_at)
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskError")
            .field("error_type", &self.info.error_type)
            .field("message", &self.info.message)
            .field("details", &self.info.details)
            .field("retry_at", &self.retry_at)
            .finish()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.info.error_type, self.info.message)
    }
}

impl<E: std::error::Error + 'static> From<E> for TaskError {
    fn from(err: E) -> Self {
        TaskError::new(dotted_type_name::<E>(), chain_message(&err))
    }
}

/// `a::b::C<D>` → `a.b.C`: a Rust type path as a dotted error type.
pub(crate) fn dotted_type_name<T: ?Sized>() -> String {
    let name = std::any::type_name::<T>();
    let base = name.split('<').next().unwrap_or(name);
    base.replace("::", ".")
}

fn chain_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<i64, TaskError> {
        Ok(s.parse::<i64>()?)
    }

    #[test]
    fn question_mark_converts_std_errors_with_a_dotted_type() {
        let e = parse("x").unwrap_err();
        assert_eq!(e.error_type(), "core.num.error.ParseIntError");
        assert!(e.info().is_a("core.num"));
        assert!(e.message().contains("invalid digit"));
    }

    #[test]
    fn retry_after_sets_an_absolute_time() {
        let before = Millis::now();
        let e = TaskError::new("net.Timeout", "slow").retry_after(Duration::from_secs(5));
        let at = e.retry_time().unwrap_or_default();
        assert!(at >= before.plus(5_000));
        let (info, retry) = e.into_parts();
        assert_eq!(info.error_type, "net.Timeout");
        assert_eq!(retry, Some(at));
    }
}
