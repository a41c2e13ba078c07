//! Keeping a node up through disk trouble.
//!
//! openraft stops its core for good on a storage error: once a log append or an apply
//! fails (a full disk, a data directory remounted read-only), the node can neither
//! write nor recover by itself, and sled, too, refuses every write after its first I/O
//! error. What the node has acknowledged is on disk (acknowledged means fsync'd), so
//! the way back is the same as after `kill -9`: reopen the data directory and replay.
//!
//! [`serve_supervised`] does that in place, without an outside supervisor:
//! 1. it runs the node until its Raft core stops;
//! 2. it shuts the node down and, on the same address, answers every request with
//!    `503 storage_unavailable` naming the data directory and the OS error (clients fail
//!    over to another node; peers see this one as unreachable);
//! 3. it probes the data directory ([`probe`]) until it takes writes again;
//! 4. it starts the node again from its data directory, which replays the log.
//!
//! A data directory that is unusable at start-up is waited for the same way. Restarts
//! that follow each other quickly back off, so a storage error that a restart does not
//! cure (a corrupt file) cannot spin.

mod probe;
mod unavailable;

pub use probe::{is_disk_trouble, probe, MIN_FREE_BYTES};

use crate::node::{Node, NodeConfig};
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often the data directory is probed while it refuses writes.
pub const PROBE_PERIOD: Duration = Duration::from_secs(1);

/// A node that stopped sooner than this after its start counts as a crash loop: the
/// next restart waits twice as long as the last one, up to [`MAX_RESTART_DELAY`].
const QUICK_FAILURE: Duration = Duration::from_secs(30);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);

/// Runs a node, restarting it in place after storage errors, until `shutdown`
/// completes. `on_listening` is called once, with the bound address, as soon as the
/// address serves (the node, or the `503 storage_unavailable` stand-in).
///
/// The address is bound once, here, and each node and stand-in serves a duplicate of
/// that socket: it never goes unbound between them, so no other process can take it,
/// and connections made during a hand-over wait in the backlog.
pub async fn serve_supervised(
    mut cfg: NodeConfig,
    shutdown: impl Future<Output = ()>,
    on_listening: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let held = std::net::TcpListener::bind(cfg.listen)
        .with_context(|| format!("listening on {}", cfg.listen))?;
    cfg.listen = held.local_addr()?;
    let duplicate = || held.try_clone().context("duplicating the listening socket");
    let mut on_listening = Some(on_listening);
    let mut announce = |addr: SocketAddr| {
        if let Some(f) = on_listening.take() {
            f(addr);
        }
    };
    let mut restart_delay = Duration::ZERO;
    // Why the last node stopped (or failed to restart), while it is to be restarted.
    let mut stopped_on: Option<String> = None;
    // Whether a node has run: after that, every failure is waited out.
    let mut ran = false;
    loop {
        let probed = tokio::select! {
            p = probe(&cfg.data_dir) => p,
            _ = &mut shutdown => return Ok(()),
        };
        let trouble = match probed {
            // A wrong path or permission at start-up is a configuration error, not
            // disk trouble to wait out.
            Err(error) if !ran && !is_disk_trouble(&error) => {
                return Err(error).with_context(|| {
                    format!("data directory {} is not usable", cfg.data_dir.display())
                });
            }
            Err(error) => Some(error.to_string()),
            Ok(()) if !restart_delay.is_zero() => stopped_on.clone(),
            Ok(()) => None,
        };
        if let Some(trouble) = trouble {
            let stand_in = unavailable::StandIn::serve(duplicate()?, &cfg, &trouble)?;
            announce(cfg.listen);
            tracing::error!(
                data_dir = %cfg.data_dir.display(),
                %trouble,
                wait = ?restart_delay,
                "serving 503 storage_unavailable until the data directory takes writes"
            );
            let not_before = Instant::now() + restart_delay;
            if !stand_in
                .until_storage_ok(&cfg.data_dir, not_before, &mut shutdown)
                .await
            {
                return Ok(());
            }
            tracing::info!(data_dir = %cfg.data_dir.display(), "data directory takes writes; starting the node");
        }
        let started = Instant::now();
        // An abandoned start is safe: only what is fsync'd counts, as after a kill.
        let start = tokio::select! {
            r = Node::start_on(cfg.clone(), duplicate()?) => r,
            _ = &mut shutdown => return Ok(()),
        };
        let node = match start {
            Ok(node) => node,
            Err(e) => {
                let reason = format!("{e:#}");
                // Once a node has run, or when the data directory is the trouble, a
                // failed start is waited out like a stop (stand-in, backoff).
                if ran || probe(&cfg.data_dir).await.is_err() {
                    tracing::error!(error = %reason, "the node did not start; retrying");
                    stopped_on = Some(reason);
                    restart_delay = next_delay(restart_delay, started.elapsed());
                    continue;
                }
                return Err(e);
            }
        };
        ran = true;
        announce(cfg.listen);
        tokio::select! {
            _ = &mut shutdown => {
                tracing::info!("shutting down");
                return node.shutdown().await;
            }
            reason = node.stopped() => {
                tracing::error!(
                    data_dir = %cfg.data_dir.display(),
                    %reason,
                    "the Raft core stopped; restarting the node in place from its data directory"
                );
                // The stores already failed: a failing final flush is expected here.
                if let Err(e) = node.shutdown().await {
                    tracing::warn!(error = %format!("{e:#}"), "shutdown after a storage error");
                }
                stopped_on = Some(reason);
            }
        }
        restart_delay = next_delay(restart_delay, started.elapsed());
    }
}

/// The wait before the next restart: none after a node that ran a while, doubling
/// (from one second) after nodes that stopped soon after starting.
fn next_delay(last: Duration, ran_for: Duration) -> Duration {
    if ran_for >= QUICK_FAILURE {
        Duration::ZERO
    } else if last.is_zero() {
        Duration::from_secs(1)
    } else {
        (last * 2).min(MAX_RESTART_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_ran_a_while_restarts_at_once() {
        assert_eq!(
            next_delay(Duration::from_secs(8), Duration::from_secs(600)),
            Duration::ZERO
        );
    }

    #[test]
    fn quick_failures_back_off_up_to_a_minute() {
        let mut d = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..9 {
            d = next_delay(d, Duration::from_secs(2));
            seen.push(d.as_secs());
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
