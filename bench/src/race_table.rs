//! The race's one table: a row per engine run, whether it came from a Suslik fan-out
//! [`Report`] or from a peer script's two JSON lines, with the same columns for all.
//!
//! The peer scripts (`bench/peers/restate.sh`, `bench/peers/postgres-graphile.sh`) print
//! a client line (`processes_per_s`, `tasks_per_s`, `p50_ms`, `p99_ms`, `errors`) and a
//! server line (`cpu_s_per_1000_proc`, `idle_cpu_pct`, `peak_rss_mib`, `data_mib`,
//! `durability`, ...; see `server_json` in `bench/peers/procfs.sh`). Parsing lives here,
//! next to the formatting, so that one unit test pins both ends of that contract.

use crate::report::Report;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One engine's figures (or why there are none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    /// What ran, e.g. "Suslik, one node" or "Restate 1.7.12 (sdk 1.17.2)".
    pub engine: String,
    /// Durability setting, short.
    pub durability: String,
    /// Processes in flight.
    pub concurrency: usize,
    /// Processes finished.
    pub processes: u64,
    pub processes_per_s: f64,
    pub tasks_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Peak RSS of the server(s), MiB; summed over the processes or nodes of one engine.
    pub peak_rss_mib: Option<f64>,
    /// Server CPU seconds (all its processes or nodes) per 1000 finished processes.
    pub cpu_s_per_1000_processes: Option<f64>,
    /// Server CPU % of one core with no load (summed over nodes), over `idle_secs`.
    pub idle_cpu_pct: Option<f64>,
    pub idle_secs: u64,
    /// Data directory after the load (allocated), MiB.
    pub data_mib: Option<f64>,
    /// Failed, wrong or unfinished processes.
    pub errors: u64,
    /// Why there are no figures (the run or its script failed).
    pub failed: Option<String>,
    /// How to read a figure of this row (summed over nodes, overestimates, ...).
    pub note: Option<String>,
}

impl Row {
    /// A row that says why an engine has no figures.
    pub fn failed(engine: &str, durability: &str, concurrency: usize, why: String) -> Row {
        Row {
            engine: engine.into(),
            durability: durability.into(),
            concurrency,
            failed: Some(why),
            ..Default::default()
        }
    }

    /// A Suslik run: the servers' figures are summed over the nodes of a cluster.
    pub fn from_report(engine: &str, durability: &str, r: &Report) -> Row {
        let sum = |f: fn(&crate::report::ServerFigures) -> f64| -> Option<f64> {
            (!r.servers.is_empty()).then(|| r.servers.iter().map(f).sum())
        };
        let idle = r
            .servers
            .iter()
            .map(|s| s.idle_cpu_pct)
            .collect::<Option<Vec<f64>>>()
            .filter(|v| !v.is_empty())
            .map(|v| v.iter().sum());
        Row {
            engine: engine.into(),
            durability: durability.into(),
            concurrency: r.concurrency,
            processes: r.processes,
            processes_per_s: r.processes_per_s,
            tasks_per_s: r.tasks_per_s,
            p50_ms: r.latency.p50_ms,
            p99_ms: r.latency.p99_ms,
            peak_rss_mib: sum(|s| s.peak_rss_mib),
            cpu_s_per_1000_processes: r.cpu_per_1000(),
            idle_cpu_pct: idle,
            idle_secs: r.servers.first().map_or(0, |s| s.idle_secs),
            data_mib: sum(|s| s.data_mib),
            errors: r.errors.total(),
            failed: None,
            note: Some(suslik_note(r)),
        }
    }

    /// A peer run from its script's stdout: the client line (the first JSON line with
    /// `processes_per_s`) and the server line (the first with `cpu_s_per_1000_proc`).
    pub fn from_peer_output(stdout: &str) -> anyhow::Result<Row> {
        let mut client: Option<ClientLine> = None;
        let mut server: Option<ServerLine> = None;
        for line in stdout.lines().map(str::trim).filter(|l| l.starts_with('{')) {
            let value: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("a line of the peer's output is not JSON: {line}"))?;
            if client.is_none() && value.get("processes_per_s").is_some() {
                client = Some(
                    serde_json::from_value(value)
                        .with_context(|| format!("the client line lacks a figure: {line}"))?,
                );
            } else if server.is_none() && value.get("cpu_s_per_1000_proc").is_some() {
                server = Some(
                    serde_json::from_value(value)
                        .with_context(|| format!("the server line lacks a figure: {line}"))?,
                );
            }
        }
        let (Some(c), Some(s)) = (client, server) else {
            bail!("the script did not print both its client and its server JSON lines");
        };
        let finished = c.finished.unwrap_or(c.processes);
        let unfinished = c.processes.saturating_sub(finished);
        let note = match s.server_processes {
            Some(n) if n > 1 => Some(format!(
                "RSS summed over {n} server processes (shared memory counted in each; PSS {:.0} MiB)",
                s.pss_mib.unwrap_or(0.0)
            )),
            _ => None,
        };
        Ok(Row {
            engine: engine_label(&s.engine, &s.version),
            durability: s.durability,
            concurrency: c.concurrency,
            processes: finished,
            processes_per_s: c.processes_per_s,
            tasks_per_s: c.tasks_per_s,
            p50_ms: c.p50_ms,
            p99_ms: c.p99_ms,
            peak_rss_mib: Some(s.peak_rss_mib),
            cpu_s_per_1000_processes: Some(s.cpu_s_per_1000_proc),
            idle_cpu_pct: s.idle_cpu_pct,
            idle_secs: s.idle_secs,
            data_mib: Some(s.data_mib),
            errors: c.errors.max(c.wrong_results).max(unfinished),
            failed: None,
            note,
        })
    }
}

/// How a Suslik row was driven, and what its server figures add up.
fn suslik_note(r: &Report) -> String {
    let load = format!(
        "{} pollers per actor, up to {} tasks per poll and release",
        r.pollers, r.batch
    );
    match r.servers.len() {
        n if n > 1 => format!(
            "{n} nodes, load to the leader; RSS, CPU, idle CPU and data summed over the nodes; {load}"
        ),
        _ => load,
    }
}

/// "restate", "1.7.12 (sdk 1.17.2)" → "Restate 1.7.12 (sdk 1.17.2)".
fn engine_label(engine: &str, version: &str) -> String {
    let mut chars = engine.chars();
    let name = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => "?".into(),
    };
    if version.is_empty() {
        name
    } else {
        format!("{name} {version}")
    }
}

/// The load client's line of a peer script.
#[derive(Debug, Deserialize)]
struct ClientLine {
    processes: u64,
    /// Processes that finished right (absent in older scripts: all of them).
    finished: Option<u64>,
    concurrency: usize,
    processes_per_s: f64,
    tasks_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    #[serde(default)]
    wrong_results: u64,
    #[serde(default)]
    errors: u64,
}

/// The server line of a peer script (`server_json` in `bench/peers/procfs.sh`).
#[derive(Debug, Deserialize)]
struct ServerLine {
    engine: String,
    #[serde(default)]
    version: String,
    durability: String,
    cpu_s_per_1000_proc: f64,
    idle_cpu_pct: Option<f64>,
    idle_secs: u64,
    peak_rss_mib: f64,
    pss_mib: Option<f64>,
    server_processes: Option<u64>,
    data_mib: f64,
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{x:.decimals$}"))
}

/// The table (Markdown, so that it pastes into docs/performance.md), then a numbered
/// note per row that has one (failures first among them).
pub fn table(rows: &[Row]) -> String {
    let idle_secs = rows.iter().map(|r| r.idle_secs).max().unwrap_or(0);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| engine | durability | N | C | proc/s | tasks/s | p50 ms | p99 ms | peak server RSS MiB | server CPU s / 1000 proc | idle CPU % ({idle_secs} s) | data MiB | errors |"
    );
    let _ = writeln!(t, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let mut notes = Vec::new();
    for r in rows {
        let mark = match (&r.failed, &r.note) {
            (Some(why), _) => {
                notes.push(format!("{}: FAILED: {why}", r.engine));
                format!(" [{}]", notes.len())
            }
            (None, Some(note)) => {
                notes.push(format!("{}: {note}", r.engine));
                format!(" [{}]", notes.len())
            }
            (None, None) => String::new(),
        };
        if r.failed.is_some() {
            let _ = writeln!(
                t,
                "| {}{mark} | {} | – | {} | – | – | – | – | – | – | – | – | failed |",
                r.engine, r.durability, r.concurrency
            );
            continue;
        }
        let _ = writeln!(
            t,
            "| {}{mark} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} | {} |",
            r.engine,
            r.durability,
            r.processes,
            r.concurrency,
            r.processes_per_s,
            r.tasks_per_s,
            r.p50_ms,
            r.p99_ms,
            opt(r.peak_rss_mib, 0),
            opt(r.cpu_s_per_1000_processes, 3),
            opt(r.idle_cpu_pct, 2),
            opt(r.data_mib, 1),
            r.errors
        );
    }
    if !notes.is_empty() {
        // A blank line ends the Markdown table.
        t.push('\n');
    }
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(t, "[{}] {n}", i + 1);
    }
    t
}

/// Every row as one JSON line, with the run's settings.
pub fn json(
    processes: u64,
    concurrency: usize,
    idle_secs: u64,
    loadavg: (Option<f64>, Option<f64>),
    rows: &[Row],
) -> String {
    serde_json::json!({
        "bench": "race",
        "processes": processes,
        "concurrency": concurrency,
        "idle_secs": idle_secs,
        "loadavg_1m_before": loadavg.0,
        "loadavg_1m": loadavg.1,
        "rows": rows,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ServerFigures;
    use crate::stats::Latency;

    /// What `bench/peers/restate.sh 200 50 3` printed (stderr aside).
    const RESTATE: &str = r#"{"engine":"restate","processes":200,"finished":200,"concurrency":50,"secs":2.444,"processes_per_s":81.8,"tasks_per_s":409.2,"p50_ms":550.8,"p99_ms":907.8,"wrong_results":0,"errors":0}
{"engine":"restate","version":"1.7.12 (sdk 1.17.2)","durability":"defaults: log WAL fsync per write batch","server_cpu_s":1.440,"cpu_s_per_1000_proc":7.200,"idle_cpu_pct":2.67,"idle_secs":3,"peak_rss_mib":291.4,"rss_mib":291.4,"pss_mib":291.4,"server_processes":1,"data_mib":219.8,"data_apparent_mib":1.4,"service_cpu_s":1.170}
"#;

    /// What `bench/peers/postgres-graphile.sh 200 50 16 0` printed.
    const POSTGRES: &str = r#"{"engine":"graphile-worker","processes":200,"finished":200,"concurrency":50,"worker_concurrency":16,"secs":2.081,"processes_per_s":96.1,"tasks_per_s":480.5,"p50_ms":466.6,"p99_ms":780,"wrong_results":0,"errors":0}
{"engine":"postgres","version":"15.18 (graphile-worker 0.18.0)","durability":"fsync=on synchronous_commit=on","server_cpu_s":1.550,"cpu_s_per_1000_proc":7.750,"idle_cpu_pct":null,"idle_secs":0,"peak_rss_mib":587.4,"rss_mib":587.4,"pss_mib":96.7,"server_processes":27,"data_mib":39.4,"data_apparent_mib":39.4,"worker_concurrency":16}
"#;

    #[test]
    fn a_restate_script_output_becomes_a_row() {
        let r = Row::from_peer_output(RESTATE).unwrap();
        assert_eq!(r.engine, "Restate 1.7.12 (sdk 1.17.2)");
        assert_eq!(r.durability, "defaults: log WAL fsync per write batch");
        assert_eq!((r.concurrency, r.processes, r.errors), (50, 200, 0));
        assert_eq!((r.processes_per_s, r.tasks_per_s), (81.8, 409.2));
        assert_eq!((r.p50_ms, r.p99_ms), (550.8, 907.8));
        assert_eq!(r.peak_rss_mib, Some(291.4));
        assert_eq!(r.cpu_s_per_1000_processes, Some(7.2));
        assert_eq!((r.idle_cpu_pct, r.idle_secs), (Some(2.67), 3));
        assert_eq!(r.data_mib, Some(219.8));
        assert_eq!(r.note, None, "one server process: nothing to explain");
    }

    #[test]
    fn a_postgres_script_output_becomes_a_row_that_explains_its_summed_rss() {
        // Noise around the JSON lines (progress on stdout) is skipped.
        let out = format!("installing...\n{POSTGRES}done\n");
        let r = Row::from_peer_output(&out).unwrap();
        assert_eq!(r.engine, "Postgres 15.18 (graphile-worker 0.18.0)");
        assert_eq!(r.p99_ms, 780.0);
        assert_eq!(r.idle_cpu_pct, None, "idle skipped: null");
        let note = r.note.unwrap();
        assert!(note.contains("27 server processes") && note.contains("PSS 97 MiB"));
    }

    #[test]
    fn unfinished_or_wrong_processes_count_as_errors() {
        let out = RESTATE.replace(r#""finished":200"#, r#""finished":190"#);
        assert_eq!(Row::from_peer_output(&out).unwrap().errors, 10);
        let out = POSTGRES.replace(r#""wrong_results":0,"errors":0"#, r#""wrong_results":3"#);
        assert_eq!(Row::from_peer_output(&out).unwrap().errors, 3);
    }

    #[test]
    fn incomplete_peer_output_is_an_error_not_a_row() {
        let client_only = RESTATE.lines().next().unwrap();
        assert!(Row::from_peer_output(client_only).is_err());
        assert!(Row::from_peer_output("").is_err());
        assert!(Row::from_peer_output("{not json").is_err());
        // A server line without a figure the table needs.
        let broken = RESTATE.replace(r#""peak_rss_mib":291.4,"#, "");
        let e = Row::from_peer_output(&broken).unwrap_err();
        assert!(format!("{e:#}").contains("peak_rss_mib"), "{e:#}");
    }

    fn report(servers: Vec<ServerFigures>) -> Report {
        Report {
            processes: 2000,
            concurrency: 50,
            pollers: 4,
            batch: 16,
            processes_per_s: 3000.0,
            tasks_per_s: 15000.0,
            latency: Latency {
                p50_ms: 16.2,
                p99_ms: 24.9,
                ..Default::default()
            },
            nodes: servers.len() as u64,
            servers,
            ..Default::default()
        }
    }

    fn server(peak: f64, cpu_s: f64, idle: Option<f64>) -> ServerFigures {
        ServerFigures {
            peak_rss_mib: peak,
            cpu_s,
            idle_cpu_pct: idle,
            idle_secs: 30,
            data_mib: 5.0,
            ..Default::default()
        }
    }

    #[test]
    fn a_cluster_report_sums_its_nodes() {
        let r = report(vec![
            server(40.0, 1.0, Some(0.2)),
            server(30.0, 0.5, Some(0.1)),
            server(30.0, 0.5, Some(0.1)),
        ]);
        let row = Row::from_report("Suslik, three nodes", "fdatasync", &r);
        assert_eq!(row.peak_rss_mib, Some(100.0));
        assert_eq!(row.cpu_s_per_1000_processes, Some(1.0));
        assert!((row.idle_cpu_pct.unwrap() - 0.4).abs() < 1e-9);
        assert_eq!(row.data_mib, Some(15.0));
        assert!(row.note.unwrap().contains("3 nodes"));
        // Idle skipped on any node: no idle figure.
        let r = report(vec![server(40.0, 1.0, None)]);
        assert_eq!(Row::from_report("x", "y", &r).idle_cpu_pct, None);
    }

    #[test]
    fn the_table_has_a_row_per_engine_and_notes_for_failures() {
        let rows = vec![
            Row::from_report(
                "Suslik, one node",
                "fdatasync",
                &report(vec![server(45.0, 0.66, Some(0.2))]),
            ),
            Row::from_peer_output(RESTATE).unwrap(),
            Row::failed(
                "Postgres",
                "fsync=on",
                50,
                "exit status 1: apt-get failed".into(),
            ),
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("| proc/s | tasks/s | p50 ms | p99 ms |"));
        assert!(lines[0].contains("idle CPU % (30 s)"));
        assert!(lines[2].starts_with("| Suslik, one node [1] | fdatasync | 2000 | 50 | 3000 | 15000 | 16.2 | 24.9 | 45 | 0.330 | 0.20 | 5.0 | 0 |"), "{}", lines[2]);
        assert!(lines[3].starts_with("| Restate 1.7.12 (sdk 1.17.2) | "));
        assert!(lines[3]
            .contains("| 200 | 50 | 82 | 409 | 550.8 | 907.8 | 291 | 7.200 | 2.67 | 219.8 | 0 |"));
        assert!(lines[4].starts_with("| Postgres [2] |") && lines[4].ends_with("| failed |"));
        assert_eq!(lines[5], "", "the notes are not table rows");
        assert!(t.contains("\n[2] Postgres: FAILED: exit status 1: apt-get failed\n"));
        // Every table line has the same number of cells.
        let cells = |l: &str| l.matches('|').count();
        assert!(lines[..5].iter().all(|l| cells(l) == cells(lines[0])));

        let v: serde_json::Value =
            serde_json::from_str(&json(2000, 50, 30, (Some(1.0), None), &rows)).unwrap();
        assert_eq!(v["bench"], "race");
        assert_eq!(v["rows"].as_array().unwrap().len(), 3);
        assert_eq!(v["rows"][1]["processes_per_s"], 81.8);
        assert_eq!(v["rows"][2]["failed"], "exit status 1: apt-get failed");
        assert!(v["loadavg_1m"].is_null());
    }
}
