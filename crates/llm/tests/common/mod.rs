//! Test support: a real HTTP server on 127.0.0.1:0 that answers with scripted replies and records
//! every request it gets, helpers to build event streams and collect model events, and the checks
//! every HTTP provider must pass, each run with the provider's own wire-format replies.
#![allow(dead_code)]

use agentos_core::{ChatRequest, FinishReason, Message, ModelEvent, Role, ToolCall, Usage};
use agentos_llm::{LanguageModel, RetryPolicy};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Value};
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

/// A request with one user message, `text`.
pub fn ask(text: &str) -> ChatRequest {
    ChatRequest { messages: vec![Message::user(text)], ..Default::default() }
}

/// The start of the conversation the wire-shape tests send: a system prompt, a question, an
/// assistant turn that says `assistant_text` and calls the calculator twice (with the ids
/// `call_ids`; the second call's arguments are text that is not JSON), and both calls' results.
pub fn calculator_conversation(assistant_text: &str, call_ids: [&str; 2]) -> Vec<Message> {
    let mut assistant = Message::assistant(assistant_text);
    assistant.tool_calls = vec![
        ToolCall { id: call_ids[0].into(), name: "calculator".into(), arguments: json!({ "expression": "1+2" }) },
        ToolCall { id: call_ids[1].into(), name: "calculator".into(), arguments: Value::String("{bad".into()) },
    ];
    vec![
        Message::system("Be brief."),
        Message::user("What is 1+2?"),
        assistant,
        Message::tool(call_ids[0], "3"),
        Message::tool(call_ids[1], "arguments are not JSON"),
    ]
}

/// Checks that a provider reads a streamed text answer: the server streams `body(parts)` in
/// pieces of `chunk_size` bytes, where `parts` are `"Hel"` and `"lo, w\u{f6}rld"`. The answer must be
/// the assistant's whole text, with no tool calls, finish reason `Stop`, the token counts `tokens`
/// (input, output) and the model `served_model` that the stream names; each part must reach the
/// caller as one text delta; the one request must go to `path` and ask for a stream. Returns that
/// request, for the provider's own checks.
pub async fn streams_text_and_usage<M: LanguageModel>(
    model: impl FnOnce(&Server) -> M,
    body: impl FnOnce(&[&str]) -> String,
    chunk_size: usize,
    (input_tokens, output_tokens): (u64, u64),
    served_model: &str,
    path: &str,
) -> Recorded {
    let server = Server::start(vec![stream(&body(&["Hel", "lo, w\u{f6}rld"]), chunk_size)]).await;
    let events = Events::default();
    let response = model(&server).chat(&ask("hi"), &|e| events.push(e)).await.unwrap();

    assert_eq!(response.message.content(), "Hello, w\u{f6}rld");
    assert_eq!(response.message.role, Role::Assistant);
    assert!(response.message.tool_calls.is_empty());
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert_eq!(response.usage, Usage { input_tokens, output_tokens, model_calls: 1, cost_usd: 0.0 });
    assert_eq!(response.model, served_model);
    assert_eq!(events.all(), [ModelEvent::TextDelta { text: "Hel".into() }, ModelEvent::TextDelta { text: "lo, w\u{f6}rld".into() }]);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, path);
    assert_eq!(requests[0].body["stream"], json!(true));
    requests.into_iter().next().unwrap()
}

/// Checks that a provider honours `Retry-After`: the server answers HTTP 429 with
/// `Retry-After: 0` and the error body `rate_limited` (whose message is "slow down"), then the
/// stream `text_stream("ok")`. `model` builds the provider with the retry policy it is given,
/// whose own first wait (30 s) is past the test's deadline, so the call answers "ok" in time only
/// when it retries at once, as the header says; it reports that one retry.
pub async fn honours_retry_after_on_a_429<M: LanguageModel>(
    model: impl FnOnce(&Server, RetryPolicy) -> M,
    rate_limited: &str,
    text_stream: impl Fn(&str) -> String,
) {
    let server =
        Server::start(vec![Reply::Status(429, vec![("retry-after", "0".into())], rate_limited.into()), stream(&text_stream("ok"), 64)])
            .await;
    // Without the header the first retry would wait 30 s, past the test's deadline.
    let slow = RetryPolicy { max_retries: 3, base_delay: Duration::from_secs(30), max_delay: Duration::from_secs(60) };
    let model = model(&server, slow);
    let events = Events::default();
    let (request, sink) = (ask("hi"), |e| events.push(e));
    let response =
        tokio::time::timeout(Duration::from_secs(5), model.chat(&request, &sink)).await.expect("Retry-After: 0 was not honoured").unwrap();

    assert_eq!(response.message.content(), "ok");
    assert_eq!(server.count(), 2);
    let retries = events.retries();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert_eq!((retries[0].0, retries[0].1), (2, 0));
    assert!(retries[0].2.contains("429") && retries[0].2.contains("slow down"), "{}", retries[0].2);
}
