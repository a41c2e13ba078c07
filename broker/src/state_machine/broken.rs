//! Broken processes: listing and grouping them for operators (by error type, broken
//! actor, starter), and restarting them.
//!
//! The `broken` index (break time → process) holds only broken processes, so the
//! listings walk those, never every process. A restart re-runs each task of the
//! process that failed with an unaccepted error (the task that broke it and any that
//! failed after it) as a new attempt, keeps everything already released, and puts the
//! process back to `running`.

use super::{Event, ProcessRecord, PromiseState, Resolution, State, TaskRecord, TaskStatus};
use crate::model::history::EventKind;
use crate::model::ops::{
    BrokenFilter, BrokenGroup, BrokenGroups, BrokenList, BrokenProcess, GroupBy, RestartTask,
    MAX_GROUP_IDS,
};
use crate::model::{Millis, ProcessId, ProcessState, TaskId};
use std::collections::HashMap;

impl State {
    /// Broken processes matching `filter`, most recently broken first.
    fn broken_matching<'a>(
        &'a self,
        filter: &'a BrokenFilter,
    ) -> impl Iterator<Item = &'a ProcessRecord> + 'a {
        self.broken.iter().rev().filter_map(move |(_, pid)| {
            let p: &ProcessRecord = self.processes.get(pid)?;
            let b = p.broken.as_ref()?;
            filter
                .matches(&b.error.error_type, &b.actor_id, &p.starter)
                .then_some(p)
        })
    }

    /// A page of the broken processes matching `filter`, most recently broken first.
    pub fn broken_list(&self, filter: &BrokenFilter, offset: usize, limit: usize) -> BrokenList {
        let mut total = 0;
        let mut items = Vec::new();
        for p in self.broken_matching(filter) {
            if total >= offset && items.len() < limit {
                if let Some(broken) = &p.broken {
                    items.push(BrokenProcess {
                        process_id: p.process_id,
                        custom_id: p.custom_id.clone(),
                        starter: p.starter.clone(),
                        started_at: p.started_at,
                        broken: broken.clone(),
                    });
                }
            }
            total += 1;
        }
        BrokenList { total, items }
    }

    /// The broken processes matching `filter` grouped by `by`, largest group first
    /// (ties by key).
    pub fn broken_groups(&self, by: GroupBy, filter: &BrokenFilter) -> BrokenGroups {
        let mut groups: HashMap<&str, BrokenGroup> = HashMap::new();
        for p in self.broken_matching(filter) {
            let Some(b) = &p.broken else { continue };
            let key = match by {
                GroupBy::ErrorType => b.error.error_type.as_str(),
                GroupBy::Actor => b.actor_id.as_str(),
                GroupBy::Starter => p.starter.as_str(),
            };
            let g = groups.entry(key).or_insert_with(|| BrokenGroup {
                key: key.to_string(),
                count: 0,
                process_ids: Vec::new(),
            });
            g.count += 1;
            if g.process_ids.len() < MAX_GROUP_IDS {
                g.process_ids.push(p.process_id);
            }
        }
        let mut groups: Vec<BrokenGroup> = groups.into_values().collect();
        groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        BrokenGroups { groups }
    }

    /// Up to `max` ids of broken processes matching `filter`, most recently broken
    /// first (what a filter selects for a bulk call).
    pub fn broken_ids(&self, filter: &BrokenFilter, max: usize) -> Vec<ProcessId> {
        self.broken_matching(filter)
            .take(max)
            .map(|p| p.process_id)
            .collect()
    }

    /// Whether a process exists.
    pub fn has_process(&self, id: &ProcessId) -> bool {
        self.processes.contains_key(id)
    }

    /// The tasks a restart of `ids` would re-run (broken processes only), with the
    /// attempt each would get.
    pub fn restart_preview(&self, ids: &[ProcessId]) -> Vec<RestartTask> {
        ids.iter()
            .filter_map(|pid| self.processes.get(pid))
            .filter(|p| p.state == ProcessState::Broken)
            .flat_map(|p| self.failed_tasks(p))
            .map(|t| RestartTask {
                process_id: t.process_id,
                task_id: t.spec.task_id,
                actor_id: t.spec.actor_id.clone(),
                method: t.spec.method.clone(),
                attempt: t.attempt + 1,
            })
            .collect()
    }

    /// The tasks of `p` that ended with an error nobody accepted: released, with no
    /// promise (an unaccepted error resolves nothing), or forwarding a promise that
    /// resolved with an error the forwarding task's caller does not accept.
    fn failed_tasks<'a>(&'a self, p: &'a ProcessRecord) -> impl Iterator<Item = &'a TaskRecord> {
        p.tasks
            .iter()
            .filter_map(|id| self.tasks.get(id).map(|t| &**t))
            .filter(|t| {
                matches!(t.status, TaskStatus::Released { .. })
                    && match &t.promise {
                        PromiseState::Pending => t.last_error.is_some(),
                        PromiseState::Forwarded(target) => self
                            .tasks
                            .get(target)
                            .is_some_and(|x| matches!(x.resolution(), Some(Resolution::Fail(_)))),
                        PromiseState::Resolved(_) => false,
                    }
            })
    }

    /// Restarts the broken ones of `ids`; returns those restarted.
    pub(super) fn restart_processes(&mut self, now: Millis, ids: &[ProcessId]) -> Vec<ProcessId> {
        let mut restarted = Vec::new();
        for pid in ids {
            let Some(p) = self.processes.get(pid) else {
                continue;
            };
            if p.state != ProcessState::Broken {
                continue;
            }
            let rerun: Vec<TaskId> = self.failed_tasks(p).map(|t| t.spec.task_id).collect();
            if rerun.is_empty() {
                continue;
            }
            if let Some(p) = self.processes.get_mut(pid) {
                if let Some(at) = p.ended_at.take() {
                    self.ended.remove(&(at, *pid));
                }
                if let Some(b) = p.broken.take() {
                    self.broken.remove(&(b.at, *pid));
                }
                p.state = ProcessState::Running;
                p.unfinished += rerun.len() as u32;
            }
            self.touch(*pid, now);
            for id in rerun {
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.attempt += 1;
                    t.promise = PromiseState::Pending;
                    t.status = TaskStatus::Waiting;
                    let attempt = t.attempt;
                    self.record(
                        *pid,
                        Event::new(EventKind::Restarted, now)
                            .task(id)
                            .attempt(attempt),
                    );
                    self.enqueue(id, now);
                }
            }
            tracing::info!(process_id = %pid, "broken process restarted");
            restarted.push(*pid);
        }
        restarted
    }
}
