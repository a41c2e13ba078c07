//! Applying `StartProcess`: a process and its start task.

use super::{CommandError, CommandResult, ProcessRecord, Reply, State, TaskRecord};
use crate::model::history::EventKind;
use crate::model::wire::StartProcessResponse;
use crate::model::{Millis, ProcessId, ProcessState, TaskKind, TaskSpec};

impl State {
    /// Starts a process without an idempotency key.
    pub(super) fn start_process(
        &mut self,
        now: Millis,
        process_id: ProcessId,
        custom_id: Option<String>,
        start: &TaskSpec,
    ) -> CommandResult {
        self.start_keyed_process(now, process_id, custom_id, None, start)
    }

    /// Starts a process; with an idempotency key already used, answers with the
    /// process that key started (`existing`) and changes nothing.
    pub(super) fn start_keyed_process(
        &mut self,
        now: Millis,
        process_id: ProcessId,
        custom_id: Option<String>,
        idempotency_key: Option<&str>,
        start: &TaskSpec,
    ) -> CommandResult {
        if let Some(existing) = idempotency_key.and_then(|k| self.idempotency.get(k)) {
            if let Some(p) = self.processes.get(existing) {
                return Ok(Reply::Started(StartProcessResponse {
                    process_id: p.process_id,
                    task_id: p.start_task,
                    existing: true,
                }));
            }
        }
        // A repeated start of the same process (a client retrying) answers the same.
        if let Some(p) = self.processes.get(&process_id) {
            return if p.start_task == start.task_id {
                Ok(Reply::Started(StartProcessResponse {
                    process_id,
                    task_id: start.task_id,
                    existing: false,
                }))
            } else {
                Err(CommandError::Conflict(format!(
                    "process {process_id} already exists"
                )))
            };
        }
        if self.tasks.contains_key(&start.task_id) {
            return Err(CommandError::Conflict(format!(
                "task {} already exists",
                start.task_id
            )));
        }
        let mut awaits = false;
        start.for_each_dependency(&mut |_| awaits = true);
        let mut any_promise = false;
        start
            .args
            .iter()
            .for_each(|a| a.for_each_promise(&mut |_| any_promise = true));
        if awaits || any_promise {
            return Err(CommandError::Invalid(
                "a start task cannot take promises: nothing exists yet to wait for".into(),
            ));
        }
        super::release::check_args_depth(start)?;

        let mut spec = start.clone();
        spec.kind = TaskKind::DeciderStart;
        let task_id = spec.task_id;
        self.processes.insert(
            process_id,
            Box::new(ProcessRecord {
                process_id,
                custom_id,
                starter: spec.actor_id.clone(),
                start_task: task_id,
                state: ProcessState::Running,
                result: None,
                broken: None,
                started_at: now,
                ended_at: None,
                tasks: vec![task_id],
                unfinished: 1,
                idempotency_key: idempotency_key.map(str::to_string),
                last_change: now,
                history: Default::default(),
            }),
        );
        if let Some(k) = idempotency_key {
            self.idempotency.insert(k.to_string(), process_id);
        }
        self.changed.insert((now, process_id));
        self.insert_task(Box::new(TaskRecord::new(spec, process_id, None, now)));
        self.record(
            process_id,
            super::Event::new(EventKind::Started, now).task(task_id),
        );
        self.make_ready(task_id, now);
        self.effects.started.push(process_id);
        tracing::debug!(%process_id, %task_id, "process started");
        Ok(Reply::Started(StartProcessResponse {
            process_id,
            task_id,
            existing: false,
        }))
    }
}
