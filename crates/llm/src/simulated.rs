//! A simulated model served over loopback HTTP in the OpenAI Chat Completions wire format, with a
//! fixed latency per call: the stand-in model of `agentos bench kernel` (so kernel overhead can be
//! measured against the latency bound, for agentos and for peers on the same server) and the
//! server of end-to-end tests. It is a real HTTP server: clients reach it only over the network.
//!
//! It answers by turn: the number of `tool` messages in the request picks the reply, so it needs
//! no state per conversation and serves any number of agents at once. It honours `stream`: SSE
//! chunks ending in `data: [DONE]`, or one `chat.completion` JSON body.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
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
        let shared = Arc::new(Shared { latency, script, requests: AtomicU64::new(0) });
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

    /// How many completions it has served.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

impl Drop for SimulatedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn complete(State(shared): State<Arc<Shared>>, Json(request): Json<Request>) -> Response {
    let n = shared.requests.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(shared.latency).await;
    let turn = request.messages.iter().filter(|m| m.role == "tool").count();
    let prompt_tokens = request.messages.len() * 10;
    let (message, delta, finish) = match (shared.script)(turn) {
        Reply::ToolCall { name, arguments } => {
            let call =
                json!({ "id": format!("call_{n}"), "type": "function", "function": { "name": name, "arguments": arguments.to_string() } });
            let mut streamed = call.clone();
            streamed["index"] = json!(0);
            (
                json!({ "role": "assistant", "content": null, "tool_calls": [call] }),
                json!({ "role": "assistant", "tool_calls": [streamed] }),
                "tool_calls",
            )
        }
        Reply::Text(text) => (json!({ "role": "assistant", "content": text }), json!({ "role": "assistant", "content": text }), "stop"),
    };
    let usage = json!({ "prompt_tokens": prompt_tokens, "completion_tokens": 8, "total_tokens": prompt_tokens + 8 });
    if !request.stream {
        let body = json!({ "id": format!("sim-{n}"), "object": "chat.completion", "created": 0, "model": "sim",
            "choices": [{ "index": 0, "message": message, "finish_reason": finish }], "usage": usage });
        return Json(body).into_response();
    }
    let chunk = |choices: Value, usage: Value| json!({ "id": format!("sim-{n}"), "object": "chat.completion.chunk", "created": 0, "model": "sim", "choices": choices, "usage": usage });
    let body = format!(
        "data: {}\n\ndata: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk(json!([{ "index": 0, "delta": delta, "finish_reason": null }]), Value::Null),
        chunk(json!([{ "index": 0, "delta": {}, "finish_reason": finish }]), Value::Null),
        chunk(json!([]), usage),
    );
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}
