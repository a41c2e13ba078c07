//! The domain vocabulary shared by the broker, the SDK and the wire: ids, tasks,
//! arguments, decisions and deliveries. Every type here serializes both to JSON (the
//! client API) and to bincode (the Raft log and snapshots), so none of them uses serde
//! features bincode cannot read back (untagged/internally tagged enums, skipped fields).

mod decision;
mod delivery;
mod error;
pub mod history;
mod ids;
mod json;
pub mod ops;
mod process;
pub mod schedule;
pub mod schema;
pub mod signal;
mod task;
mod time;
pub mod wire;

pub use decision::{Decision, Outcome};
pub use delivery::{Delivery, ResolvedArg};
pub use error::ErrorInfo;
pub use ids::{ActorId, DeliveryId, IdError, ProcessId, QueueKey, TaskId, TaskList};
pub use json::JsonValue;
pub use process::{BrokenInfo, ProcessState};
pub use task::{Arg, RetryKind, RetryPolicy, TaskKind, TaskOptions, TaskSpec};
pub use time::Millis;
