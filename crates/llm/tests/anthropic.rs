//! The Anthropic Messages provider against a real HTTP server speaking the wire format.

mod common;

use agentos_core::{ChatRequest, FinishReason, Message, ModelEvent, Sampling, ToolCall, ToolSpec};
use agentos_llm::{Anthropic, LanguageModel, LlmError, RetryPolicy};
use common::{ask, calculator_conversation, fast_retry, status, stream, Events, Reply, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn model(server: &Server) -> Anthropic {
    Anthropic::with_key("claude-test", Some("sk-ant-test-key".into()))
        .unwrap()
        .with_base_url(&server.url)
        .unwrap()
        .with_retry_policy(fast_retry())
        .with_timeout(Duration::from_secs(10))
}

/// One server-sent event of the Messages stream.
fn event(data: Value) -> String {
    format!("event: {}\ndata: {data}\n\n", data["type"].as_str().unwrap())
}

fn message_start() -> String {
    event(
        json!({ "type": "message_start", "message": { "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test-20250101",
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": { "input_tokens": 25, "cache_read_input_tokens": 5, "cache_creation_input_tokens": null, "output_tokens": 1 } } }),
    )
}

fn text_block(index: u64, parts: &[&str]) -> String {
    let mut out = event(json!({ "type": "content_block_start", "index": index, "content_block": { "type": "text", "text": "" } }));
    for text in parts {
        out += &event(json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": text } }));
    }
    out + &event(json!({ "type": "content_block_stop", "index": index }))
}

fn tool_block(index: u64, id: &str, name: &str, parts: &[&str]) -> String {
    let mut out = event(
        json!({ "type": "content_block_start", "index": index, "content_block": { "type": "tool_use", "id": id, "name": name, "input": {} } }),
    );
    for part in parts {
        out +=
            &event(json!({ "type": "content_block_delta", "index": index, "delta": { "type": "input_json_delta", "partial_json": part } }));
    }
    out + &event(json!({ "type": "content_block_stop", "index": index }))
}

fn message_end(stop_reason: &str, output_tokens: u64) -> String {
    event(
        json!({ "type": "message_delta", "delta": { "stop_reason": stop_reason, "stop_sequence": null }, "usage": { "output_tokens": output_tokens } }),
    ) + &event(json!({ "type": "message_stop" }))
}

fn text_stream(text: &str) -> String {
    message_start() + &text_block(0, &[text]) + &message_end("end_turn", 2)
}

#[tokio::test]
async fn streams_text_and_usage() {
    let ping = event(json!({ "type": "ping" }));
    let body = |parts: &[&str]| message_start() + &ping + &text_block(0, parts) + &ping + &message_end("end_turn", 9);
    // Input tokens: 25 uncached plus 5 read from the cache.
    common::streams_text_and_usage(model, body, 6, (30, 9), "claude-test-20250101", "/v1/messages").await;
}

#[tokio::test]
async fn streamed_tool_use_is_assembled_from_fragments() {
    let body = message_start()
        + &text_block(0, &["Let me compute."])
        + &tool_block(1, "toolu_a", "calculator", &["", "{\"expr", "ession\": \"1+2\"}"])
        + &tool_block(2, "toolu_b", "search", &["{\"q\": \"ru", "st\", \"n\": 3}"])
        + &message_end("tool_use", 40);
    let server = Server::start(vec![stream(&body, 5)]).await;
    let events = Events::default();
    let response = model(&server).chat(&ask("go"), &|e| events.push(e)).await.unwrap();

    assert_eq!(response.message.content(), "Let me compute.");
    assert_eq!(
        response.message.tool_calls,
        [
            ToolCall { id: "toolu_a".into(), name: "calculator".into(), arguments: json!({ "expression": "1+2" }) },
            ToolCall { id: "toolu_b".into(), name: "search".into(), arguments: json!({ "q": "rust", "n": 3 }) },
        ]
    );
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        events.all(),
        [
            ModelEvent::TextDelta { text: "Let me compute.".into() },
            ModelEvent::ToolCallStart { id: "toolu_a".into(), name: "calculator".into() },
            ModelEvent::ToolCallStart { id: "toolu_b".into(), name: "search".into() },
        ]
    );
}

#[tokio::test]
async fn input_that_is_not_json_survives_as_a_string() {
    let body = message_start() + &tool_block(0, "toolu_a", "calculator", &["{\"expression\": ", "1+"]) + &message_end("tool_use", 4);
    let server = Server::start(vec![stream(&body, 8)]).await;
    let response = model(&server).chat(&ask("go"), &|_| {}).await.unwrap();
    assert_eq!(response.message.tool_calls[0].arguments, Value::String("{\"expression\": 1+".into()));
}

#[tokio::test]
async fn stop_reasons_map() {
    let body = |reason: &str| message_start() + &text_block(0, &["x"]) + &message_end(reason, 1);
    let server = Server::start(vec![stream(&body("max_tokens"), 64), stream(&body("stop_sequence"), 64)]).await;
    let model = model(&server);
    assert_eq!(model.chat(&ask("hi"), &|_| {}).await.unwrap().finish_reason, FinishReason::Length);
    assert_eq!(model.chat(&ask("hi"), &|_| {}).await.unwrap().finish_reason, FinishReason::Stop);
}

#[tokio::test]
async fn a_429_is_retried_after_the_retry_after_header() {
    let rate_limited = r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;
    common::honours_retry_after_on_a_429(|server, policy| model(server).with_retry_policy(policy), rate_limited, text_stream).await;
}

#[tokio::test]
async fn server_errors_are_retried() {
    let server = Server::start(vec![status(500, "internal"), status(529, "overloaded"), stream(&text_stream("fine"), 64)]).await;
    let policy = RetryPolicy { max_retries: 2, base_delay: Duration::from_millis(10), max_delay: Duration::from_secs(1) };
    let events = Events::default();
    let response = model(&server).with_retry_policy(policy).chat(&ask("hi"), &|e| events.push(e)).await.unwrap();

    assert_eq!(response.message.content(), "fine");
    assert_eq!(server.count(), 3);
    let retries: Vec<(u32, u64)> = events.retries().iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(retries, [(2, 10), (3, 20)]);
}

#[tokio::test]
async fn an_overloaded_event_before_any_output_is_retried_and_after_output_is_not() {
    let overloaded = event(json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }));
    let late = message_start() + &text_block(0, &["partial"]) + &overloaded;
    let server =
        Server::start(vec![stream(&(message_start() + &overloaded), 64), stream(&text_stream("fine"), 64), stream(&late, 64)]).await;
    let model = model(&server);

    let events = Events::default();
    assert_eq!(model.chat(&ask("hi"), &|e| events.push(e)).await.unwrap().message.content(), "fine");
    assert_eq!(events.retries().len(), 1);
    assert!(events.retries()[0].2.contains("overloaded_error: Overloaded"));

    let err = model.chat(&ask("hi"), &|_| {}).await.unwrap_err();
    assert!(matches!(&err, LlmError::InvalidResponse { reason, .. } if reason.contains("overloaded_error: Overloaded")), "{err}");
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = Server::start(vec![Reply::Hang]).await;
    let model = model(&server).with_timeout(Duration::from_millis(250)).with_retry_policy(RetryPolicy::none());
    let started = Instant::now();
    let err = model.chat(&ask("hi"), &|_| {}).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(&err, LlmError::Timeout { after_ms: 250, url } if url.ends_with("/v1/messages")), "{err}");
    assert!(elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_400_fails_at_once() {
    let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}}"#;
    let server = Server::start(vec![status(400, body), stream(&text_stream("never"), 64)]).await;
    let events = Events::default();
    let err = model(&server).chat(&ask("hi"), &|e| events.push(e)).await.unwrap_err();
    assert!(matches!(&err, LlmError::Http { status: 400, body, .. } if body.contains("roles must alternate")), "{err}");
    assert_eq!(server.count(), 1);
    assert!(events.all().is_empty());
}

#[test]
fn a_missing_key_is_reported() {
    for key in [None, Some(String::new())] {
        let err = Anthropic::with_key("claude-test", key).unwrap_err();
        assert!(matches!(err, LlmError::MissingApiKey { var: "ANTHROPIC_API_KEY", .. }), "{err}");
        assert!(err.to_string().contains("ANTHROPIC_API_KEY"));
    }
    let err = Anthropic::with_key("claude-test", Some("k".into())).unwrap().with_base_url("not a url").unwrap_err();
    assert!(matches!(&err, LlmError::InvalidUri { reason, .. } if reason.contains("`not a url`")), "{err}");
}

#[tokio::test]
async fn the_request_has_the_wire_shape() {
    let server = Server::start(vec![stream(&text_stream("3"), 64)]).await;
    let parameters = json!({ "type": "object", "properties": { "expression": { "type": "string" } } });
    let request = ChatRequest {
        messages: [
            calculator_conversation("Computing.", ["toolu_1", "toolu_2"]),
            vec![Message::user("Thanks. And 2+2?"), Message::system("Answer in digits.")],
        ]
        .concat(),
        tools: vec![ToolSpec { name: "calculator".into(), description: "Evaluates arithmetic.".into(), parameters: parameters.clone() }],
        sampling: Sampling { temperature: Some(0.7), top_p: None, max_tokens: None, seed: Some(42) },
        stop: vec!["END".into()],
        response_schema: None,
    };
    model(&server).chat(&request, &|_| {}).await.unwrap();
    let with_schema = ChatRequest {
        sampling: Sampling { max_tokens: Some(100), ..Default::default() },
        response_schema: Some(json!({ "type": "integer" })),
        ..ask("2+2?")
    };
    model(&server).chat(&with_schema, &|_| {}).await.unwrap();

    let requests = server.requests();
    let (first, body) = (&requests[0], &requests[0].body);
    assert_eq!(first.header("x-api-key"), "sk-ant-test-key");
    assert_eq!(first.header("anthropic-version"), "2023-06-01");
    assert_eq!(first.header("authorization"), "");
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["system"], "Be brief.\n\nAnswer in digits.");
    assert_eq!(
        body["messages"],
        json!([
            { "role": "user", "content": "What is 1+2?" },
            { "role": "assistant", "content": [
                { "type": "text", "text": "Computing." },
                { "type": "tool_use", "id": "toolu_1", "name": "calculator", "input": { "expression": "1+2" } },
                { "type": "tool_use", "id": "toolu_2", "name": "calculator", "input": { "raw_arguments": "{bad" } } ] },
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_1", "content": "3" },
                { "type": "tool_result", "tool_use_id": "toolu_2", "content": "arguments are not JSON" } ] },
            { "role": "user", "content": "Thanks. And 2+2?" },
        ])
    );
    assert_eq!(body["tools"], json!([{ "name": "calculator", "description": "Evaluates arithmetic.", "input_schema": parameters }]));
    assert_eq!(body["temperature"], json!(0.7));
    assert_eq!(body["stop_sequences"], json!(["END"]));
    for key in ["seed", "stop", "top_p", "response_format"] {
        assert!(body.get(key).is_none(), "no `{key}` in {body}");
    }

    let second = &requests[1].body;
    assert_eq!(second["max_tokens"], 100);
    let system = second["system"].as_str().unwrap();
    assert!(system.contains("JSON Schema") && system.contains(r#"{"type":"integer"}"#), "{system}");
    assert!(second.get("tools").is_none() && second.get("stop_sequences").is_none());
}

#[tokio::test]
async fn a_plain_json_answer_is_read_too() {
    let answer = json!({ "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-json",
        "content": [{ "type": "text", "text": "Sure." }, { "type": "tool_use", "id": "toolu_x", "name": "f", "input": { "a": 1 } }],
        "stop_reason": "tool_use", "usage": { "input_tokens": 5, "output_tokens": 7 } });
    let server = Server::start(vec![Reply::Json(answer)]).await;
    let response = model(&server).chat(&ask("hi"), &|_| {}).await.unwrap();
    assert_eq!(response.message.content(), "Sure.");
    assert_eq!(response.message.tool_calls, [ToolCall { id: "toolu_x".into(), name: "f".into(), arguments: json!({ "a": 1 }) }]);
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!((response.usage.input_tokens, response.usage.output_tokens), (5, 7));
    assert_eq!(response.model, "claude-json");
}

#[tokio::test]
async fn the_api_key_never_shows() {
    let server = Server::start(vec![status(401, "invalid x-api-key: sk-ant-test-key")]).await;
    let model = model(&server);
    let err = model.chat(&ask("hi"), &|_| {}).await.unwrap_err().to_string();
    assert!(err.contains("401") && !err.contains("sk-ant-test-key"), "{err}");
    assert!(!format!("{model:?}").contains("sk-ant-test-key"));
    assert_eq!(model.uri(), "anthropic:claude-test");
}
