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
//!
//! Each lease is one *delivery* with its own id (fencing: a release or heartbeat of an
//! older delivery is told apart). A lease of a task with a timeout never outlives the
//! timeout; when a lease ends at its timeout, the task is not put back but reported
//! as timed out, and it stays leased ("timing out") until the leader's timeout
//! release is applied.

use crate::model::{ActorId, DeliveryId, Millis, QueueKey, TaskId, TaskList};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap, HashSet};

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

/// One delivery of a task: who may release it, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub delivery_id: DeliveryId,
    pub delivered_at: Millis,
    /// The lease ends then (never after `timeout_at`).
    pub until: Millis,
    /// The task's timeout for this delivery: `delivered_at + timeout_ms`.
    pub timeout_at: Option<Millis>,
}

impl Lease {
    /// A fresh delivery at `now`, leased until `until` but never past the task's
    /// timeout.
    pub fn new(now: Millis, until: Millis, timeout_ms: Option<u64>) -> Lease {
        let timeout_at = timeout_ms.map(|t| now.plus(t));
        Lease {
            delivery_id: DeliveryId::random(),
            delivered_at: now,
            until: timeout_at.map_or(until, |t| t.min(until)),
            timeout_at,
        }
    }

    /// Whether the lease ends because the task's timeout passed.
    fn ends_at_timeout(&self) -> bool {
        self.timeout_at.is_some_and(|t| t <= self.until)
    }
}

/// Why a heartbeat could not extend a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendError {
    /// The task is not leased (queued, or its timeout passed).
    NotLeased,
    /// The task is leased to another delivery.
    Stale,
}

/// Where a ready task is right now.
#[derive(Debug, Clone)]
enum Slot {
    Queued(QueueKey, QueueEntry),
    Leased(QueueKey, QueueEntry, Lease),
}

/// What expiring leases produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Queues that got tasks back.
    pub requeued: Vec<QueueKey>,
    /// Leases that ended at their task's timeout: the tasks stay leased until the
    /// leader's timeout release is applied (or [`ReadyQueues::requeue_timed_out`]).
    pub timed_out: Vec<(TaskId, Lease)>,
}

/// All ready queues plus the lease table.
#[derive(Debug, Default)]
pub struct ReadyQueues {
    queues: HashMap<QueueKey, BTreeSet<QueueEntry>>,
    slots: HashMap<TaskId, Slot>,
    /// Lease deadlines in order, for the expiry timer.
    leases: BTreeSet<(Millis, TaskId)>,
    /// Leased tasks whose timeout passed, awaiting their timeout release.
    timing_out: HashSet<TaskId>,
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

    /// Takes up to `max` tasks from the head of `key`'s queue and leases each with
    /// the lease `lease_of` gives it.
    pub fn lease(
        &mut self,
        key: &QueueKey,
        max: usize,
        mut lease_of: impl FnMut(TaskId) -> Lease,
    ) -> Vec<(TaskId, Lease)> {
        let Some(queue) = self.queues.get_mut(key) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(max.min(queue.len()));
        while out.len() < max {
            let Some(entry) = queue.pop_first() else {
                break;
            };
            let lease = lease_of(entry.task_id);
            self.slots
                .insert(entry.task_id, Slot::Leased(key.clone(), entry, lease));
            self.leases.insert((lease.until, entry.task_id));
            out.push((entry.task_id, lease));
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
            Some(Slot::Leased(_, _, lease)) => {
                self.leases.remove(&(lease.until, *task));
                self.timing_out.remove(task);
                true
            }
            None => false,
        }
    }

    /// The current lease of `task`, if it is leased.
    pub fn lease_of(&self, task: &TaskId) -> Option<&Lease> {
        match self.slots.get(task) {
            Some(Slot::Leased(_, _, lease)) => Some(lease),
            _ => None,
        }
    }

    /// Extends the lease of `task`'s delivery `delivery` to `until` (a heartbeat),
    /// never past the task's timeout and never shortening it. Returns the new end.
    pub fn extend(
        &mut self,
        task: &TaskId,
        delivery: DeliveryId,
        until: Millis,
    ) -> Result<Millis, ExtendError> {
        if self.timing_out.contains(task) {
            return Err(ExtendError::NotLeased);
        }
        match self.slots.get_mut(task) {
            Some(Slot::Leased(_, _, lease)) if lease.delivery_id != delivery => {
                Err(ExtendError::Stale)
            }
            Some(Slot::Leased(_, _, lease)) => {
                let capped = lease.timeout_at.map_or(until, |t| t.min(until));
                let new_until = capped.max(lease.until);
                self.leases.remove(&(lease.until, *task));
                lease.until = new_until;
                self.leases.insert((new_until, *task));
                Ok(new_until)
            }
            _ => Err(ExtendError::NotLeased),
        }
    }

    /// Ends every lease that ended at or before `now`: a task whose lease simply ran
    /// out goes back to its queue; one whose timeout passed is reported as timed out.
    pub fn expire(&mut self, now: Millis) -> Expired {
        let mut out = Expired::default();
        while let Some(&(until, task)) = self.leases.first() {
            if until > now {
                break;
            }
            self.leases.pop_first();
            if let Some(Slot::Leased(_, _, lease)) = self.slots.get(&task) {
                if lease.ends_at_timeout() {
                    out.timed_out.push((task, *lease));
                    self.timing_out.insert(task);
                    continue;
                }
            }
            if let Some(key) = self.requeue(&task) {
                if !out.requeued.contains(&key) {
                    out.requeued.push(key);
                }
            }
        }
        out
    }

    /// Puts a timed-out task back in its queue if it is still leased to `delivery`
    /// (its timeout release could not be committed). Returns its queue.
    pub fn requeue_timed_out(&mut self, task: &TaskId, delivery: DeliveryId) -> Option<QueueKey> {
        if self.lease_of(task).map(|l| l.delivery_id) != Some(delivery) {
            return None;
        }
        if let Some(until) = self.lease_of(task).map(|l| l.until) {
            self.leases.remove(&(until, *task));
        }
        self.timing_out.remove(task);
        self.requeue(task)
    }

    /// Returns every leased task to its queue, timing-out ones included (leadership
    /// changed hands).
    pub fn release_all_leases(&mut self) -> Vec<QueueKey> {
        let mut keys = Vec::new();
        let leased: Vec<TaskId> = std::mem::take(&mut self.leases)
            .into_iter()
            .map(|(_, t)| t)
            .chain(std::mem::take(&mut self.timing_out))
            .collect();
        for task in leased {
            if let Some(key) = self.requeue(&task) {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
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
        self.leases.len() + self.timing_out.len()
    }

    /// Leased tasks per queue (monitoring; walks the lease table).
    pub fn leased_per_queue(&self) -> HashMap<&QueueKey, usize> {
        let mut out = HashMap::new();
        let leased = self.leases.iter().map(|(_, t)| t).chain(&self.timing_out);
        for task in leased {
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

    /// Leases up to `max` tasks of `k` until `until` (no timeout); their ids.
    fn lease(q: &mut ReadyQueues, k: &QueueKey, max: usize, until: u64) -> Vec<TaskId> {
        q.lease(k, max, |_| Lease::new(Millis(0), Millis(until), None))
            .into_iter()
            .map(|(id, _)| id)
            .collect()
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
        let order = lease(&mut q, &k, 10, 100);
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
        assert!(lease(&mut q, &key(""), 10, 1).is_empty());
        assert_eq!(lease(&mut q, &key("urgent"), 10, 1), vec![e.task_id]);
    }

    #[test]
    fn an_expired_lease_returns_the_task_to_its_queue() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let e = entry(0, 0, 0);
        q.push(k.clone(), e);
        assert_eq!(lease(&mut q, &k, 1, 100), vec![e.task_id]);
        assert!(q.is_leased(&e.task_id));
        assert_eq!(q.next_lease_deadline(), Some(Millis(100)));
        assert_eq!(q.expire(Millis(99)), Expired::default());
        assert_eq!(q.expire(Millis(100)).requeued, vec![k.clone()]);
        assert_eq!(q.queued(&k), 1);
        assert_eq!(q.next_lease_deadline(), None);
    }

    #[test]
    fn a_heartbeat_pushes_the_deadline_back() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let e = entry(0, 0, 0);
        q.push(k.clone(), e);
        let leased = q.lease(&k, 1, |_| Lease::new(Millis(0), Millis(100), None));
        let delivery = leased[0].1.delivery_id;
        assert_eq!(q.extend(&e.task_id, delivery, Millis(500)), Ok(Millis(500)));
        assert_eq!(
            q.extend(&e.task_id, delivery, Millis(300)),
            Ok(Millis(500)),
            "a heartbeat never shortens a lease"
        );
        assert_eq!(
            q.extend(&e.task_id, DeliveryId::random(), Millis(900)),
            Err(ExtendError::Stale)
        );
        assert_eq!(q.expire(Millis(200)), Expired::default());
        assert_eq!(q.expire(Millis(500)).requeued.len(), 1);
        assert_eq!(
            q.extend(&e.task_id, delivery, Millis(900)),
            Err(ExtendError::NotLeased)
        );
    }

    #[test]
    fn a_lease_ends_at_the_timeout_and_the_task_is_reported_not_requeued() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let e = entry(0, 0, 0);
        q.push(k.clone(), e);
        let leased = q.lease(&k, 1, |_| {
            Lease::new(Millis(1_000), Millis(61_000), Some(5_000))
        });
        let lease = leased[0].1;
        assert_eq!(lease.until, Millis(6_000));
        assert_eq!(
            q.extend(&e.task_id, lease.delivery_id, Millis(20_000)),
            Ok(Millis(6_000)),
            "a heartbeat cannot pass the timeout"
        );
        let expired = q.expire(Millis(6_000));
        assert!(expired.requeued.is_empty());
        assert_eq!(expired.timed_out, vec![(e.task_id, lease)]);
        assert!(
            q.is_leased(&e.task_id),
            "stays leased until the timeout release"
        );
        assert_eq!(q.leased(), 1);
        assert_eq!(
            q.extend(&e.task_id, lease.delivery_id, Millis(7_000)),
            Err(ExtendError::NotLeased)
        );
        assert_eq!(q.requeue_timed_out(&e.task_id, DeliveryId::random()), None);
        assert_eq!(
            q.requeue_timed_out(&e.task_id, lease.delivery_id),
            Some(k.clone())
        );
        assert_eq!(q.queued(&k), 1);
        assert_eq!(q.leased(), 0);
    }

    #[test]
    fn a_leadership_change_requeues_timing_out_tasks_too() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let (a, b) = (entry(0, 0, 0), entry(0, 0, 1));
        q.push(k.clone(), a);
        q.push(k.clone(), b);
        q.lease(&k, 2, |id| {
            let timeout = (id == a.task_id).then_some(10);
            Lease::new(Millis(0), Millis(100), timeout)
        });
        assert_eq!(q.expire(Millis(10)).timed_out.len(), 1);
        assert_eq!(q.release_all_leases(), vec![k.clone()]);
        assert_eq!(q.queued(&k), 2);
        assert_eq!(q.leased(), 0);
        assert_eq!(q.next_lease_deadline(), None);
    }

    #[test]
    fn removing_a_task_works_whether_queued_or_leased() {
        let mut q = ReadyQueues::default();
        let k = key("");
        let (a, b) = (entry(0, 0, 0), entry(0, 0, 1));
        q.push(k.clone(), a);
        q.push(k.clone(), b);
        lease(&mut q, &k, 1, 10);
        assert!(q.remove(&a.task_id));
        assert!(q.remove(&b.task_id));
        assert!(!q.remove(&b.task_id));
        assert_eq!(q.queued(&k), 0);
        assert_eq!(q.leased(), 0);
        assert_eq!(q.expire(Millis(u64::MAX)), Expired::default());
    }

    #[test]
    fn monitoring_sees_leases_per_queue_and_the_oldest_ready_task() {
        let mut q = ReadyQueues::default();
        let (a, b) = (key("a"), key("b"));
        q.push(a.clone(), entry(0, 7, 1));
        q.push(a.clone(), entry(9, 30, 2));
        q.push(b.clone(), entry(0, 5, 3));
        lease(&mut q, &b, 1, 100);
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
