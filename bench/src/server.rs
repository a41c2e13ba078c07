//! The broker under test as a child process.
//!
//! The parent re-executes its own binary with the hidden `__serve` subcommand; the child
//! runs [`Node::start`] (one node, or one member of a cluster when [`NodeSpec::peers`] is
//! set) and prints `LISTENING <addr>` on stdout. The child also watches
//! its stdin: when the parent goes away (or [`ServerProcess::stop`] closes the pipe) it
//! shuts down, so a crashed benchmark does not leave a broker behind. [`ServerProcess`]
//! is a drop guard: whatever happens, the child is killed and reaped.

use crate::cli::ServeArgs;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use suslik_broker::{Node, NodeConfig};

/// Marker line the child prints once it serves.
const READY_PREFIX: &str = "LISTENING ";
/// How long the child may take to elect itself and start serving.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the child's graceful shutdown may take before it gives up.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// A running broker child. Killed on drop.
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

/// What to start: a node's address, data and cluster membership.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub data_dir: PathBuf,
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    pub node_id: u64,
    /// Initial members, this node included; empty for a one-node broker.
    pub peers: BTreeMap<u64, SocketAddr>,
    /// Where the child's stderr (its log) goes; `None` inherits ours.
    pub log: Option<PathBuf>,
}

impl NodeSpec {
    /// A one-node broker on a free loopback port.
    pub fn single(data_dir: &Path) -> NodeSpec {
        NodeSpec {
            data_dir: data_dir.to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            node_id: 1,
            peers: BTreeMap::new(),
            log: None,
        }
    }

    /// The `__serve` arguments.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "__serve".to_string(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--listen".into(),
            self.listen.to_string(),
            "--node-id".into(),
            self.node_id.to_string(),
        ];
        if !self.peers.is_empty() {
            args.push("--peers".into());
            args.push(format_peers(&self.peers));
        }
        args
    }
}

/// `id=host:port,...` in id order.
pub fn format_peers(peers: &BTreeMap<u64, SocketAddr>) -> String {
    peers
        .iter()
        .map(|(id, addr)| format!("{id}={addr}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `--peers` items (`id=host:port`) into a map; rejects duplicates, bad ids, empty
/// addresses, and a list that does not name `node_id`.
pub fn parse_peers(items: &[String], node_id: u64) -> Result<BTreeMap<u64, String>, String> {
    let mut map = BTreeMap::new();
    for item in items {
        let (id, addr) = item
            .split_once('=')
            .ok_or_else(|| format!("peer {item:?} is not id=host:port"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| format!("peer {item:?}: {id:?} is not a node id"))?;
        let addr = addr.trim();
        if addr.is_empty() {
            return Err(format!("peer {item:?} has no address"));
        }
        if map.insert(id, addr.to_string()).is_some() {
            return Err(format!("peer {id} is listed twice"));
        }
    }
    if !map.is_empty() && !map.contains_key(&node_id) {
        return Err(format!("node {node_id} is not among the peers"));
    }
    Ok(map)
}

impl ServerProcess {
    /// Starts `suslik-bench __serve` as described by `spec` and waits up to `timeout`
    /// for it to serve ([`START_TIMEOUT`] is enough unless it restarts on a large state,
    /// which it replays from a snapshot and a log tail first).
    pub fn spawn_node_within(spec: &NodeSpec, timeout: Duration) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("locating the benchmark binary")?;
        let stderr = match &spec.log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?,
            ),
            None => Stdio::inherit(),
        };
        let mut child = Command::new(exe)
            .args(spec.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
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
        server.addr = wait_for_address(stdout, timeout)?;
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the child at once (no graceful shutdown) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
fn wait_for_address(
    stdout: std::process::ChildStdout,
    timeout: Duration,
) -> anyhow::Result<SocketAddr> {
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
    match rx.recv_timeout(timeout) {
        Ok(Some(addr)) => addr
            .parse()
            .with_context(|| format!("the broker child printed a bad address {addr:?}")),
        Ok(None) => bail!("the broker child exited before it served (see its stderr above)"),
        Err(_) => bail!("the broker child did not serve within {timeout:?}"),
    }
}

/// The `__serve` side: runs one node until stdin closes or Ctrl-C.
pub fn serve_child(args: ServeArgs) -> anyhow::Result<()> {
    let filter = std::env::var("SUSLIK_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        // A cluster node's stderr is a log file: no colour codes in it.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut cfg = NodeConfig::single(args.data_dir);
        cfg.listen = args.listen;
        cfg.node_id = args.node_id;
        cfg.peers = parse_peers(&args.peers, args.node_id).map_err(anyhow::Error::msg)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn items(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn peers_round_trip_through_the_serve_flags() {
        let peers: BTreeMap<u64, SocketAddr> = [
            (2, "127.0.0.1:7702".parse().unwrap()),
            (1, "127.0.0.1:7701".parse().unwrap()),
        ]
        .into();
        let text = format_peers(&peers);
        assert_eq!(text, "1=127.0.0.1:7701,2=127.0.0.1:7702");
        let items: Vec<String> = text.split(',').map(String::from).collect();
        let parsed = parse_peers(&items, 2).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[&1], "127.0.0.1:7701");

        let spec = NodeSpec {
            node_id: 2,
            peers,
            ..NodeSpec::single(Path::new("/d"))
        };
        let args = spec.args();
        assert_eq!(args[0], "__serve");
        assert!(args.windows(2).any(|w| w == ["--node-id", "2"]));
        assert!(args.windows(2).any(|w| w[0] == "--peers" && w[1] == text));
        // A single node passes no peers at all.
        assert!(!NodeSpec::single(Path::new("/d"))
            .args()
            .contains(&"--peers".to_string()));
    }

    #[test]
    fn bad_peer_lists_are_rejected() {
        assert!(parse_peers(&[], 1).unwrap().is_empty());
        assert!(parse_peers(&items(&["1"]), 1).is_err());
        assert!(parse_peers(&items(&["x=127.0.0.1:1"]), 1).is_err());
        assert!(parse_peers(&items(&["1="]), 1).is_err());
        assert!(parse_peers(&items(&["1=a:1", "1=b:2"]), 1).is_err());
        assert!(parse_peers(&items(&["2=a:1", "3=b:2"]), 1).is_err());
        assert_eq!(parse_peers(&items(&[" 1 = a:1 "]), 1).unwrap()[&1], "a:1");
    }
}
