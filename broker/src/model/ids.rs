//! Typed identifiers: a task id is never confused with a process id, and an actor id
//! is validated once at the edge (`name#version`) instead of everywhere it is used.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

/// Longest accepted actor id or task list name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("actor id {0:?} must look like name#version (both parts non-empty, no spaces)")]
    BadActorId(String),
    #[error("name {0:?} is longer than {MAX_NAME_LEN} bytes")]
    TooLong(String),
    #[error("task list {0:?} may contain only letters, digits and - _ . : /")]
    BadTaskList(String),
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                $name(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

uuid_id!(
    /// Identifies one task (and its promise) across the cluster. Deciders mint ids for
    /// the tasks they spawn, so a decision can reference a promise before it is stored.
    TaskId
);
uuid_id!(
    /// Identifies one process: the tree of tasks grown from one start task.
    ProcessId
);
uuid_id!(
    /// Identifies one delivery (lease) of a task: minted by the leader at each poll
    /// that hands the task out, so a release or heartbeat from an earlier delivery
    /// (the task was handed to someone else since) can be told apart and refused.
    DeliveryId
);

/// An actor's identity, `name#version`, e.g. `billing.Charge#1.0`.
///
/// Cheap to clone (shared string): queue keys and tasks hold many copies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ActorId(Arc<str>);

impl ActorId {
    /// Parses and validates `name#version`.
    pub fn new(s: &str) -> Result<Self, IdError> {
        if s.len() > MAX_NAME_LEN {
            return Err(IdError::TooLong(s.chars().take(32).collect()));
        }
        let ok = match s.split_once('#') {
            Some((name, version)) => {
                !name.is_empty()
                    && !version.is_empty()
                    && !version.contains('#')
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if ok {
            Ok(ActorId(Arc::from(s)))
        } else {
            Err(IdError::BadActorId(s.to_string()))
        }
    }

    /// The name part (before `#`).
    pub fn name(&self) -> &str {
        self.0.split_once('#').map(|(n, _)| n).unwrap_or(&self.0)
    }

    /// The version part (after `#`).
    pub fn version(&self) -> &str {
        self.0.split_once('#').map(|(_, v)| v).unwrap_or("")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ActorId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActorId::new(s)
    }
}

impl<'de> Deserialize<'de> for ActorId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ActorId::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A named sub-queue of an actor (Taskurotta's task list). The empty name is the
/// default list; a separate list lets dedicated pollers serve, e.g., urgent work.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(transparent)]
pub struct TaskList(Arc<str>);

impl TaskList {
    pub fn new(s: &str) -> Result<Self, IdError> {
        if s.len() > MAX_NAME_LEN {
            return Err(IdError::TooLong(s.chars().take(32).collect()));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c))
        {
            return Err(IdError::BadTaskList(s.to_string()));
        }
        Ok(TaskList(Arc::from(s)))
    }

    /// The default task list (empty name).
    pub fn default_list() -> Self {
        TaskList(Arc::from(""))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for TaskList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(default)")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for TaskList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TaskList::new(&s).map_err(serde::de::Error::custom)
    }
}

/// One ready queue: an actor's tasks on one task list.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct QueueKey {
    pub actor_id: ActorId,
    pub task_list: TaskList,
}

impl QueueKey {
    pub fn new(actor_id: ActorId, task_list: TaskList) -> Self {
        QueueKey {
            actor_id,
            task_list,
        }
    }
}

impl fmt::Display for QueueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.actor_id, self.task_list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_id_needs_name_and_version() {
        assert!(ActorId::new("billing.Charge#1.0").is_ok());
        assert_eq!(ActorId::new("a#1").unwrap().name(), "a");
        assert_eq!(ActorId::new("a#1").unwrap().version(), "1");
        for bad in ["", "a", "#1", "a#", "a#1#2", "a b#1", "a#1\n"] {
            assert!(ActorId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ActorId::new(&format!("{}#1", "x".repeat(300))).is_err());
    }

    #[test]
    fn task_list_is_a_plain_name() {
        assert!(TaskList::new("").unwrap().is_default());
        assert!(TaskList::new("urgent-1").is_ok());
        assert!(TaskList::new("has space").is_err());
    }

    #[test]
    fn ids_round_trip_through_json_and_bincode() {
        let a = ActorId::new("w#1").unwrap();
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, "\"w#1\"");
        assert_eq!(serde_json::from_str::<ActorId>(&j).unwrap(), a);
        assert!(serde_json::from_str::<ActorId>("\"nohash\"").is_err());
        let b = bincode::serialize(&a).unwrap();
        assert_eq!(bincode::deserialize::<ActorId>(&b).unwrap(), a);
        let t = TaskId::random();
        let b = bincode::serialize(&t).unwrap();
        assert_eq!(bincode::deserialize::<TaskId>(&b).unwrap(), t);
    }
}
