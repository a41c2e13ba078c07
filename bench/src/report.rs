//! The result of one run: a human-readable table and a one-line JSON summary.

use crate::load::Errors;
use crate::stats::Latency;
use serde::Serialize;
use std::fmt::Write as _;

/// Figures about one server process (absent when driving an external `--url`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerFigures {
    pub pid: u32,
    /// Raft id of the node.
    pub node_id: u64,
    /// Whether it led the cluster during the load (a single node always does).
    pub leader: bool,
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
    /// Broker nodes (1: a single node).
    pub nodes: u64,
    /// With several nodes: where the load went (`leader`, `follower`, `spread`).
    pub target: Option<&'static str>,
    /// The leader's figures (the only server's, for one node).
    pub server: Option<ServerFigures>,
    /// Every server's figures, by node id (empty with `--url`).
    pub servers: Vec<ServerFigures>,
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
    /// Load average (1 min) just before the servers started: the machine's other work,
    /// without this run's own.
    pub loadavg_1m_before: Option<f64>,
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
        if self.nodes > 1 {
            row(
                &mut t,
                "nodes / load sent to",
                format!("{} / {}", self.nodes, self.target.unwrap_or("?")),
            );
        }
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
            Some(_) if self.servers.len() > 1 => {
                let cpu: f64 = self.servers.iter().map(|s| s.cpu_s).sum();
                row(&mut t, "servers' CPU, all nodes (s)", format!("{cpu:.2}"));
                row(
                    &mut t,
                    "  per 1000 processes",
                    format!("{:.3}", cpu / self.processes.max(1) as f64 * 1000.0),
                );
                row(&mut t, "per-server figures", "see below");
            }
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
        let la = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
        row(
            &mut t,
            "load average 1 min (before/end)",
            format!("{} / {}", la(self.loadavg_1m_before), la(self.loadavg_1m)),
        );
        if self.servers.len() > 1 {
            t.push('\n');
            t.push_str(&servers_table(&self.servers));
        }
        t
    }

    /// CPU seconds of every server during the load, per 1000 finished processes.
    pub fn cpu_per_1000(&self) -> Option<f64> {
        if self.servers.is_empty() {
            return None;
        }
        let cpu: f64 = self.servers.iter().map(|s| s.cpu_s).sum();
        Some(cpu / self.processes.max(1) as f64 * 1000.0)
    }

    /// The one-line JSON summary.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// One row per server: role, pid, memory, CPU, disk, idle CPU.
pub fn servers_table(servers: &[ServerFigures]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| node | role     |    pid | peak RSS MiB | RSS end MiB | CPU s | CPU s/1000 proc | data MiB | idle CPU % |"
    );
    let _ = writeln!(
        t,
        "|------|----------|--------|--------------|-------------|-------|-----------------|----------|------------|"
    );
    for s in servers {
        let idle = s
            .idle_cpu_pct
            .map(|p| format!("{p:.2} ({} s)", s.idle_secs))
            .unwrap_or_else(|| "skipped".into());
        let _ = writeln!(
            t,
            "| {:>4} | {:<8} | {:>6} | {:>12.1} | {:>11.1} | {:>5.2} | {:>15.3} | {:>8.1} | {:>10} |",
            s.node_id,
            if s.leader { "leader" } else { "follower" },
            s.pid,
            s.peak_rss_mib,
            s.end_rss_mib,
            s.cpu_s,
            s.cpu_s_per_1000_processes,
            s.data_mib,
            idle
        );
    }
    t
}

/// Throughput of `r` as a fraction of the first single-node run in `reports`.
fn ratio_to_single(reports: &[Report], r: &Report) -> Option<f64> {
    let single = reports.iter().find(|x| x.nodes <= 1)?;
    (single.tasks_per_s > 0.0).then(|| r.tasks_per_s / single.tasks_per_s)
}

/// Several runs side by side, throughput relative to the single-node run (if any).
pub fn comparison_table(reports: &[Report]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| nodes | load to  | proc/s | tasks/s | p50 ms | p99 ms | server CPU s/1000 proc | vs 1 node | load avg before/end |"
    );
    let _ = writeln!(
        t,
        "|-------|----------|--------|---------|--------|--------|------------------------|-----------|---------------------|"
    );
    for r in reports {
        let ratio = ratio_to_single(reports, r)
            .map(|x| format!("{:.0} %", x * 100.0))
            .unwrap_or_else(|| "–".into());
        let cpu = r
            .cpu_per_1000()
            .map(|c| format!("{c:.3}"))
            .unwrap_or_else(|| "–".into());
        let _ = writeln!(
            t,
            "| {:>5} | {:<8} | {:>6.0} | {:>7.0} | {:>6.1} | {:>6.1} | {:>22} | {:>9} | {:>19} |",
            r.nodes,
            r.target.unwrap_or("-"),
            r.processes_per_s,
            r.tasks_per_s,
            r.latency.p50_ms,
            r.latency.p99_ms,
            cpu,
            ratio,
            format!(
                "{} / {}",
                r.loadavg_1m_before
                    .map_or("?".to_string(), |l| format!("{l:.2}")),
                r.loadavg_1m.map_or("?".to_string(), |l| format!("{l:.2}"))
            ),
        );
    }
    t
}

/// The comparison as one JSON line.
pub fn comparison_json(reports: &[Report]) -> String {
    let runs: Vec<_> = reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "nodes": r.nodes,
                "target": r.target,
                "processes_per_s": r.processes_per_s,
                "tasks_per_s": r.tasks_per_s,
                "p50_ms": r.latency.p50_ms,
                "p99_ms": r.latency.p99_ms,
                "server_cpu_s_per_1000_processes": r.cpu_per_1000(),
                "ratio_to_single": ratio_to_single(reports, r),
                "errors": r.errors.total(),
                "loadavg_1m_before": r.loadavg_1m_before,
                "loadavg_1m": r.loadavg_1m,
            })
        })
        .collect();
    serde_json::json!({ "bench": "fanout-compare", "runs": runs }).to_string()
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
        assert!(!t.contains("| node |"), "one server: no per-server table");
    }

    #[test]
    fn a_cluster_report_lists_every_server_and_marks_the_leader() {
        let server = |node_id, leader, cpu_s| ServerFigures {
            node_id,
            leader,
            cpu_s,
            ..Default::default()
        };
        let servers = vec![
            server(1, false, 1.0),
            server(2, true, 2.0),
            server(3, false, 1.0),
        ];
        let r = Report {
            processes: 2000,
            nodes: 3,
            target: Some("leader"),
            server: Some(servers[1].clone()),
            servers,
            ..Default::default()
        };
        let t = r.table();
        assert!(t.contains("3 / leader"));
        assert!(t.contains("| node | role"));
        assert_eq!(t.matches("| leader   |").count(), 1);
        assert_eq!(t.matches("| follower |").count(), 2);
        assert_eq!(r.cpu_per_1000(), Some(2.0));
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["servers"].as_array().unwrap().len(), 3);
        assert_eq!(v["server"]["node_id"], 2);
        assert_eq!(Report::default().cpu_per_1000(), None);
    }

    #[test]
    fn comparison_divides_by_the_single_node_run() {
        let run = |nodes, target, tasks_per_s| Report {
            nodes,
            target,
            tasks_per_s,
            ..Default::default()
        };
        let reports = [
            run(1, None, 10_000.0),
            run(3, Some("leader"), 6_000.0),
            run(3, Some("follower"), 4_000.0),
        ];
        let t = comparison_table(&reports);
        assert!(t.contains("100 %"));
        assert!(t.contains("60 %"));
        assert!(t.contains("40 %"));
        let v: serde_json::Value = serde_json::from_str(&comparison_json(&reports)).unwrap();
        assert_eq!(v["runs"][1]["ratio_to_single"], 0.6);
        assert_eq!(v["runs"][2]["target"], "follower");
        // Without a single-node run there is nothing to divide by.
        let v: serde_json::Value = serde_json::from_str(&comparison_json(&reports[1..])).unwrap();
        assert!(v["runs"][0]["ratio_to_single"].is_null());
    }
}
