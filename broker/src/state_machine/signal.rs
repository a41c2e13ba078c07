//! External promises (signals): tasks a decider spawns that no actor executes.
//!
//! An external promise is registered like any task of a decision but never enqueued:
//! it stays `Waiting` with nothing to wait for until an outside caller resolves it
//! (`ResolvePromise`, e.g. "payment confirmed") or its timeout fires. Resolution goes
//! through the ordinary [`State::resolve`], so the tasks waiting on it become ready
//! exactly as after a release. An error, from the caller or the timeout
//! (`suslik.Timeout`), resolves the promise as an accepted fail: the waiting decider
//! receives the error in its argument and decides what to do.

use super::{
    CommandError, CommandResult, Detail, Reply, Resolution, State, TaskRecord, TaskStatus,
};
use crate::model::history::EventKind;
use crate::model::{ErrorInfo, Millis, ProcessState, TaskId, TaskKind, TaskSpec};

/// The error type of a timed-out external promise (and, for D's worker timeouts, task).
pub const TIMEOUT_ERROR: &str = "suslik.Timeout";

impl State {
    /// Registers a new external promise of a decision: arms its timeout, enqueues nothing.
    pub(super) fn register_external(&mut self, id: TaskId) {
        if let Some(at) = self.tasks.get(&id).and_then(|t| promise_deadline(t)) {
            self.timers.arm(id, at);
            self.effects.timer_armed = true;
        }
    }

    /// Resolves an external promise from outside. Resolving again with the same
    /// resolution answers `duplicate`; with another one is a conflict.
    pub(super) fn resolve_promise(
        &mut self,
        now: Millis,
        id: TaskId,
        resolution: &Resolution,
    ) -> CommandResult {
        let task = self.tasks.get(&id).ok_or(CommandError::UnknownTask(id))?;
        if task.spec.kind != TaskKind::External {
            return Err(CommandError::Conflict(format!(
                "task {id} is a {:?} task, not an external promise",
                task.spec.kind
            )));
        }
        if let Some(r) = task.resolution() {
            return if r == resolution {
                Ok(Reply::PromiseResolved { duplicate: true })
            } else {
                Err(CommandError::Conflict(format!(
                    "external promise {id} is already resolved with something else"
                )))
            };
        }
        let running = self
            .processes
            .get(&task.process_id)
            .is_some_and(|p| p.state == ProcessState::Running);
        if !running {
            return Err(CommandError::Conflict(format!(
                "the process of external promise {id} is not running"
            )));
        }
        let process_id = task.process_id;
        self.record_task(id, EventKind::PromiseResolved, now, |e| match resolution {
            Resolution::Value(_) => e.detail(Detail::Value),
            Resolution::Fail(err) => e.detail(Detail::Error).error_type(&err.error_type),
        });
        self.settle_external(id, resolution.clone(), now);
        self.touch(process_id, now);
        tracing::info!(task_id = %id, error = matches!(resolution, Resolution::Fail(_)), "external promise resolved");
        Ok(Reply::PromiseResolved { duplicate: false })
    }

    /// Called by the timer loop for an external promise whose deadline came: resolves
    /// it with `suslik.Timeout` if it is still pending. Returns whether it did.
    pub(super) fn time_out_promise(&mut self, id: TaskId, now: Millis) -> bool {
        let Some(task) = self.tasks.get(&id) else {
            return false;
        };
        let pending = task.spec.kind == TaskKind::External
            && task.status == TaskStatus::Waiting
            && task.resolution().is_none()
            && promise_deadline(task).is_some_and(|at| at <= now);
        let running = self
            .processes
            .get(&task.process_id)
            .is_some_and(|p| p.state == ProcessState::Running);
        if !pending || !running {
            return false;
        }
        let ms = task.spec.options.timeout_ms.unwrap_or_default();
        let error = ErrorInfo::new(
            TIMEOUT_ERROR,
            format!(
                "external promise {:?} not resolved within {ms} ms",
                task.spec.method
            ),
        );
        tracing::info!(task_id = %id, "external promise timed out");
        self.record_task(id, EventKind::TimedOut, now, |e| {
            e.error_type(TIMEOUT_ERROR).detail(Detail::ExternalPromise)
        });
        self.settle_external(id, Resolution::Fail(error), now);
        true
    }

    fn settle_external(&mut self, id: TaskId, resolution: Resolution, now: Millis) {
        if let Some(task) = self.tasks.get_mut(&id) {
            if let Resolution::Fail(e) = &resolution {
                task.last_error = Some(e.clone());
            }
            if let Some(at) = promise_deadline(task) {
                self.timers.cancel(id, at);
            }
        }
        // Released like a worker task: the process's unfinished count drops with it.
        self.finish_task(id, now);
        self.resolve(id, resolution, now);
    }
}

/// When an external promise times out (`None`: no timeout, or not an external promise).
pub(super) fn promise_deadline(task: &TaskRecord) -> Option<Millis> {
    if task.spec.kind != TaskKind::External {
        return None;
    }
    let ms = task.spec.options.timeout_ms?;
    Some(task.created_at.plus(ms))
}

/// An external promise takes no promises: nothing would ever hand it out once they
/// resolve.
pub(super) fn check_external(spec: &TaskSpec) -> Result<(), CommandError> {
    if spec.kind != TaskKind::External {
        return Ok(());
    }
    let mut promises = spec.options.wait_for.len();
    spec.args
        .iter()
        .for_each(|a| a.for_each_promise(&mut |_| promises += 1));
    if promises > 0 {
        return Err(CommandError::Invalid(format!(
            "task {}: an external promise cannot wait for promises",
            spec.task_id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Command;
    use super::*;
    use crate::model::{
        ActorId, Arg, Decision, JsonValue, Outcome, ProcessId, QueueKey, ResolvedArg, TaskList,
        TaskOptions,
    };

    const LEASE: Millis = Millis(1_000_000);

    fn spec(actor: &str, method: &str, kind: TaskKind, args: Vec<Arg>) -> TaskSpec {
        TaskSpec {
            task_id: TaskId::random(),
            actor_id: ActorId::new(actor).unwrap(),
            method: method.into(),
            kind,
            args,
            options: TaskOptions::default(),
        }
    }

    fn key(actor: &str) -> QueueKey {
        QueueKey::new(ActorId::new(actor).unwrap(), TaskList::default())
    }

    /// A process whose decider spawned an external promise (with `timeout_ms`) and a
    /// decider step that takes it. Returns (state, external id, step id).
    fn waiting_for_signal(timeout_ms: Option<u64>) -> (State, TaskId, TaskId) {
        let mut s = State::default();
        let start = spec("shop#1", "start", TaskKind::DeciderStart, vec![]);
        s.apply(&Command::StartProcess {
            now: Millis(0),
            process_id: ProcessId::random(),
            custom_id: None,
            idempotency_key: None,
            start: start.clone(),
        })
        .unwrap();
        s.lease(&key("shop#1"), 1, Millis(0), LEASE);
        let mut signal = spec("shop#1", "payment confirmed", TaskKind::External, vec![]);
        signal.options.timeout_ms = timeout_ms;
        let step = spec(
            "shop#1",
            "ship",
            TaskKind::Decider,
            vec![Arg::Promise {
                task_id: signal.task_id,
                no_wait: false,
            }],
        );
        let (signal_id, step_id) = (signal.task_id, step.task_id);
        s.apply(&Command::Release {
            now: Millis(10),
            decision: Decision {
                task_id: start.task_id,
                process_id: None,
                outcome: Outcome::Promise(step.task_id),
                tasks: vec![signal, step],
                restart_at: None,
                execution_ms: None,
                attempt: None,
                delivery_id: None,
                delivered_at: None,
            },
        })
        .unwrap();
        (s, signal_id, step_id)
    }

    fn resolve(s: &mut State, id: TaskId, r: Resolution) -> CommandResult {
        s.apply(&Command::ResolvePromise {
            now: Millis(50),
            task_id: id,
            resolution: r,
        })
    }

    fn value(text: &str) -> Resolution {
        Resolution::Value(JsonValue::from_text(text).unwrap())
    }

    #[test]
    fn an_external_promise_is_never_handed_out_and_resolving_it_readies_its_waiters() {
        let (mut s, signal, step) = waiting_for_signal(None);
        assert!(
            s.lease(&key("shop#1"), 10, Millis(0), LEASE).is_empty(),
            "nothing to hand out"
        );
        assert_eq!(s.next_timer(), None);

        assert_eq!(
            resolve(&mut s, signal, value(r#"{"paid":true}"#)),
            Ok(Reply::PromiseResolved { duplicate: false })
        );
        let got = s.lease(&key("shop#1"), 10, Millis(0), LEASE);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].task_id, step);
        assert!(
            matches!(&got[0].args[0], ResolvedArg::Value(v) if v.as_str() == r#"{"paid":true}"#)
        );

        let pid = s.tasks[&signal].process_id;
        let history = s.history(&pid, 0, 100).unwrap().items;
        let resolved = history
            .iter()
            .find(|e| e.event == EventKind::PromiseResolved)
            .expect("promise_resolved recorded");
        assert_eq!(
            (resolved.task_id, resolved.detail.as_deref()),
            (Some(signal), Some("value"))
        );

        // The same resolution again is answered as done; another one is a conflict.
        assert_eq!(
            resolve(&mut s, signal, value(r#"{"paid":true}"#)),
            Ok(Reply::PromiseResolved { duplicate: true })
        );
        assert!(matches!(
            resolve(&mut s, signal, value("false")),
            Err(CommandError::Conflict(_))
        ));
    }

    #[test]
    fn only_external_promises_can_be_resolved_from_outside() {
        let (mut s, _, step) = waiting_for_signal(None);
        assert!(matches!(
            resolve(&mut s, step, value("1")),
            Err(CommandError::Conflict(m)) if m.contains("not an external promise")
        ));
        let unknown = TaskId::random();
        assert_eq!(
            resolve(&mut s, unknown, value("1")),
            Err(CommandError::UnknownTask(unknown))
        );
    }

    #[test]
    fn an_unresolved_promise_times_out_into_an_error_its_waiter_receives() {
        let (mut s, signal, step) = waiting_for_signal(Some(100));
        assert_eq!(
            s.next_timer(),
            Some(Millis(110)),
            "created at 10, 100 ms timeout"
        );
        s.apply(&Command::FireTimers { now: Millis(109) }).unwrap();
        assert!(s.lease(&key("shop#1"), 10, Millis(0), LEASE).is_empty());

        assert_eq!(
            s.apply(&Command::FireTimers { now: Millis(110) }),
            Ok(Reply::Fired(1))
        );
        let got = s.lease(&key("shop#1"), 10, Millis(0), LEASE);
        assert_eq!(got[0].task_id, step);
        assert!(
            matches!(&got[0].args[0], ResolvedArg::Error(e) if e.error_type == TIMEOUT_ERROR),
            "{:?}",
            got[0].args
        );
        let pid = s.tasks[&signal].process_id;
        let history = s.history(&pid, 0, 100).unwrap().items;
        assert!(history.iter().any(|e| e.event == EventKind::TimedOut
            && e.task_id == Some(signal)
            && e.error_type.as_deref() == Some(TIMEOUT_ERROR)));

        // Too late now: the promise resolved with the timeout.
        assert!(matches!(
            resolve(&mut s, signal, value("1")),
            Err(CommandError::Conflict(_))
        ));
    }

    #[test]
    fn resolving_in_time_disarms_the_timeout() {
        let (mut s, signal, _) = waiting_for_signal(Some(100));
        resolve(
            &mut s,
            signal,
            Resolution::Fail(ErrorInfo::new("pay.Declined", "no")),
        )
        .unwrap();
        assert_eq!(s.next_timer(), None);
        assert_eq!(
            s.apply(&Command::FireTimers { now: Millis(500) }),
            Ok(Reply::Fired(0))
        );
        let got = s.lease(&key("shop#1"), 10, Millis(0), LEASE);
        assert!(matches!(&got[0].args[0], ResolvedArg::Error(e) if e.error_type == "pay.Declined"));
    }

    #[test]
    fn an_external_promise_cannot_wait_for_promises() {
        let mut bad = spec("shop#1", "signal", TaskKind::External, vec![]);
        bad.options.wait_for = vec![TaskId::random()];
        assert!(matches!(
            check_external(&bad),
            Err(CommandError::Invalid(_))
        ));
        bad.options.wait_for.clear();
        assert!(check_external(&bad).is_ok());
    }

    #[test]
    fn external_promises_survive_a_snapshot_unqueued_and_armed() {
        let (s, signal, _) = waiting_for_signal(Some(100));
        let mut restored = State::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
        assert!(restored
            .lease(&key("shop#1"), 10, Millis(0), LEASE)
            .is_empty());
        assert_eq!(restored.next_timer(), Some(Millis(110)));
        assert!(resolve(&mut restored, signal, value("1")).is_ok());
    }
}
