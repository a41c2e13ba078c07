//! End to end: the benchmark binary starts its broker child, runs a small fan-out load
//! with zero errors, prints its JSON summary and leaves no data directory behind.

use std::process::Command;

#[test]
fn small_fanout_run_reports_clean_results() {
    let parent = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_suslik-bench"))
        .args(["fanout", "--processes", "40", "--concurrency", "8"])
        .args(["--pollers", "2", "--batch", "4"])
        .args(["--idle-secs", "1", "--verify", "10"])
        .arg("--data-dir")
        .arg(parent.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let json = stdout.lines().find(|l| l.starts_with('{')).unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["processes"], 40);
    assert_eq!(v["tasks"], 200);
    assert_eq!(v["verified"], 10);
    assert_eq!(v["errors"]["verify"], 0);
    assert!(v["server"]["peak_rss_mib"].as_f64().unwrap() > 0.0);
    assert!(v["server"]["idle_cpu_pct"].as_f64().is_some());
    assert!(stdout.contains("| processes/s"));
    // The temporary data directory was removed with the server.
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}
