//! `run`: serve the configured actors until SIGINT/SIGTERM, then shut down gracefully.
//!
//! The first signal stops polling and gives in-flight tasks the configured deadline
//! to finish and be released (exit 0, or 1 if some were still running at the
//! deadline). A second signal during that wait exits at once (1): an operator who
//! presses Ctrl-C twice means it.

use super::{load_checked, runtime, EXIT_CONFIG, EXIT_FAILURE};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use suslik_bootstrap::{logging, signal, Container};
use suslik_client::{HttpConfig, HttpTransport};

/// Runs the container from the config at `path`.
pub fn main(path: &Path) -> ExitCode {
    let (config, registry) = match load_checked(path, true) {
        Ok(v) => v,
        Err(code) => return code,
    };
    logging::init(&config.logging);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let code = rt.block_on(async move {
        let http = HttpConfig {
            token: config.effective_token(),
            ..HttpConfig::default()
        };
        let transport = match HttpTransport::with_config(&config.servers, http) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: servers: {e}", path.display());
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let deadline = config.shutdown_deadline();
        let servers = config.servers.join(",");
        let container = match Container::start(config, registry, Arc::new(transport)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        tracing::info!(servers = %servers, pools = container.pools().len(), "container running; SIGINT or SIGTERM stops it");
        let sig = signal::stop_signal().await;
        tracing::info!(signal = sig, in_flight = container.in_flight(), "stop requested");
        tokio::select! {
            report = container.shutdown(deadline) => {
                if report.clean {
                    tracing::info!(elapsed_ms = report.elapsed.as_millis() as u64, "stopped");
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_FAILURE)
                }
            }
            sig = signal::stop_signal() => {
                tracing::warn!(signal = sig, "second stop signal: exiting without waiting for tasks in flight");
                ExitCode::from(EXIT_FAILURE)
            }
        }
    });
    // Abandoned long polls and DNS lookups must not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
