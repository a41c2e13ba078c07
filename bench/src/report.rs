//! The result of one run: a human-readable table and a one-line JSON summary.

use crate::load::Errors;
use crate::stats::Latency;
use serde::Serialize;
use std::fmt::Write as _;

/// Figures about the server process (absent when driving an external `--url`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerFigures {
    pub pid: u32,
    /// Peak resident set (`VmHWM`) after the load, MiB.
    pub peak_rss_mib: f64,
    /// Resident set at the end (after the idle period), MiB.
    pub end_rss_mib: f64,
    /// User + system CPU seconds used during the load.
    pub cpu_s: f64,
    pub cpu_s_per_1000_processes: f64,
    /// Data directory after the load: allocated on disk and apparent, MiB.
    pub data_mib: f64,
    pub data_apparent_mib: f64,
    /// CPU over the idle period, % of one core (absent if `--idle-secs 0`).
    pub idle_cpu_pct: Option<f64>,
    pub idle_secs: u64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub bench: &'static str,
    pub processes: u64,
    pub concurrency: usize,
    pub pollers: usize,
    pub batch: u32,
    pub seconds: f64,
    pub processes_per_s: f64,
    pub tasks_per_s: f64,
    pub tasks: u64,
    pub latency: Latency,
    pub server: Option<ServerFigures>,
    /// CPU seconds of the load generator itself during the load.
    pub client_cpu_s: f64,
    pub polls: u64,
    pub empty_polls: u64,
    pub releases: u64,
    /// Raft log entries written during the load (group commit: many commands share one).
    pub log_entries: Option<u64>,
    /// Processes whose stored result was checked (and found right unless counted in errors).
    pub verified: usize,
    pub errors: Errors,
    /// Load average (1 min) when the run ended: other work on the machine skews results.
    pub loadavg_1m: Option<f64>,
}

fn row(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "| {name:<32} | {value:>14} |");
}

impl Report {
    /// The table, one metric per row.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "| {:<32} | {:>14} |", "metric", "value");
        let _ = writeln!(t, "|{:-<34}|{:->16}|", "", "");
        row(&mut t, "processes", self.processes);
        row(
            &mut t,
            "concurrency / pollers / batch",
            format!("{} / {} / {}", self.concurrency, self.pollers, self.batch),
        );
        row(&mut t, "seconds", format!("{:.2}", self.seconds));
        row(
            &mut t,
            "processes/s",
            format!("{:.0}", self.processes_per_s),
        );
        row(&mut t, "tasks/s", format!("{:.0}", self.tasks_per_s));
        let l = &self.latency;
        row(&mut t, "latency p50 (ms)", format!("{:.1}", l.p50_ms));
        row(&mut t, "latency p90 (ms)", format!("{:.1}", l.p90_ms));
        row(&mut t, "latency p99 (ms)", format!("{:.1}", l.p99_ms));
        row(&mut t, "latency max (ms)", format!("{:.1}", l.max_ms));
        match &self.server {
            Some(s) => {
                row(
                    &mut t,
                    "server peak RSS (MiB)",
                    format!("{:.1}", s.peak_rss_mib),
                );
                row(
                    &mut t,
                    "server RSS at end (MiB)",
                    format!("{:.1}", s.end_rss_mib),
                );
                row(&mut t, "server CPU (s)", format!("{:.2}", s.cpu_s));
                row(
                    &mut t,
                    "server CPU s / 1000 processes",
                    format!("{:.3}", s.cpu_s_per_1000_processes),
                );
                row(
                    &mut t,
                    "data dir on disk (MiB)",
                    format!("{:.1}", s.data_mib),
                );
                let idle = s
                    .idle_cpu_pct
                    .map(|p| format!("{p:.2}"))
                    .unwrap_or_else(|| "skipped".into());
                row(
                    &mut t,
                    &format!("server idle CPU % ({} s)", s.idle_secs),
                    idle,
                );
            }
            None => row(&mut t, "server figures", "n/a (--url)"),
        }
        row(
            &mut t,
            "load generator CPU (s)",
            format!("{:.2}", self.client_cpu_s),
        );
        row(
            &mut t,
            "polls (empty) / releases",
            format!("{} ({}) / {}", self.polls, self.empty_polls, self.releases),
        );
        if let Some(e) = self.log_entries {
            // Each start and each release is one command.
            let commands = self.processes + self.tasks;
            row(&mut t, "raft log entries", e);
            row(
                &mut t,
                "commands per log entry",
                format!("{:.1}", commands as f64 / e.max(1) as f64),
            );
        }
        row(&mut t, "verified results", self.verified);
        row(&mut t, "errors", self.errors.total());
        if let Some(l) = self.loadavg_1m {
            row(&mut t, "load average (1 min)", format!("{l:.2}"));
        }
        t
    }

    /// The one-line JSON summary.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// The 1-minute load average from `/proc/loadavg`.
pub fn loadavg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json_carry_the_figures() {
        let r = Report {
            bench: "fanout",
            processes: 2000,
            seconds: 2.0,
            processes_per_s: 1000.0,
            tasks_per_s: 5000.0,
            server: Some(ServerFigures {
                peak_rss_mib: 50.0,
                idle_cpu_pct: Some(0.5),
                idle_secs: 10,
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = r.table();
        assert!(t.contains("| processes/s"));
        assert!(t.contains("1000"));
        assert!(t.contains("server idle CPU % (10 s)"));
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["tasks_per_s"], 5000.0);
        assert_eq!(v["server"]["peak_rss_mib"], 50.0);
        assert!(!r.json().contains('\n'));
    }
}
