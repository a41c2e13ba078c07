//! The SDK's error type.
//!
//! Callers need to tell apart four situations that call for different reactions: the
//! broker understood the request and said no (fix the request, never retry as is), no
//! broker could be reached (retry later or page someone), a body could not be encoded
//! or decoded (a version mismatch or a bug), and a deadline passed. Process outcomes
//! that are not a value (broken, failed) get their own variants so that
//! [`ProcessClient::wait_for_result`](crate::ProcessClient::wait_for_result) can report
//! them without a second round trip.

use std::time::Duration;
use suslik_broker::model::wire::ErrorBody;
use suslik_broker::model::{BrokenInfo, ErrorInfo, IdError, ProcessId};

/// Result alias of the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when talking to a broker through the SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The broker answered with an error status (400 invalid, 404 unknown, 409
    /// conflict, 413 too large, ...). Retrying the same request will not help.
    #[error("broker rejected the request ({status} {code}): {message}")]
    Rejected {
        /// HTTP status (or its in-process equivalent).
        status: u16,
        /// Stable machine-readable code from the broker's error body.
        code: String,
        /// Human-readable explanation.
        message: String,
    },
    /// One attempt could not reach a broker (connection refused or reset, broken
    /// response stream). Carried inside [`Error::Unavailable`] once failover gives up.
    #[error("cannot reach broker at {url}: {message}")]
    Transport {
        /// The address that failed.
        url: String,
        /// What the HTTP stack reported.
        message: String,
    },
    /// Every address was tried (with backoff) and none could serve the request: all
    /// unreachable or without a leader (503).
    #[error("no broker available after {attempts} attempts; last error: {last}")]
    Unavailable {
        /// Attempts made, across all addresses.
        attempts: u32,
        /// The error of the last attempt.
        last: Box<Error>,
    },
    /// A request or response body could not be (de)serialized.
    #[error("(de)serialization failed: {0}")]
    Serialization(#[from] serde_json::Error),
    /// A deadline passed: a request took too long, or a process did not finish in
    /// the time given to [`ProcessClient::wait_for_result`](crate::ProcessClient::wait_for_result).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// An actor id or task list name given to the SDK is malformed.
    #[error("invalid identifier: {0}")]
    InvalidId(#[from] IdError),
    /// The SDK was used in a way that cannot produce a valid request (no broker
    /// address, a failed promise passed as an argument, ...).
    #[error("invalid use of the SDK: {0}")]
    Invalid(String),
    /// The process is broken: a task failed with an error nobody accepted.
    #[error("process {process_id} is broken{}", broken_suffix(.broken))]
    ProcessBroken {
        /// The broken process.
        process_id: ProcessId,
        /// The failed task and its error, when the broker reports it.
        broken: Option<Box<BrokenInfo>>,
    },
    /// An operator aborted the process before it finished.
    #[error("process {process_id} was aborted")]
    ProcessAborted {
        /// The aborted process.
        process_id: ProcessId,
    },
    /// The process finished, but its result is an (accepted) error rather than a value.
    #[error("process {process_id} finished with error {}: {}", .error.error_type, .error.message)]
    ProcessFailed {
        /// The finished process.
        process_id: ProcessId,
        /// The error its start task resolved with.
        error: ErrorInfo,
    },
}

fn broken_suffix(b: &Option<Box<BrokenInfo>>) -> String {
    match b {
        Some(b) => format!(
            ": task {} of {} failed with {}: {}",
            b.task_id, b.actor_id, b.error.error_type, b.error.message
        ),
        None => String::new(),
    }
}

impl Error {
    /// Builds [`Error::Rejected`] from a status and the broker's error body.
    pub fn rejected(status: u16, body: ErrorBody) -> Self {
        Error::Rejected {
            status,
            code: body.error,
            message: body.message,
        }
    }

    /// The HTTP status of a broker rejection (the last one, for [`Error::Unavailable`]).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Rejected { status, .. } => Some(*status),
            Error::Unavailable { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The broker's machine-readable error code, if the broker answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Rejected { code, .. } => Some(code),
            Error::Unavailable { last, .. } => last.code(),
            _ => None,
        }
    }

    /// Whether a deadline passed (directly, or on the last attempt of a failover).
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Unavailable { last, .. } => last.is_timeout(),
            _ => false,
        }
    }

    /// Whether the broker said the thing asked about does not exist (404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Rejected { status: 404, .. })
    }

    /// Whether trying again later could succeed: no broker was reachable, one had
    /// no leader, or a deadline passed. Rejections and decoding failures are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Rejected { status, .. } => is_unavailable_status(*status),
            Error::Transport { .. } | Error::Unavailable { .. } | Error::Timeout(_) => true,
            _ => false,
        }
    }
}

/// Statuses meaning "this node cannot serve now, another one may": no leader (503)
/// and the gateway statuses a proxy in front of a dead node answers with.
pub(crate) fn is_unavailable_status(status: u16) -> bool {
    matches!(status, 502..=504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_exposes_status_and_code_and_is_final() {
        let e = Error::rejected(
            404,
            ErrorBody {
                error: "unknown_process".into(),
                message: "no such process".into(),
            },
        );
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.code(), Some("unknown_process"));
        assert!(e.is_not_found());
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("unknown_process"));
    }

    #[test]
    fn unavailable_reports_its_last_error() {
        let last = Error::rejected(
            503,
            ErrorBody {
                error: "no_leader".into(),
                message: "election".into(),
            },
        );
        let e = Error::Unavailable {
            attempts: 3,
            last: Box::new(last),
        };
        assert_eq!(e.status(), Some(503));
        assert_eq!(e.code(), Some("no_leader"));
        assert!(e.is_retryable());
    }
}
