//! `nowait`: an argument the task does not wait for.
//!
//! Taskurotta's `nowait` recipe (`NO_WAIT` arguments). A document is archived (slow)
//! and acknowledged (fast). The acknowledgement takes the archive's promise as a
//! *no-wait* argument: the broker hands the acknowledgement out at once, with the
//! promise as it is then — here still unresolved — instead of holding it until the
//! archive is done. The process's result is the acknowledgement, visible as soon as it
//! is released; the process itself *finishes* only when the archive task is done too
//! (a process with a task still running is not finished).
//!
//! [`order`](crate::order) uses a no-wait argument in passing; this recipe makes it
//! the point and shows the promise arriving unresolved. To make that certain, the
//! archive finishes only once the acknowledgement has gone out (both workers share an
//! in-memory record of acknowledged documents, within a bounded wait).

use crate::actors;
use crate::check::{ended, Checks, Deadline};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suslik_client::{
    CallOptions, Decider, DeciderBuilder, DeciderContext, Error, ProcessClient, Promise,
    StartOptions, Worker, WorkerBuilder,
};

/// What the recipe shows.
pub const ABOUT: &str = "an acknowledgement that takes a slow archive's promise without \
                         waiting for it; the process finishes when the archive does";
/// The decider; start its processes with method [`START`] and a document name.
pub const DECIDER: &str = "recipes.nowait.Intake#1";
/// The slow worker: `store(doc) -> String`.
pub const ARCHIVE: &str = "recipes.nowait.Archive#1";
/// The fast worker: `acknowledge(doc, archived: no-wait promise) -> Ack`.
pub const CLERK: &str = "recipes.nowait.Clerk#1";
/// The decider's start method: `start(doc: String) -> Ack`.
pub const START: &str = "start";
/// Longest the archive waits for the acknowledgement before storing anyway.
const ARCHIVE_WAIT: Duration = Duration::from_secs(10);

/// What the clerk answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The document acknowledged.
    pub doc: String,
    /// Whether the archive's promise had resolved when the clerk got the task.
    pub archived_yet: bool,
}

/// What the process for `doc` should end with.
pub fn expected(doc: &str) -> Ack {
    Ack {
        doc: doc.to_string(),
        archived_yet: false,
    }
}

/// Documents acknowledged, shared by the two workers.
type Acknowledged = Arc<Mutex<HashSet<String>>>;

fn lock(set: &Acknowledged) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock().unwrap_or_else(|p| p.into_inner())
}

/// Both workers, sharing their record of acknowledged documents.
pub fn workers() -> Vec<Arc<dyn Worker>> {
    let acknowledged: Acknowledged = Arc::default();
    let seen = acknowledged.clone();
    let archive = actors::worker(WorkerBuilder::new(ARCHIVE).method(
        "store",
        move |doc: String| {
            let seen = seen.clone();
            async move {
                let waited = tokio::time::timeout(ARCHIVE_WAIT, async {
                    while !lock(&seen).remove(&doc) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
                .await;
                Ok(match waited {
                    Ok(()) => format!("{doc} archived after its acknowledgement"),
                    Err(_) => format!("{doc} archived (no acknowledgement seen)"),
                })
            }
        },
    ));
    let clerk = actors::worker(WorkerBuilder::new(CLERK).method(
        "acknowledge",
        move |(doc, archived): (String, Promise<String>)| {
            let acknowledged = acknowledged.clone();
            async move {
                let ack = Ack {
                    archived_yet: archived.is_ready(),
                    doc,
                };
                lock(&acknowledged).insert(ack.doc.clone());
                Ok(ack)
            }
        },
    ));
    vec![archive, clerk]
}

/// The decider: `start(doc)` archives and acknowledges; the acknowledgement does not
/// wait for the archive.
pub fn decider() -> Arc<dyn Decider> {
    actors::decider(DeciderBuilder::new(DECIDER).method(
        START,
        |ctx: DeciderContext, doc: String| async move {
            let archived: Promise<String> =
                ctx.call(ARCHIVE, "store", (doc.clone(),), CallOptions::new());
            let ack: Promise<Ack> = ctx.call(
                CLERK,
                "acknowledge",
                (doc, archived.no_wait()),
                CallOptions::new(),
            );
            Ok(ack)
        },
    ))
}

/// The recipe's deciders.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    vec![decider()]
}

fn describe(a: &Ack) -> String {
    let when = if a.archived_yet {
        "after archiving"
    } else {
        "before archiving"
    };
    format!("{} acknowledged {when}", a.doc)
}

/// Two documents: `invoice-17 → invoice-17 acknowledged before archiving`.
pub(crate) async fn demo(
    processes: &ProcessClient,
    deadline: Deadline,
    checks: &mut Checks,
) -> Result<(), Error> {
    let mut started = Vec::new();
    for doc in ["invoice-17", "contract-4"] {
        let id = processes
            .start(DECIDER, START, (doc,), StartOptions::new())
            .await?;
        started.push((doc, id));
    }
    for (doc, id) in started {
        let actual = ended::<Ack>(processes, id, deadline)
            .await?
            .describe(|a| describe(&a));
        checks.expect(doc, actual, describe(&expected(doc)));
    }
    Ok(())
}
