//! Suslik recipes: runnable examples of Taskurotta's programming model.
//!
//! Each module is one recipe, with its actors (deciders and workers, each under its
//! own `recipes.<recipe>.<Actor>#1` id), the data types they exchange, and a demo
//! batch of processes with their expected results:
//!
//! | module | shows |
//! | --- | --- |
//! | [`hello`] | one decider, one worker, the process result is the worker's result |
//! | [`fanout`] | three parallel calls and a fourth over their promises (the bench workload) |
//! | [`priority`] | a separate task list with its own pollers and a higher priority |
//! | [`retry`] | exponential retry policy, max attempts, accepted fails compensated |
//! | [`order`] | a saga with compensations, a delayed step, `no_wait` and `wait_for` |
//! | [`subprocess`] | a decider calling another decider and using its result |
//! | [`signal`] | an external promise resolved through the API, or by its timeout |
//! | [`delayed`] | a process with a start time, a decider step scheduled for a set time |
//! | [`pcollection`] | a nested collection of promises, some failing, passed to a decider step |
//! | [`recursion`] | a decider calling itself asynchronously until done |
//! | [`wait`] | a task waiting for promises it does not take as arguments (`@Wait`) |
//! | [`nowait`] | an argument the task does not wait for; the process finishes after it |
//! | [`heartbeat`] | a long worker task kept with heartbeats, never handed out twice |
//! | [`scheduled`] | a schedule starting processes on an interval and on demand |
//!
//! A container (the bootstrap) runs [`workers`] and [`deciders`], plus pollers for
//! each pair of [`task_lists`]; then [`Recipe::run`] starts a recipe's demo processes
//! through a [`ProcessClient`](suslik_client::ProcessClient) and checks their results:
//!
//! ```no_run
//! use std::time::Duration;
//! use suslik_client::{Actor, ActorRunner, HttpTransport, ProcessClient, TaskList};
//!
//! # async fn demo() -> Result<(), suslik_client::Error> {
//! let transport = HttpTransport::new(["127.0.0.1:7070"])?;
//! let workers = suslik_recipes::workers();
//! let mut runner = ActorRunner::new(transport.clone());
//! // The extra task lists, served by the same worker instances.
//! for (actor, list) in suslik_recipes::task_lists() {
//!     if let Some(w) = workers.iter().find(|w| w.actor_id() == actor) {
//!         runner = runner.actor(Actor::Worker(w.clone()), list);
//!     }
//! }
//! for w in workers {
//!     runner = runner.actor(Actor::Worker(w), TaskList::default_list());
//! }
//! for d in suslik_recipes::deciders() {
//!     runner = runner.actor(Actor::Decider(d), TaskList::default_list());
//! }
//! let running = runner.start();
//! let processes = ProcessClient::new(transport);
//! for recipe in suslik_recipes::all() {
//!     let report = recipe.run(&processes, Duration::from_secs(30)).await?;
//!     print!("{report}");
//! }
//! running.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod actors;
mod check;
pub mod delayed;
pub mod fanout;
pub mod heartbeat;
pub mod hello;
pub mod nowait;
pub mod order;
pub mod pcollection;
pub mod priority;
mod recipe;
pub mod recursion;
pub mod retry;
pub mod scheduled;
pub mod signal;
pub mod subprocess;
#[cfg(test)]
mod test_support;
pub mod wait;

pub use recipe::{all, Recipe, RecipeReport};

use std::sync::Arc;
use suslik_client::{ActorId, Decider, TaskList, Worker};

/// Every worker actor of every recipe (one instance each; they keep no state that
/// ties them to one broker, so the same set may serve several).
pub fn workers() -> Vec<Arc<dyn Worker>> {
    let mut all = Vec::new();
    all.extend(hello::workers());
    all.extend(fanout::workers());
    all.extend(priority::workers());
    all.extend(retry::workers());
    all.extend(order::workers());
    all.extend(subprocess::workers());
    all.extend(signal::workers());
    all.extend(delayed::workers());
    all.extend(pcollection::workers());
    all.extend(recursion::workers());
    all.extend(nowait::workers());
    all.extend(heartbeat::workers());
    all.extend(scheduled::workers());
    all.extend(wait::workers());
    all
}

/// Every decider actor of every recipe.
pub fn deciders() -> Vec<Arc<dyn Decider>> {
    let mut all = Vec::new();
    all.extend(hello::deciders());
    all.extend(fanout::deciders());
    all.extend(priority::deciders());
    all.extend(retry::deciders());
    all.extend(order::deciders());
    all.extend(subprocess::deciders());
    all.extend(signal::deciders());
    all.extend(delayed::deciders());
    all.extend(pcollection::deciders());
    all.extend(recursion::deciders());
    all.extend(nowait::deciders());
    all.extend(heartbeat::deciders());
    all.extend(scheduled::deciders());
    all.extend(wait::deciders());
    all
}

/// Every non-default (actor, task list) pair the recipes enqueue tasks on. Each needs
/// pollers of its own, besides the actor's pollers on the default list.
pub fn task_lists() -> Vec<(ActorId, TaskList)> {
    priority::task_lists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn actor_ids_are_distinct_and_namespaced_by_recipe() {
        let ids: Vec<String> = workers()
            .iter()
            .map(|w| w.actor_id().to_string())
            .chain(deciders().iter().map(|d| d.actor_id().to_string()))
            .collect();
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        for id in &ids {
            assert!(id.starts_with("recipes."), "{id}");
            assert!(id.ends_with("#1"), "{id}");
        }
    }

    #[test]
    fn task_lists_name_known_workers() {
        let workers: HashSet<String> = workers().iter().map(|w| w.actor_id().to_string()).collect();
        for (actor, list) in task_lists() {
            assert!(workers.contains(actor.as_str()), "{actor}");
            assert_ne!(list, TaskList::default_list());
        }
    }

    #[test]
    fn recipes_have_distinct_names() {
        let names: Vec<&str> = all().iter().map(|r| r.name).collect();
        assert_eq!(
            names,
            [
                "hello",
                "fanout",
                "priority",
                "retry",
                "order",
                "subprocess",
                "signal",
                "delayed",
                "pcollection",
                "recursion",
                "nowait",
                "heartbeat",
                "scheduled",
                "wait"
            ]
        );
    }
}
