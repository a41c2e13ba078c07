//! A peer engine's run in the race: its script under `bench/peers/` as a child process.
//!
//! The script installs and starts its engine, runs the load, tears everything down and
//! prints two JSON lines (see [`crate::race_table`]). Its stdout is collected for those;
//! its stderr is passed through, each line prefixed with the peer's name, and the last
//! lines are kept so that a failed run's row can say why. A script that outlives its
//! timeout gets SIGTERM (its trap stops the engine and removes its temporary directory),
//! and SIGKILL if it is still there after a grace period.

use crate::cli::Peer;
use anyhow::{bail, Context};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

/// Lines of the script's stderr kept for a failure's explanation.
const STDERR_TAIL: usize = 8;
/// How long a script has to clean up after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(60);
/// How long after the script's exit its output pipes may take to close.
const PIPE_GRACE: Duration = Duration::from_secs(5);

/// The script of `peer` and its arguments for a run of `processes` at `concurrency`.
pub fn command_line(
    peer: Peer,
    dir: &Path,
    processes: u64,
    concurrency: usize,
    idle_secs: u64,
    pg_workers: usize,
) -> (PathBuf, Vec<String>) {
    let (script, mut args) = match peer {
        Peer::Restate => (
            "restate.sh",
            vec![processes.to_string(), concurrency.to_string()],
        ),
        Peer::Postgres => (
            "postgres-graphile.sh",
            vec![
                processes.to_string(),
                concurrency.to_string(),
                pg_workers.to_string(),
            ],
        ),
    };
    args.push(idle_secs.to_string());
    (dir.join(script), args)
}

/// The name of `peer` in progress lines.
pub fn name(peer: Peer) -> &'static str {
    match peer {
        Peer::Restate => "restate",
        Peer::Postgres => "postgres",
    }
}

/// The engine column of `peer`'s row when its script printed nothing to read.
pub fn label(peer: Peer) -> &'static str {
    match peer {
        Peer::Restate => "Restate",
        Peer::Postgres => "Postgres (graphile-worker)",
    }
}

/// What a finished script left.
#[derive(Debug)]
pub struct ScriptOutput {
    pub status: ExitStatus,
    pub stdout: String,
    /// Its last stderr lines, oldest first.
    pub stderr_tail: Vec<String>,
}

impl ScriptOutput {
    /// Why the run failed, for its row: the exit status and the last stderr lines.
    pub fn failure(&self) -> String {
        let tail: Vec<&str> = self
            .stderr_tail
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        let last = tail.len().saturating_sub(3);
        match tail[last..].join(" / ") {
            t if t.is_empty() => format!("{}", self.status),
            t => format!("{}: {t}", self.status),
        }
    }
}

/// Runs `script args` with bash, waits at most `timeout` or until `interrupt` turns
/// true, returns what it printed. An error means the script could not be run, or was
/// stopped (timeout, interrupt).
pub async fn run_script(
    label: &str,
    script: &Path,
    args: &[String],
    timeout: Duration,
    mut interrupt: watch::Receiver<bool>,
) -> anyhow::Result<ScriptOutput> {
    if !script.is_file() {
        bail!("no script at {}", script.display());
    }
    let mut child = Command::new("bash")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so that `stop` can kill the engine the script started
        // (postgres, restate-server, node) if the script's own teardown does not end.
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", script.display()))?;
    let stdout = child.stdout.take().context("the script's stdout")?;
    let stderr = child.stderr.take().context("the script's stderr")?;
    // Collected line by line, so that what came is kept even if a process the script
    // left behind holds the pipe open after the script ended.
    let out = Arc::new(Mutex::new(String::new()));
    let out_task = {
        let out = out.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut o) = out.lock() {
                    o.push_str(&line);
                    o.push('\n');
                }
            }
        })
    };
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
    let err_task = {
        let tail = tail.clone();
        let label = label.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{label}] {line}");
                if let Ok(mut t) = tail.lock() {
                    if t.len() == STDERR_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        })
    };
    let ended = tokio::select! {
        r = tokio::time::timeout(timeout, child.wait()) => r.ok(),
        _ = async {
            // No sender left: no interrupt will ever come.
            if interrupt.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
        } => None,
    };
    let status = match ended {
        Some(status) => status.context("waiting for the script")?,
        None => {
            stop(&mut child).await;
            if *interrupt.borrow() {
                bail!("interrupted: stopped");
            }
            bail!("still running after {timeout:?}: stopped");
        }
    };
    // The pipes close when the script and everything it started are gone.
    let pipes = async {
        let _ = out_task.await;
        let _ = err_task.await;
    };
    if tokio::time::timeout(PIPE_GRACE, pipes).await.is_err() {
        eprintln!("[{label}] (a process it started still holds its output open)");
    }
    let stdout = out.lock().map(|o| o.clone()).unwrap_or_default();
    let stderr_tail = tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    Ok(ScriptOutput {
        status,
        stdout,
        stderr_tail,
    })
}

/// SIGTERM to the script (its trap tears its engine down), then SIGKILL to its whole
/// process group (the script and whatever it started) after [`GRACE`].
pub async fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        if tokio::time::timeout(GRACE, child.wait()).await.is_ok() {
            return;
        }
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An interrupt that never comes (its sender is gone).
    fn never() -> watch::Receiver<bool> {
        watch::channel(false).1
    }

    #[test]
    fn each_peer_gets_its_scripts_arguments() {
        let dir = Path::new("/p");
        let (s, a) = command_line(Peer::Restate, dir, 200, 50, 3, 16);
        assert_eq!(s, Path::new("/p/restate.sh"));
        assert_eq!(a, ["200", "50", "3"]);
        let (s, a) = command_line(Peer::Postgres, dir, 200, 50, 3, 16);
        assert_eq!(s, Path::new("/p/postgres-graphile.sh"));
        assert_eq!(a, ["200", "50", "16", "3"]);
    }

    #[tokio::test]
    async fn a_script_gives_its_output_and_a_failure_its_last_words() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("peer.sh");
        std::fs::write(
            &script,
            "echo '{\"a\":1}'\necho starting >&2\necho 'npm install failed' >&2\nexit 3\n",
        )
        .unwrap();
        let out = run_script("t", &script, &[], Duration::from_secs(30), never())
            .await
            .unwrap();
        assert_eq!(out.stdout, "{\"a\":1}\n");
        assert_eq!(out.status.code(), Some(3));
        let why = out.failure();
        assert!(
            why.contains("3") && why.ends_with("starting / npm install failed"),
            "{why}"
        );
        assert!(run_script(
            "t",
            &dir.path().join("none.sh"),
            &[],
            Duration::from_secs(1),
            never()
        )
        .await
        .is_err());
    }

    #[tokio::test]
    async fn output_is_kept_when_a_leftover_process_holds_the_pipe() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("leaky.sh");
        // The background sleep inherits stdout and outlives the script.
        std::fs::write(&script, "echo '{\"b\":2}'\nsleep 30 &\necho $! > \"$1\"\n").unwrap();
        let pid_file = dir.path().join("pid");
        let out = run_script(
            "t",
            &script,
            &[pid_file.display().to_string()],
            Duration::from_secs(30),
            never(),
        )
        .await
        .unwrap();
        assert_eq!(out.stdout, "{\"b\":2}\n");
        assert!(out.status.success());
        // Stop the sleep this test started, by its pid.
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }

    #[tokio::test]
    async fn a_script_past_its_timeout_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("slow.sh");
        std::fs::write(
            &script,
            "sleep 30 &\np=$!\ntrap 'kill $p; exit 143' TERM\nwait $p\n",
        )
        .unwrap();
        let e = run_script("t", &script, &[], Duration::from_millis(300), never())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("after"), "{e}");
        let (tx, rx) = watch::channel(false);
        let run = tokio::spawn({
            let script = script.clone();
            async move { run_script("t", &script, &[], Duration::from_secs(60), rx).await }
        });
        tx.send(true).unwrap();
        let e = run.await.unwrap().unwrap_err();
        assert!(e.to_string().contains("interrupted"), "{e}");
    }
}
