//! agentos-server: `agentos serve`, an OpenAI-compatible HTTP API over whatever model agentos is
//! configured with, so other frameworks (and peers in benchmarks) can use agentos's models, the
//! embedded local engine above all.
//!
//! Owns: `POST /v1/chat/completions` (plain JSON or SSE streaming, native tool calls, JSON-Schema
//! response formats) and `GET /v1/models`, and the mapping between that wire format and
//! agentos-core's types.
//!
//! Must not: add behaviour of its own to a model call. It translates, and answers bad requests
//! (a field at fault, an unknown path or method) with OpenAI-style JSON errors that say what is
//! wrong. On Ctrl-C or SIGTERM it stops taking connections and lets the requests in flight finish.

mod wire;

pub use wire::tool_calls;

use agentos_core::{ChatResponse, FinishReason, ModelEvent};
use agentos_llm::LanguageModel;
use axum::extract::{rejection::JsonRejection, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

struct Served {
    model: Arc<dyn LanguageModel>,
    /// The name clients see in `/v1/models` and in answers.
    name: String,
    /// When the server started (Unix seconds): the `created` time of the model it lists.
    started: u64,
}

/// The routes there are, for the error that answers any other.
const ROUTES: &str = "POST /v1/chat/completions, GET /v1/models";

/// Now, as Unix seconds and nanoseconds.
fn unix_now() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The API's routes over `model`, which clients call by the name `name`.
pub fn router(model: Arc<dyn LanguageModel>, name: &str) -> Router {
    let served = Arc::new(Served { model, name: name.to_string(), started: unix_now().as_secs() });
    Router::new()
        .route("/v1/chat/completions", post(complete))
        .route("/v1/models", get(models))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(served)
}

/// Serves the API on `listener` until Ctrl-C or SIGTERM, then lets the requests in flight finish.
pub async fn serve(listener: tokio::net::TcpListener, model: Arc<dyn LanguageModel>, name: &str) -> std::io::Result<()> {
    serve_until(listener, model, name, stop_signal()).await
}

/// Serves the API on `listener` until `stop` completes; then it takes no new connection, and
/// returns once the requests in flight have been answered.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    model: Arc<dyn LanguageModel>,
    name: &str,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(model, name)).with_graceful_shutdown(stop).await
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn stop_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
}

async fn models(State(served): State<Arc<Served>>) -> Json<Value> {
    Json(json!({ "object": "list", "data": [{ "id": served.name, "object": "model", "created": served.started, "owned_by": "agentos" }] }))
}

async fn not_found(method: Method, uri: Uri) -> Response {
    error(StatusCode::NOT_FOUND, "invalid_request_error", format!("no route {method} {}; the routes are {ROUTES}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message = format!("{} does not take {method}; the routes are {ROUTES}", uri.path());
    error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error", message)
}

/// An OpenAI-style error answer.
fn error(status: StatusCode, kind: &str, message: String) -> Response {
    (status, Json(json!({ "error": { "message": message, "type": kind } }))).into_response()
}

async fn complete(State(served): State<Arc<Served>>, body: Result<Json<wire::Request>, JsonRejection>) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", rejection.body_text()),
    };
    let stream = request.stream;
    let chat = match request.into_chat() {
        Ok(chat) => chat,
        Err(message) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", message),
    };
    let now = unix_now();
    let id = format!("chatcmpl-{}", now.as_nanos());
    let created = now.as_secs();
    if !stream {
        return match served.model.chat(&chat, &|_| {}).await {
            Ok(response) => Json(wire::completion(&id, created, &served.name, &response)).into_response(),
            Err(e) => error(StatusCode::BAD_GATEWAY, "model_error", e.to_string()),
        };
    }
    // Text streams as it is generated; tool calls, the finish reason and usage follow at the end.
    let (send, receive) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let (name, model) = (served.name.clone(), served.model.clone());
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Option<FinishReason>| wire::chunk(&id, created, &name, delta, finish);
        let on_event = |event: ModelEvent| {
            if let ModelEvent::TextDelta { text } = event {
                let _ = send.send(chunk(json!({ "role": "assistant", "content": text }), None));
            }
        };
        match model.chat(&chat, &on_event).await {
            Ok(ChatResponse { message, finish_reason, usage, .. }) => {
                if !message.tool_calls.is_empty() {
                    let _ =
                        send.send(chunk(json!({ "role": "assistant", "tool_calls": wire::tool_calls(&message.tool_calls, true) }), None));
                }
                let _ = send.send(chunk(json!({}), Some(finish_reason)));
                let _ = send.send(wire::usage_chunk(&id, created, &name, &usage));
            }
            Err(e) => {
                let _ = send.send(json!({ "error": { "message": e.to_string(), "type": "model_error" } }));
            }
        }
    });
    let events = futures::stream::unfold(Some(receive), |receive| async move {
        let mut receive = receive?;
        match receive.recv().await {
            Some(value) => Some((Ok::<_, Infallible>(Event::default().data(value.to_string())), Some(receive))),
            None => Some((Ok(Event::default().data("[DONE]")), None)),
        }
    });
    Sse::new(events).into_response()
}
