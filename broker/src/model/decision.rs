//! What a release carries: the outcome of one task and the tasks it spawns.

use super::{DeliveryId, ErrorInfo, JsonValue, Millis, ProcessId, TaskId, TaskSpec};
use serde::{Deserialize, Serialize};

/// The outcome of executing a task.
///
/// JSON: `{"value": <any>}`, `{"promise": "<task id>"}` (a decider returning the
/// promise of another task: this task's promise resolves when that one does), or
/// `{"error": {"error_type": "…", "message": "…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Value(JsonValue),
    Promise(TaskId),
    Error(ErrorInfo),
}

/// A release: the result of one delivered task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub task_id: TaskId,
    /// The process, if the client knows it: checked against the task's.
    #[serde(default)]
    pub process_id: Option<ProcessId>,
    pub outcome: Outcome,
    /// New tasks (a decider's decision); their ids must be fresh.
    #[serde(default)]
    pub tasks: Vec<TaskSpec>,
    /// For an error: retry at this time, overriding the task's retry policy.
    #[serde(default)]
    pub restart_at: Option<Millis>,
    /// How long the actor worked, for metrics.
    #[serde(default)]
    pub execution_ms: Option<u64>,
    /// The attempt this release ends (the delivery's `attempt`). A release of an
    /// earlier attempt than the task's current one is a resend: it gets that attempt's
    /// answer back and changes nothing. Absent: the current attempt.
    #[serde(default)]
    pub attempt: Option<u32>,
    /// The delivery this release ends (the delivery's `delivery_id`). While the task
    /// is leased to another delivery the release is refused (`409 stale_delivery`).
    /// Absent: not checked.
    #[serde(default)]
    pub delivery_id: Option<DeliveryId>,
    /// When the released delivery was handed out. Filled in by the leader from its
    /// lease before proposing (a client's value is ignored), for the process history.
    #[serde(default)]
    pub delivered_at: Option<Millis>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_json_shapes() {
        let v: Outcome = serde_json::from_str(r#"{"value":[1,2]}"#).unwrap();
        assert_eq!(v, Outcome::Value(JsonValue::from_text("[1,2]").unwrap()));
        let id = TaskId::random();
        let p: Outcome = serde_json::from_str(&format!(r#"{{"promise":"{id}"}}"#)).unwrap();
        assert_eq!(p, Outcome::Promise(id));
        let e: Outcome =
            serde_json::from_str(r#"{"error":{"error_type":"x.Y","message":"m"}}"#).unwrap();
        assert!(matches!(e, Outcome::Error(ref i) if i.error_type == "x.Y"));
        for o in [v, p, e] {
            let bin = bincode::serialize(&o).unwrap();
            assert_eq!(bincode::deserialize::<Outcome>(&bin).unwrap(), o);
        }
    }
}
