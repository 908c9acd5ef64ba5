//! The `local:` provider with a real model (Qwen2.5-Coder-0.5B-Instruct: `AGENTOS_TEST_MODEL`,
//! else the cached copy, pulled once when missing). Needs the `local` feature.
#![cfg(feature = "local")]

use agentos_core::{ChatRequest, FinishReason, Message, ModelEvent, Sampling, ToolSpec};
use agentos_llm::{from_uri, LanguageModel, Local};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn model_path() -> String {
    match agentos_models::test_model() {
        Ok(path) => path.display().to_string(),
        Err(e) => panic!("this test runs a real model, {}, and it cannot be had: {e}", agentos_models::TEST_MODEL),
    }
}

/// One model test at a time: llama.cpp's threads use every core.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn model() -> Arc<dyn LanguageModel> {
    let uri = format!("local:{}", model_path());
    from_uri(&uri).unwrap_or_else(|e| panic!("{e}"))
}

fn greedy(max_tokens: u32) -> Sampling {
    Sampling { temperature: Some(0.0), max_tokens: Some(max_tokens), ..Default::default() }
}

fn collect(events: &Mutex<Vec<ModelEvent>>) -> impl Fn(ModelEvent) + Send + Sync + '_ {
    move |e| events.lock().unwrap().push(e)
}

#[tokio::test]
async fn a_chat_streams_text_and_counts_tokens() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let model = model();
    assert!(model.uri().starts_with("local:") && model.capabilities().native_tools);
    let request = ChatRequest { messages: vec![Message::user("Name three primary colors.")], sampling: greedy(24), ..Default::default() };
    let events = Mutex::new(Vec::new());
    let response = model.chat(&request, &collect(&events)).await.unwrap();
    let streamed: String = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            ModelEvent::TextDelta { text } => text.clone(),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert!(!response.message.content().is_empty());
    assert_eq!(streamed, response.message.content());
    assert!(matches!(response.finish_reason, FinishReason::Stop | FinishReason::Length));
    assert!(
        response.usage.input_tokens > 10 && response.usage.output_tokens >= 1 && response.usage.output_tokens <= 24,
        "{:?}",
        response.usage
    );
    assert_eq!((response.usage.model_calls, response.usage.cost_usd), (1, 0.0));
    assert_eq!(response.model, std::path::Path::new(&model_path()).file_stem().unwrap().to_string_lossy());
}

#[tokio::test]
async fn tool_calls_come_back_as_tool_calls() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let model = model();
    let calculator = ToolSpec {
        name: "calculator".into(),
        description: "Evaluates an arithmetic expression exactly.".into(),
        parameters: json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
    };
    let mut earlier = Message::assistant("");
    earlier.tool_calls =
        vec![agentos_core::ToolCall { id: "call_0".into(), name: "calculator".into(), arguments: json!({"expression": "1+1"}) }];
    let request = ChatRequest {
        messages: vec![
            Message::user("What is 1+1?"),
            earlier,
            Message::tool("call_0", "2"),
            Message::user("And what is 1234 * 5678? Use the calculator."),
        ],
        tools: vec![calculator],
        sampling: greedy(64),
        ..Default::default()
    };
    let events = Mutex::new(Vec::new());
    let response = model.chat(&request, &collect(&events)).await.unwrap();
    assert_eq!(response.finish_reason, FinishReason::ToolCalls, "{:?}", response.message);
    let call = &response.message.tool_calls[0];
    assert_eq!((call.id.as_str(), call.name.as_str()), ("call_1", "calculator"), "ids continue after the conversation's calls");
    let expression = call.arguments["expression"].as_str().unwrap_or_default();
    assert!(expression.contains("1234") && expression.contains("5678"), "{}", call.arguments);
    let events = events.lock().unwrap();
    assert!(events.contains(&ModelEvent::ToolCallStart { id: "call_1".into(), name: "calculator".into() }), "{events:?}");
    for e in events.iter() {
        if let ModelEvent::TextDelta { text } = e {
            assert!(!text.contains("\"arguments\"") && !text.contains("<tool_call>"), "a call leaked into the text: {text:?}");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn generation_never_blocks_the_async_runtime() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let model = model();
    let request = ChatRequest { messages: vec![Message::user("Write a haiku about the sea.")], sampling: greedy(24), ..Default::default() };
    let done = AtomicBool::new(false);
    let ticks = Mutex::new(0u32);
    let chat = async {
        let response = model.chat(&request, &|_| {}).await;
        done.store(true, Ordering::SeqCst);
        response
    };
    let ticker = async {
        while !done.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            *ticks.lock().unwrap() += 1;
        }
    };
    let (response, ()) = tokio::join!(chat, ticker);
    let response = response.unwrap();
    // The single runtime thread kept running other tasks while tokens were generated.
    assert!(response.usage.output_tokens >= 2);
    assert!(*ticks.lock().unwrap() >= 3, "the runtime was blocked: {} ticks", ticks.lock().unwrap());
}

#[tokio::test]
async fn an_overlong_prompt_is_a_clear_error() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let model = model();
    let request = ChatRequest {
        messages: vec![Message::user("All work and no play makes Jack a dull boy. ".repeat(500))],
        sampling: greedy(8),
        ..Default::default()
    };
    let err = model.chat(&request, &|_| {}).await.unwrap_err().to_string();
    assert!(err.contains("the prompt is") && err.contains("holds 4096 tokens") && err.contains("local:"), "{err}");
}

#[test]
fn a_name_resolves_in_the_model_cache_or_says_how_to_pull_it() {
    let _serial = ONE_AT_A_TIME.blocking_lock();
    let home = tempfile::tempdir().unwrap();
    std::env::set_var("AGENTOS_HOME", home.path());
    let err = from_uri("local:qwen2.5-coder-0.5b").err().expect("not downloaded").to_string();
    assert!(err.contains("agentos models pull qwen2.5-coder-0.5b") && err.contains(&home.path().display().to_string()), "{err}");
    let err = from_uri("local:/nowhere/model.gguf").err().expect("no such file").to_string();
    assert!(err.contains("/nowhere/model.gguf") && err.contains("does not exist"), "{err}");

    // With the file in the cache, the name loads it.
    std::fs::create_dir_all(home.path().join("models")).unwrap();
    std::os::unix::fs::symlink(model_path(), home.path().join("models/test-model.gguf")).unwrap();
    assert_eq!(Local::resolve("test-model").unwrap(), home.path().join("models/test-model.gguf"));
    let model = from_uri("local:test-model").unwrap();
    assert_eq!(model.uri(), "local:test-model");
    std::env::remove_var("AGENTOS_HOME");
}
