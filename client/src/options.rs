//! Per-call scheduling and failure options ([`CallOptions`]).
//!
//! A builder over the broker's [`TaskOptions`] that speaks in caller terms: a delay
//! rather than an absolute time (converted when the call is recorded), promises
//! rather than task ids for `wait_for`, and a task list name that is validated when
//! the call is made rather than when the options are written.

use crate::{Promise, Result};
use std::time::Duration;
use suslik_broker::model::{Millis, RetryPolicy, TaskId, TaskList, TaskOptions};

/// Options of one call (or of a process's start task).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallOptions {
    task_list: Option<String>,
    priority: i32,
    start: Option<Start>,
    retry: Option<RetryPolicy>,
    accept_fail: Vec<String>,
    wait_for: Vec<TaskId>,
    timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Start {
    At(Millis),
    After(Duration),
}

impl CallOptions {
    /// Default options: default task list, priority 0, start at once, no retry, no
    /// accepted fails.
    pub fn new() -> Self {
        CallOptions::default()
    }

    /// Enqueues the task on a named task list of its actor (e.g. `"urgent"`), served
    /// by pollers of that list only.
    pub fn task_list(mut self, name: impl Into<String>) -> Self {
        self.task_list = Some(name.into());
        self
    }

    /// Higher priority runs first within the actor's queue.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Not handed out before `at`.
    pub fn start_at(mut self, at: Millis) -> Self {
        self.start = Some(Start::At(at));
        self
    }

    /// Not handed out before `delay` has passed from when the call is recorded.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.start = Some(Start::After(delay));
        self
    }

    /// How a failing task is retried; without one an error is final at once.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Accepts fails of this dotted error type (and its subtypes): such a fail
    /// resolves the promise with the error instead of breaking the process.
    pub fn accept_fail(mut self, error_type: impl Into<String>) -> Self {
        self.accept_fail.push(error_type.into());
        self
    }

    /// Accepts fails of every type (`*`).
    pub fn accept_any_fail(self) -> Self {
        self.accept_fail("*")
    }

    /// Also waits for `promise` without taking it as an argument (Taskurotta's
    /// `@Wait`). A promise that is already resolved adds nothing.
    pub fn wait_for<T>(mut self, promise: &Promise<T>) -> Self {
        if let Some(id) = promise.task_id() {
            self.wait_for.push(id);
        }
        self
    }

    /// [`wait_for`](Self::wait_for) for each promise.
    pub fn wait_for_all<'a, T: 'a>(
        self,
        promises: impl IntoIterator<Item = &'a Promise<T>>,
    ) -> Self {
        promises.into_iter().fold(self, |o, p| o.wait_for(p))
    }

    /// Fails the task with [`crate::error_types::TIMEOUT`] if a delivery of it is not
    /// released within `timeout` (heartbeats cannot extend past it); the retry policy
    /// and accepted fails apply as for any error.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The broker's options, with a delay turned into an absolute time after `now`.
    pub fn to_task_options(&self, now: Millis) -> Result<TaskOptions> {
        let task_list = match &self.task_list {
            Some(name) => TaskList::new(name)?,
            None => TaskList::default_list(),
        };
        let start_at = self.start.map(|s| match s {
            Start::At(at) => at,
            Start::After(d) => now.plus(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        });
        Ok(TaskOptions {
            task_list,
            priority: self.priority,
            start_at,
            retry: self.retry.clone(),
            accept_fail: self.accept_fail.clone(),
            wait_for: self.wait_for.clone(),
            timeout_ms: self
                .timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn delay_becomes_an_absolute_start_and_waits_collect_ids() {
        let (a, b) = (TaskId::random(), TaskId::random());
        let ready: Promise<i64> = Promise::ready(1);
        let opts = CallOptions::new()
            .task_list("urgent")
            .priority(7)
            .delay(Duration::from_millis(1500))
            .accept_fail("payment")
            .accept_any_fail()
            .wait_for(&Promise::<()>::pending(a))
            .wait_for_all([&Promise::<i64>::pending(b), &ready]);
        let o = opts.to_task_options(Millis(10_000)).expect("valid");
        assert_eq!(o.task_list.as_str(), "urgent");
        assert_eq!(o.priority, 7);
        assert_eq!(o.start_at, Some(Millis(11_500)));
        assert_eq!(o.accept_fail, vec!["payment".to_string(), "*".to_string()]);
        assert_eq!(o.wait_for, vec![a, b]);
        assert_eq!(o.timeout_ms, None);
        let timed = CallOptions::new().timeout(Duration::from_secs(2));
        assert_eq!(
            timed
                .to_task_options(Millis(0))
                .ok()
                .and_then(|o| o.timeout_ms),
            Some(2_000)
        );
        assert_eq!(
            CallOptions::new()
                .start_at(Millis(5))
                .to_task_options(Millis(9))
                .map(|o| o.start_at)
                .ok(),
            Some(Some(Millis(5)))
        );
    }

    #[test]
    fn a_bad_task_list_is_reported_when_used() {
        let r = CallOptions::new()
            .task_list("has space")
            .to_task_options(Millis(0));
        assert!(matches!(r, Err(Error::InvalidId(_))));
    }
}
