//! The error a task fails with: the unit of AcceptFail matching and of broken processes.

use serde::{Deserialize, Serialize};

/// A failure reported by an actor (or by the broker on its behalf).
///
/// `error_type` is a dot-separated hierarchy (`payment.Declined`), the analogue of an
/// exception class: accepting `payment` accepts `payment.Declined` too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorInfo {
    /// Dot-separated error type, e.g. `payment.Declined`.
    pub error_type: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Optional details (a stack trace, a JSON document rendered as text).
    #[serde(default)]
    pub details: Option<String>,
}

impl ErrorInfo {
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorInfo {
            error_type: error_type.into(),
            message: message.into(),
            details: None,
        }
    }

    /// Whether `pattern` names this error's type or one of its ancestors (`*` names all).
    pub fn is_a(&self, pattern: &str) -> bool {
        type_matches(pattern, &self.error_type)
    }

    /// Whether any of `patterns` names this error's type or an ancestor.
    pub fn matches_any(&self, patterns: &[String]) -> bool {
        patterns.iter().any(|p| self.is_a(p))
    }
}

/// `pattern` matches `error_type` exactly, as a dotted ancestor, or as `*`.
pub fn type_matches(pattern: &str, error_type: &str) -> bool {
    pattern == "*"
        || pattern == error_type
        || (error_type.len() > pattern.len()
            && error_type.starts_with(pattern)
            && error_type.as_bytes()[pattern.len()] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_type_its_ancestors_and_star() {
        let e = ErrorInfo::new("payment.Declined", "no funds");
        assert!(e.is_a("payment.Declined"));
        assert!(e.is_a("payment"));
        assert!(e.is_a("*"));
        assert!(!e.is_a("pay"));
        assert!(!e.is_a("payment.Declined.Hard"));
        assert!(!e.matches_any(&[]));
    }
}
