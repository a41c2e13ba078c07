//! Waiting for a stop signal: SIGINT (Ctrl-C) or SIGTERM (service managers,
//! `docker stop`, Kubernetes).

/// Resolves with the signal's name when SIGINT or SIGTERM arrives. If the handlers
/// cannot be installed, logs why and waits for Ctrl-C alone (or forever).
pub async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    r = tokio::signal::ctrl_c() => ctrl_c_result(r).await,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the container");
                ctrl_c_result(tokio::signal::ctrl_c().await).await
            }
        }
    }
    #[cfg(not(unix))]
    {
        ctrl_c_result(tokio::signal::ctrl_c().await).await
    }
}

async fn ctrl_c_result(r: std::io::Result<()>) -> &'static str {
    match r {
        Ok(()) => "SIGINT",
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch Ctrl-C");
            std::future::pending().await
        }
    }
}
