//! Test support: a real HTTP server on 127.0.0.1:0 that answers with scripted replies and records
//! every request it gets, plus helpers to build event streams and collect model events.
#![allow(dead_code)]

use agentos_core::ModelEvent;
use agentos_llm::RetryPolicy;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use futures::StreamExt;
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Barrier;

/// How the server answers one request.
#[derive(Clone)]
pub enum Reply {
    /// 200 `text/event-stream`, sent in these chunks with a short pause between them.
    Stream(Vec<Bytes>),
    /// Like `Stream`, then the connection stays open without another byte.
    StreamThenHang(Vec<Bytes>),
    /// 200 `application/json`.
    Json(Value),
    /// Any status, with headers and a body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// Never answers.
    Hang,
    /// Waits until the barrier's whole party of requests waits here at once, then answers.
    Gate(Arc<Barrier>, Box<Reply>),
}

/// One request the server got.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The request path.
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request body, as JSON (`null` when it was not JSON).
    pub body: Value,
}

impl Recorded {
    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
    }
}

struct ServerState {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
}

/// The running server.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<ServerState>,
}

impl Server {
    /// Starts a server that answers the n-th request with `replies[n]`, and every request after
    /// the last reply with the last reply again.
    pub async fn start(replies: Vec<Reply>) -> Server {
        assert!(!replies.is_empty(), "give the server at least one reply");
        let state = Arc::new(ServerState { replies: Mutex::new(replies.into()), requests: Mutex::new(Vec::new()) });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { url, state }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// How many requests the server got.
    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
}

async fn handle(State(state): State<Arc<ServerState>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.requests.lock().unwrap().push(Recorded { path: uri.path().to_string(), headers, body });
    let mut reply = {
        let mut replies = state.replies.lock().unwrap();
        if replies.len() > 1 { replies.pop_front() } else { replies.front().cloned() }.unwrap()
    };
    while let Reply::Gate(barrier, inner) = reply {
        barrier.wait().await;
        reply = *inner;
    }
    let stream = |chunks: Vec<Bytes>, hang: bool| {
        let chunks = futures::stream::iter(chunks).then(|chunk| async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, Infallible>(chunk)
        });
        let tail = futures::stream::once(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Bytes::new())
        });
        Response::builder().header("content-type", "text/event-stream").body(Body::from_stream(chunks.chain(tail))).unwrap()
    };
    match reply {
        Reply::Stream(chunks) => stream(chunks, false),
        Reply::StreamThenHang(chunks) => stream(chunks, true),
        Reply::Json(value) => Response::builder().header("content-type", "application/json").body(Body::from(value.to_string())).unwrap(),
        Reply::Status(status, headers, body) => {
            let mut response = Response::builder().status(StatusCode::from_u16(status).unwrap());
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response.body(Body::from(body)).unwrap()
        }
        Reply::Hang => std::future::pending().await,
        Reply::Gate(..) => unreachable!(),
    }
}

/// `text` cut into pieces of `size` bytes (even inside a UTF-8 character).
pub fn split(text: &str, size: usize) -> Vec<Bytes> {
    text.as_bytes().chunks(size).map(Bytes::copy_from_slice).collect()
}

/// A stream reply: `text` cut into pieces of `size` bytes.
pub fn stream(text: &str, size: usize) -> Reply {
    Reply::Stream(split(text, size))
}

/// A status reply with a body and no extra headers.
pub fn status(code: u16, body: &str) -> Reply {
    Reply::Status(code, Vec::new(), body.to_string())
}

/// Retries at once and often: 2 retries, 1 ms apart.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy { max_retries: 2, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(50) }
}

/// Collects the events of a model call.
#[derive(Default)]
pub struct Events(Mutex<Vec<ModelEvent>>);

impl Events {
    /// Records one event (pass `&|e| events.push(e)` as the sink).
    pub fn push(&self, event: ModelEvent) {
        self.0.lock().unwrap().push(event);
    }

    /// All events so far.
    pub fn all(&self) -> Vec<ModelEvent> {
        self.0.lock().unwrap().clone()
    }

    /// The retry events so far, as (attempt, wait_ms, reason).
    pub fn retries(&self) -> Vec<(u32, u64, String)> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                ModelEvent::Retry { attempt, wait_ms, reason } => Some((attempt, wait_ms, reason)),
                _ => None,
            })
            .collect()
    }
}

/// The soft limit on open files of this process (Linux), when it can be read.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
