//! [`ProcessClient`]: starting processes and waiting for their results.
//!
//! The starter's side of the broker: it creates a process (its start task on a
//! decider) and later reads its state. Process and start-task ids are minted here
//! rather than by the broker, so the caller knows the id even when the answer to the
//! start is lost, and a start retried after a failover is answered by the broker as
//! the same start (same process id and start task id) rather than run twice.

use crate::transport::{Backoff, Transport};
use crate::{CallOptions, Error, IntoActorId, IntoArgs, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use suslik_broker::model::history::HistoryEvent;
use suslik_broker::model::ops::{AbortAnswer, AbortRequest};
use suslik_broker::model::schedule::{CreateSchedule, Schedule};
use suslik_broker::model::signal::{ResolvePromiseRequest, ResolvePromiseResponse};
use suslik_broker::model::wire::{
    ProcessView, StartProcessRequest, StartProcessResponse, TaskView,
};
use suslik_broker::model::{ErrorInfo, JsonValue, Millis, ProcessId, ProcessState, TaskId};

/// Options of a process start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartOptions {
    custom_id: Option<String>,
    idempotency_key: Option<String>,
    unique_custom_id: bool,
    process_id: Option<ProcessId>,
    task_id: Option<TaskId>,
    call: CallOptions,
}

impl StartOptions {
    /// Defaults: a fresh process id, no custom id, default start-task options.
    pub fn new() -> Self {
        StartOptions::default()
    }

    /// A business id to find the process by (not required to be unique).
    pub fn custom_id(mut self, id: impl Into<String>) -> Self {
        self.custom_id = Some(id.into());
        self
    }

    /// Starts at most one process per key: a start with a key already used returns
    /// the process that key started (for as long as the broker keeps it) instead of
    /// starting another. At most 256 bytes.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// A business id that is also unique: a start with a custom id that a kept process
    /// (started this way) already has returns that process instead of starting
    /// another. Replaces [`StartOptions::custom_id`]; excludes an idempotency key.
    pub fn unique_custom_id(mut self, id: impl Into<String>) -> Self {
        self.custom_id = Some(id.into());
        self.unique_custom_id = true;
        self
    }

    /// Uses this process id instead of a fresh one.
    pub fn process_id(mut self, id: ProcessId) -> Self {
        self.process_id = Some(id);
        self
    }

    /// Uses this id for the start task instead of a fresh one. With a fixed
    /// [`process_id`](Self::process_id) too, starting again (e.g. after a crash of the
    /// starter) is answered as the same start instead of a conflict.
    pub fn start_task_id(mut self, id: TaskId) -> Self {
        self.task_id = Some(id);
        self
    }

    /// Options of the start task (task list, priority, delay, retry, ...).
    pub fn options(mut self, call: CallOptions) -> Self {
        self.call = call;
        self
    }
}

/// Starts processes and reads their state. Cheap to clone.
#[derive(Clone)]
pub struct ProcessClient {
    transport: Arc<dyn Transport>,
    poll: Backoff,
}

impl ProcessClient {
    /// A client over `transport`.
    pub fn new(transport: impl Transport) -> Self {
        ProcessClient::with_transport(Arc::new(transport))
    }

    /// A client over a shared transport.
    pub fn with_transport(transport: Arc<dyn Transport>) -> Self {
        ProcessClient {
            transport,
            poll: Backoff::new(Duration::from_millis(10), Duration::from_millis(500)),
        }
    }

    /// Sets how often [`wait_for_result`](Self::wait_for_result) polls the process.
    pub fn with_poll_backoff(mut self, backoff: Backoff) -> Self {
        self.poll = backoff;
        self
    }

    /// Starts a process: a start task of `method` on decider `actor` with `args`
    /// (plain values; a process has no promises to pass yet).
    pub async fn start(
        &self,
        actor: impl IntoActorId,
        method: &str,
        args: impl IntoArgs,
        options: StartOptions,
    ) -> Result<ProcessId> {
        let req = StartProcessRequest {
            actor_id: actor.into_actor_id()?,
            method: method.to_string(),
            args: args.into_args()?,
            options: options.call.to_task_options(Millis::now())?,
            custom_id: options.custom_id,
            task_id: Some(options.task_id.unwrap_or_else(TaskId::random)),
            process_id: Some(options.process_id.unwrap_or_else(ProcessId::random)),
            idempotency_key: options.idempotency_key,
            unique_custom_id: options.unique_custom_id,
        };
        Ok(self.start_request(req).await?.process_id)
    }

    /// Sends a start request as is.
    pub async fn start_request(&self, req: StartProcessRequest) -> Result<StartProcessResponse> {
        self.transport.start_process(req).await
    }

    /// The process with its tasks.
    pub async fn state(&self, id: ProcessId) -> Result<ProcessView> {
        self.transport.process(id).await
    }

    /// One task.
    pub async fn task(&self, id: TaskId) -> Result<TaskView> {
        self.transport.task(id).await
    }

    /// Resolves the external promise `task_id` (see
    /// [`DeciderContext::external_promise`](crate::DeciderContext::external_promise))
    /// with `value`: the tasks waiting on it become ready. Resolving again with the
    /// same value is answered `duplicate`; with another one it is refused (409).
    pub async fn resolve_promise(
        &self,
        task_id: TaskId,
        value: impl Serialize,
    ) -> Result<ResolvePromiseResponse> {
        let value = JsonValue::from_serialize(&value)?;
        self.transport
            .resolve_promise(task_id, ResolvePromiseRequest::Value(value))
            .await
    }

    /// Resolves the external promise `task_id` with `error`: the waiting tasks receive
    /// it as an accepted fail.
    pub async fn fail_promise(
        &self,
        task_id: TaskId,
        error: ErrorInfo,
    ) -> Result<ResolvePromiseResponse> {
        self.transport
            .resolve_promise(task_id, ResolvePromiseRequest::Error(error.into()))
            .await
    }

    /// The process's whole history, oldest first (fetched a page at a time).
    pub async fn history(&self, id: ProcessId) -> Result<Vec<HistoryEvent>> {
        const PAGE: usize = 1000;
        let mut events = Vec::new();
        loop {
            let page = self.transport.history(id, events.len(), PAGE).await?;
            let got = page.items.len();
            events.extend(page.items);
            if got == 0 || events.len() >= page.total {
                return Ok(events);
            }
        }
    }

    /// Aborts processes (Taskurotta's terminate): running or broken ones end as
    /// `aborted`, their queued tasks are dropped and later releases of their tasks are
    /// refused. Ended ones are skipped; the answer counts both. `reason` goes into
    /// their history.
    pub async fn abort(
        &self,
        ids: impl IntoIterator<Item = ProcessId>,
        reason: Option<&str>,
    ) -> Result<AbortAnswer> {
        let req = AbortRequest {
            process_ids: Some(ids.into_iter().collect()),
            filter: None,
            reason: reason.map(str::to_string),
        };
        self.transport.abort(req).await
    }

    /// Creates a schedule: a named recurring start of processes (`cron` or
    /// `interval_ms`, see the broker's docs). Needs the operator token when access
    /// control is on.
    pub async fn create_schedule(&self, req: CreateSchedule) -> Result<Schedule> {
        self.transport.create_schedule(req).await
    }

    /// A schedule, with how often it fired.
    pub async fn schedule(&self, name: &str) -> Result<Schedule> {
        self.transport.schedule(name.to_string()).await
    }

    /// Starts the schedule's process now, outside its ticks; returns the process.
    pub async fn run_schedule(&self, name: &str) -> Result<ProcessId> {
        Ok(self
            .transport
            .run_schedule(name.to_string())
            .await?
            .process_id)
    }

    /// Deletes a schedule (processes it started go on); answers it as it was.
    pub async fn delete_schedule(&self, name: &str) -> Result<Schedule> {
        self.transport.delete_schedule(name.to_string()).await
    }

    /// Waits until the process is finished or broken, and returns its view. Transient
    /// transport failures are retried until `timeout`.
    pub async fn wait_for_end(&self, id: ProcessId, timeout: Duration) -> Result<ProcessView> {
        self.wait_until(id, timeout, |v| v.state != ProcessState::Running)
            .await
    }

    /// Polls the process until `done` holds for its view.
    async fn wait_until(
        &self,
        id: ProcessId,
        timeout: Duration,
        done: impl Fn(&ProcessView) -> bool,
    ) -> Result<ProcessView> {
        let deadline = Instant::now() + timeout;
        let mut step = 0;
        loop {
            match self.transport.process(id).await {
                Ok(view) if done(&view) => return Ok(view),
                Ok(_) => {}
                Err(e) if e.is_retryable() => {
                    tracing::debug!(process = %id, error = %e, "process state unavailable, retrying");
                }
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(timeout));
            }
            tokio::time::sleep(self.poll.delay(step).min(deadline - now)).await;
            step = step.saturating_add(1);
        }
    }

    /// Waits for the process's result and decodes it as `T`. The result is there as
    /// soon as the start task's promise resolves, possibly before the process finishes
    /// (a no-wait side task may still run).
    ///
    /// Errors: [`Error::ProcessBroken`] if a task failed with an unaccepted error,
    /// [`Error::ProcessAborted`] if an operator aborted it, [`Error::ProcessFailed`]
    /// if the process resolved with an (accepted) error instead of a value,
    /// [`Error::Timeout`] if no result is there at `timeout`.
    pub async fn wait_for_result<T: DeserializeOwned>(
        &self,
        id: ProcessId,
        timeout: Duration,
    ) -> Result<T> {
        let view = self
            .wait_until(id, timeout, |v| {
                v.state != ProcessState::Running || v.result.is_some() || v.error.is_some()
            })
            .await?;
        result_of(view)
    }
}

/// The typed result of a process whose start promise resolved, or why there is none.
fn result_of<T: DeserializeOwned>(view: ProcessView) -> Result<T> {
    match view.state {
        ProcessState::Broken => Err(Error::ProcessBroken {
            process_id: view.process_id,
            broken: view.broken.map(Box::new),
        }),
        ProcessState::Aborted => Err(Error::ProcessAborted {
            process_id: view.process_id,
        }),
        ProcessState::Running if view.result.is_none() && view.error.is_none() => Err(
            Error::Invalid(format!("process {} is still running", view.process_id)),
        ),
        ProcessState::Finished | ProcessState::Running => match (view.result, view.error) {
            (Some(v), _) => Ok(v.decode()?),
            (None, Some(error)) => Err(Error::ProcessFailed {
                process_id: view.process_id,
                error,
            }),
            (None, None) => Ok(serde_json::from_str("null")?),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suslik_broker::model::{ActorId, BrokenInfo, ErrorInfo, JsonValue};

    fn view(state: ProcessState) -> ProcessView {
        ProcessView {
            process_id: ProcessId::random(),
            custom_id: None,
            starter: ActorId::new("d#1").expect("valid"),
            start_task_id: TaskId::random(),
            state,
            result: None,
            error: None,
            broken: None,
            started_at: Millis(1),
            ended_at: None,
            tasks: Vec::new(),
        }
    }

    #[test]
    fn finished_broken_and_failed_processes_map_to_results() {
        let mut ok = view(ProcessState::Finished);
        ok.result = Some(JsonValue::from_text("\"hi\"").expect("json"));
        assert_eq!(result_of::<String>(ok).ok().as_deref(), Some("hi"));

        assert!(result_of::<()>(view(ProcessState::Finished)).is_ok());

        let mut failed = view(ProcessState::Finished);
        failed.error = Some(ErrorInfo::new("pay.Declined", "no"));
        assert!(
            matches!(result_of::<String>(failed), Err(Error::ProcessFailed { ref error, .. }) if error.error_type == "pay.Declined")
        );

        let mut broken = view(ProcessState::Broken);
        broken.broken = Some(BrokenInfo {
            task_id: TaskId::random(),
            actor_id: ActorId::new("w#1").expect("valid"),
            error: ErrorInfo::new("panic", "kaput"),
            at: Millis(2),
        });
        let err = result_of::<String>(broken).expect_err("broken");
        assert!(err.to_string().contains("panic: kaput"), "{err}");

        let mut early = view(ProcessState::Running);
        early.result = Some(JsonValue::from_text("7").expect("json"));
        assert_eq!(
            result_of::<i64>(early).ok(),
            Some(7),
            "result before the end"
        );
        assert!(matches!(
            result_of::<i64>(view(ProcessState::Running)),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            result_of::<i64>(view(ProcessState::Aborted)),
            Err(Error::ProcessAborted { .. })
        ));

        let mut wrong = view(ProcessState::Finished);
        wrong.result = Some(JsonValue::from_text("1").expect("json"));
        assert!(matches!(
            result_of::<String>(wrong),
            Err(Error::Serialization(_))
        ));
    }
}
