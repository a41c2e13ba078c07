//! A real `suslik serve` process for tests: on a free port (the server prints its
//! address), its log drained to the test's stderr, killed when dropped.

use crate::suslik_bin;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `suslik serve` process on a free port, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://ADDR` of the server.
    pub base: String,
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &["--listen", "127.0.0.1:0"])
    }

    pub fn start_with(data_dir: &Path, args: &[&str]) -> Server {
        Server::try_start(data_dir, args).expect("suslik printed its address")
    }

    /// `None` if the server exited without serving (e.g. its port was taken).
    pub fn try_start(data_dir: &Path, args: &[&str]) -> Option<Server> {
        let mut child = Command::new(suslik_bin())
            .arg("serve")
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn suslik");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Read the address line, then keep draining the (log) output to stderr so the
        // server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("suslik listening on ") {
                    let _ = tx.send(addr.to_string());
                } else {
                    eprintln!("[suslik] {line}");
                }
            }
        });
        // The channel closes without an address if the server exits first.
        let Ok(base) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        Some(Server { child, base })
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
