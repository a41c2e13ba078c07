//! Recovery of stalled processes, and the queue purge that is one way to stall them.
//!
//! A process can stall when a task that is ready to run is in no queue: an operator
//! purged its queue, or a bug or an inconsistent restore lost it. Every running
//! process carries the time of its last change, indexed in `State::changed`; a
//! `RecoverProcesses` command walks that index oldest first (only the processes
//! unchanged for longer than the timeout, at most `max` of them, so a scan costs
//! O(processes recovered · their tasks), never a walk over every process) and puts
//! back every unfinished task whose promises are all resolved but that is missing from
//! its queue or its timer. Nothing released runs again.
//!
//! The index is kept cheap on the hot path: one `touch` per start, release or resolved
//! external promise (two B-tree operations), not one per task event.

use super::{Detail, Reply, State, TaskStatus};
use crate::model::history::EventKind;
use crate::model::{ActorId, Millis, ProcessId, ProcessState, TaskId, TaskKind, TaskList};
use crate::queue::QueueEntry;

impl State {
    /// Records that `pid` changed at `now`.
    pub(super) fn touch(&mut self, pid: ProcessId, now: Millis) {
        let Some(p) = self.processes.get_mut(&pid) else {
            return;
        };
        self.changed.remove(&(p.last_change, pid));
        p.last_change = now;
        if p.state == ProcessState::Running {
            self.changed.insert((now, pid));
        }
    }

    /// Drops every ready task of `actor`'s queue (one task list, or all of them),
    /// leased or not: leases live only on the leader, so what a replica drops must not
    /// depend on them. The tasks become `Purged`, in no queue, until recovery.
    pub(super) fn purge_queue(
        &mut self,
        now: Millis,
        actor: &ActorId,
        list: Option<&TaskList>,
    ) -> u32 {
        let ids = self.queues.drain_actor(actor, list);
        for id in &ids {
            if let Some(t) = self.tasks.get_mut(id) {
                t.status = TaskStatus::Purged { at: now };
            }
        }
        tracing::info!(actor = %actor, task_list = ?list, purged = ids.len(), "queue purged");
        ids.len() as u32
    }

    /// Recovers up to `max` running processes whose last change is before
    /// `stalled_before`; answers how many it scanned and how many tasks it put back.
    pub(super) fn recover_processes(
        &mut self,
        now: Millis,
        stalled_before: Millis,
        max: u32,
    ) -> Reply {
        let (mut processes, mut tasks) = (0u32, 0u32);
        let mut taken = 0u32;
        while taken < max {
            let Some(&(at, pid)) = self.changed.first() else {
                break;
            };
            if at >= stalled_before {
                break;
            }
            self.changed.remove(&(at, pid));
            taken += 1;
            let running = self
                .processes
                .get(&pid)
                .is_some_and(|p| p.state == ProcessState::Running);
            if !running {
                continue; // ended since: it leaves the index
            }
            processes += 1;
            let put_back = self.recover_process(pid, now);
            if put_back > 0 {
                tracing::info!(process_id = %pid, tasks = put_back, "stalled process recovered");
            }
            tasks += put_back;
            if let Some(p) = self.processes.get_mut(&pid) {
                p.last_change = now;
            }
            self.changed.insert((now, pid));
        }
        Reply::Recovered { processes, tasks }
    }

    /// Puts back the tasks of `pid` that could run but are in no queue or timer.
    fn recover_process(&mut self, pid: ProcessId, now: Millis) -> u32 {
        let ids: Vec<TaskId> = self
            .processes
            .get(&pid)
            .map(|p| p.tasks.clone())
            .unwrap_or_default();
        let mut recovered = 0;
        for id in ids {
            if let Some(how) = self.recover_task(id, now) {
                self.record_task(id, EventKind::Recovered, now, |e| e.detail(how));
                recovered += 1;
            }
        }
        recovered
    }

    /// Puts `id` back if it can run but is in no queue or timer; says where it went.
    fn recover_task(&mut self, id: TaskId, now: Millis) -> Option<Detail> {
        let task = self.tasks.get(&id)?;
        match task.status {
            TaskStatus::Released { .. } => None,
            TaskStatus::Scheduled { at } => {
                if self.timers.is_armed(id, at) {
                    return None;
                }
                self.timers.arm(id, at);
                self.effects.timer_armed = true;
                Some(Detail::Timer)
            }
            TaskStatus::Ready { ready_at, seq } => {
                if self.queues.contains(&id) {
                    return None;
                }
                let key = task.queue_key();
                let entry = QueueEntry {
                    priority: task.spec.options.priority,
                    ready_at,
                    seq,
                    task_id: id,
                };
                self.queues.push(key.clone(), entry);
                if !self.effects.woken.contains(&key) {
                    self.effects.woken.push(key);
                }
                Some(Detail::Queue)
            }
            TaskStatus::Waiting if task.spec.kind == TaskKind::External => {
                match super::signal::promise_deadline(task) {
                    Some(at) if !self.timers.is_armed(id, at) => {
                        self.timers.arm(id, at);
                        self.effects.timer_armed = true;
                        Some(Detail::Timer)
                    }
                    _ => None,
                }
            }
            TaskStatus::Waiting | TaskStatus::Purged { .. } => {
                let mut all_resolved = true;
                task.spec.for_each_dependency(&mut |p| {
                    if self.tasks.get(&p).is_none_or(|t| t.resolution().is_none()) {
                        all_resolved = false;
                    }
                });
                if !all_resolved {
                    return None;
                }
                self.make_ready(id, now);
                Some(Detail::Queue)
            }
        }
    }

    /// When the process that changed longest ago becomes stalled after `timeout_ms`
    /// (`None`: no running process).
    pub fn next_stall_due(&self, timeout_ms: u64) -> Option<Millis> {
        self.changed.first().map(|(at, _)| at.plus(timeout_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Command, CommandResult};
    use super::*;
    use crate::model::{Arg, Decision, Outcome, QueueKey, TaskOptions, TaskSpec};

    const LEASE: Millis = Millis(1_000_000);

    fn spec(actor: &str, kind: TaskKind) -> TaskSpec {
        TaskSpec {
            task_id: TaskId::random(),
            actor_id: ActorId::new(actor).unwrap(),
            method: "m".into(),
            kind,
            args: vec![],
            options: TaskOptions::default(),
        }
    }

    fn key(actor: &str) -> QueueKey {
        QueueKey::new(ActorId::new(actor).unwrap(), TaskList::default())
    }

    fn start(s: &mut State, now: u64) -> (ProcessId, TaskId) {
        let st = spec("d#1", TaskKind::DeciderStart);
        let pid = ProcessId::random();
        s.apply(&Command::StartProcess {
            now: Millis(now),
            process_id: pid,
            custom_id: None,
            idempotency_key: None,
            start: st.clone(),
        })
        .unwrap();
        (pid, st.task_id)
    }

    /// A process whose decider was released at `now` spawning two workers (the
    /// second takes the first's promise). Returns (process, decider task, w1, w2).
    fn decided(s: &mut State, now: u64) -> (ProcessId, TaskId, TaskId, TaskId) {
        let (pid, st) = start(s, now);
        s.lease(&key("d#1"), 10, Millis(0), LEASE);
        let w1 = spec("w#1", TaskKind::Worker);
        let mut w2 = spec("w#1", TaskKind::Worker);
        w2.args = vec![Arg::Promise {
            task_id: w1.task_id,
            no_wait: false,
        }];
        let (a, b) = (w1.task_id, w2.task_id);
        s.apply(&Command::Release {
            now: Millis(now),
            decision: Decision {
                task_id: st,
                process_id: None,
                outcome: Outcome::Promise(b),
                tasks: vec![w1, w2],
                restart_at: None,
                execution_ms: None,
                attempt: None,
                delivery_id: None,
                delivered_at: None,
            },
        })
        .unwrap();
        (pid, st, a, b)
    }

    fn purge(s: &mut State, actor: &str) -> CommandResult {
        s.apply(&Command::PurgeQueue {
            now: Millis(20),
            actor_id: ActorId::new(actor).unwrap(),
            task_list: None,
        })
    }

    fn recover(s: &mut State, now: u64, stalled_before: u64, max: u32) -> (u32, u32) {
        match s.apply(&Command::RecoverProcesses {
            now: Millis(now),
            stalled_before: Millis(stalled_before),
            max,
        }) {
            Ok(Reply::Recovered { processes, tasks }) => (processes, tasks),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_purged_task_stays_out_of_its_queue_until_recovery_puts_it_back() {
        let mut s = State::default();
        let (_, decider, w1, w2) = decided(&mut s, 10);
        assert_eq!(purge(&mut s, "w#1"), Ok(Reply::Purged(1)));
        assert!(s.lease(&key("w#1"), 10, Millis(0), LEASE).is_empty());
        assert_eq!(s.tasks[&w1].status, TaskStatus::Purged { at: Millis(20) });
        assert_eq!(s.tasks[&w2].status, TaskStatus::Waiting);

        // A snapshot restore does not resurrect it either.
        let mut s = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
        assert!(s.lease(&key("w#1"), 10, Millis(0), LEASE).is_empty());

        // Not stalled long enough: nothing happens.
        assert_eq!(recover(&mut s, 30, 10, 100), (0, 0));
        // Stalled: the purged task is back; the released decider is not re-run and
        // the waiting task keeps waiting.
        assert_eq!(recover(&mut s, 1_000, 11, 100), (1, 1));
        let got: Vec<TaskId> = s
            .lease(&key("w#1"), 10, Millis(0), LEASE)
            .into_iter()
            .map(|d| d.task_id)
            .collect();
        assert_eq!(got, vec![w1]);
        let pid = s.tasks[&w1].process_id;
        let history = s.history(&pid, 0, 100).unwrap().items;
        let recovered: Vec<_> = history
            .iter()
            .filter(|e| e.event == EventKind::Recovered)
            .map(|e| (e.task_id, e.detail.as_deref()))
            .collect();
        assert_eq!(recovered, vec![(Some(w1), Some("queue"))]);
        assert!(s.lease(&key("d#1"), 10, Millis(0), LEASE).is_empty());
        assert!(matches!(
            s.tasks[&decider].status,
            TaskStatus::Released { .. }
        ));
        // The process changed now: the next scan leaves it alone, and there is nothing
        // to put back anyway.
        assert_eq!(s.next_stall_due(100), Some(Millis(1_100)));
        assert_eq!(recover(&mut s, 2_000, 2_000, 100), (1, 0));
    }

    #[test]
    fn ready_tasks_lost_from_their_queue_and_unarmed_timers_are_put_back() {
        let mut s = State::default();
        let (_, _, w1, _) = decided(&mut s, 10);
        s.queues.remove(&w1); // lost, still Ready
        let (_, st2) = start(&mut s, 10);
        s.lease(&key("d#1"), 10, Millis(0), LEASE);
        s.apply(&Command::Release {
            now: Millis(10),
            decision: Decision {
                task_id: st2,
                process_id: None,
                outcome: Outcome::Error(crate::model::ErrorInfo::new("x", "y")),
                tasks: vec![],
                restart_at: Some(Millis(5_000)),
                execution_ms: None,
                attempt: None,
                delivery_id: None,
                delivered_at: None,
            },
        })
        .unwrap();
        assert!(s.timers.cancel(st2, Millis(5_000)), "retry armed");

        assert_eq!(recover(&mut s, 100, 50, 100), (2, 2));
        assert_eq!(s.lease(&key("w#1"), 10, Millis(0), LEASE).len(), 1);
        assert_eq!(s.next_timer(), Some(Millis(5_000)));
    }

    #[test]
    fn a_scan_takes_the_oldest_processes_first_and_at_most_max() {
        let mut s = State::default();
        let (old, _) = start(&mut s, 1);
        let (mid, _) = start(&mut s, 2);
        let (young, _) = start(&mut s, 3);
        assert_eq!(recover(&mut s, 100, 3, 1), (1, 0));
        assert_eq!(s.processes[&old].last_change, Millis(100));
        assert_eq!(s.processes[&mid].last_change, Millis(2));
        assert_eq!(recover(&mut s, 100, 3, 10), (1, 0), "young is not stalled");
        assert_eq!(s.processes[&young].last_change, Millis(3));
        assert_eq!(s.next_stall_due(0), Some(Millis(3)));
    }

    #[test]
    fn ended_processes_leave_the_index() {
        let mut s = State::default();
        let (pid, st) = start(&mut s, 1);
        s.lease(&key("d#1"), 10, Millis(0), LEASE);
        s.apply(&Command::Release {
            now: Millis(5),
            decision: Decision {
                task_id: st,
                process_id: None,
                outcome: Outcome::Value(crate::model::JsonValue::null()),
                tasks: vec![],
                restart_at: None,
                execution_ms: None,
                attempt: None,
                delivery_id: None,
                delivered_at: None,
            },
        })
        .unwrap();
        assert_eq!(s.processes[&pid].state, ProcessState::Finished);
        assert_eq!(
            s.processes[&pid].last_change,
            Millis(5),
            "one touch per release"
        );
        assert_eq!(recover(&mut s, 100, 50, 10), (0, 0));
        assert_eq!(s.next_stall_due(0), None);
    }
}
