//! A simulated model served over loopback HTTP in the OpenAI Chat Completions wire format, with a
//! fixed latency per call: the stand-in model of `agentos bench kernel` (so kernel overhead can be
//! measured against the latency bound, for agentos and for peers on the same server) and the
//! server of end-to-end tests. It is a real HTTP server: clients reach it only over the network.
//!
//! It answers by turn: the number of `tool` messages in the request picks the reply, so it needs
//! no state per conversation and serves any number of agents at once. It honours `stream`: SSE
//! chunks ending in `data: [DONE]`, or one `chat.completion` JSON body.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One reply of the simulated model.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Ask for one tool call.
    ToolCall {
        /// The tool's name.
        name: String,
        /// Its arguments.
        arguments: Value,
    },
    /// Answer with text.
    Text(String),
}

/// Picks the reply from the number of tool results already in the conversation.
pub type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

struct Shared {
    latency: Duration,
    script: Script,
    requests: AtomicU64,
    abandoned: AtomicU64,
    /// Requests at this turn or later are held unanswered (`u64::MAX`: none are).
    stall_from: AtomicU64,
    /// Requests from this one on, counted from 0 in the order they arrive, are held unanswered
    /// (`u64::MAX`: none are).
    hold_from: AtomicU64,
}

/// Counts a request as abandoned if its handler is dropped (the client went away) before it
/// answers.
struct Pending<'a> {
    shared: &'a Shared,
    answered: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.shared.abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A running simulated model server on 127.0.0.1. Stops when dropped.
pub struct SimulatedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Deserialize)]
struct Request {
    messages: Vec<RequestMessage>,
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize)]
struct RequestMessage {
    role: String,
}

impl SimulatedServer {
    /// Starts a server on a free loopback port that waits `latency` before each answer.
    pub async fn start(latency: Duration, script: Script) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            latency,
            script,
            requests: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            stall_from: AtomicU64::new(u64::MAX),
            hold_from: AtomicU64::new(u64::MAX),
        });
        let app = Router::new().route("/v1/chat/completions", post(complete)).with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(SimulatedServer { addr, shared, stop: Some(stop) })
    }

    /// The base URL to put in an `openai-compatible:<base-url>#<model>` URI.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Holds every request at `turn` or later unanswered until this is called again with `None`:
    /// a model call that is in flight for as long as a test needs.
    pub fn stall_from(&self, turn: Option<usize>) {
        self.shared.stall_from.store(turn.map_or(u64::MAX, |t| t as u64), Ordering::Relaxed);
    }

    /// Holds every request from the `n`-th on (counted from 0 as they arrive) unanswered until
    /// this is called again with `None`: for agents whose calls are all at the same turn (the
    /// members of a team).
    pub fn hold_from(&self, n: Option<u64>) {
        self.shared.hold_from.store(n.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// How many completion requests it has received (answered or not).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// How many requests the client abandoned (closed the connection) before their answer.
    pub fn abandoned(&self) -> u64 {
        self.shared.abandoned.load(Ordering::Relaxed)
    }
}

impl Drop for SimulatedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn complete(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not a chat completion request: {e}")).into_response(),
    };
    let n = shared.requests.fetch_add(1, Ordering::Relaxed);
    let mut pending = Pending { shared: &shared, answered: false };
    let turn = request.messages.iter().filter(|m| m.role == "tool").count();
    while turn as u64 >= shared.stall_from.load(Ordering::Relaxed) || n >= shared.hold_from.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(shared.latency).await;
    pending.answered = true;
    let prompt_tokens = request.messages.len() * 10;
    let (fields, finish) = match (shared.script)(turn) {
        Reply::ToolCall { name, arguments } => {
            let call =
                json!({ "id": format!("call_{n}"), "type": "function", "function": { "name": name, "arguments": arguments.to_string() } });
            (format!(r#""content":null,"tool_calls":[{call}]"#), "tool_calls")
        }
        Reply::Text(text) => (format!(r#""content":{}"#, Value::String(text)), "stop"),
    };
    let usage = format!(r#"{{"prompt_tokens":{prompt_tokens},"completion_tokens":8,"total_tokens":{}}}"#, prompt_tokens + 8);
    let head = format!(r#""id":"sim-{n}","created":0,"model":"sim""#);
    if !request.stream {
        let body = format!(
            r#"{{{head},"object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant",{fields}}},"finish_reason":"{finish}"}}],"usage":{usage}}}"#
        );
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    // Streamed tool calls carry their index; the whole call arrives in one chunk.
    let fields = fields.replace(r#""tool_calls":[{"#, r#""tool_calls":[{"index":0,"#);
    let chunk = |rest: String| format!(r#"data: {{{head},"object":"chat.completion.chunk",{rest}}}"#);
    let body = format!(
        "{}\n\n{}\n\n{}\n\ndata: [DONE]\n\n",
        chunk(format!(r#""choices":[{{"index":0,"delta":{{"role":"assistant",{fields}}},"finish_reason":null}}]"#)),
        chunk(format!(r#""choices":[{{"index":0,"delta":{{}},"finish_reason":"{finish}"}}]"#)),
        chunk(format!(r#""choices":[],"usage":{usage}"#)),
    );
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}
