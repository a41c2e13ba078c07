//! [`DeciderContext`]: where a decider records the tasks it spawns.
//!
//! Calls return promises immediately and never fail at the call site: a malformed
//! actor id, an unserializable argument or a failed promise used as an argument is
//! recorded as a problem instead, and the whole decision is released as a
//! `suslik.InvalidDecision` error. That keeps decider code a straight line of calls
//! (as in Taskurotta) while still never sending a half-valid decision.
//!
//! The context is a cheap handle (clones share one record) so that typed decider
//! closures can take it by value into `async move` blocks.

use super::DeciderOutput;
use super::RetryPolicies;
use crate::task_error::INVALID_DECISION;
use crate::{CallOptions, IntoActorId, IntoArgs, Promise, TaskContext, TaskError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use suslik_broker::model::{
    ActorId, Decision, Millis, Outcome, TaskId, TaskKind, TaskOptions, TaskSpec,
};

/// Records the calls of one decider step.
///
/// Typed stubs (Taskurotta's client interfaces) are a few lines over [`call`](Self::call):
///
/// ```
/// use suslik_client::{CallOptions, DeciderContext, IntoArg, Promise};
///
/// /// The `calc#1` worker, as deciders see it.
/// struct Calc(DeciderContext);
///
/// impl Calc {
///     /// `a` and `b` may be values or promises.
///     fn add(&self, a: impl IntoArg, b: impl IntoArg) -> Promise<i64> {
///         self.0.call("calc#1", "add", (a, b), CallOptions::new())
///     }
/// }
///
/// fn decide(ctx: DeciderContext) -> Promise<i64> {
///     let calc = Calc(ctx.clone());
///     let three = calc.add(1, 2);
///     calc.add(&three, 4) // runs once `three` resolves
/// }
/// ```
#[derive(Debug, Clone)]
pub struct DeciderContext {
    task: TaskContext,
    record: Arc<Mutex<Record>>,
    retry_policies: Option<Arc<RetryPolicies>>,
}

#[derive(Debug, Default)]
struct Record {
    tasks: Vec<TaskSpec>,
    problems: Vec<String>,
}

impl DeciderContext {
    /// A fresh context for executing the task described by `task`.
    pub fn new(task: TaskContext) -> Self {
        DeciderContext {
            task,
            record: Arc::new(Mutex::new(Record::default())),
            retry_policies: None,
        }
    }

    /// Applies `policies` to the calls this context records (see [`RetryPolicies`]).
    pub fn with_retry_policies(mut self, policies: Option<Arc<RetryPolicies>>) -> Self {
        self.retry_policies = policies;
        self
    }

    /// The task being decided (ids, attempt, ...).
    pub fn task(&self) -> &TaskContext {
        &self.task
    }

    /// Calls `method` of worker `actor`; returns the promise of its result.
    ///
    /// `args` is a tuple mixing values and promises: `(1, &p, vec![p1, p2], p3.no_wait())`.
    pub fn call<T>(
        &self,
        actor: impl IntoActorId,
        method: &str,
        args: impl IntoArgs,
        options: CallOptions,
    ) -> Promise<T> {
        self.record_call(
            actor.into_actor_id().map_err(|e| e.to_string()),
            TaskKind::Worker,
            method,
            args,
            &options,
        )
    }

    /// Calls `method` of another decider `actor` (a decider step of that actor).
    pub fn call_decider<T>(
        &self,
        actor: impl IntoActorId,
        method: &str,
        args: impl IntoArgs,
        options: CallOptions,
    ) -> Promise<T> {
        self.record_call(
            actor.into_actor_id().map_err(|e| e.to_string()),
            TaskKind::Decider,
            method,
            args,
            &options,
        )
    }

    /// Calls `method` of this decider as a later step (Taskurotta's
    /// `@Asynchronous`): it runs once the promises among `args` resolve, and receives
    /// them resolved.
    pub fn call_self<T>(&self, method: &str, args: impl IntoArgs) -> Promise<T> {
        self.call_self_with(method, args, CallOptions::default())
    }

    /// [`call_self`](Self::call_self) with options (delay, `wait_for`, accepted fails...).
    pub fn call_self_with<T>(
        &self,
        method: &str,
        args: impl IntoArgs,
        options: CallOptions,
    ) -> Promise<T> {
        let me: ActorId = self.task.actor_id().clone();
        self.record_call(Ok(me), TaskKind::Decider, method, args, &options)
    }

    /// Creates an external promise (a signal) named `name`: no actor executes it; an
    /// outside caller resolves it with
    /// [`ProcessClient::resolve_promise`](crate::ProcessClient::resolve_promise) /
    /// [`fail_promise`](crate::ProcessClient::fail_promise) (or
    /// `POST /api/v1/promises/{task_id}/resolve`), passing the promise's
    /// [`task_id`](Promise::task_id) that this decider hands to whoever will resolve
    /// it. With a `timeout`, a promise still unresolved that long after this decision
    /// resolves with the error `suslik.Timeout`, which the waiting step receives like
    /// any accepted fail.
    pub fn external_promise<T>(&self, name: &str, timeout: Option<Duration>) -> Promise<T> {
        let task_id = TaskId::random();
        if name.is_empty() {
            self.lock()
                .problems
                .push("external promise: the name is empty".into());
            return Promise::pending(task_id);
        }
        let options = TaskOptions {
            timeout_ms: timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            ..TaskOptions::default()
        };
        self.spawn(TaskSpec {
            task_id,
            actor_id: self.task.actor_id().clone(),
            method: name.to_string(),
            kind: TaskKind::External,
            args: Vec::new(),
            options,
        })
    }

    /// Records a task spelled out by hand; returns the promise of its result. Its id
    /// must be fresh.
    pub fn spawn<T>(&self, spec: TaskSpec) -> Promise<T> {
        let id = spec.task_id;
        self.lock().tasks.push(spec);
        Promise::pending(id)
    }

    /// The tasks recorded so far (for tests of decider logic).
    pub fn recorded_tasks(&self) -> Vec<TaskSpec> {
        self.lock().tasks.clone()
    }

    /// The problems recorded so far (invalid calls); non-empty means the decision
    /// will be released as a `suslik.InvalidDecision` error.
    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }

    /// Turns the recorded calls and the method's reply into the release of this task.
    pub fn into_decision(
        self,
        reply: Result<DeciderOutput, TaskError>,
        execution_ms: Option<u64>,
    ) -> Decision {
        let record = std::mem::take(&mut *self.lock());
        let reply = if record.problems.is_empty() {
            reply
        } else {
            Err(TaskError::new(INVALID_DECISION, record.problems.join("; ")))
        };
        let (outcome, tasks, restart_at) = match reply {
            Ok(DeciderOutput::Value(v)) => (Outcome::Value(v), record.tasks, None),
            Ok(DeciderOutput::Promise(id)) => (Outcome::Promise(id), record.tasks, None),
            Err(e) => {
                let (info, retry_at) = e.into_parts();
                (Outcome::Error(info), Vec::new(), retry_at)
            }
        };
        Decision {
            task_id: self.task.task_id(),
            process_id: Some(self.task.process_id()),
            outcome,
            tasks,
            restart_at,
            execution_ms,
            attempt: Some(self.task.attempt()),
            delivery_id: Some(self.task.delivery_id()),
            delivered_at: None,
        }
    }

    fn record_call<T>(
        &self,
        actor: Result<ActorId, String>,
        kind: TaskKind,
        method: &str,
        args: impl IntoArgs,
        options: &CallOptions,
    ) -> Promise<T> {
        let task_id = TaskId::random();
        let spec = actor.and_then(|actor_id| {
            let args = args.into_args().map_err(|e| e.to_string())?;
            let mut options = options
                .to_task_options(Millis::now())
                .map_err(|e| e.to_string())?;
            if options.retry.is_none() {
                options.retry = self
                    .retry_policies
                    .as_ref()
                    .and_then(|p| p.get(&actor_id, method))
                    .cloned();
            }
            Ok(TaskSpec {
                task_id,
                actor_id,
                method: method.to_string(),
                kind,
                args,
                options,
            })
        });
        let mut record = self.lock();
        match spec {
            Ok(spec) => record.tasks.push(spec),
            Err(problem) => record
                .problems
                .push(format!("call of {method:?}: {problem}")),
        }
        Promise::pending(task_id)
    }

    fn lock(&self) -> MutexGuard<'_, Record> {
        // A panic while holding the lock leaves a consistent Vec; keep going.
        self.record
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IntoDeciderOutput;
    use suslik_broker::model::{Arg, JsonValue};

    fn ctx() -> DeciderContext {
        let me = ActorId::new("order#1").expect("valid");
        DeciderContext::new(TaskContext::for_test(me, "start", TaskKind::DeciderStart))
    }

    #[test]
    fn an_external_promise_is_a_task_nobody_executes_with_its_timeout() {
        let ctx = ctx();
        let paid: Promise<bool> =
            ctx.external_promise("payment confirmed", Some(std::time::Duration::from_secs(2)));
        let forever: Promise<bool> = ctx.external_promise("approval", None);
        let _bad: Promise<bool> = ctx.external_promise("", None);
        let tasks = ctx.recorded_tasks();
        assert_eq!(tasks.len(), 2);
        assert_eq!(Some(tasks[0].task_id), paid.task_id());
        assert_eq!(tasks[0].kind, TaskKind::External);
        assert_eq!(tasks[0].method, "payment confirmed");
        assert_eq!(tasks[0].actor_id.as_str(), "order#1");
        assert_eq!(tasks[0].options.timeout_ms, Some(2_000));
        assert!(tasks[0].args.is_empty());
        assert_eq!(Some(tasks[1].task_id), forever.task_id());
        assert_eq!(tasks[1].options.timeout_ms, None);
        assert_eq!(ctx.problems().len(), 1, "an empty name is a problem");
    }

    #[test]
    fn calls_record_specs_and_promises_wire_them_together() {
        let ctx = ctx();
        let a: Promise<i64> = ctx.call("calc#1", "add", (1, 2), CallOptions::new());
        let b: Promise<i64> = ctx.call("calc#1", "add", (&a, 10), CallOptions::new().priority(3));
        let all: Promise<i64> = ctx.call(
            "calc#1",
            "sum",
            (vec![a.clone(), b.clone()],),
            CallOptions::new(),
        );
        let later: Promise<String> = ctx.call_self_with(
            "report",
            (&all, b.no_wait()),
            CallOptions::new().wait_for(&a),
        );
        let decision = ctx.clone().into_decision(later.into_output(), Some(3));

        let tasks = &decision.tasks;
        assert_eq!(tasks.len(), 4);
        assert_eq!(Some(tasks[0].task_id), a.task_id());
        assert_eq!(tasks[0].kind, TaskKind::Worker);
        assert_eq!(
            tasks[0].args[0],
            Arg::Value(JsonValue::from_text("1").expect("json"))
        );
        assert_eq!(
            tasks[1].args[0],
            Arg::Promise {
                task_id: tasks[0].task_id,
                no_wait: false
            }
        );
        assert_eq!(tasks[1].options.priority, 3);
        assert_eq!(
            tasks[2].args[0],
            Arg::Array(vec![
                Arg::Promise {
                    task_id: tasks[0].task_id,
                    no_wait: false
                },
                Arg::Promise {
                    task_id: tasks[1].task_id,
                    no_wait: false
                },
            ])
        );
        assert_eq!(tasks[3].actor_id.as_str(), "order#1");
        assert_eq!(tasks[3].kind, TaskKind::Decider);
        assert_eq!(
            tasks[3].args[1],
            Arg::Promise {
                task_id: tasks[1].task_id,
                no_wait: true
            }
        );
        assert_eq!(tasks[3].options.wait_for, vec![tasks[0].task_id]);
        assert_eq!(decision.outcome, Outcome::Promise(tasks[3].task_id));
        assert_eq!(decision.execution_ms, Some(3));
        assert!(
            ctx.recorded_tasks().is_empty(),
            "into_decision drains the record"
        );
    }

    #[test]
    fn invalid_calls_turn_the_decision_into_an_error_without_tasks() {
        let ctx = ctx();
        let _ok: Promise<i64> = ctx.call("calc#1", "add", (1, 2), CallOptions::new());
        let _bad: Promise<i64> = ctx.call("no version", "add", (), CallOptions::new());
        assert_eq!(ctx.problems().len(), 1);
        let d = ctx.into_decision(Ok(DeciderOutput::Value(JsonValue::null())), None);
        assert!(d.tasks.is_empty());
        assert!(matches!(d.outcome, Outcome::Error(ref e) if e.error_type == INVALID_DECISION));
    }

    #[test]
    fn a_returned_error_discards_calls_and_keeps_its_retry_time() {
        let ctx = ctx();
        let _p: Promise<i64> = ctx.call("calc#1", "add", (1, 2), CallOptions::new());
        let err = TaskError::new("stock.Unavailable", "later").retry_at(Millis(42));
        let d = ctx.into_decision(Err(err), None);
        assert!(d.tasks.is_empty());
        assert_eq!(d.restart_at, Some(Millis(42)));
        assert!(matches!(d.outcome, Outcome::Error(ref e) if e.error_type == "stock.Unavailable"));
    }
}
