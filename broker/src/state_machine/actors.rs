//! How many tasks each actor has on each task list, kept as tasks enter and leave the
//! state, so the console's Actors view (refreshed every few seconds while open) costs
//! O(actors × task lists) instead of a walk over every task under the state lock.
//!
//! Derived like the ready queues: never serialized, rebuilt from the tasks on restore.

use crate::model::{ActorId, TaskList};
use std::collections::BTreeMap;

/// Task counts per actor and task list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ActorIndex {
    by_actor: BTreeMap<ActorId, BTreeMap<TaskList, usize>>,
}

impl ActorIndex {
    /// A task of `actor` on `list` entered the state.
    pub fn add(&mut self, actor: &ActorId, list: &TaskList) {
        let lists = match self.by_actor.get_mut(actor) {
            Some(lists) => lists,
            None => self.by_actor.entry(actor.clone()).or_default(),
        };
        match lists.get_mut(list) {
            Some(n) => *n += 1,
            None => {
                lists.insert(list.clone(), 1);
            }
        }
    }

    /// A task of `actor` on `list` left the state (garbage collection, delete).
    pub fn remove(&mut self, actor: &ActorId, list: &TaskList) {
        let Some(lists) = self.by_actor.get_mut(actor) else {
            return;
        };
        if let Some(n) = lists.get_mut(list) {
            *n -= 1;
            if *n == 0 {
                lists.remove(list);
            }
        }
        if lists.is_empty() {
            self.by_actor.remove(actor);
        }
    }

    /// Every actor with tasks, sorted, with its task lists and their task counts.
    pub fn iter(&self) -> impl Iterator<Item = (&ActorId, &BTreeMap<TaskList, usize>)> {
        self.by_actor.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(s: &str) -> ActorId {
        s.parse().unwrap()
    }

    fn list(s: &str) -> TaskList {
        TaskList::new(s).unwrap()
    }

    #[test]
    fn counts_follow_tasks_in_and_out_and_empty_entries_vanish() {
        let mut index = ActorIndex::default();
        let a = actor("shop.Worker#1");
        index.add(&a, &list(""));
        index.add(&a, &list(""));
        index.add(&a, &list("slow"));
        index.add(&actor("shop.Decider#1"), &list(""));
        let seen: Vec<(String, Vec<(String, usize)>)> = index
            .iter()
            .map(|(a, lists)| {
                (
                    a.to_string(),
                    lists
                        .iter()
                        .map(|(l, n)| (l.as_str().to_string(), *n))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("shop.Decider#1".to_string(), vec![(String::new(), 1)]),
                (
                    "shop.Worker#1".to_string(),
                    vec![(String::new(), 2), ("slow".to_string(), 1)]
                ),
            ]
        );
        index.remove(&a, &list("slow"));
        index.remove(&a, &list(""));
        index.remove(&a, &list(""));
        index.remove(&a, &list("")); // more removals than adds change nothing
        assert_eq!(index.iter().count(), 1, "the worker's entry is gone");
    }
}
