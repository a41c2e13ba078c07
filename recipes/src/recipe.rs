//! [`Recipe`]: a named demo that starts its processes and checks their results.
//!
//! The container (bootstrap) and the tests drive recipes only through this type, so
//! a recipe's demo batch and its expectations live next to its actors, in its module.

use crate::check::{Checks, Deadline};
use crate::{
    delayed, fanout, heartbeat, hello, nowait, order, pcollection, priority, recursion, retry,
    scheduled, signal, subprocess, wait,
};
use std::fmt;
use std::time::Duration;
use suslik_client::{Error, ProcessClient};

/// One recipe: its name, what it shows, and its demo batch of processes.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Short name (the module name): `hello`, `fanout`, ...
    pub name: &'static str,
    /// One sentence on the Taskurotta behaviour it shows.
    pub about: &'static str,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Hello,
    Fanout,
    Priority,
    Retry,
    Order,
    Subprocess,
    Signal,
    Delayed,
    Pcollection,
    Recursion,
    Nowait,
    Heartbeat,
    Scheduled,
    Wait,
}

/// The recipes, in the order they are best read.
pub fn all() -> Vec<Recipe> {
    let r = |name, about, kind| Recipe { name, about, kind };
    vec![
        r("hello", hello::ABOUT, Kind::Hello),
        r("fanout", fanout::ABOUT, Kind::Fanout),
        r("priority", priority::ABOUT, Kind::Priority),
        r("retry", retry::ABOUT, Kind::Retry),
        r("order", order::ABOUT, Kind::Order),
        r("subprocess", subprocess::ABOUT, Kind::Subprocess),
        r("signal", signal::ABOUT, Kind::Signal),
        r("delayed", delayed::ABOUT, Kind::Delayed),
        r("pcollection", pcollection::ABOUT, Kind::Pcollection),
        r("recursion", recursion::ABOUT, Kind::Recursion),
        r("nowait", nowait::ABOUT, Kind::Nowait),
        r("heartbeat", heartbeat::ABOUT, Kind::Heartbeat),
        r("scheduled", scheduled::ABOUT, Kind::Scheduled),
        r("wait", wait::ABOUT, Kind::Wait),
    ]
}

impl Recipe {
    /// Starts this recipe's demo processes through `processes`, waits (up to
    /// `timeout` for all of them) for them to end, checks each result against the
    /// expected one, and returns a printable report.
    ///
    /// The recipe's actors must be running somewhere (see [`crate::workers`],
    /// [`crate::deciders`], [`crate::task_lists`]). A process that breaks or does not
    /// end in time makes the report not `ok`; only a broker that cannot be reached
    /// or refuses a request is an `Err`.
    pub async fn run(
        &self,
        processes: &ProcessClient,
        timeout: Duration,
    ) -> Result<RecipeReport, Error> {
        let deadline = Deadline::after(timeout);
        let mut checks = Checks::new();
        match self.kind {
            Kind::Hello => hello::demo(processes, deadline, &mut checks).await?,
            Kind::Fanout => fanout::demo(processes, deadline, &mut checks).await?,
            Kind::Priority => priority::demo(processes, deadline, &mut checks).await?,
            Kind::Retry => retry::demo(processes, deadline, &mut checks).await?,
            Kind::Order => order::demo(processes, deadline, &mut checks).await?,
            Kind::Subprocess => subprocess::demo(processes, deadline, &mut checks).await?,
            Kind::Signal => signal::demo(processes, deadline, &mut checks).await?,
            Kind::Delayed => delayed::demo(processes, deadline, &mut checks).await?,
            Kind::Pcollection => pcollection::demo(processes, deadline, &mut checks).await?,
            Kind::Recursion => recursion::demo(processes, deadline, &mut checks).await?,
            Kind::Nowait => nowait::demo(processes, deadline, &mut checks).await?,
            Kind::Heartbeat => heartbeat::demo(processes, deadline, &mut checks).await?,
            Kind::Scheduled => scheduled::demo(processes, deadline, &mut checks).await?,
            Kind::Wait => wait::demo(processes, deadline, &mut checks).await?,
        }
        Ok(RecipeReport {
            recipe: self.name,
            lines: checks.lines,
            ok: checks.ok,
        })
    }
}

/// What a recipe's demo ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeReport {
    /// The recipe's name.
    pub recipe: &'static str,
    /// One human-readable line per process, e.g. `"fan-out 7 → 27"`; a line that did
    /// not match its expectation ends with `✗ (expected: …)`.
    pub lines: Vec<String>,
    /// Whether every process ended as expected.
    pub ok: bool,
}

impl fmt::Display for RecipeReport {
    /// `recipe hello: ok` followed by the lines, indented, one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.ok { "ok" } else { "FAILED" };
        writeln!(f, "recipe {}: {verdict}", self.recipe)?;
        for line in &self.lines {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}
