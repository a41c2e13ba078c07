//! Delayed work: tasks with a future start time and tasks waiting to be retried.
//!
//! A `BTreeSet<(due, task)>` in time order (mini-redis's expiry pattern): the leader's
//! timer loop sleeps until the first entry is due and then proposes one `FireTimers`
//! command carrying its clock; applying it takes every due entry. No periodic scan.

use crate::model::{Millis, TaskId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Pending timers, replicated (they are part of the state machine).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Timers {
    due: BTreeSet<(Millis, TaskId)>,
}

impl Timers {
    /// Arms a timer for `task` at `at`.
    pub fn arm(&mut self, task: TaskId, at: Millis) {
        self.due.insert((at, task));
    }

    /// Disarms `task`'s timer at `at`. Returns whether it was armed.
    pub fn cancel(&mut self, task: TaskId, at: Millis) -> bool {
        self.due.remove(&(at, task))
    }

    /// Removes and returns, in due order, every task due at or before `now`.
    pub fn take_due(&mut self, now: Millis) -> Vec<TaskId> {
        let mut out = Vec::new();
        while let Some(&(at, task)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            out.push(task);
        }
        out
    }

    /// Whether `task`'s timer is armed for `at`.
    pub fn is_armed(&self, task: TaskId, at: Millis) -> bool {
        self.due.contains(&(at, task))
    }

    /// When the next timer is due.
    pub fn next_due(&self) -> Option<Millis> {
        self.due.first().map(|(at, _)| *at)
    }

    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_due_timers_in_time_order_and_keeps_the_rest() {
        let mut t = Timers::default();
        let (a, b, c) = (TaskId::random(), TaskId::random(), TaskId::random());
        t.arm(a, Millis(30));
        t.arm(b, Millis(10));
        t.arm(c, Millis(50));
        assert_eq!(t.next_due(), Some(Millis(10)));
        assert_eq!(t.take_due(Millis(30)), vec![b, a]);
        assert_eq!(t.next_due(), Some(Millis(50)));
        assert!(t.take_due(Millis(49)).is_empty());
        assert!(t.cancel(c, Millis(50)));
        assert!(t.is_empty());
    }
}
