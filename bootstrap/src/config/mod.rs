//! The container's configuration file (TOML).
//!
//! A config names the broker addresses, the actors to serve (each with its own task
//! list, number of pollers, poll wait and batch size), logging, and the shutdown
//! deadline. It is checked in three steps, each failing with one line that names the
//! file and the offending field (see [`ConfigError`]):
//! 1. reading and TOML syntax ([`BootstrapConfig::load`], [`BootstrapConfig::parse`]);
//! 2. shape and values: unknown fields are rejected (`deny_unknown_fields`), actor
//!    ids and task lists are validated as they are decoded, counts must be positive,
//!    an (actor, task list) pair may appear once;
//! 3. against what this build can run ([`BootstrapConfig::check_actors`]) and what
//!    the `run` command needs ([`BootstrapConfig::check_servers`]).
//!
//! ```toml
//! servers = ["127.0.0.1:7700", "127.0.0.1:7701"]
//! # token = "…"      # the broker's actor token; or $SUSLIK_ACTOR_TOKEN
//! shutdown_deadline_ms = 10000
//!
//! [logging]
//! level = "info"      # a tracing filter: "debug", "info,suslik_client=debug", ...
//! format = "text"     # or "json"
//!
//! [[actors]]
//! id = "recipes.Greeter#1"
//! task_list = ""      # optional; "" is the default list
//! pollers = 2
//! poll_wait_ms = 5000
//! max_tasks = 8
//! ```

mod error;
#[cfg(test)]
mod tests;

pub use error::{ConfigError, ConfigErrorKind};

use crate::Registry;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use suslik_client::{ActorId, HttpTransport, TaskList};

/// Default number of concurrent pollers per actor entry.
pub const DEFAULT_POLLERS: usize = 2;
/// Default long-poll wait.
pub const DEFAULT_POLL_WAIT_MS: u64 = 5_000;
/// Default most tasks per poll.
pub const DEFAULT_MAX_TASKS: u32 = 8;
/// Default time in-flight tasks get to finish at shutdown.
pub const DEFAULT_SHUTDOWN_DEADLINE_MS: u64 = 10_000;
/// Most pollers one actor entry may ask for (a typo guard, not a resource limit).
pub const MAX_POLLERS: usize = 1_024;

/// A whole config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Broker addresses (`host:port` or `http://host:port`), in failover order.
    #[serde(default)]
    pub servers: Vec<String>,
    /// The actors to serve: one pool of pollers per entry.
    #[serde(default)]
    pub actors: Vec<ActorConfig>,
    /// Log level and format.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// How long in-flight tasks may run after a stop signal before the container exits.
    #[serde(default = "default_shutdown_deadline_ms")]
    pub shutdown_deadline_ms: u64,
    /// The broker's actor token, when it has tokens (sent as `Authorization: Bearer`).
    /// `$SUSLIK_ACTOR_TOKEN` is used when this is absent, to keep it out of the file.
    #[serde(default)]
    pub token: Option<String>,
}

/// One `[[actors]]` entry: a pool of pollers for one actor on one task list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorConfig {
    /// The actor, `name#version`; must be known to the registry.
    pub id: ActorId,
    /// The task list to poll (`""` or absent: the default list).
    #[serde(default)]
    pub task_list: TaskList,
    /// Concurrent poll loops.
    #[serde(default = "default_pollers")]
    pub pollers: usize,
    /// How long one poll waits on the broker when no task is ready.
    #[serde(default = "default_poll_wait_ms")]
    pub poll_wait_ms: u64,
    /// Most tasks one poll takes (executed concurrently).
    #[serde(default = "default_max_tasks")]
    pub max_tasks: u32,
}

impl ActorConfig {
    /// An entry with default tuning.
    pub fn new(id: ActorId, task_list: TaskList) -> Self {
        ActorConfig {
            id,
            task_list,
            pollers: DEFAULT_POLLERS,
            poll_wait_ms: DEFAULT_POLL_WAIT_MS,
            max_tasks: DEFAULT_MAX_TASKS,
        }
    }

    /// The poll wait as a duration.
    pub fn poll_wait(&self) -> Duration {
        Duration::from_millis(self.poll_wait_ms)
    }
}

/// The `[logging]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// A `tracing` filter: a level (`info`) or directives (`info,suslik_client=debug`).
    /// `RUST_LOG`, when set, wins.
    #[serde(default = "default_level")]
    pub level: String,
    /// Line format.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: default_level(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

fn default_pollers() -> usize {
    DEFAULT_POLLERS
}
fn default_poll_wait_ms() -> u64 {
    DEFAULT_POLL_WAIT_MS
}
fn default_max_tasks() -> u32 {
    DEFAULT_MAX_TASKS
}
fn default_shutdown_deadline_ms() -> u64 {
    DEFAULT_SHUTDOWN_DEADLINE_MS
}
fn default_level() -> String {
    "info".to_string()
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            servers: Vec::new(),
            actors: Vec::new(),
            logging: LoggingConfig::default(),
            shutdown_deadline_ms: DEFAULT_SHUTDOWN_DEADLINE_MS,
            token: None,
        }
    }
}

impl BootstrapConfig {
    /// The token to send: the file's, else `$SUSLIK_ACTOR_TOKEN`, else none.
    pub fn effective_token(&self) -> Option<String> {
        self.token
            .clone()
            .or_else(|| std::env::var("SUSLIK_ACTOR_TOKEN").ok())
            .filter(|t| !t.is_empty())
    }

    /// Reads, parses and validates a config file (not yet against a registry: see
    /// [`check_actors`](Self::check_actors)).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::unreadable(path, &e))?;
        BootstrapConfig::parse(path, &text)
    }

    /// Parses and validates config text; `path` only names the source in errors.
    pub fn parse(path: impl AsRef<Path>, text: &str) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let de =
            toml::Deserializer::parse(text).map_err(|e| ConfigError::syntax(path, text, &e))?;
        let config: BootstrapConfig = serde_path_to_error::deserialize(de)
            .map_err(|e| ConfigError::from_serde(path, text, e))?;
        config.validate(path)?;
        Ok(config)
    }

    /// The shutdown deadline as a duration.
    pub fn shutdown_deadline(&self) -> Duration {
        Duration::from_millis(self.shutdown_deadline_ms)
    }

    /// Value checks serde cannot express.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: String, msg: String| Err(ConfigError::invalid(path, field, msg));
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.logging.level) {
            return invalid(
                "logging.level".into(),
                format!("invalid filter {:?}: {e}", self.logging.level),
            );
        }
        let mut seen: BTreeMap<(&ActorId, &TaskList), usize> = BTreeMap::new();
        for (i, a) in self.actors.iter().enumerate() {
            if a.pollers == 0 || a.pollers > MAX_POLLERS {
                return invalid(
                    format!("actors[{i}].pollers"),
                    format!("must be between 1 and {MAX_POLLERS}, got {}", a.pollers),
                );
            }
            if a.max_tasks == 0 {
                return invalid(
                    format!("actors[{i}].max_tasks"),
                    "must be at least 1".into(),
                );
            }
            if let Some(first) = seen.insert((&a.id, &a.task_list), i) {
                return invalid(
                    format!("actors[{i}]"),
                    format!(
                        "actor {} on task list {} is already configured in actors[{first}]",
                        a.id, a.task_list
                    ),
                );
            }
        }
        Ok(())
    }

    /// Checks that every configured actor is in `registry`. `path` names the file in
    /// the error.
    pub fn check_actors(
        &self,
        path: impl AsRef<Path>,
        registry: &Registry,
    ) -> Result<(), ConfigError> {
        for (i, a) in self.actors.iter().enumerate() {
            if registry.get(&a.id).is_none() {
                let known: Vec<String> = registry.ids().map(ToString::to_string).collect();
                return Err(ConfigError::unknown_actor(
                    path.as_ref(),
                    format!("actors[{i}].id"),
                    &a.id,
                    &known,
                ));
            }
        }
        Ok(())
    }

    /// Checks that there is at least one server and that every address parses.
    pub fn check_servers(&self, path: impl AsRef<Path>) -> Result<(), ConfigError> {
        let path = path.as_ref();
        if self.servers.is_empty() {
            return Err(ConfigError::invalid(
                path,
                "servers".into(),
                "at least one broker address is required".into(),
            ));
        }
        for (i, s) in self.servers.iter().enumerate() {
            if let Err(e) = HttpTransport::new([s]) {
                return Err(ConfigError::invalid(
                    path,
                    format!("servers[{i}]"),
                    e.to_string(),
                ));
            }
        }
        Ok(())
    }
}
