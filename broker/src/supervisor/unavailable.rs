//! The stand-in that holds a node's address while its data directory refuses writes.
//!
//! Every request gets `503 storage_unavailable` with the data directory and the OS
//! error in the message: the SDK's transport fails over to another node on a 503, a
//! peer's Raft RPC fails like one to a dead node, and `/health` and `/ready` tell an
//! operator (or a load balancer) what is wrong instead of a refused connection.

use super::{probe, PROBE_PERIOD};
use crate::api::auth::RequireToken;
use crate::model::wire::ErrorBody;
use crate::node::NodeConfig;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::json;
use std::future::Future;
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
    reason: Arc<Mutex<Reason>>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl StandIn {
    /// Serves the stand-in on `listener` for the node of `cfg`, explaining `trouble`.
    /// The node's access control applies: callers without a token get `401` as from the
    /// node, and only `/health` and `/ready` are open (without the data directory's
    /// path, which only authorized callers see).
    pub fn serve(
        listener: std::net::TcpListener,
        cfg: &NodeConfig,
        trouble: &str,
    ) -> anyhow::Result<StandIn> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let reason = Arc::new(Mutex::new(Reason::new(&cfg.data_dir, trouble)));
        let app = Router::new()
            .route("/health", any(status))
            .route("/ready", any(status))
            .fallback(refuse)
            .with_state(reason.clone())
            .layer(RequireToken::new(cfg.auth.clone()));
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
            reason,
            stop: Some(stop),
            server,
        })
    }

    /// Probes `data_dir` every [`PROBE_PERIOD`] until, no sooner than `not_before`, it
    /// takes writes (`true`), or until `shutdown` completes (`false`); then stops
    /// serving (the caller keeps the socket bound).
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
            // A dying disk can block a write for long: shutdown does not wait for it.
            let probed = tokio::select! {
                _ = shutdown.as_mut() => break false,
                p = probe(data_dir) => p,
            };
            match probed {
                Ok(()) => break true,
                Err(e) => {
                    if let Ok(mut r) = self.reason.lock() {
                        *r = Reason::new(data_dir, &e.to_string());
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

/// What the stand-in says, for the open health routes and for authorized callers.
#[derive(Debug, Clone)]
struct Reason {
    public: String,
    full: String,
}

impl Reason {
    fn new(data_dir: &Path, trouble: &str) -> Reason {
        let tail = "writes are refused here, and the node restarts by itself once the directory takes writes again";
        Reason {
            public: format!("storage trouble on the data directory ({trouble}); {tail}"),
            full: format!(
                "storage trouble on the data directory {} ({trouble}); {tail}",
                data_dir.display()
            ),
        }
    }
}

fn current(reason: &Mutex<Reason>) -> Reason {
    reason.lock().map(|r| r.clone()).unwrap_or_else(|_| Reason {
        public: "the data directory refuses writes".to_string(),
        full: "the data directory refuses writes".to_string(),
    })
}

async fn status(State(reason): State<Arc<Mutex<Reason>>>) -> Response {
    let body = json!({ "status": STORAGE_UNAVAILABLE, "message": current(&reason).public });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn refuse(State(reason): State<Arc<Mutex<Reason>>>) -> Response {
    let body = ErrorBody {
        error: STORAGE_UNAVAILABLE.to_string(),
        message: current(&reason).full,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_route_answers_503_with_the_reason_until_the_directory_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = NodeConfig::single(dir.path().to_path_buf());
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stand_in = StandIn::serve(held.try_clone().unwrap(), &cfg, "disk full").unwrap();
        let base = format!("http://{}", held.local_addr().unwrap());
        let http = reqwest::Client::new();

        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let health = http
                .request(method, format!("{base}/health"))
                .send()
                .await
                .unwrap();
            assert_eq!(health.status(), 503);
            let body: serde_json::Value = health.json().await.unwrap();
            assert_eq!(body["status"], STORAGE_UNAVAILABLE);
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("disk full"), "{message}");
            assert!(
                !message.contains(&dir.path().display().to_string()),
                "the open route names no path: {message}"
            );
        }

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

        // The directory is writable: the first probe passes and the stand-in stops,
        // while the address stays bound (by `held`) for whoever serves next.
        let never = std::future::pending::<()>();
        tokio::pin!(never);
        assert!(
            stand_in
                .until_storage_ok(dir.path(), Instant::now(), &mut never)
                .await
        );
        let err = std::net::TcpListener::bind(held.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }

    #[tokio::test]
    async fn with_tokens_the_stand_in_refuses_callers_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = NodeConfig::single(dir.path().to_path_buf());
        cfg.auth = crate::api::auth::AuthConfig {
            actor_token: Some("a".into()),
            operator_token: Some("o".into()),
            ..Default::default()
        };
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", held.local_addr().unwrap());
        let _stand_in = StandIn::serve(held, &cfg, "disk full").unwrap();
        let http = reqwest::Client::new();
        let anonymous = http
            .post(format!("{base}/api/v1/processes"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);
        let health = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 503, "health stays open");
        let actor = http
            .post(format!("{base}/api/v1/processes"))
            .bearer_auth("a")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(actor.status(), 503);
    }
}
