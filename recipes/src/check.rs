//! What every recipe's demo does after starting its processes: wait for each one
//! (within one deadline for the whole recipe), and compare what it ended with to what
//! it should have ended with, as one printable line per process.
//!
//! Only a broker that cannot be reached or refuses a request is an `Err`: a process
//! that broke, failed or ran out of time is a result like any other, and simply does
//! not match its expectation.

use serde::de::DeserializeOwned;
use std::fmt::Display;
use std::time::{Duration, Instant};
use suslik_client::{Error, ErrorInfo, ProcessClient, ProcessId};

/// The end of the time given to one recipe.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Self {
        Deadline(Instant::now() + timeout)
    }

    /// Time left (zero once passed).
    pub(crate) fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

/// How a process ended, as far as a recipe cares.
#[derive(Debug)]
pub(crate) enum Ended<T> {
    /// Finished with a value.
    Value(T),
    /// Broken by an unaccepted error (of this task error, when the broker says).
    Broken(Option<ErrorInfo>),
    /// Anything else: finished with an error, a result of the wrong shape, still
    /// running at the deadline.
    Other(String),
}

impl<T> Ended<T> {
    /// One word-or-so description: `f(value)` for a value, else what went wrong.
    pub(crate) fn describe(self, f: impl FnOnce(T) -> String) -> String {
        match self {
            Ended::Value(v) => f(v),
            Ended::Broken(Some(e)) => format!("broken by {}: {}", e.error_type, e.message),
            Ended::Broken(None) => "broken".to_string(),
            Ended::Other(why) => why,
        }
    }
}

/// Waits for process `id` until `deadline` and decodes its result as `T`.
pub(crate) async fn ended<T: DeserializeOwned>(
    processes: &ProcessClient,
    id: ProcessId,
    deadline: Deadline,
) -> Result<Ended<T>, Error> {
    match processes
        .wait_for_result::<T>(id, deadline.remaining())
        .await
    {
        Ok(v) => Ok(Ended::Value(v)),
        Err(Error::ProcessBroken { broken, .. }) => Ok(Ended::Broken(broken.map(|b| b.error))),
        Err(e @ (Error::ProcessFailed { .. } | Error::Serialization(_) | Error::Timeout(_))) => {
            Ok(Ended::Other(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// The lines of a report being built.
#[derive(Debug)]
pub(crate) struct Checks {
    pub(crate) lines: Vec<String>,
    pub(crate) ok: bool,
}

impl Checks {
    pub(crate) fn new() -> Self {
        Checks {
            lines: Vec::new(),
            ok: true,
        }
    }

    /// Adds `"{label} → {actual}"`, marked and failing the report when `actual` is not
    /// `expected`.
    pub(crate) fn expect(&mut self, label: impl Display, actual: String, expected: String) {
        if actual == expected {
            self.lines.push(format!("{label} → {actual}"));
        } else {
            self.ok = false;
            self.lines
                .push(format!("{label} → {actual} ✗ (expected: {expected})"));
        }
    }
}

/// Dollars and cents for report lines: `1250` → `$12.50`.
pub(crate) fn money(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatches_are_marked_and_fail_the_report() {
        let mut c = Checks::new();
        c.expect("fan-out 7", "27".into(), "27".into());
        assert!(c.ok);
        c.expect("fan-out 8", "29".into(), "30".into());
        assert!(!c.ok);
        assert_eq!(c.lines[0], "fan-out 7 → 27");
        assert_eq!(c.lines[1], "fan-out 8 → 29 ✗ (expected: 30)");
        assert_eq!(money(1250), "$12.50");
        assert_eq!(money(7), "$0.07");
    }

    #[test]
    fn endings_describe_themselves() {
        let broken: Ended<i64> = Ended::Broken(Some(ErrorInfo::new("net.Timeout", "slow")));
        assert_eq!(
            broken.describe(|v| v.to_string()),
            "broken by net.Timeout: slow"
        );
        assert_eq!(Ended::Value(3).describe(|v| v.to_string()), "3");
    }
}
