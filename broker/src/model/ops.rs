//! Request and answer bodies of process operations (`/api/v1/broken…`,
//! `/api/v1/processes/{delete,abort}`): broken-process listings, selections of
//! processes and what a bulk operation did.

use super::{ActorId, BrokenInfo, Millis, ProcessId, TaskId};
use serde::{Deserialize, Serialize};

/// Prefix filters over broken processes: each given, non-empty key must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokenFilter {
    /// Prefix of the error type the process broke with.
    #[serde(default)]
    pub error_type: Option<String>,
    /// Prefix of the actor whose task broke the process.
    #[serde(default)]
    pub actor: Option<String>,
    /// Prefix of the actor that started the process (its start decider).
    #[serde(default)]
    pub starter: Option<String>,
}

impl BrokenFilter {
    /// Whether no key is given (or every given key is empty).
    pub fn is_empty(&self) -> bool {
        [&self.error_type, &self.actor, &self.starter]
            .iter()
            .all(|k| k.as_deref().is_none_or(str::is_empty))
    }

    /// Whether a broken process with this error type, broken actor and starter matches.
    pub fn matches(&self, error_type: &str, actor: &ActorId, starter: &ActorId) -> bool {
        fn ok(prefix: &Option<String>, s: &str) -> bool {
            prefix.as_deref().is_none_or(|p| s.starts_with(p))
        }
        ok(&self.error_type, error_type)
            && ok(&self.actor, actor.as_str())
            && ok(&self.starter, starter.as_str())
    }
}

/// One broken process in `GET /api/v1/broken`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokenProcess {
    pub process_id: ProcessId,
    pub custom_id: Option<String>,
    pub starter: ActorId,
    pub started_at: Millis,
    pub broken: BrokenInfo,
}

/// A page of broken processes, most recently broken first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokenList {
    pub total: usize,
    pub items: Vec<BrokenProcess>,
}

/// What broken processes are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    ErrorType,
    Actor,
    Starter,
}

/// Broken processes sharing one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokenGroup {
    pub key: String,
    pub count: usize,
    /// The first (most recently broken) [`MAX_GROUP_IDS`] of them.
    pub process_ids: Vec<ProcessId>,
}

/// Most process ids listed per group.
pub const MAX_GROUP_IDS: usize = 100;

/// `GET /api/v1/broken/groups`: groups sorted by count, largest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokenGroups {
    pub groups: Vec<BrokenGroup>,
}

/// Which processes a bulk call acts on: explicit ids, or a filter over broken ones.
/// Exactly one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    #[serde(default)]
    pub process_ids: Option<Vec<ProcessId>>,
    #[serde(default)]
    pub filter: Option<BrokenFilter>,
}

impl Selection {
    /// These processes.
    pub fn ids(ids: impl IntoIterator<Item = ProcessId>) -> Self {
        Selection {
            process_ids: Some(ids.into_iter().collect()),
            filter: None,
        }
    }

    /// The broken processes matching `filter`.
    pub fn filter(filter: BrokenFilter) -> Self {
        Selection {
            process_ids: None,
            filter: Some(filter),
        }
    }
}

/// One task a restart would re-run, with the attempt it would get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestartTask {
    pub process_id: ProcessId,
    pub task_id: TaskId,
    pub actor_id: ActorId,
    pub method: String,
    pub attempt: u32,
}

/// `POST /api/v1/broken/restart/preview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestartPreview {
    pub tasks: Vec<RestartTask>,
}

/// `POST /api/v1/broken/restart`: the processes restarted; `skipped` selected ones
/// were not broken (any more) or had nothing to re-run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestartAnswer {
    pub restarted: usize,
    pub process_ids: Vec<ProcessId>,
    #[serde(default)]
    pub skipped: usize,
}

/// `POST /api/v1/processes/delete`; `skipped` selected processes had not ended (or
/// were already gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeleteAnswer {
    pub deleted: usize,
    #[serde(default)]
    pub skipped: usize,
}

/// `POST /api/v1/processes/abort`: a selection and an optional reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbortRequest {
    #[serde(default)]
    pub process_ids: Option<Vec<ProcessId>>,
    /// A filter over broken processes (abort a broken group).
    #[serde(default)]
    pub filter: Option<BrokenFilter>,
    /// Why, kept in the process's history (cut to 200 bytes).
    #[serde(default)]
    pub reason: Option<String>,
}

/// What an abort did; `skipped` selected processes had already ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbortAnswer {
    pub aborted: usize,
    #[serde(default)]
    pub skipped: usize,
}
