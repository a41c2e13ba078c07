//! A tiny HTTP receiver for webhook tests: records every JSON body POSTed to it, and
//! can answer 500 to the first few requests to exercise retries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Inner {
    /// Bodies answered 2xx, in arrival order.
    accepted: Mutex<Vec<Value>>,
    /// Every request, refused ones included.
    requests: AtomicUsize,
    /// Requests still to refuse with 500.
    refuse: AtomicUsize,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    inner: Arc<Inner>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver that refuses its first `refuse` requests with 500.
    pub async fn start(refuse: usize) -> Receiver {
        let inner = Arc::new(Inner {
            refuse: AtomicUsize::new(refuse),
            ..Inner::default()
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { inner, addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The bodies accepted so far.
    pub fn accepted(&self) -> Vec<Value> {
        self.inner.accepted.lock().expect("lock").clone()
    }

    /// From now on, accept every request.
    pub fn accept_all(&self) {
        self.inner.refuse.store(0, Ordering::SeqCst);
    }

    /// Requests received so far, refused ones included.
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds for the accepted bodies (generous timeout).
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        for _ in 0..300 {
            let got = self.accepted();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}; got {:?}", self.accepted());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(inner): State<Arc<Inner>>, Json(body): Json<Value>) -> StatusCode {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let refuse = inner
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refuse {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    inner.accepted.lock().expect("lock").push(body);
    StatusCode::OK
}
