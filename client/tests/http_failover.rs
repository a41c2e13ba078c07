//! `HttpTransport` against tiny stub brokers on 127.0.0.1: failover order, backoff,
//! long-poll deadlines and error mapping, without a real broker.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use suslik_broker::model::wire::{PollRequest, ReleaseBatchRequest};
use suslik_broker::model::{Decision, JsonValue, Outcome, TaskId, TaskList};
use suslik_client::transport::Backoff;
use suslik_client::{ActorId, Error, HttpConfig, HttpTransport, ProcessId, Transport};

/// One request as a stub saw it.
#[derive(Debug, Clone)]
struct Hit {
    server: &'static str,
    method: Method,
    path: String,
    body: String,
}

/// What a stub answers to its n-th request (0-based): status, body, delay.
type Script = Arc<dyn Fn(usize) -> (u16, String, Duration) + Send + Sync>;

#[derive(Clone)]
struct Stub {
    name: &'static str,
    script: Script,
    hits: Arc<Mutex<Vec<Hit>>>,
}

async fn handle(
    State(stub): State<Stub>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> (StatusCode, String) {
    let n = {
        let mut hits = stub.hits.lock().unwrap_or_else(|p| p.into_inner());
        hits.push(Hit {
            server: stub.name,
            method,
            path: uri.path().to_string(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        hits.iter().filter(|h| h.server == stub.name).count() - 1
    };
    let (status, body, delay) = (stub.script)(n);
    tokio::time::sleep(delay).await;
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

async fn serve(
    name: &'static str,
    hits: &Arc<Mutex<Vec<Hit>>>,
    script: Script,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(handle).with_state(Stub {
        name,
        script,
        hits: hits.clone(),
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

fn no_leader() -> (u16, String, Duration) {
    (
        503,
        r#"{"error":"no_leader","message":"election in progress"}"#.into(),
        Duration::ZERO,
    )
}

fn empty_poll() -> (u16, String, Duration) {
    (200, r#"{"tasks":[]}"#.into(), Duration::ZERO)
}

fn poll_req(wait_ms: u64) -> anyhow::Result<PollRequest> {
    Ok(PollRequest {
        actor_id: ActorId::new("w#1")?,
        task_list: TaskList::default_list(),
        max: 1,
        wait_ms,
    })
}

fn servers(hits: &Arc<Mutex<Vec<Hit>>>) -> Vec<&'static str> {
    hits.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|h| h.server)
        .collect()
}

fn fast_config() -> HttpConfig {
    HttpConfig {
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
        ..HttpConfig::default()
    }
}

/// Far longer than any test may take: a transport that pauses this long instead of
/// moving on would hit [`WAIT`] and fail the test with a clear message.
const HOUR: Duration = Duration::from_secs(3600);

/// A generous bound for calls that must not pause at all.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_503_fails_over_at_once_to_the_next_address_which_is_then_preferred() -> anyhow::Result<()>
{
    let hits = Arc::new(Mutex::new(Vec::new()));
    let a = serve("a", &hits, Arc::new(|_| no_leader())).await?;
    let b = serve("b", &hits, Arc::new(|_| empty_poll())).await?;
    // An hour of backoff: the call can only finish in time if the second address is
    // tried without a pause within the first round.
    let cfg = HttpConfig {
        backoff: Backoff::new(HOUR, HOUR),
        ..HttpConfig::default()
    };
    let t = HttpTransport::with_config([a.to_string(), b.to_string()], cfg)?;

    let resp = tokio::time::timeout(WAIT, t.poll(poll_req(0)?))
        .await
        .unwrap_or_else(|_| panic!("the transport paused before trying the second address"))?;
    assert!(resp.tasks.is_empty());
    assert_eq!(servers(&hits), vec!["a", "b"]);

    t.poll(poll_req(0)?).await?;
    assert_eq!(
        servers(&hits),
        vec!["a", "b", "b"],
        "the answering node is tried first next time"
    );
    Ok(())
}

/// The pauses between rounds (exponential, capped) are unit-tested exactly in the
/// transport's `walk` module; here a lone node keeps being retried round after round.
#[tokio::test]
async fn a_lone_node_is_retried_after_each_failed_round_until_it_answers() -> anyhow::Result<()> {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let a = serve(
        "a",
        &hits,
        Arc::new(|n| if n < 2 { no_leader() } else { empty_poll() }),
    )
    .await?;
    let t = HttpTransport::with_config([a.to_string()], fast_config())?;
    let resp = t.poll(poll_req(0)?).await?;
    assert!(resp.tasks.is_empty());
    assert_eq!(servers(&hits), vec!["a", "a", "a"]);
    Ok(())
}

/// An address nobody listens on, held for the whole test: the socket is bound (so
/// no other test can take the port) but never listens, so connections are refused.
fn refusing_address() -> anyhow::Result<(tokio::net::TcpSocket, SocketAddr)> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let addr = socket.local_addr()?;
    Ok((socket, addr))
}

#[tokio::test]
async fn a_refused_connection_fails_over_to_the_next_address() -> anyhow::Result<()> {
    let (_held, dead) = refusing_address()?;
    let hits = Arc::new(Mutex::new(Vec::new()));
    let b = serve("b", &hits, Arc::new(|_| empty_poll())).await?;
    let cfg = HttpConfig {
        backoff: Backoff::new(HOUR, HOUR),
        ..HttpConfig::default()
    };
    let t = HttpTransport::with_config([dead.to_string(), b.to_string()], cfg)?;
    tokio::time::timeout(WAIT, t.poll(poll_req(0)?))
        .await
        .unwrap_or_else(|_| panic!("the transport paused after a refused connection"))?;
    assert_eq!(servers(&hits), vec!["b"]);
    t.poll(poll_req(0)?).await?;
    assert_eq!(
        servers(&hits),
        vec!["b", "b"],
        "the refusing address is not tried first next time"
    );
    Ok(())
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_transport_error() -> anyhow::Result<()> {
    let (_held, dead) = refusing_address()?;
    let cfg = HttpConfig {
        max_attempts: 3,
        ..fast_config()
    };
    let t = HttpTransport::with_config([dead.to_string()], cfg)?;
    match t.poll(poll_req(0)?).await {
        Err(e @ Error::Unavailable { attempts: 3, .. }) => {
            assert!(e.is_retryable(), "{e:?}");
            let Error::Unavailable { last, .. } = e else {
                unreachable!()
            };
            match *last {
                Error::Transport { url, .. } => {
                    assert!(url.contains(&dead.to_string()), "{url}")
                }
                other => panic!("expected a transport error, got {other:?}"),
            }
        }
        other => panic!("expected unavailable after 3 attempts, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn client_errors_are_typed_rejections_and_not_retried() -> anyhow::Result<()> {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let a = serve(
        "a",
        &hits,
        Arc::new(|_| {
            (
                404,
                r#"{"error":"unknown_process","message":"no such process"}"#.into(),
                Duration::ZERO,
            )
        }),
    )
    .await?;
    let b = serve("b", &hits, Arc::new(|_| empty_poll())).await?;
    let t = HttpTransport::with_config([a.to_string(), b.to_string()], fast_config())?;
    let id = ProcessId::random();
    match t.process(id).await {
        Err(Error::Rejected {
            status,
            code,
            message,
        }) => {
            assert_eq!(
                (status, code.as_str(), message.as_str()),
                (404, "unknown_process", "no such process")
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let seen = hits.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path, format!("/api/v1/processes/{id}"));
    Ok(())
}

#[tokio::test]
async fn giving_up_reports_attempts_and_the_last_error() -> anyhow::Result<()> {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let a = serve("a", &hits, Arc::new(|_| no_leader())).await?;
    let b = serve(
        "b",
        &hits,
        Arc::new(|_| (502, "<html>bad gateway</html>".into(), Duration::ZERO)),
    )
    .await?;
    let cfg = HttpConfig {
        max_attempts: 4,
        ..fast_config()
    };
    let t = HttpTransport::with_config([a.to_string(), b.to_string()], cfg)?;
    match t.poll(poll_req(0)?).await {
        Err(e @ Error::Unavailable { attempts: 4, .. }) => {
            assert_eq!(e.status(), Some(502));
            assert_eq!(e.code(), Some("http_502"));
            assert!(e.is_retryable());
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(servers(&hits), vec!["a", "b", "a", "b"]);
    Ok(())
}

#[tokio::test]
async fn long_polls_get_wait_ms_plus_slack_and_other_calls_the_request_timeout(
) -> anyhow::Result<()> {
    let hits = Arc::new(Mutex::new(Vec::new()));
    // The poll is answered after 500 ms, five times the request timeout but well
    // within its long-poll deadline; the next call is never answered.
    let a = serve(
        "a",
        &hits,
        Arc::new(|n| {
            let delay = if n == 0 {
                Duration::from_millis(500)
            } else {
                HOUR
            };
            (200, r#"{"tasks":[]}"#.into(), delay)
        }),
    )
    .await?;
    let cfg = HttpConfig {
        request_timeout: Duration::from_millis(100),
        long_poll_slack: Duration::from_millis(200),
        max_attempts: 1,
        ..fast_config()
    };
    let t = HttpTransport::with_config([a.to_string()], cfg)?;
    // Deadline 20 s wait + 200 ms slack: the slow answer arrives in time.
    t.poll(poll_req(20_000)?).await?;
    // An ordinary request has the 100 ms deadline and times out.
    match t.process(ProcessId::random()).await {
        Err(Error::Unavailable { last, .. }) => {
            assert!(matches!(*last, Error::Timeout(_)), "{last:?}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(servers(&hits), vec!["a", "a"]);
    Ok(())
}

#[tokio::test]
async fn batch_release_posts_the_decisions_and_maps_results() -> anyhow::Result<()> {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let a = serve(
        "a",
        &hits,
        Arc::new(|_| {
            (
                200,
                r#"{"results":[{"error":{"error":"unknown_task","message":"gone"}}]}"#.into(),
                Duration::ZERO,
            )
        }),
    )
    .await?;
    let t = HttpTransport::new([format!("http://{a}")])?;
    let d = Decision {
        task_id: TaskId::random(),
        process_id: None,
        outcome: Outcome::Value(JsonValue::from_text("1")?),
        tasks: vec![],
        restart_at: None,
        execution_ms: None,
        attempt: None,
        delivery_id: None,
        delivered_at: None,
    };
    let resp = t.release_batch(vec![d.clone()]).await?;
    assert_eq!(resp.results.len(), 1);
    let seen = hits.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(seen[0].path, "/api/v1/tasks/release/batch");
    let sent: ReleaseBatchRequest = serde_json::from_str(&seen[0].body)?;
    assert_eq!(sent.decisions, vec![d]);
    Ok(())
}
