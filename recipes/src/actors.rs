//! Turning builders into the shared actor objects the container runs.
//!
//! Recipe actor ids are constants known to be valid (the crate's unit tests build
//! every actor), so a builder error here is a bug in this crate, not a runtime
//! condition: it panics with the builder's message.

use std::sync::Arc;
use suslik_client::{Decider, DeciderBuilder, Worker, WorkerBuilder};

/// The worker a builder makes.
pub(crate) fn worker(builder: WorkerBuilder) -> Arc<dyn Worker> {
    match builder.build() {
        Ok(w) => Arc::new(w),
        Err(e) => panic!("a recipe worker has an invalid actor id: {e}"),
    }
}

/// The decider a builder makes.
pub(crate) fn decider(builder: DeciderBuilder) -> Arc<dyn Decider> {
    match builder.build() {
        Ok(d) => Arc::new(d),
        Err(e) => panic!("a recipe decider has an invalid actor id: {e}"),
    }
}
