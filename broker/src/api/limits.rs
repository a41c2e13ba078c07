//! Input limits checked at the edge, before anything reaches the log: each gives a
//! clear 4xx instead of an oversized entry or a deep recursion later.

use super::ApiError;
use crate::model::{Arg, Decision, Outcome, TaskSpec};
use crate::state_machine::{MAX_ARG_DEPTH, MAX_TASKS_PER_DECISION};

/// Deepest nesting of arrays and objects inside one JSON value (an argument or a
/// result). The broker never parses values, but its clients do, and serde_json refuses
/// deeper documents: such a value would be accepted here and fail in every actor.
pub const MAX_VALUE_DEPTH: usize = 128;

/// The deepest JSON value anywhere in an argument.
fn deepest_value(a: &Arg) -> usize {
    match a {
        Arg::Value(v) => v.depth(),
        Arg::Promise { .. } => 0,
        Arg::Array(items) => items.iter().map(deepest_value).max().unwrap_or(0),
    }
}

/// Configurable limits of one node.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a handed-out task stays leased.
    pub lease_ms: u64,
    /// Longest extension one heartbeat may ask for (a task's timeout bounds it too).
    pub max_heartbeat_extend_ms: u64,
    /// Most tasks one poll returns.
    pub max_poll_tasks: u32,
    /// Longest long-poll wait.
    pub max_poll_wait_ms: u64,
    /// Largest request body (HTTP 413 beyond).
    pub max_body_bytes: usize,
    /// Longest method name, custom id or error type.
    pub max_name_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            lease_ms: 60_000,
            max_heartbeat_extend_ms: 600_000,
            max_poll_tasks: 1_000,
            max_poll_wait_ms: 60_000,
            max_body_bytes: 8 * 1024 * 1024,
            max_name_bytes: 256,
        }
    }
}

impl Limits {
    /// Checks one task spec's names and argument nesting.
    pub fn check_task(&self, spec: &TaskSpec) -> Result<(), ApiError> {
        if spec.method.is_empty() {
            return Err(ApiError::invalid(format!(
                "task {}: method is empty",
                spec.task_id
            )));
        }
        if spec.method.len() > self.max_name_bytes {
            return Err(ApiError::invalid(format!(
                "task {}: method name is longer than {} bytes",
                spec.task_id, self.max_name_bytes
            )));
        }
        if spec.args.iter().any(|a| a.depth() > MAX_ARG_DEPTH) {
            return Err(ApiError::invalid(format!(
                "task {}: arguments nest deeper than {MAX_ARG_DEPTH} levels",
                spec.task_id
            )));
        }
        if spec.args.iter().any(|a| deepest_value(a) > MAX_VALUE_DEPTH) {
            return Err(ApiError::invalid(format!(
                "task {}: an argument value nests deeper than {MAX_VALUE_DEPTH} levels",
                spec.task_id
            )));
        }
        if spec
            .options
            .accept_fail
            .iter()
            .any(|t| t.len() > self.max_name_bytes)
        {
            return Err(ApiError::invalid(format!(
                "task {}: an accepted fail type is too long",
                spec.task_id
            )));
        }
        Ok(())
    }

    /// Checks a decision before it is proposed.
    pub fn check_decision(&self, d: &Decision) -> Result<(), ApiError> {
        if d.tasks.len() > MAX_TASKS_PER_DECISION {
            return Err(ApiError::invalid(format!(
                "a decision may spawn at most {MAX_TASKS_PER_DECISION} tasks"
            )));
        }
        if let Outcome::Value(v) = &d.outcome {
            if v.depth() > MAX_VALUE_DEPTH {
                return Err(ApiError::invalid(format!(
                    "the result value nests deeper than {MAX_VALUE_DEPTH} levels"
                )));
            }
        }
        if let Outcome::Error(e) = &d.outcome {
            if e.error_type.is_empty() || e.error_type.len() > self.max_name_bytes {
                return Err(ApiError::invalid(
                    "error_type must be non-empty and at most 256 bytes",
                ));
            }
        }
        d.tasks.iter().try_for_each(|t| self.check_task(t))
    }
}
