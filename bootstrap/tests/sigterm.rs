//! Graceful shutdown of the binary: SIGTERM while a task is in flight → the task
//! finishes, is released (not left to a lease expiry), and the process exits 0.

mod common;

use common::{wait_until_leased, Broker};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use suslik_bootstrap::diag::{DIAG_DECIDER, DIAG_WORKER};
use suslik_client::{ProcessState, StartOptions};

const BIN: &str = env!("CARGO_BIN_EXE_suslik-bootstrap");
const SLEEP_MS: u64 = 1_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_and_releases_the_task_in_flight_then_exits_0() {
    let b = Broker::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    let text = format!(
        "servers = [\"{}\"]\nshutdown_deadline_ms = 20000\n[logging]\nlevel = \"info\"\n\
         [[actors]]\nid = \"{DIAG_WORKER}\"\npollers = 1\npoll_wait_ms = 500\n\
         [[actors]]\nid = \"{DIAG_DECIDER}\"\npollers = 1\npoll_wait_ms = 500\n",
        b.address()
    );
    std::fs::write(&config, text).expect("write config");
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("binary starts");

    let p = b.processes();
    let id = p
        .start(
            DIAG_DECIDER,
            "run",
            ("sleep", SLEEP_MS),
            StartOptions::new(),
        )
        .await
        .expect("start");
    wait_until_leased(&p, id, "sleep", Duration::from_secs(30)).await;

    let pid = i32::try_from(child.id()).expect("pid fits");
    // SAFETY: sending a signal to our own child process; no memory is involved.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill failed");
    let signalled = Instant::now();

    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("no exit 30 s after SIGTERM; log:\n{}", read(&log_path));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let logs = read(&log_path);
    assert_eq!(status.code(), Some(0), "log:\n{logs}");
    assert!(logs.contains("SIGTERM"), "log:\n{logs}");

    // The task was released by the stopping container (first attempt, process
    // finished with its value), well before its lease could have expired.
    let view = p.state(id).await.expect("state");
    assert_eq!(view.state, ProcessState::Finished, "{view:?}\nlog:\n{logs}");
    assert_eq!(
        view.result.map(|r| r.as_str().to_string()),
        Some(SLEEP_MS.to_string())
    );
    let sleep = view
        .tasks
        .iter()
        .find(|t| t.method == "sleep")
        .expect("sleep task");
    assert_eq!(sleep.attempt, 1, "{sleep:?}");
    assert!(!sleep.leased);
    b.stop().await;
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
