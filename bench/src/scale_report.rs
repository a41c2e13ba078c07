//! What a scale run measured: a table, a one-line JSON summary, and the checks that
//! make the run fail (lost starts, a recovered state that differs, an incomplete drain).

use serde::Serialize;
use std::fmt::Write as _;

/// The restart on the same data directory after a SIGKILL.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestartFigures {
    /// Spawn → the child printed its address (its `Node::start` returned).
    pub listening_s: f64,
    /// Spawn → `GET /ready` answered 200.
    pub ready_s: f64,
    /// Spawn → the first poll that returned a task.
    pub first_task_s: f64,
    /// RSS right after that poll, MiB.
    pub rss_at_first_task_mib: f64,
    /// RSS after the settle period, MiB.
    pub rss_mib: f64,
    /// Peak RSS of the recovered process (recovery included), MiB.
    pub peak_rss_mib: f64,
    /// (RSS after the restart − RSS of the empty broker) / queued tasks.
    pub bytes_per_task: f64,
    /// `GET /api/v1/stats` of the recovered node.
    pub stats: serde_json::Value,
}

/// Polling and releasing the whole backlog after the restart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrainFigures {
    /// Tasks released (receipts).
    pub tasks: u64,
    /// Releases whose receipt said the process finished.
    pub finished: u64,
    pub seconds: f64,
    pub tasks_per_s: f64,
    pub polls: u64,
    /// Decisions refused by the broker or lost with a failed request.
    pub rejected: u64,
    /// Poll or release requests that failed as a whole.
    pub failed_calls: u64,
    /// RSS at the end of the drain, MiB.
    pub rss_mib: f64,
    /// `GET /api/v1/stats` at the end of the drain.
    pub stats: serde_json::Value,
}

/// Everything one scale run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScaleReport {
    pub bench: &'static str,
    /// Tasks asked for (`--tasks`).
    pub tasks: u64,
    pub queues: u64,
    pub concurrency: usize,
    /// Starts acknowledged.
    pub started: u64,
    pub start_errors: u64,
    pub enqueue_s: f64,
    pub starts_per_s: f64,
    /// Raft log entries the starts took (group commit: many starts per entry).
    pub log_entries: Option<u64>,
    /// Server CPU seconds while starting.
    pub server_cpu_s: f64,
    /// RSS of the empty broker, MiB.
    pub rss_before_mib: f64,
    /// RSS right after the last start, MiB.
    pub rss_at_end_mib: f64,
    /// RSS after the settle period, MiB.
    pub rss_after_mib: f64,
    /// Peak RSS (`VmHWM`) up to then, MiB.
    pub peak_rss_mib: f64,
    /// (RSS after − RSS before) / started.
    pub bytes_per_task: f64,
    pub settle_s: u64,
    /// Data directory: allocated on disk and apparent, MiB.
    pub data_mib: f64,
    pub data_apparent_mib: f64,
    /// Size of the current snapshot (largest sled blob), MiB; `None` if none was taken.
    pub snapshot_mib: Option<f64>,
    /// Log index the current snapshot covers.
    pub snapshot_index: Option<u64>,
    pub last_log_index: Option<u64>,
    /// `GET /api/v1/stats` before the kill.
    pub stats: serde_json::Value,
    pub restart: RestartFigures,
    pub drain: Option<DrainFigures>,
    /// Load average (1 min) before the server started, after the starts, at the end.
    pub loadavg_1m_before: Option<f64>,
    pub loadavg_1m_enqueue: Option<f64>,
    pub loadavg_1m: Option<f64>,
}

fn row(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "| {name:<38} | {value:>16} |");
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "–".to_string(), |v| v.to_string())
}

/// A count from a stats answer.
fn count(stats: &serde_json::Value, key: &str) -> Option<u64> {
    stats.get(key)?.as_u64()
}

impl ScaleReport {
    /// The table, one metric per row.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "| {:<38} | {:>16} |", "metric", "value");
        let _ = writeln!(t, "|{:-<40}|{:->18}|", "", "");
        row(
            &mut t,
            "queued tasks (started / asked)",
            format!("{} / {}", self.started, self.tasks),
        );
        row(
            &mut t,
            "queues / starts in flight",
            format!("{} / {}", self.queues, self.concurrency),
        );
        row(&mut t, "start errors", self.start_errors);
        row(&mut t, "enqueue seconds", format!("{:.1}", self.enqueue_s));
        row(&mut t, "starts/s", format!("{:.0}", self.starts_per_s));
        if let Some(e) = self.log_entries {
            row(&mut t, "raft log entries for the starts", e);
            row(
                &mut t,
                "  starts per log entry",
                format!("{:.1}", self.started as f64 / e.max(1) as f64),
            );
        }
        row(
            &mut t,
            "server CPU while starting (s)",
            format!("{:.1}", self.server_cpu_s),
        );
        row(
            &mut t,
            "server RSS empty (MiB)",
            format!("{:.1}", self.rss_before_mib),
        );
        row(
            &mut t,
            "server RSS after last start (MiB)",
            format!("{:.1}", self.rss_at_end_mib),
        );
        row(
            &mut t,
            &format!("server RSS {} s later (MiB)", self.settle_s),
            format!("{:.1}", self.rss_after_mib),
        );
        row(
            &mut t,
            "server peak RSS (MiB)",
            format!("{:.1}", self.peak_rss_mib),
        );
        row(
            &mut t,
            "  bytes per queued task",
            format!("{:.0}", self.bytes_per_task),
        );
        row(
            &mut t,
            "data dir on disk / apparent (MiB)",
            format!("{:.1} / {:.1}", self.data_mib, self.data_apparent_mib),
        );
        row(
            &mut t,
            "snapshot (MiB)",
            self.snapshot_mib
                .map_or_else(|| "none".into(), |m| format!("{m:.1}")),
        );
        row(
            &mut t,
            "snapshot index / last log index",
            format!(
                "{} / {}",
                opt(self.snapshot_index),
                opt(self.last_log_index)
            ),
        );
        row(
            &mut t,
            "stats: processes / tasks",
            format!(
                "{} / {}",
                opt(count(&self.stats, "processes")),
                opt(count(&self.stats, "tasks"))
            ),
        );
        let r = &self.restart;
        row(
            &mut t,
            "restart: spawn → listening (s)",
            format!("{:.2}", r.listening_s),
        );
        row(
            &mut t,
            "restart: spawn → /ready 200 (s)",
            format!("{:.2}", r.ready_s),
        );
        row(
            &mut t,
            "restart: spawn → first task (s)",
            format!("{:.2}", r.first_task_s),
        );
        row(
            &mut t,
            "restart: RSS at first task (MiB)",
            format!("{:.1}", r.rss_at_first_task_mib),
        );
        row(
            &mut t,
            "restart: RSS settled (MiB)",
            format!("{:.1}", r.rss_mib),
        );
        row(
            &mut t,
            "restart: peak RSS (MiB)",
            format!("{:.1}", r.peak_rss_mib),
        );
        row(
            &mut t,
            "  bytes per queued task",
            format!("{:.0}", r.bytes_per_task),
        );
        row(
            &mut t,
            "restart: stats processes / tasks",
            format!(
                "{} / {}",
                opt(count(&r.stats, "processes")),
                opt(count(&r.stats, "tasks"))
            ),
        );
        if let Some(d) = &self.drain {
            row(&mut t, "drain: tasks released", d.tasks);
            row(&mut t, "drain: processes finished", d.finished);
            row(&mut t, "drain: seconds", format!("{:.1}", d.seconds));
            row(&mut t, "drain: tasks/s", format!("{:.0}", d.tasks_per_s));
            row(&mut t, "drain: polls", d.polls);
            row(
                &mut t,
                "drain: rejected / failed calls",
                format!("{} / {}", d.rejected, d.failed_calls),
            );
            row(
                &mut t,
                "drain: RSS at end (MiB)",
                format!("{:.1}", d.rss_mib),
            );
        }
        let la = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
        row(
            &mut t,
            "load average 1 min (before/starts/end)",
            format!(
                "{} / {} / {}",
                la(self.loadavg_1m_before),
                la(self.loadavg_1m_enqueue),
                la(self.loadavg_1m)
            ),
        );
        t
    }

    /// The one-line JSON summary.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// What went wrong, if anything: starts lost, a recovered state that differs from
    /// the one killed, a drain that did not release every task.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.start_errors > 0 || self.started < self.tasks {
            p.push(format!(
                "{} of {} starts failed",
                self.tasks - self.started.min(self.tasks),
                self.tasks
            ));
        }
        for key in ["processes", "tasks"] {
            let (before, after) = (count(&self.stats, key), count(&self.restart.stats, key));
            if before.is_none() || before != after {
                p.push(format!(
                    "{key}: {} before the kill, {} after the restart",
                    opt(before),
                    opt(after)
                ));
            }
        }
        if count(&self.stats, "tasks").unwrap_or(0) < self.started {
            p.push(format!(
                "the broker counts {} tasks for {} starts",
                opt(count(&self.stats, "tasks")),
                self.started
            ));
        }
        if let Some(d) = &self.drain {
            if d.tasks != self.started || d.rejected > 0 || d.failed_calls > 0 {
                p.push(format!(
                    "drain released {} of {} tasks ({} rejected, {} failed calls)",
                    d.tasks, self.started, d.rejected, d.failed_calls
                ));
            }
            if count(&d.stats, "leased") != Some(0) {
                p.push(format!(
                    "{} tasks still leased after the drain",
                    opt(count(&d.stats, "leased"))
                ));
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clean() -> ScaleReport {
        ScaleReport {
            bench: "scale",
            tasks: 100,
            started: 100,
            bytes_per_task: 512.0,
            snapshot_mib: Some(1.5),
            stats: json!({"processes": 100, "tasks": 100, "leased": 0}),
            restart: RestartFigures {
                ready_s: 0.5,
                stats: json!({"processes": 100, "tasks": 100, "leased": 0}),
                ..Default::default()
            },
            drain: Some(DrainFigures {
                tasks: 100,
                finished: 100,
                stats: json!({"processes": 100, "tasks": 100, "leased": 0}),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_clean_run_has_no_problems_and_shows_its_figures() {
        let r = clean();
        assert!(r.problems().is_empty(), "{:?}", r.problems());
        let t = r.table();
        assert!(t.contains("| queued tasks (started / asked)"));
        assert!(t.contains("100 / 100"));
        assert!(t.contains("restart: spawn → /ready 200 (s)"));
        assert!(t.contains("drain: tasks/s"));
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["bytes_per_task"], 512.0);
        assert_eq!(v["restart"]["ready_s"], 0.5);
        assert_eq!(v["drain"]["tasks"], 100);
        assert!(!r.json().contains('\n'));
    }

    #[test]
    fn lost_starts_a_changed_state_and_a_short_drain_are_problems() {
        let mut r = clean();
        r.started = 99;
        r.start_errors = 1;
        assert_eq!(r.problems().len(), 2, "{:?}", r.problems());

        let mut r = clean();
        r.restart.stats = json!({"processes": 100, "tasks": 90});
        assert_eq!(
            r.problems(),
            vec!["tasks: 100 before the kill, 90 after the restart"]
        );

        let mut r = clean();
        if let Some(d) = r.drain.as_mut() {
            d.tasks = 98;
            d.stats = json!({"leased": 2});
        }
        assert_eq!(r.problems().len(), 2, "{:?}", r.problems());

        let mut r = clean();
        r.drain = None;
        r.stats = json!({});
        assert!(!r.problems().is_empty(), "missing counts are a problem");
    }
}
