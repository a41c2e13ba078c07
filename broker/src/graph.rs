//! The promise graph: which tasks wait on which promises.
//!
//! Only the reverse edges are stored: for each unresolved promise, the tasks waiting on
//! it. Resolving a promise removes its entry and returns its dependents, so a release
//! costs O(dependents), never a scan. A waiting task keeps the count of promises it
//! still misses; at zero it is ready.
//!
//! Two kinds of edge exist: an *argument* edge (a task needs the promise's value) and a
//! *forward* edge (a decider returned this promise as its own result, so its promise
//! resolves with the same resolution).

use crate::model::TaskId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Why a task is listed under a promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Edge {
    /// The task takes (or @Wait-s for) the promise.
    Awaits(TaskId),
    /// The task's own promise resolves with this one.
    Forwards(TaskId),
}

/// What resolving one promise changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Tasks whose last missing promise this was: ready now.
    pub ready: Vec<TaskId>,
    /// Tasks that still miss other promises but took this one.
    pub still_waiting: Vec<TaskId>,
    /// Tasks whose promise resolves with this one (forward edges).
    pub forwarded: Vec<TaskId>,
}

/// Reverse edges and missing-counts of the promise graph.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct PromiseGraph {
    /// Unresolved promise → edges of the tasks waiting on it.
    dependents: HashMap<TaskId, Vec<Edge>>,
    /// Waiting task → how many distinct promises it still misses.
    missing: HashMap<TaskId, u32>,
}

impl PromiseGraph {
    /// Registers `task` as waiting on each of `unresolved` (deduplicated here). Returns
    /// how many promises it misses; zero means ready at once.
    pub fn wait(&mut self, task: TaskId, unresolved: impl IntoIterator<Item = TaskId>) -> u32 {
        let mut count = 0;
        let mut seen: Vec<TaskId> = Vec::new();
        for p in unresolved {
            if seen.contains(&p) {
                continue;
            }
            seen.push(p);
            self.dependents
                .entry(p)
                .or_default()
                .push(Edge::Awaits(task));
            count += 1;
        }
        if count > 0 {
            self.missing.insert(task, count);
        }
        count
    }

    /// Registers that `task`'s promise resolves when `promise` does.
    pub fn forward(&mut self, task: TaskId, promise: TaskId) {
        self.dependents
            .entry(promise)
            .or_default()
            .push(Edge::Forwards(task));
    }

    /// Marks `promise` resolved; returns who became ready or is forwarded.
    pub fn resolve(&mut self, promise: TaskId) -> Resolved {
        let mut out = Resolved::default();
        for edge in self.dependents.remove(&promise).unwrap_or_default() {
            match edge {
                Edge::Forwards(t) => out.forwarded.push(t),
                Edge::Awaits(t) => match self.missing.get_mut(&t) {
                    Some(n) if *n > 1 => {
                        *n -= 1;
                        out.still_waiting.push(t);
                    }
                    Some(_) => {
                        self.missing.remove(&t);
                        out.ready.push(t);
                    }
                    None => {}
                },
            }
        }
        out
    }

    /// How many promises `task` still misses.
    pub fn missing(&self, task: &TaskId) -> u32 {
        self.missing.get(task).copied().unwrap_or(0)
    }

    /// Who waits on `promise` (for the console's dependency edges).
    pub fn dependents_of(&self, promise: &TaskId) -> &[Edge] {
        self.dependents
            .get(promise)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Forgets `task` as a waiter (used when a process is deleted). O(its promises)
    /// given the list of promises it waited on.
    pub fn forget(&mut self, task: &TaskId, promises: impl IntoIterator<Item = TaskId>) {
        self.missing.remove(task);
        for p in promises {
            if let Some(edges) = self.dependents.get_mut(&p) {
                edges.retain(|e| !matches!(e, Edge::Awaits(t) | Edge::Forwards(t) if t == task));
                if edges.is_empty() {
                    self.dependents.remove(&p);
                }
            }
        }
        self.dependents.remove(task);
    }

    /// Number of unresolved promises that someone waits on.
    pub fn pending_promises(&self) -> usize {
        self.dependents.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids<const N: usize>() -> [TaskId; N] {
        std::array::from_fn(|_| TaskId::random())
    }

    #[test]
    fn a_task_is_ready_when_its_last_promise_resolves() {
        let [a, b, sum] = ids();
        let mut g = PromiseGraph::default();
        assert_eq!(g.wait(sum, [a, b]), 2);
        let r = g.resolve(a);
        assert_eq!(r.ready, vec![]);
        assert_eq!(r.still_waiting, vec![sum]);
        assert_eq!(g.missing(&sum), 1);
        assert_eq!(g.resolve(b).ready, vec![sum]);
        assert_eq!(g.missing(&sum), 0);
        assert_eq!(g.pending_promises(), 0);
    }

    #[test]
    fn the_same_promise_twice_counts_once() {
        let [a, t] = ids();
        let mut g = PromiseGraph::default();
        assert_eq!(g.wait(t, [a, a]), 1);
        assert_eq!(g.resolve(a).ready, vec![t]);
    }

    #[test]
    fn no_promises_means_ready_at_once() {
        let [t] = ids();
        let mut g = PromiseGraph::default();
        assert_eq!(g.wait(t, []), 0);
        assert_eq!(g.missing(&t), 0);
    }

    #[test]
    fn forward_edges_are_reported_separately() {
        let [child, decider, other] = ids();
        let mut g = PromiseGraph::default();
        g.forward(decider, child);
        g.wait(other, [child]);
        let r = g.resolve(child);
        assert_eq!(r.forwarded, vec![decider]);
        assert_eq!(r.ready, vec![other]);
        // Resolving again is a no-op: the entry is gone.
        assert_eq!(g.resolve(child), Resolved::default());
    }

    #[test]
    fn forget_removes_a_waiter_everywhere() {
        let [a, b, t, u] = ids();
        let mut g = PromiseGraph::default();
        g.wait(t, [a, b]);
        g.wait(u, [a]);
        g.forget(&t, [a, b]);
        assert_eq!(g.missing(&t), 0);
        assert_eq!(g.dependents_of(&a), &[Edge::Awaits(u)]);
        assert!(g.dependents_of(&b).is_empty());
    }
}
