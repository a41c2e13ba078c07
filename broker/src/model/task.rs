//! What a task is when it is created: its actor, method, arguments and options.

use super::{ActorId, JsonValue, Millis, TaskId, TaskList};
use serde::{Deserialize, Serialize};

/// Who executes a task and how its result is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// The first task of a process, executed by a decider.
    DeciderStart,
    /// A later decider step (a decider calling itself once promises are ready).
    Decider,
    /// A task for a worker.
    Worker,
    /// An external promise (a signal): never handed out to any actor; an outside caller
    /// resolves it through `POST /api/v1/promises/{task_id}/resolve`, or its timeout does.
    External,
}

/// One argument of a task.
///
/// JSON: `{"value": <any JSON>}`, `{"promise": {"task_id": "…", "no_wait": false}}`,
/// or `{"array": [<Arg>, …]}` (a promise collection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Arg {
    /// A plain value, known when the task was created.
    Value(JsonValue),
    /// The result of another task. Unless `no_wait`, the task is not handed out before
    /// that promise resolves.
    Promise {
        task_id: TaskId,
        #[serde(default)]
        no_wait: bool,
    },
    /// A collection of arguments (e.g. a list of promises).
    #[schema(no_recursion)]
    Array(Vec<Arg>),
}

/// In JSON an argument that is not one of its three shapes (`"args": [0]`) is refused
/// with the shapes it may take, and an object with a second key or an unknown one says
/// so; serde's derive would answer "expected value", which reads like a syntax error.
/// Binary formats (snapshots, the Raft log) decode exactly as the derive does.
impl<'de> Deserialize<'de> for Arg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            d.deserialize_any(arg_json::ArgVisitor)
        } else {
            arg_json::BinaryArg::deserialize(d).map(Arg::from)
        }
    }
}

mod arg_json {
    use super::{Arg, JsonValue, TaskId};
    use serde::de::{self, IgnoredAny, MapAccess, Visitor};
    use serde::Deserialize;
    use std::fmt;

    /// The derive's layout, for binary formats.
    #[derive(Deserialize)]
    #[serde(rename = "Arg", rename_all = "snake_case")]
    pub(super) enum BinaryArg {
        Value(JsonValue),
        Promise {
            task_id: TaskId,
            #[serde(default)]
            no_wait: bool,
        },
        Array(Vec<Arg>),
    }

    impl From<BinaryArg> for Arg {
        fn from(a: BinaryArg) -> Arg {
            match a {
                BinaryArg::Value(v) => Arg::Value(v),
                BinaryArg::Promise { task_id, no_wait } => Arg::Promise { task_id, no_wait },
                BinaryArg::Array(items) => Arg::Array(items),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(field_identifier, rename_all = "snake_case")]
    enum Kind {
        Value,
        Promise,
        Array,
    }

    #[derive(Deserialize)]
    struct Promise {
        task_id: TaskId,
        #[serde(default)]
        no_wait: bool,
    }

    const SHAPES: &str = r#"an argument: {"value": <any JSON>}, {"promise": {"task_id": "<uuid>", "no_wait": false}} or {"array": [<argument>, …]}"#;

    pub(super) struct ArgVisitor;

    impl<'de> Visitor<'de> for ArgVisitor {
        type Value = Arg;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(SHAPES)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Arg, A::Error> {
            let Some(kind) = map.next_key::<Kind>()? else {
                return Err(de::Error::custom(format!(
                    "an empty object is not {SHAPES}"
                )));
            };
            let arg = match kind {
                Kind::Value => Arg::Value(map.next_value()?),
                Kind::Promise => {
                    let p: Promise = map.next_value()?;
                    Arg::Promise {
                        task_id: p.task_id,
                        no_wait: p.no_wait,
                    }
                }
                Kind::Array => Arg::Array(map.next_value()?),
            };
            if map.next_key::<IgnoredAny>()?.is_some() {
                return Err(de::Error::custom(
                    "an argument has exactly one key: `value`, `promise` or `array`",
                ));
            }
            Ok(arg)
        }
    }
}

impl Arg {
    /// Calls `f` with every promise this argument waits for (nested arrays included,
    /// no-wait promises excluded).
    pub fn for_each_awaited(&self, f: &mut impl FnMut(TaskId)) {
        match self {
            Arg::Value(_) => {}
            Arg::Promise { task_id, no_wait } => {
                if !no_wait {
                    f(*task_id)
                }
            }
            Arg::Array(items) => items.iter().for_each(|a| a.for_each_awaited(f)),
        }
    }

    /// Calls `f` with every promise referenced, awaited or not.
    pub fn for_each_promise(&self, f: &mut impl FnMut(TaskId)) {
        match self {
            Arg::Value(_) => {}
            Arg::Promise { task_id, .. } => f(*task_id),
            Arg::Array(items) => items.iter().for_each(|a| a.for_each_promise(f)),
        }
    }

    /// Nesting depth (a value or promise is 1).
    pub fn depth(&self) -> usize {
        match self {
            Arg::Array(items) => 1 + items.iter().map(Arg::depth).max().unwrap_or(0),
            _ => 1,
        }
    }

    /// Bytes of JSON values held (for size limits).
    pub fn value_bytes(&self) -> usize {
        match self {
            Arg::Value(v) => v.len(),
            Arg::Promise { .. } => 16,
            Arg::Array(items) => items.iter().map(Arg::value_bytes).sum(),
        }
    }
}

/// How retries are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryKind {
    /// `initial_interval_ms * attempt`.
    Linear,
    /// `initial_interval_ms * backoff_coefficient^(attempt-1)`.
    #[default]
    Exponential,
}

/// When and how often a failed task is tried again (see [`crate::retry`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryPolicy {
    #[serde(default)]
    pub kind: RetryKind,
    /// Delay before the first retry.
    #[serde(default = "default_initial_interval")]
    pub initial_interval_ms: u64,
    /// Growth factor for exponential retries.
    #[serde(default = "default_backoff")]
    pub backoff_coefficient: f64,
    /// Upper bound of one delay.
    #[serde(default = "default_max_interval")]
    pub max_interval_ms: u64,
    /// Total attempts including the first; 0 means unlimited.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Error types (or ancestors) never retried.
    #[serde(default)]
    pub non_retryable: Vec<String>,
}

fn default_initial_interval() -> u64 {
    1_000
}
fn default_backoff() -> f64 {
    2.0
}
fn default_max_interval() -> u64 {
    60_000
}
fn default_max_attempts() -> u32 {
    3
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            kind: RetryKind::Exponential,
            initial_interval_ms: default_initial_interval(),
            backoff_coefficient: default_backoff(),
            max_interval_ms: default_max_interval(),
            max_attempts: default_max_attempts(),
            non_retryable: Vec::new(),
        }
    }
}

impl Eq for RetryPolicy {}

/// Scheduling and failure options of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct TaskOptions {
    /// The actor's task list to enqueue on (default list if absent).
    #[serde(default)]
    pub task_list: TaskList,
    /// Higher runs first within a queue.
    #[serde(default)]
    pub priority: i32,
    /// Not handed out before this time.
    #[serde(default)]
    pub start_at: Option<Millis>,
    /// Retry policy for error releases; none means an error is final at once.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    /// Error types (or ancestors) the caller accepts: such an error resolves the
    /// promise with the error instead of breaking the process (AcceptFail).
    #[serde(default)]
    pub accept_fail: Vec<String>,
    /// Extra promises to wait for without taking them as arguments (@Wait).
    #[serde(default)]
    pub wait_for: Vec<TaskId>,
    /// Per-task timeout in milliseconds: a worker task not released this long after
    /// it was handed out fails with `suslik.Timeout` (retry policy applies); an external
    /// promise not resolved this long after it was created resolves with that error.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A task as a decider (or a process start) asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskSpec {
    /// Minted by the caller, so that other tasks of the same decision can reference it.
    pub task_id: TaskId,
    pub actor_id: ActorId,
    pub method: String,
    pub kind: TaskKind,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub options: TaskOptions,
}

impl TaskSpec {
    /// Calls `f` with every promise the task waits for: awaited arguments and `wait_for`.
    pub fn for_each_dependency(&self, f: &mut impl FnMut(TaskId)) {
        self.args.iter().for_each(|a| a.for_each_awaited(f));
        self.options.wait_for.iter().copied().for_each(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promise(no_wait: bool) -> (TaskId, Arg) {
        let id = TaskId::random();
        (
            id,
            Arg::Promise {
                task_id: id,
                no_wait,
            },
        )
    }

    #[test]
    fn awaited_promises_skip_no_wait_and_descend_into_arrays() {
        let (a, pa) = promise(false);
        let (_b, pb) = promise(true);
        let (c, pc) = promise(false);
        let arg = Arg::Array(vec![pa, Arg::Array(vec![pb, pc])]);
        let mut seen = vec![];
        arg.for_each_awaited(&mut |t| seen.push(t));
        assert_eq!(seen, vec![a, c]);
        let mut all = 0;
        arg.for_each_promise(&mut |_| all += 1);
        assert_eq!(all, 3);
        assert_eq!(arg.depth(), 3);
    }

    #[test]
    fn arg_json_shape() {
        let id = TaskId::random();
        let json =
            format!(r#"[{{"value":{{"x":1}}}},{{"promise":{{"task_id":"{id}"}}}},{{"array":[]}}]"#);
        let args: Vec<Arg> = serde_json::from_str(&json).unwrap();
        assert_eq!(
            args[1],
            Arg::Promise {
                task_id: id,
                no_wait: false
            }
        );
        let bin = bincode::serialize(&args).unwrap();
        assert_eq!(bincode::deserialize::<Vec<Arg>>(&bin).unwrap(), args);
    }

    #[test]
    fn spec_defaults_fill_missing_options() {
        let id = TaskId::random();
        let json = format!(r#"{{"task_id":"{id}","actor_id":"w#1","method":"m","kind":"worker"}}"#);
        let spec: TaskSpec = serde_json::from_str(&json).unwrap();
        assert!(spec.options.task_list.is_default());
        assert!(spec.args.is_empty());
        let bin = bincode::serialize(&spec).unwrap();
        assert_eq!(bincode::deserialize::<TaskSpec>(&bin).unwrap(), spec);
    }
}
