//! Ready queues and leases: the dispatch side of the broker.
//!
//! One queue per (actor, task list), ordered by priority (higher first), then the time
//! the task became ready, then a sequence number (FIFO). A poll moves tasks from their
//! queue into the lease table; a release removes them; an expired lease puts them back.
//!
//! This structure is *derived*: it is rebuilt from the tasks' states when a snapshot is
//! restored, and it is never serialized. Leases exist only on the node that handed the
//! tasks out; when leadership moves, the new leader's queues still hold every ready,
//! unreleased task, so leased-but-unreleased tasks are simply delivered again
//! (at-least-once).

use crate::model::{ActorId, Millis, QueueKey, TaskId, TaskList};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap};

/// A task's place in its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEntry {
    pub priority: i32,
    pub ready_at: Millis,
    pub seq: u64,
    pub task_id: TaskId,
}

impl QueueEntry {
    fn sort_key(&self) -> (Reverse<i32>, Millis, u64, TaskId) {
        (
            Reverse(self.priority),
            self.ready_at,
            self.seq,
            self.task_id,
        )
    }
}

impl Ord for QueueEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for QueueEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where a ready task is right now.
#[derive(Debug, Clone)]
enum Slot {
    Queued(QueueKey, QueueEntry),
    Leased(QueueKey, QueueEntry, Millis),
}

/// All ready queues plus the lease table.
#[derive(Debug, Default)]
pub struct ReadyQueues {
    queues: HashMap<QueueKey, BTreeSet<QueueEntry>>,
    slots: HashMap<TaskId, Slot>,
    /// Lease deadlines in order, for the expiry timer.
    leases: BTreeSet<(Millis, TaskId)>,
}

impl ReadyQueues {
    /// Puts a ready task in its queue. A task already present is left where it is.
    pub fn push(&mut self, key: QueueKey, entry: QueueEntry) {
        if self.slots.contains_key(&entry.task_id) {
            return;
        }
        self.queues.entry(key.clone()).or_default().insert(entry);
        self.slots.insert(entry.task_id, Slot::Queued(key, entry));
    }

    /// Takes up to `max` tasks from the head of `key`'s queue and leases them until
    /// `lease_until`.
    pub fn lease(&mut self, key: &QueueKey, max: usize, lease_until: Millis) -> Vec<TaskId> {
        let Some(queue) = self.queues.get_mut(key) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(max.min(queue.len()));
        while out.len() < max {
            let Some(entry) = queue.pop_first() else {
                break;
            };
            self.slots
                .insert(entry.task_id, Slot::Leased(key.clone(), entry, lease_until));
            self.leases.insert((lease_until, entry.task_id));
            out.push(entry.task_id);
        }
        if queue.is_empty() {
            self.queues.remove(key);
        }
        out
    }

    /// Forgets a task (released, or no longer ready). Returns whether it was present.
    pub fn remove(&mut self, task: &TaskId) -> bool {
        match self.slots.remove(task) {
            Some(Slot::Queued(key, entry)) => {
                if let Some(q) = self.queues.get_mut(&key) {
                    q.remove(&entry);
                    if q.is_empty() {
                        self.queues.remove(&key);
                    }
                }
                true
            }
            Some(Slot::Leased(_, _, until)) => {
                self.leases.remove(&(until, *task));
                true
            }
            None => false,
        }
    }

    /// Extends a task's lease (a heartbeat). Returns false if the task is not leased.
    pub fn extend(&mut self, task: &TaskId, until: Millis) -> bool {
        match self.slots.get_mut(task) {
            Some(Slot::Leased(_, _, old)) => {
                self.leases.remove(&(*old, *task));
                *old = until;
                self.leases.insert((until, *task));
                true
            }
            _ => false,
        }
    }

    /// Returns every lease that ended at or before `now` to its queue; returns the
    /// queues that got tasks back.
    pub fn expire(&mut self, now: Millis) -> Vec<QueueKey> {
        let mut keys = Vec::new();
        while let Some(&(until, task)) = self.leases.first() {
            if until > now {
                break;
            }
            self.leases.pop_first();
            if let Some(key) = self.requeue(&task) {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    /// Returns every leased task to its queue (leadership changed hands).
    pub fn release_all_leases(&mut self) -> Vec<QueueKey> {
        self.expire(Millis(u64::MAX))
    }

    fn requeue(&mut self, task: &TaskId) -> Option<QueueKey> {
        match self.slots.remove(task) {
            Some(Slot::Leased(key, entry, _)) => {
                self.queues.entry(key.clone()).or_default().insert(entry);
                self.slots.insert(*task, Slot::Queued(key.clone(), entry));
                Some(key)
            }
            Some(other) => {
                self.slots.insert(*task, other);
                None
            }
            None => None,
        }
    }

    /// The earliest lease deadline, for the expiry timer.
    pub fn next_lease_deadline(&self) -> Option<Millis> {
        self.leases.first().map(|(t, _)| *t)
    }

    /// Whether `task` is in a queue or leased.
    pub fn contains(&self, task: &TaskId) -> bool {
        self.slots.contains_key(task)
    }

    /// Takes every task of the queues of `actor` (one task list, or all), queued or
    /// leased, out of the queues and the lease table; returns their ids, sorted.
    pub fn drain_actor(&mut self, actor: &ActorId, list: Option<&TaskList>) -> Vec<TaskId> {
        let matches = |k: &QueueKey| &k.actor_id == actor && list.is_none_or(|l| &k.task_list == l);
        let mut ids: Vec<TaskId> = self
            .queues
            .iter()
            .filter(|(k, _)| matches(k))
            .flat_map(|(_, q)| q.iter().map(|e| e.task_id))
            .collect();
        ids.extend(
            self.leases
                .iter()
                .map(|(_, t)| *t)
                .filter(|t| matches!(self.slots.get(t), Some(Slot::Leased(k, _, _)) if matches(k))),
        );
        ids.sort_unstable();
        for id in &ids {
            self.remove(id);
        }
        ids
    }

    /// Whether `task` is leased right now.
    pub fn is_leased(&self, task: &TaskId) -> bool {
        matches!(self.slots.get(task), Some(Slot::Leased(..)))
    }

    /// Tasks waiting in `key`'s queue (not counting leased ones).
    pub fn queued(&self, key: &QueueKey) -> usize {
        self.queues.get(key).map_or(0, BTreeSet::len)
    }

    /// Every non-empty queue with its size.
    pub fn sizes(&self) -> impl Iterator<Item = (&QueueKey, usize)> {
        self.queues.iter().map(|(k, q)| (k, q.len()))
    }

    /// Task ids of `key`'s queue in delivery order.
    pub fn contents(&self, key: &QueueKey) -> impl Iterator<Item = TaskId> + '_ {
        self.queues
            .get(key)
            .into_iter()
            .flat_map(|q| q.iter().map(|e| e.task_id))
    }

    /// Number of leased tasks.
    pub fn leased(&self) -> usize {
        self.leases.len()
    }

    /// Leased tasks per queue (monitoring; walks the lease table).
    pub fn leased_per_queue(&self) -> HashMap<&QueueKey, usize> {
        let mut out = HashMap::new();
        for (_, task) in &self.leases {
            if let Some(Slot::Leased(key, ..)) = self.slots.get(task) {
                *out.entry(key).or_insert(0) += 1;
            }
        }
        out
    }

    /// When the longest-waiting task of `key`'s queue became ready (monitoring; walks
    /// the queue, which is ordered by priority first).
    pub fn oldest_ready(&self, key: &QueueKey) -> Option<Millis> {
        self.queues.get(key)?.iter().map(|e| e.ready_at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActorId, TaskList};

    fn key(list: &str) -> QueueKey {
        QueueKey::new(ActorId::new("w#1").unwrap(), TaskList::new(list).unwrap())
    }

    fn entry(priority: i32, ready_at: u64, seq: u64) -> QueueEntry {
        QueueEntry {
            priority,
            ready_at: Millis(ready_at),
            seq,
            task_id: TaskId::random(),
        }
    }

    #[test]
    fn higher_priority_first_then_older_then_fifo() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let low_old = entry(0, 1, 1);
        let high_new = entry(5, 9, 2);
        let low_new_a = entry(0, 5, 3);
        let low_new_b = entry(0, 5, 4);
        for e in [low_new_b, low_old, high_new, low_new_a] {
            q.push(k.clone(), e);
        }
        let order = q.lease(&k, 10, Millis(100));
        let expected: Vec<TaskId> = [high_new, low_old, low_new_a, low_new_b]
            .iter()
            .map(|e| e.task_id)
            .collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn task_lists_are_separate_queues() {
        let mut q = ReadyQueues::default();
        let e = entry(0, 0, 0);
        q.push(key("urgent"), e);
        assert!(q.lease(&key(""), 10, Millis(1)).is_empty());
        assert_eq!(q.lease(&key("urgent"), 10, Millis(1)), vec![e.task_id]);
    }

    #[test]
    fn an_expired_lease_returns_the_task_to_its_queue() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let e = entry(0, 0, 0);
        q.push(k.clone(), e);
        assert_eq!(q.lease(&k, 1, Millis(100)), vec![e.task_id]);
        assert!(q.is_leased(&e.task_id));
        assert_eq!(q.next_lease_deadline(), Some(Millis(100)));
        assert!(q.expire(Millis(99)).is_empty());
        assert_eq!(q.expire(Millis(100)), vec![k.clone()]);
        assert_eq!(q.queued(&k), 1);
        assert_eq!(q.next_lease_deadline(), None);
    }

    #[test]
    fn a_heartbeat_pushes_the_deadline_back() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let e = entry(0, 0, 0);
        q.push(k.clone(), e);
        q.lease(&k, 1, Millis(100));
        assert!(q.extend(&e.task_id, Millis(500)));
        assert!(q.expire(Millis(200)).is_empty());
        assert_eq!(q.expire(Millis(500)).len(), 1);
    }

    #[test]
    fn removing_a_task_works_whether_queued_or_leased() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let (a, b) = (entry(0, 0, 0), entry(0, 0, 1));
        q.push(k.clone(), a);
        q.push(k.clone(), b);
        q.lease(&k, 1, Millis(10));
        assert!(q.remove(&a.task_id));
        assert!(q.remove(&b.task_id));
        assert!(!q.remove(&b.task_id));
        assert_eq!(q.queued(&k), 0);
        assert_eq!(q.leased(), 0);
        assert!(q.expire(Millis(u64::MAX)).is_empty());
    }

    #[test]
    fn monitoring_sees_leases_per_queue_and_the_oldest_ready_task() {
        let mut q = ReadyQueues::default();
        let (a, b) = (key("a"), key("b"));
        q.push(a.clone(), entry(0, 7, 1));
        q.push(a.clone(), entry(9, 30, 2));
        q.push(b.clone(), entry(0, 5, 3));
        q.lease(&b, 1, Millis(100));
        assert_eq!(q.oldest_ready(&a), Some(Millis(7)));
        assert_eq!(q.oldest_ready(&b), None);
        let leased = q.leased_per_queue();
        assert_eq!(leased.get(&b), Some(&1));
        assert_eq!(leased.get(&a), None);
    }

    #[test]
    fn pushing_twice_keeps_one_copy() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let e = entry(0, 0, 0);
        q.push(k.clone(), e);
        q.push(k.clone(), e);
        assert_eq!(q.queued(&k), 1);
    }
}
