//! Read-only listings for the console and for operators' scripts: processes with
//! filters and pagination, actors, one process's task graph with its promise
//! dependencies, and the task ids waiting in one queue.
//!
//! These are admin reads, not hot paths: they may scan processes or tasks, but every
//! answer is bounded by a limit, and every order is total (ties broken by id) so that
//! pages do not shuffle between two calls on an unchanged state.

use super::{ProcessRecord, PromiseState, Resolution, State, TaskRecord, TaskStatus};
use crate::model::{
    ActorId, Arg, Millis, ProcessId, ProcessState, QueueKey, TaskId, TaskKind, TaskList,
};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Filters and page of `GET /api/v1/processes`. String filters are prefix matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessQuery {
    pub state: Option<ProcessState>,
    /// Prefix of the process id (its hyphenated lowercase UUID).
    pub id: Option<String>,
    pub custom_id: Option<String>,
    /// Prefix of the starter actor (`actor` and `starter` both filter on it).
    pub starter: Option<String>,
    /// Started at or after.
    pub from: Option<Millis>,
    /// Started at or before.
    pub to: Option<Millis>,
    pub offset: usize,
    pub limit: usize,
}

/// One row of the process list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProcessSummary {
    pub process_id: ProcessId,
    pub custom_id: Option<String>,
    pub starter: ActorId,
    pub state: ProcessState,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
    /// Number of tasks.
    pub tasks: usize,
}

/// A page of a list: how many match in all, and this page's items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub total: usize,
    pub items: Vec<T>,
}

/// One actor as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActorView {
    pub actor_id: ActorId,
    /// Task lists the actor has tasks on (or is blocked on), sorted.
    pub task_lists: Vec<TaskList>,
    /// Tasks waiting in its queues.
    pub queued: usize,
    /// Tasks handed out and not released yet.
    pub leased: usize,
    /// Blocked on every task list.
    pub blocked: bool,
    /// Task lists blocked one by one.
    pub blocked_task_lists: Vec<TaskList>,
    /// Tasks of the actor the state holds (any status).
    pub tasks_total: usize,
}

/// One task of a process graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GraphNode {
    pub task_id: TaskId,
    pub actor_id: ActorId,
    pub method: String,
    pub kind: TaskKind,
    /// `waiting | scheduled | ready | leased | awaiting_promise | resolved | failed |
    /// broken | released | purged` (see docs/api.md, Console).
    pub status: &'static str,
    pub attempt: u32,
}

/// Why one task depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// `to` takes `from`'s result as an argument.
    Arg,
    /// `to` takes `from`'s promise as an argument without waiting for it.
    NoWait,
    /// `to` waits for `from` without taking its result (@Wait).
    WaitFor,
    /// `to` (a decider) returned `from`'s promise as its own result.
    Forward,
    /// `from`'s decision created `to`.
    Spawned,
}

/// A dependency edge: `from` is the promise's task, `to` the task that uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GraphEdge {
    pub from: TaskId,
    pub to: TaskId,
    pub kind: EdgeKind,
}

/// The tasks of one process and the edges between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProcessGraph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
    /// The process has more tasks than the limit; only the first ones are listed.
    pub truncated: bool,
}

/// One task waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueuedTask {
    pub task_id: TaskId,
    pub process_id: ProcessId,
    pub priority: i32,
    pub ready_at: Millis,
}

impl ProcessQuery {
    fn matches(&self, p: &ProcessRecord) -> bool {
        self.state.is_none_or(|s| p.state == s)
            && self.from.is_none_or(|f| p.started_at >= f)
            && self.to.is_none_or(|t| p.started_at <= t)
            && self
                .starter
                .as_deref()
                .is_none_or(|s| p.starter.as_str().starts_with(s))
            && self
                .custom_id
                .as_deref()
                .is_none_or(|c| p.custom_id.as_deref().is_some_and(|id| id.starts_with(c)))
            && self.id.as_deref().is_none_or(|prefix| {
                p.process_id
                    .to_string()
                    .starts_with(&prefix.to_ascii_lowercase())
            })
    }
}

/// Newest first; ties by process id (descending) so the order is total.
fn newest_first(a: &&ProcessRecord, b: &&ProcessRecord) -> Ordering {
    (b.started_at, b.process_id).cmp(&(a.started_at, a.process_id))
}

impl State {
    /// Processes matching `q`, newest first. Scans the processes once; sorts only the
    /// `offset + limit` newest matches.
    pub fn list_processes(&self, q: &ProcessQuery) -> Page<ProcessSummary> {
        let mut hits: Vec<&ProcessRecord> = self
            .processes
            .values()
            .map(|p| &**p)
            .filter(|p| q.matches(p))
            .collect();
        let total = hits.len();
        let wanted = q.offset.saturating_add(q.limit);
        if wanted < hits.len() {
            hits.select_nth_unstable_by(wanted, newest_first);
            hits.truncate(wanted);
        }
        hits.sort_unstable_by(newest_first);
        let items = hits
            .into_iter()
            .skip(q.offset)
            .take(q.limit)
            .map(|p| ProcessSummary {
                process_id: p.process_id,
                custom_id: p.custom_id.clone(),
                starter: p.starter.clone(),
                state: p.state,
                started_at: p.started_at,
                ended_at: p.ended_at,
                tasks: p.tasks.len(),
            })
            .collect();
        Page { total, items }
    }

    /// Every actor that has tasks in the state or is blocked, sorted by id. From the
    /// per-actor counts and the queues: O(actors × task lists + leased tasks), not a walk
    /// over every task.
    pub fn actor_views(&self) -> Vec<ActorView> {
        #[derive(Default)]
        struct Acc {
            lists: BTreeSet<TaskList>,
            queued: usize,
            leased: usize,
            total: usize,
        }
        let leased = self.queues.leased_per_queue();
        let mut actors: BTreeMap<&ActorId, Acc> = BTreeMap::new();
        for (actor, lists) in self.actors.iter() {
            let acc = actors.entry(actor).or_default();
            for (list, count) in lists {
                acc.lists.insert(list.clone());
                acc.total += count;
                let key = QueueKey::new(actor.clone(), list.clone());
                acc.queued += self.queues.queued(&key);
                acc.leased += leased.get(&key).copied().unwrap_or(0);
            }
        }
        for (actor, list) in &self.blocked {
            let acc = actors.entry(actor).or_default();
            if let Some(l) = list {
                acc.lists.insert(l.clone());
            }
        }
        actors
            .into_iter()
            .map(|(actor, acc)| {
                let blocked_task_lists = self
                    .blocked
                    .range((actor.clone(), None)..)
                    .take_while(|(a, _)| a == actor)
                    .filter_map(|(_, l)| l.clone())
                    .collect();
                ActorView {
                    actor_id: actor.clone(),
                    task_lists: acc.lists.into_iter().collect(),
                    queued: acc.queued,
                    leased: acc.leased,
                    blocked: self.blocked.contains(&(actor.clone(), None)),
                    blocked_task_lists,
                    tasks_total: acc.total,
                }
            })
            .collect()
    }

    /// The task graph of a process: at most `max_nodes` tasks in creation order and the
    /// edges among them. `None` for an unknown process.
    pub fn process_graph(&self, id: &ProcessId, max_nodes: usize) -> Option<ProcessGraph> {
        let p = self.processes.get(id)?;
        let tasks: Vec<&TaskRecord> = p
            .tasks
            .iter()
            .take(max_nodes)
            .filter_map(|t| self.tasks.get(t).map(|t| &**t))
            .collect();
        let listed: HashSet<TaskId> = tasks.iter().map(|t| t.spec.task_id).collect();
        let mut edges = Vec::new();
        for t in &tasks {
            let to = t.spec.task_id;
            let mut seen: HashSet<(TaskId, EdgeKind)> = HashSet::new();
            let mut add = |from: TaskId, kind: EdgeKind| {
                if listed.contains(&from) && seen.insert((from, kind)) {
                    edges.push(GraphEdge { from, to, kind });
                }
            };
            if let Some(parent) = t.parent {
                add(parent, EdgeKind::Spawned);
            }
            for arg in &t.spec.args {
                arg_edges(arg, &mut add);
            }
            for w in &t.spec.options.wait_for {
                add(*w, EdgeKind::WaitFor);
            }
            if let Some(target) = t.forwarded_to {
                add(target, EdgeKind::Forward);
            }
        }
        Some(ProcessGraph {
            nodes: tasks.iter().map(|t| self.graph_node(t, p)).collect(),
            edges,
            truncated: p.tasks.len() > max_nodes,
        })
    }

    fn graph_node(&self, t: &TaskRecord, p: &ProcessRecord) -> GraphNode {
        let broken_here = p
            .broken
            .as_ref()
            .is_some_and(|b| b.task_id == t.spec.task_id);
        let status = match (&t.status, &t.promise) {
            (TaskStatus::Waiting, _) => "waiting",
            (TaskStatus::Purged { .. }, _) => "purged",
            (TaskStatus::Scheduled { .. }, _) => "scheduled",
            (TaskStatus::Ready { .. }, _) if self.queues.is_leased(&t.spec.task_id) => "leased",
            (TaskStatus::Ready { .. }, _) => "ready",
            (_, PromiseState::Resolved(Resolution::Value(_))) => "resolved",
            (_, PromiseState::Resolved(Resolution::Fail(_))) => "failed",
            (_, PromiseState::Forwarded(_)) if broken_here => "broken",
            (_, PromiseState::Forwarded(_)) => "awaiting_promise",
            (TaskStatus::Released { .. }, PromiseState::Pending) if broken_here => "broken",
            (TaskStatus::Released { .. }, PromiseState::Pending) => "released",
        };
        GraphNode {
            task_id: t.spec.task_id,
            actor_id: t.spec.actor_id.clone(),
            method: t.spec.method.clone(),
            kind: t.spec.kind,
            status,
            attempt: t.attempt,
        }
    }

    /// The tasks waiting in one queue, in delivery order (leased ones are not
    /// waiting). Walks the queue up to `offset + limit`.
    pub fn queue_tasks(&self, key: &QueueKey, offset: usize, limit: usize) -> Page<QueuedTask> {
        let items = self
            .queues
            .contents(key)
            .skip(offset)
            .take(limit)
            .filter_map(|id| self.tasks.get(&id))
            .map(|t| QueuedTask {
                task_id: t.spec.task_id,
                process_id: t.process_id,
                priority: t.spec.options.priority,
                ready_at: match t.status {
                    TaskStatus::Ready { ready_at, .. } => ready_at,
                    _ => t.created_at,
                },
            })
            .collect();
        Page {
            total: self.queues.queued(key),
            items,
        }
    }
}

/// Calls `add` for every promise an argument references, with its edge kind.
fn arg_edges(arg: &Arg, add: &mut impl FnMut(TaskId, EdgeKind)) {
    match arg {
        Arg::Value(_) => {}
        Arg::Promise { task_id, no_wait } => add(
            *task_id,
            if *no_wait {
                EdgeKind::NoWait
            } else {
                EdgeKind::Arg
            },
        ),
        Arg::Array(items) => items.iter().for_each(|a| arg_edges(a, add)),
    }
}
