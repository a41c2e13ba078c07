//! API errors: one JSON shape, `{"error": code, "message": text}`, with the status code
//! that says what went wrong (400 invalid, 404 unknown, 409 conflict, 413 too large,
//! 503 no leader).

use crate::leader::ProposeError;
use crate::model::wire::ErrorBody;
use crate::state_machine::CommandError;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: code.to_string(),
                message: message.into(),
            },
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(400, "invalid", message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(404, code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status, self.body.error, self.body.message
        )
    }
}

impl std::error::Error for ApiError {}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match &e {
            CommandError::UnknownTask(_) => ApiError::not_found("unknown_task", e.to_string()),
            CommandError::UnknownProcess(_) => {
                ApiError::not_found("unknown_process", e.to_string())
            }
            CommandError::UnknownSchedule(_) => {
                ApiError::not_found("unknown_schedule", e.to_string())
            }
            CommandError::Conflict(_) => ApiError::new(409, "conflict", e.to_string()),
            CommandError::ProcessAborted(_) => ApiError::new(409, "process_aborted", e.to_string()),
            CommandError::Invalid(_) => ApiError::invalid(e.to_string()),
            CommandError::AlreadyReleased(_) => {
                ApiError::new(409, "already_released", e.to_string())
            }
        }
    }
}

impl From<ProposeError> for ApiError {
    fn from(e: ProposeError) -> Self {
        match &e {
            ProposeError::NotLeader { .. } => ApiError::new(503, "no_leader", e.to_string()),
            ProposeError::Unavailable(_) => ApiError::new(503, "unavailable", e.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let (status, code) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (413, "payload_too_large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (415, "unsupported_media_type"),
            StatusCode::UNPROCESSABLE_ENTITY => (400, "invalid"),
            _ if status.is_client_error() => (400, "malformed_json"),
            _ => (500, "internal"),
        };
        ApiError::new(status, code, r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body)).into_response()
    }
}
