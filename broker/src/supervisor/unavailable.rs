//! The stand-in that holds a node's address while its data directory refuses writes.
//!
//! Every request gets `503 storage_unavailable` with the data directory and the OS
//! error in the message: the SDK's transport fails over to another node on a 503, a
//! peer's Raft RPC fails like one to a dead node, and `/health` and `/ready` tell an
//! operator (or a load balancer) what is wrong instead of a refused connection.

use super::{bind_again, probe, PROBE_PERIOD};
use crate::model::wire::ErrorBody;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The error code of every answer of the stand-in.
pub const STORAGE_UNAVAILABLE: &str = "storage_unavailable";

/// A running stand-in server.
pub struct StandIn {
    addr: SocketAddr,
    reason: Arc<Mutex<String>>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl StandIn {
    /// Serves the stand-in on `addr` (port 0 picks one), explaining `trouble` on `data_dir`.
    pub async fn bind(addr: SocketAddr, data_dir: &Path, trouble: &str) -> anyhow::Result<StandIn> {
        let listener = bind_again(addr).await?;
        let addr = listener.local_addr()?;
        let reason = Arc::new(Mutex::new(reason(data_dir, trouble)));
        let app = Router::new()
            .route("/health", get(status))
            .route("/ready", get(status))
            .fallback(refuse)
            .with_state(reason.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "storage_unavailable stand-in failed");
            }
        });
        Ok(StandIn {
            addr,
            reason,
            stop: Some(stop),
            server,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Probes `data_dir` every [`PROBE_PERIOD`] until, no sooner than `not_before`, it
    /// takes writes (`true`), or until `shutdown` completes (`false`); then stops
    /// serving and frees the address.
    pub async fn until_storage_ok(
        mut self,
        data_dir: &Path,
        not_before: Instant,
        shutdown: &mut Pin<&mut impl Future<Output = ()>>,
    ) -> bool {
        let ok = loop {
            let next = (Instant::now() + PROBE_PERIOD).max(not_before);
            tokio::select! {
                _ = shutdown.as_mut() => break false,
                _ = tokio::time::sleep_until(next.into()) => {}
            }
            match probe(data_dir).await {
                Ok(()) => break true,
                Err(e) => {
                    if let Ok(mut r) = self.reason.lock() {
                        *r = reason(data_dir, &e.to_string());
                    }
                }
            }
        };
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Idle keep-alive connections would hold a graceful shutdown open.
        if tokio::time::timeout(Duration::from_secs(2), &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
            let _ = (&mut self.server).await;
        }
        ok
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn reason(data_dir: &Path, trouble: &str) -> String {
    format!(
        "storage trouble on the data directory {} ({trouble}); writes are refused here, and the node restarts by itself once the directory takes writes again",
        data_dir.display()
    )
}

fn current(reason: &Mutex<String>) -> String {
    reason
        .lock()
        .map(|r| r.clone())
        .unwrap_or_else(|_| "the data directory refuses writes".to_string())
}

async fn status(State(reason): State<Arc<Mutex<String>>>) -> Response {
    let body = json!({ "status": STORAGE_UNAVAILABLE, "message": current(&reason) });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn refuse(State(reason): State<Arc<Mutex<String>>>) -> Response {
    let body = ErrorBody {
        error: STORAGE_UNAVAILABLE.to_string(),
        message: current(&reason),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_route_answers_503_with_the_reason_until_the_directory_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let stand_in = StandIn::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path(),
            "disk full",
        )
        .await
        .unwrap();
        let base = format!("http://{}", stand_in.local_addr());
        let http = reqwest::Client::new();

        let health = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 503);
        let body: serde_json::Value = health.json().await.unwrap();
        assert_eq!(body["status"], STORAGE_UNAVAILABLE);
        assert!(body["message"].as_str().unwrap().contains("disk full"));

        let start = http
            .post(format!("{base}/api/v1/processes"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), 503);
        let body: ErrorBody = start.json().await.unwrap();
        assert_eq!(body.error, STORAGE_UNAVAILABLE);
        assert!(body.message.contains(&dir.path().display().to_string()));

        // The directory is writable: the first probe passes and the address is freed.
        let addr = stand_in.local_addr();
        let never = std::future::pending::<()>();
        tokio::pin!(never);
        assert!(
            stand_in
                .until_storage_ok(dir.path(), Instant::now(), &mut never)
                .await
        );
        tokio::net::TcpListener::bind(addr)
            .await
            .expect("the stand-in freed its address");
    }
}
