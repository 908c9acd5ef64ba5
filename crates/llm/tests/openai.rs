//! The OpenAI Chat Completions provider against a real HTTP server speaking the wire format.

mod common;

use agentos_core::{ChatRequest, FinishReason, ModelEvent, Sampling, ToolCall, ToolSpec};
use agentos_llm::{from_uri, LanguageModel, LlmError, OpenAi, RetryPolicy};
use common::{ask, calculator_conversation, fast_retry, open_files_limit, split, status, stream, Events, Reply, Server};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn model(server: &Server) -> OpenAi {
    OpenAi::compatible(&format!("{}/v1", server.url), "test-model")
        .unwrap()
        .with_api_key("sk-test-key")
        .unwrap()
        .with_retry_policy(fast_retry())
        .with_timeout(Duration::from_secs(10))
}

/// One streamed chunk with a delta for choice 0.
fn chunk(delta: Value, finish_reason: Value) -> String {
    let body = json!({ "id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-test-0613",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }] });
    format!("data: {body}\n\n")
}

fn usage(prompt: u64, completion: u64) -> String {
    format!(
        "data: {}\n\n",
        json!({ "id": "chatcmpl-1", "choices": [], "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion } })
    )
}

const DONE: &str = "data: [DONE]\n\n";

/// A complete stream answering `text`.
fn text_stream(text: &str) -> String {
    [chunk(json!({ "role": "assistant", "content": text }), Value::Null), chunk(json!({}), json!("stop")), usage(3, 1), DONE.into()]
        .concat()
}

/// A piece of a streamed tool call: its index, its id and name (first piece only), an arguments fragment.
type Fragment<'a> = (u64, Option<(&'a str, &'a str)>, &'a str);

/// A complete stream of tool-call pieces.
fn tool_stream(fragments: &[Fragment<'_>]) -> String {
    let mut out = chunk(json!({ "role": "assistant", "content": null }), Value::Null);
    for (index, start, arguments) in fragments {
        let call = match start {
            Some((id, name)) => {
                json!({ "index": index, "id": id, "type": "function", "function": { "name": name, "arguments": arguments } })
            }
            None => json!({ "index": index, "function": { "arguments": arguments } }),
        };
        out.push_str(&chunk(json!({ "tool_calls": [call] }), Value::Null));
    }
    out + &chunk(json!({}), json!("tool_calls")) + &usage(20, 10) + DONE
}

#[tokio::test]
async fn streams_text_and_usage() {
    let body = |parts: &[&str]| {
        let start = chunk(json!({ "role": "assistant", "content": "" }), Value::Null);
        let deltas: String = parts.iter().map(|text| chunk(json!({ "content": text }), Value::Null)).collect();
        [start, deltas, chunk(json!({}), json!("stop")), usage(12, 3), DONE.into()].concat()
    };
    let request = common::streams_text_and_usage(model, body, 7, (12, 3), "gpt-test-0613", "/v1/chat/completions").await;
    assert_eq!(request.body["stream_options"], json!({ "include_usage": true }));
}

#[tokio::test]
async fn streamed_tool_calls_are_assembled_from_fragments() {
    let body = tool_stream(&[
        (0, Some(("call_a", "calculator")), ""),
        (0, None, "{\"expr"),
        (0, None, "ession\": \"1+2\"}"),
        (1, Some(("call_b", "search")), "{\"q\":"),
        (1, None, " \"rust\", \"n\": 3}"),
    ]);
    let server = Server::start(vec![stream(&body, 5)]).await;
    let events = Events::default();
    let response = model(&server).chat(&ask("go"), &|e| events.push(e)).await.unwrap();

    assert_eq!(
        response.message.tool_calls,
        [
            ToolCall { id: "call_a".into(), name: "calculator".into(), arguments: json!({ "expression": "1+2" }) },
            ToolCall { id: "call_b".into(), name: "search".into(), arguments: json!({ "q": "rust", "n": 3 }) },
        ]
    );
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert!(response.message.parts.is_empty(), "{:?}", response.message.parts);
    assert_eq!(response.usage.total_tokens(), 30);
    assert_eq!(
        events.all(),
        [
            ModelEvent::ToolCallStart { id: "call_a".into(), name: "calculator".into() },
            ModelEvent::ToolCallStart { id: "call_b".into(), name: "search".into() },
        ]
    );
}

#[tokio::test]
async fn arguments_that_are_not_json_survive_as_a_string() {
    let body = tool_stream(&[(0, Some(("call_a", "calculator")), "{\"expression\": "), (0, None, "1+")]);
    let server = Server::start(vec![stream(&body, 9)]).await;
    let response = model(&server).chat(&ask("go"), &|_| {}).await.unwrap();
    assert_eq!(response.message.tool_calls[0].arguments, Value::String("{\"expression\": 1+".into()));
    assert_eq!(response.message.tool_calls[0].name, "calculator");
}

#[tokio::test]
async fn a_429_is_retried_after_the_retry_after_header() {
    let rate_limited = r#"{"error":{"message":"slow down"}}"#;
    common::honours_retry_after_on_a_429(|server, policy| model(server).with_retry_policy(policy), rate_limited, text_stream).await;
}

#[tokio::test]
async fn retry_after_is_capped_by_the_policy() {
    let server =
        Server::start(vec![Reply::Status(503, vec![("retry-after", "3600".into())], "busy".into()), stream(&text_stream("ok"), 64)]).await;
    let policy = RetryPolicy { max_retries: 1, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(40) };
    let events = Events::default();
    let response = model(&server).with_retry_policy(policy).chat(&ask("hi"), &|e| events.push(e)).await.unwrap();
    assert_eq!(response.message.content(), "ok");
    assert_eq!(events.retries()[0].1, 40);
}

#[tokio::test]
async fn a_500_is_retried_with_backoff() {
    let server = Server::start(vec![status(500, "internal trouble"), stream(&text_stream("fine"), 64)]).await;
    let policy = RetryPolicy { max_retries: 2, base_delay: Duration::from_millis(20), max_delay: Duration::from_secs(1) };
    let events = Events::default();
    let response = model(&server).with_retry_policy(policy).chat(&ask("hi"), &|e| events.push(e)).await.unwrap();

    assert_eq!(response.message.content(), "fine");
    assert_eq!(server.count(), 2);
    let retries = events.retries();
    assert_eq!(retries.len(), 1);
    assert_eq!((retries[0].0, retries[0].1), (2, 20));
    assert!(retries[0].2.contains("HTTP 500") && retries[0].2.contains("internal trouble"), "{}", retries[0].2);
}

#[tokio::test]
async fn retries_run_out() {
    let server = Server::start(vec![status(503, "overloaded")]).await;
    let events = Events::default();
    let err = model(&server).chat(&ask("hi"), &|e| events.push(e)).await.unwrap_err();
    assert!(matches!(&err, LlmError::Http { status: 503, body, .. } if body == "overloaded"), "{err}");
    assert_eq!(server.count(), 3);
    assert_eq!(events.retries().iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3]);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = Server::start(vec![Reply::Hang]).await;
    let policy = RetryPolicy { max_retries: 1, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(1) };
    let model = model(&server).with_timeout(Duration::from_millis(300)).with_retry_policy(policy);
    let events = Events::default();
    let started = Instant::now();
    let err = model.chat(&ask("hi"), &|e| events.push(e)).await.unwrap_err();
    let elapsed = started.elapsed();

    assert!(matches!(&err, LlmError::Timeout { after_ms: 300, url } if url.ends_with("/v1/chat/completions")), "{err}");
    assert!(err.to_string().contains("raise the timeout"), "{err}");
    assert!(elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(server.count(), 2, "a timeout is retried");
    assert!(events.retries()[0].2.contains("timed out"));
}

#[tokio::test]
async fn a_call_that_already_streamed_is_not_retried() {
    let partial = chunk(json!({ "role": "assistant", "content": "half an ans" }), Value::Null);
    let server = Server::start(vec![Reply::StreamThenHang(split(&partial, 100)), stream(&text_stream("whole"), 64)]).await;
    let model = model(&server).with_timeout(Duration::from_millis(300));
    let events = Events::default();
    let err = model.chat(&ask("hi"), &|e| events.push(e)).await.unwrap_err();
    assert!(matches!(err, LlmError::Timeout { .. }), "{err}");
    assert_eq!(server.count(), 1);
    assert_eq!(events.all(), [ModelEvent::TextDelta { text: "half an ans".into() }]);
}

#[tokio::test]
async fn a_400_fails_at_once() {
    let server = Server::start(vec![status(400, r#"{"error":{"message":"bad tool schema"}}"#), stream(&text_stream("never"), 64)]).await;
    let events = Events::default();
    let err = model(&server).chat(&ask("hi"), &|e| events.push(e)).await.unwrap_err();
    match &err {
        LlmError::Http { status, body, url } => {
            assert_eq!(*status, 400);
            assert!(body.contains("bad tool schema"));
            assert!(url.ends_with("/v1/chat/completions"));
        }
        other => panic!("expected an HTTP error, got {other}"),
    }
    assert_eq!(server.count(), 1);
    assert!(events.all().is_empty());
}

#[tokio::test]
async fn the_api_key_never_shows() {
    let server = Server::start(vec![status(401, "Incorrect API key provided: sk-test-key.")]).await;
    let model = model(&server);
    let err = model.chat(&ask("hi"), &|_| {}).await.unwrap_err().to_string();
    assert!(err.contains("401") && err.contains("[redacted]") && !err.contains("sk-test-key"), "{err}");
    assert!(!format!("{model:?}").contains("sk-test-key"));
    assert!(!model.uri().contains("sk-test-key"));
    assert_eq!(server.requests()[0].header("authorization"), "Bearer sk-test-key");
}

#[test]
fn a_missing_key_is_reported() {
    for key in [None, Some("  ".to_string())] {
        let err = OpenAi::with_key("gpt-4o", key).unwrap_err();
        assert!(matches!(err, LlmError::MissingApiKey { var: "OPENAI_API_KEY", .. }), "{err}");
        assert!(err.to_string().contains("OPENAI_API_KEY"));
    }
    let model = OpenAi::with_key("gpt-4o", Some("sk-x".into())).unwrap();
    assert_eq!(model.uri(), "openai:gpt-4o");
}

#[tokio::test]
async fn the_request_has_the_wire_shape() {
    let server = Server::start(vec![stream(&text_stream("3"), 64)]).await;
    let parameters = json!({ "type": "object", "properties": { "expression": { "type": "string" } }, "required": ["expression"] });
    let request = ChatRequest {
        messages: calculator_conversation("", ["call_1", "call_2"]),
        tools: vec![ToolSpec { name: "calculator".into(), description: "Evaluates arithmetic.".into(), parameters: parameters.clone() }],
        sampling: Sampling { temperature: Some(0.7), top_p: Some(0.9), max_tokens: Some(256), seed: Some(42) },
        stop: vec!["END".into()],
        response_schema: Some(json!({ "type": "object" })),
    };
    model(&server).chat(&request, &|_| {}).await.unwrap();
    model(&server).chat(&ask("plain"), &|_| {}).await.unwrap();

    let requests = server.requests();
    let body = &requests[0].body;
    assert_eq!(requests[0].header("content-type"), "application/json");
    assert_eq!(body["model"], "test-model");
    assert_eq!(
        body["messages"],
        json!([
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": "What is 1+2?" },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "calculator", "arguments": "{\"expression\":\"1+2\"}" } },
                { "id": "call_2", "type": "function", "function": { "name": "calculator", "arguments": "{bad" } } ] },
            { "role": "tool", "tool_call_id": "call_1", "content": "3" },
            { "role": "tool", "tool_call_id": "call_2", "content": "arguments are not JSON" },
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{ "type": "function", "function": { "name": "calculator", "description": "Evaluates arithmetic.", "parameters": parameters } }])
    );
    assert_eq!(
        (&body["temperature"], &body["top_p"], &body["max_tokens"], &body["seed"]),
        (&json!(0.7), &json!(0.9), &json!(256), &json!(42))
    );
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(
        body["response_format"],
        json!({ "type": "json_schema", "json_schema": { "name": "response", "schema": { "type": "object" }, "strict": true } })
    );

    let plain = requests[1].body.as_object().unwrap();
    for key in ["tools", "temperature", "top_p", "max_tokens", "seed", "stop", "response_format"] {
        assert!(!plain.contains_key(key), "a plain request has no `{key}`: {plain:?}");
    }
}

#[tokio::test]
async fn a_plain_json_answer_is_read_too() {
    let with_call = json!({ "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-json",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": null,
            "tool_calls": [{ "id": "call_x", "type": "function", "function": { "name": "f", "arguments": "{\"a\":1}" } }] },
            "finish_reason": "tool_calls" }],
        "usage": { "prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12 } });
    let with_text = json!({ "model": "gpt-json", "choices": [{ "index": 0, "message": { "role": "assistant", "content": "hello" }, "finish_reason": "length" }] });
    let server = Server::start(vec![Reply::Json(with_call), Reply::Json(with_text), Reply::Json(json!({ "object": "list" }))]).await;
    let model = model(&server).with_retry_policy(RetryPolicy::none());
    let events = Events::default();

    let first = model.chat(&ask("hi"), &|e| events.push(e)).await.unwrap();
    assert_eq!(first.message.tool_calls, [ToolCall { id: "call_x".into(), name: "f".into(), arguments: json!({ "a": 1 }) }]);
    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    assert_eq!((first.usage.input_tokens, first.usage.output_tokens, first.usage.model_calls), (5, 7, 1));
    assert_eq!(first.model, "gpt-json");
    assert_eq!(events.all(), [ModelEvent::ToolCallStart { id: "call_x".into(), name: "f".into() }]);

    let second = model.chat(&ask("hi"), &|_| {}).await.unwrap();
    assert_eq!((second.message.content().as_str(), second.finish_reason), ("hello", FinishReason::Length));

    let err = model.chat(&ask("hi"), &|_| {}).await.unwrap_err();
    assert!(matches!(&err, LlmError::InvalidResponse { reason, .. } if reason.contains("no `choices`")), "{err}");
}

#[tokio::test]
async fn broken_streams_are_errors() {
    let truncated = chunk(json!({ "role": "assistant", "content": "" }), Value::Null);
    let mid_stream_error = format!("data: {}\n\n", json!({ "error": { "message": "context too long", "type": "invalid_request_error" } }));
    let garbage = "data: {not json\n\n";
    let server = Server::start(vec![stream(&truncated, 64), stream(&mid_stream_error, 64), stream(garbage, 64)]).await;
    let model = model(&server).with_retry_policy(RetryPolicy::none());

    let err = model.chat(&ask("hi"), &|_| {}).await.unwrap_err();
    assert!(matches!(&err, LlmError::InvalidResponse { reason, .. } if reason.contains("ended before the model finished")), "{err}");
    let err = model.chat(&ask("hi"), &|_| {}).await.unwrap_err();
    assert!(err.to_string().contains("invalid_request_error: context too long"), "{err}");
    let err = model.chat(&ask("hi"), &|_| {}).await.unwrap_err();
    assert!(matches!(&err, LlmError::InvalidResponse { reason, .. } if reason.contains("{not json")), "{err}");
}

#[tokio::test]
async fn from_uri_builds_a_working_provider() {
    let server = Server::start(vec![stream(&text_stream("via uri"), 64)]).await;
    let uri = format!("openai-compatible:{}/v1#served-model", server.url);
    let model = from_uri(&uri).unwrap();
    assert_eq!(model.uri(), uri);
    assert!(model.capabilities().native_tools);
    let response = model.chat(&ask("hi"), &|_| {}).await.unwrap();
    assert_eq!(response.message.content(), "via uri");
    assert_eq!(server.requests()[0].body["model"], "served-model");
}

/// One provider instance carries 1000 calls at once over loopback: the server holds every request
/// until all of them are in flight together, so a connection limit below that would hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_share_one_provider() {
    // Each call needs a client and a server socket; stay within the open-files limit.
    let calls = open_files_limit().map_or(1000, |limit| ((limit.saturating_sub(200)) / 2).min(1000) as usize);
    assert!(calls >= 100, "the open-files limit is too low for this test");
    let gate = Arc::new(tokio::sync::Barrier::new(calls));
    let server = Server::start(vec![Reply::Gate(gate, Box::new(stream(&text_stream("together"), 64)))]).await;
    let model = Arc::new(model(&server).with_retry_policy(RetryPolicy::none()).with_timeout(Duration::from_secs(30)));
    let tasks: Vec<_> = (0..calls)
        .map(|_| {
            let model = model.clone();
            tokio::spawn(async move { model.chat(&ask("hi"), &|_| {}).await })
        })
        .collect();
    let all = tokio::time::timeout(Duration::from_secs(40), futures::future::join_all(tasks))
        .await
        .expect("calls were not all in flight at once");
    for result in all {
        assert_eq!(result.unwrap().unwrap().message.content(), "together");
    }
    assert_eq!(server.count(), calls);
}
