//! End to end: the benchmark binary starts its broker children, runs small loads with
//! zero errors, prints its JSON summaries and leaves no data directory behind; a small
//! scale run recovers its backlog after a SIGKILL and drains it; a Suslik-only race
//! prints its table (the peers' scripts install from npm and apt, so they are not run
//! here: their output format is pinned by the unit tests of `race_table`).

use std::path::Path;
use std::process::{Command, Output};

fn bench(args: &[&str], data: &Path) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_suslik-bench"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (out, stdout)
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn small_fanout_run_reports_clean_results() {
    let parent = tempfile::tempdir().unwrap();
    let (_, stdout) = bench(
        &[
            "fanout",
            "--processes",
            "40",
            "--concurrency",
            "8",
            "--pollers",
            "2",
            "--batch",
            "4",
            "--idle-secs",
            "1",
            "--verify",
            "10",
        ],
        parent.path(),
    );
    let v = &json_lines(&stdout)[0];
    assert_eq!(v["processes"], 40);
    assert_eq!(v["tasks"], 200);
    assert_eq!(v["verified"], 10);
    assert_eq!(v["errors"]["verify"], 0);
    assert_eq!(v["nodes"], 1);
    assert!(v["server"]["peak_rss_mib"].as_f64().unwrap() > 0.0);
    assert!(v["server"]["idle_cpu_pct"].as_f64().is_some());
    assert!(stdout.contains("| processes/s"));
    // The temporary data directory was removed with the server.
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

#[test]
fn three_node_fanout_compares_with_a_single_node() {
    let parent = tempfile::tempdir().unwrap();
    let (_, stdout) = bench(
        &[
            "fanout",
            "--nodes",
            "3",
            "--compare-single",
            "--target",
            "leader,follower",
            "--processes",
            "40",
            "--concurrency",
            "8",
            "--pollers",
            "2",
            "--batch",
            "4",
            "--idle-secs",
            "0",
            "--verify",
            "10",
        ],
        parent.path(),
    );
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 4, "three runs and the comparison:\n{stdout}");
    for run in &lines[1..3] {
        assert_eq!(run["nodes"], 3);
        assert_eq!(run["tasks"], 200);
        assert_eq!(run["verified"], 10);
        let servers = run["servers"].as_array().unwrap();
        assert_eq!(servers.len(), 3);
        assert_eq!(servers.iter().filter(|s| s["leader"] == true).count(), 1);
        assert!(servers
            .iter()
            .all(|s| s["peak_rss_mib"].as_f64() > Some(0.0)));
    }
    assert_eq!(lines[1]["target"], "leader");
    assert_eq!(lines[2]["target"], "follower");
    let cmp = &lines[3];
    assert_eq!(cmp["bench"], "fanout-compare");
    assert_eq!(cmp["runs"][0]["ratio_to_single"], 1.0);
    assert!(cmp["runs"][1]["ratio_to_single"].as_f64().unwrap() > 0.0);
    assert!(stdout.contains("| node | role"));
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

#[test]
fn one_failover_round_recovers_and_every_process_checks() {
    let parent = tempfile::tempdir().unwrap();
    let (_, stdout) = bench(
        &[
            "failover",
            "--rounds",
            "1",
            "--warmup-secs",
            "1",
            "--after-secs",
            "1",
            "--concurrency",
            "8",
            "--pollers",
            "2",
            "--batch",
            "4",
        ],
        parent.path(),
    );
    let v = &json_lines(&stdout)[0];
    assert_eq!(v["bench"], "failover");
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 1);
    assert!(rounds[0]["first_poll_s"].as_f64().unwrap() > 0.0);
    assert_ne!(rounds[0]["killed"], rounds[0]["new_leader"]);
    let acked = v["verification"]["acked"].as_u64().unwrap();
    assert!(acked > 0);
    assert_eq!(v["verification"]["ok"].as_u64(), Some(acked));
    assert!(stdout.contains("kill → first successful poll"));
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

#[test]
fn small_scale_run_recovers_its_backlog_and_drains_it() {
    let parent = tempfile::tempdir().unwrap();
    let (_, stdout) = bench(
        &[
            "scale",
            "--tasks",
            "2000",
            "--queues",
            "4",
            "--concurrency",
            "64",
            "--settle-secs",
            "0",
            "--progress-secs",
            "1",
            "--drain",
            "--drain-batch",
            "200",
        ],
        parent.path(),
    );
    let v = &json_lines(&stdout)[0];
    assert_eq!(v["bench"], "scale");
    assert_eq!(v["started"], 2000);
    assert_eq!(v["start_errors"], 0);
    assert_eq!(v["stats"]["processes"], 2000);
    assert_eq!(v["stats"]["tasks"], 2000);
    assert_eq!(v["stats"]["leased"], 0);
    // Group commit: fewer log entries than starts.
    let entries = v["log_entries"].as_u64().unwrap();
    assert!(entries > 0 && entries <= 2000, "{entries} log entries");
    assert!(v["rss_after_mib"].as_f64().unwrap() > v["rss_before_mib"].as_f64().unwrap());
    assert!(v["bytes_per_task"].as_f64().unwrap() > 0.0);
    assert!(v["data_mib"].as_f64().unwrap() > 0.0);
    // The recovered broker holds the same backlog and serves it.
    let r = &v["restart"];
    assert_eq!(r["stats"]["processes"], 2000);
    assert_eq!(r["stats"]["tasks"], 2000);
    let (listening, ready, first) = (
        r["listening_s"].as_f64().unwrap(),
        r["ready_s"].as_f64().unwrap(),
        r["first_task_s"].as_f64().unwrap(),
    );
    assert!(0.0 < listening && listening <= ready && ready <= first);
    assert!(r["rss_mib"].as_f64().unwrap() > 0.0);
    let d = &v["drain"];
    assert_eq!(d["tasks"], 2000);
    assert_eq!(d["finished"], 2000);
    assert_eq!(d["rejected"], 0);
    assert_eq!(d["stats"]["leased"], 0);
    assert!(d["tasks_per_s"].as_f64().unwrap() > 0.0);
    assert!(stdout.contains("restart: spawn → first task (s)"));
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

#[test]
fn a_suslik_only_race_prints_one_row_per_setup() {
    let parent = tempfile::tempdir().unwrap();
    let (_, stdout) = bench(
        &[
            "race",
            "--processes",
            "30",
            "--concurrency",
            "8",
            "--pollers",
            "2",
            "--batch",
            "4",
            "--idle-secs",
            "1",
            "--suslik",
            "single,cluster",
            "--peers",
            "--json",
        ],
        parent.path(),
    );
    let v = &json_lines(&stdout)[0];
    assert_eq!(v["bench"], "race");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_eq!(rows[0]["engine"], "Suslik, one node");
    assert_eq!(rows[1]["engine"], "Suslik, three nodes");
    for row in rows {
        assert_eq!(row["processes"], 30);
        assert_eq!(row["errors"], 0);
        assert!(row["failed"].is_null());
        assert!(row["processes_per_s"].as_f64().unwrap() > 0.0);
        assert!(row["peak_rss_mib"].as_f64().unwrap() > 0.0);
        assert!(row["cpu_s_per_1000_processes"].as_f64().unwrap() > 0.0);
        assert!(row["idle_cpu_pct"].as_f64().is_some());
    }
    // The cluster's servers are summed: more memory than the one node.
    assert!(rows[1]["peak_rss_mib"].as_f64() > rows[0]["peak_rss_mib"].as_f64());
    assert!(stdout.contains("| engine | durability | N | C | proc/s |"));
    assert_eq!(stdout.matches("| Suslik, ").count(), 2);
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}
