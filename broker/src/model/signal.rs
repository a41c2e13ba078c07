//! The body of `POST /api/v1/promises/{task_id}/resolve`: how an outside caller
//! resolves an external promise.

use super::{ErrorInfo, JsonValue};
use serde::{Deserialize, Serialize};

/// `{"value": <any JSON>}` or `{"error": {"type": "…", "message": "…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolvePromiseRequest {
    Value(JsonValue),
    Error(PromiseError),
}

/// The error an external promise is resolved with (the waiting tasks receive it as an
/// accepted fail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PromiseError {
    /// Dot-separated error type, e.g. `payment.Declined`.
    #[serde(rename = "type", alias = "error_type")]
    pub error_type: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: Option<String>,
}

impl From<PromiseError> for ErrorInfo {
    fn from(e: PromiseError) -> Self {
        ErrorInfo {
            error_type: e.error_type,
            message: e.message,
            details: e.details,
        }
    }
}

impl From<ErrorInfo> for PromiseError {
    fn from(e: ErrorInfo) -> Self {
        PromiseError {
            error_type: e.error_type,
            message: e.message,
            details: e.details,
        }
    }
}

/// The answer: `{"resolved": true, "duplicate": false}`; `duplicate` when the promise
/// already was resolved the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResolvePromiseResponse {
    pub resolved: bool,
    #[serde(default)]
    pub duplicate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_and_error_bodies() {
        let v: ResolvePromiseRequest = serde_json::from_str(r#"{"value": {"ok": true}}"#).unwrap();
        assert!(
            matches!(v, ResolvePromiseRequest::Value(ref j) if j.as_str() == r#"{"ok": true}"#)
        );
        let n: ResolvePromiseRequest = serde_json::from_str(r#"{"value": null}"#).unwrap();
        assert!(matches!(n, ResolvePromiseRequest::Value(ref j) if j.as_str() == "null"));
        let e: ResolvePromiseRequest =
            serde_json::from_str(r#"{"error": {"type": "pay.Declined", "message": "no"}}"#)
                .unwrap();
        assert!(matches!(e, ResolvePromiseRequest::Error(ref p) if p.error_type == "pay.Declined"));
        assert!(serde_json::from_str::<ResolvePromiseRequest>(r#"{}"#).is_err());
        assert!(serde_json::from_str::<ResolvePromiseRequest>(r#"{"error": {}}"#).is_err());
    }
}
