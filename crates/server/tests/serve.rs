//! `agentos serve` over a scripted model, called by agentos's own OpenAI-compatible provider (a
//! real client over loopback HTTP) and by plain HTTP requests.

use agentos_core::{ChatRequest, ChatResponse, FinishReason, Message, ModelEvent, ToolSpec, Usage};
use agentos_llm::{EventSink, LanguageModel, LlmError, OpenAi, Scripted};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, Notify};

async fn start(script: Value) -> String {
    let model = Scripted::from_json("script.json", &script.to_string()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(agentos_server::serve_until(listener, Arc::new(model), "scripted", std::future::pending()));
    url
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn calculator() -> ToolSpec {
    ToolSpec {
        name: "calculator".into(),
        description: "Exact arithmetic.".into(),
        parameters: json!({"type": "object", "properties": {"expression": {"type": "string"}}}),
    }
}

#[tokio::test]
async fn streams_text_and_tool_calls_to_an_openai_client() {
    let url = start(json!([
        { "content": "Let me compute.", "tool_calls": [{ "name": "calculator", "arguments": { "expression": "6*7" } }] },
        { "content": "42" }
    ]))
    .await;
    let client = OpenAi::compatible(&format!("{url}/v1"), "scripted").unwrap();
    let request = ChatRequest { messages: vec![Message::user("What is 6*7?")], tools: vec![calculator()], ..Default::default() };
    let deltas = Mutex::new(String::new());
    let on_event = |e: ModelEvent| {
        if let ModelEvent::TextDelta { text } = e {
            deltas.lock().unwrap().push_str(&text);
        }
    };
    let first = client.chat(&request, &on_event).await.unwrap();
    assert_eq!(deltas.lock().unwrap().as_str(), "Let me compute.");
    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    assert_eq!(first.message.tool_calls.len(), 1);
    assert_eq!(
        (first.message.tool_calls[0].name.as_str(), &first.message.tool_calls[0].arguments),
        ("calculator", &json!({"expression": "6*7"}))
    );
    assert_eq!(first.usage.input_tokens, 3, "usage comes through: the scripted model counts words");

    // The conversation goes on, tool result included; the scripted model answers by turn.
    let mut messages = request.messages.clone();
    let call_id = first.message.tool_calls[0].id.clone();
    messages.push(first.message);
    messages.push(Message::tool(call_id, "42"));
    let second = client.chat(&ChatRequest { messages, ..request }, &|_| {}).await.unwrap();
    assert_eq!((second.message.content().as_str(), second.finish_reason), ("42", FinishReason::Stop));
}

#[tokio::test]
async fn answers_plain_json_and_lists_the_model() {
    let url = start(json!([{ "content": "hello there" }])).await;
    let http = reqwest::Client::new();
    let body =
        json!({ "model": "scripted", "messages": [{ "role": "user", "content": [{ "type": "text", "text": "hi" }] }], "stream": false });
    let answer: Value = http.post(format!("{url}/v1/chat/completions")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], "hello there");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["usage"]["completion_tokens"], 2);
    let models: Value = http.get(format!("{url}/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["data"][0]["id"], "scripted");
}

#[tokio::test]
async fn bad_requests_get_an_error_naming_the_field() {
    let url = start(json!([{ "content": "unused" }])).await;
    let http = reqwest::Client::new();
    let cases = [
        (json!({ "messages": [] }), "`messages` is empty"),
        (json!({ "messages": [{ "role": "robot", "content": "hi" }] }), "messages[0].role `robot`"),
        (json!({ "messages": [{ "role": "tool", "content": "42" }] }), "without `tool_call_id`"),
        (json!({ "messages": [{ "role": "user", "content": [{ "type": "image_url" }] }] }), "`image_url` part"),
        (json!({ "messages": [{ "role": "user", "content": "hi" }], "response_format": { "type": "xml" } }), "response_format type `xml`"),
        (json!({ "nothing": true }), "messages"),
    ];
    for (body, expected) in cases {
        let response = http.post(format!("{url}/v1/chat/completions")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {message}");
    }
}

#[tokio::test]
async fn answers_carry_the_time_they_were_made() {
    let url = start(json!([{ "content": "one" }, { "content": "two" }])).await;
    let http = reqwest::Client::new();
    let before = unix_seconds();
    let body = json!({ "messages": [{ "role": "user", "content": "hi" }] });
    let answer: Value = http.post(format!("{url}/v1/chat/completions")).json(&body).send().await.unwrap().json().await.unwrap();
    let streamed = http.post(format!("{url}/v1/chat/completions")).json(&json!({ "stream": true, "messages": body["messages"] })).send();
    let streamed = streamed.await.unwrap().text().await.unwrap();
    let after = unix_seconds();
    let created = answer["created"].as_u64().unwrap();
    assert!((before..=after).contains(&created), "created {created}, not between {before} and {after}");
    let chunks: Vec<Value> = streamed
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.len() >= 2, "{streamed}");
    for chunk in &chunks {
        assert!((before..=after).contains(&chunk["created"].as_u64().unwrap()), "{chunk}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_a_json_error_naming_the_routes() {
    let url = start(json!([{ "content": "unused" }])).await;
    let http = reqwest::Client::new();
    let response = http.get(format!("{url}/v1/completions")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("GET /v1/completions") && message.contains("POST /v1/chat/completions"), "{message}");
    assert_eq!(error["error"]["type"], "invalid_request_error");

    let response = http.get(format!("{url}/v1/chat/completions")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("does not take GET"), "{error}");
}

/// A model that says when a call has reached it, then answers `held` once released.
struct Held {
    reached: Arc<Notify>,
    release: Mutex<Option<oneshot::Receiver<()>>>,
}

#[async_trait::async_trait]
impl LanguageModel for Held {
    fn uri(&self) -> &str {
        "held"
    }

    async fn chat(&self, _: &ChatRequest, _: EventSink<'_>) -> Result<ChatResponse, LlmError> {
        let release = self.release.lock().unwrap().take().expect("one call");
        self.reached.notify_one();
        release.await.unwrap();
        Ok(ChatResponse {
            message: Message::assistant("held"),
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            model: "held".into(),
        })
    }
}

#[tokio::test]
async fn a_request_in_flight_finishes_after_shutdown_starts() {
    let (reached, (release, released)) = (Arc::new(Notify::new()), oneshot::channel());
    let model = Held { reached: reached.clone(), release: Mutex::new(Some(released)) };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(agentos_server::serve_until(listener, Arc::new(model), "held", async {
        let _ = stopped.await;
    }));
    let body = json!({ "messages": [{ "role": "user", "content": "hi" }] });
    let request = tokio::spawn(reqwest::Client::new().post(format!("{url}/v1/chat/completions")).json(&body).send());
    reached.notified().await;
    stop.send(()).unwrap();
    // Shutting down waits for the request in flight: the server is still running.
    tokio::task::yield_now().await;
    assert!(!server.is_finished(), "the server ended with a request in flight");
    release.send(()).unwrap();
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "held");
    // Then the server ends on its own (a hang here would mean it ignored the stop).
    tokio::time::timeout(std::time::Duration::from_secs(30), server).await.expect("the server stops").unwrap().unwrap();
    assert!(reqwest::Client::new().get(format!("{url}/v1/models")).send().await.is_err(), "a stopped server takes no new request");
}
