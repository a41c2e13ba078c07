//! Suslik's bootstrap container: run actors from a config file.
//!
//! Users write workers and deciders with the SDK ([`suslik_client`]); deploying them
//! should take a config file, not a main function full of runner plumbing. This crate
//! is that container (Taskurotta's bootstrap):
//! - [`BootstrapConfig`]: the TOML file (brokers, actors with task list, pollers,
//!   poll wait and batch size, logging, shutdown deadline), with one-line errors;
//! - [`Registry`]: the actors this build implements, by id;
//! - [`Container`]: one pool of pollers per configured actor, profiled, with a
//!   graceful [`shutdown`](ContainerHandle::shutdown) under a deadline;
//! - [`profiler`]: the Profiler hook around poll / execute / release, and the
//!   built-in [`TracingProfiler`];
//! - [`diag`]: built-in diagnostic actors.
//!
//! The `suslik-bootstrap` binary adds the recipes' actors and a `demo` command.
//!
//! ```no_run
//! use std::sync::Arc;
//! use suslik_bootstrap::{BootstrapConfig, Container, Registry};
//! use suslik_client::HttpTransport;
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let config = BootstrapConfig::load("config/bootstrap.toml")?;
//! let registry = suslik_bootstrap::diag::registry(); // plus your own actors
//! config.check_actors("config/bootstrap.toml", &registry)?;
//! let transport = HttpTransport::new(&config.servers)?;
//! let deadline = config.shutdown_deadline();
//! let container = Container::start(config, registry, Arc::new(transport))?;
//! suslik_bootstrap::signal::stop_signal().await;
//! let report = container.shutdown(deadline).await;
//! assert!(report.clean);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod container;
pub mod diag;
pub mod logging;
pub mod profiler;
mod registry;
pub mod signal;

pub use config::{ActorConfig, BootstrapConfig, ConfigError, LogFormat, LoggingConfig};
pub use container::{Container, ContainerHandle, ShutdownReport, StartError};
pub use profiler::{NoopProfiler, Profiler, TracingProfiler};
pub use registry::{DuplicateActor, Registry};
