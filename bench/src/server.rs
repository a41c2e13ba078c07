//! The broker under test as a child process.
//!
//! The parent re-executes its own binary with the hidden `__serve` subcommand; the child
//! runs [`Node::start`] and prints `LISTENING <addr>` on stdout. The child also watches
//! its stdin: when the parent goes away (or [`ServerProcess::stop`] closes the pipe) it
//! shuts down, so a crashed benchmark does not leave a broker behind. [`ServerProcess`]
//! is a drop guard: whatever happens, the child is killed and reaped.

use crate::cli::ServeArgs;
use anyhow::{bail, Context};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use suslik_broker::{Node, NodeConfig};

/// Marker line the child prints once it serves.
const READY_PREFIX: &str = "LISTENING ";
/// How long the child may take to elect itself and start serving.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the child's graceful shutdown may take before it gives up.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// A running broker child. Killed on drop.
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `suslik-bench __serve` on a free loopback port with data under `data_dir`.
    pub fn spawn(data_dir: &Path) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("locating the benchmark binary")?;
        let mut child = Command::new(exe)
            .arg("__serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the broker child process")?;
        let stdout = child.stdout.take();
        // From here on the guard owns the child: every error path kills it.
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let Some(stdout) = stdout else {
            bail!("the broker child has no stdout pipe");
        };
        server.addr = wait_for_address(stdout)?;
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the child to shut down (closes its stdin), waits a few seconds, then kills.
    pub fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        // Drop kills it.
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Reads the child's stdout on a helper thread until the `LISTENING` line, with a timeout.
fn wait_for_address(stdout: std::process::ChildStdout) -> anyhow::Result<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let found = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix(READY_PREFIX) {
                        break Some(addr.trim().to_string());
                    }
                }
                Some(Err(_)) | None => break None,
            }
        };
        let _ = tx.send(found);
        // Keep draining so the child never blocks on a full pipe.
        for _ in lines {}
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(addr)) => addr
            .parse()
            .with_context(|| format!("the broker child printed a bad address {addr:?}")),
        Ok(None) => bail!("the broker child exited before it served (see its stderr above)"),
        Err(_) => bail!("the broker child did not serve within {START_TIMEOUT:?}"),
    }
}

/// The `__serve` side: runs one node until stdin closes or Ctrl-C.
pub fn serve_child(args: ServeArgs) -> anyhow::Result<()> {
    let filter = std::env::var("SUSLIK_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut cfg = NodeConfig::single(args.data_dir);
        cfg.listen = args.listen;
        let node = Node::start(cfg).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{READY_PREFIX}{}", node.local_addr())?;
            out.flush()?;
        }
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        // A plain thread (not spawn_blocking): it may never return, and must not hold up exit.
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 256];
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = closed_tx.send(());
        });
        tokio::select! {
            _ = closed_rx => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        // Never outlive the benchmark by long, even if a graceful shutdown stalls.
        match tokio::time::timeout(SHUTDOWN_TIMEOUT, node.shutdown()).await {
            Ok(r) => r,
            Err(_) => bail!("the broker did not shut down within {SHUTDOWN_TIMEOUT:?}"),
        }
    })?;
    // Do not wait for blocking threads that may still hang on storage.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
