//! The engine with a real model (Qwen2.5-Coder-0.5B-Instruct, through `AGENTOS_TEST_MODEL`).
//! Without the variable every test here fails, saying how to get the model.
//!
//! Tests that compare two greedy runs use an engine with `parallel: 1`, so that no other test's
//! request shares their batches (batched and lone decoding may differ in the last bits).

mod common;

use agentos_core::{ChatRequest, Message, Role, Sampling, ToolCall, ToolSpec};
use agentos_local::{parse_tool_calls, EngineOptions, Finish, LocalError};
use serde_json::json;
use std::sync::Arc;

fn greedy(max_tokens: u32) -> Sampling {
    Sampling { temperature: Some(0.0), max_tokens: Some(max_tokens), ..Default::default() }
}

fn alone() -> EngineOptions {
    EngineOptions { parallel: 1, ..Default::default() }
}

fn ask(text: &str, sampling: Sampling) -> ChatRequest {
    ChatRequest { messages: vec![Message::user(text)], sampling, ..Default::default() }
}

#[test]
fn a_short_greedy_generation_is_deterministic_and_streams_its_text() {
    let _serial = common::one_at_a_time();
    let engine = common::engine_with(alone());
    let request = ask("Name three primary colors, comma separated.", greedy(24));
    let mut streamed = String::new();
    let first = engine.generate(&request, |t| streamed.push_str(t)).unwrap();
    let second = engine.generate(&request, |_| {}).unwrap();
    assert!(!first.text.trim().is_empty(), "{first:?}");
    assert_eq!(first.text, second.text);
    assert_eq!(streamed, first.text);
    assert!(first.prompt_tokens > 10 && first.completion_tokens >= 1 && first.completion_tokens <= 24, "{first:?}");
    assert!(matches!(first.finish, Finish::Stop | Finish::Length));

    // Seeded sampling repeats too.
    let seeded =
        ask("Invent a name for a cat.", Sampling { temperature: Some(1.0), seed: Some(7), max_tokens: Some(12), ..Default::default() });
    let a = engine.generate(&seeded, |_| {}).unwrap();
    let b = engine.generate(&seeded, |_| {}).unwrap();
    assert_eq!(a.text, b.text);
}

#[test]
fn the_same_file_and_options_share_one_engine() {
    let _serial = common::one_at_a_time();
    let a = common::engine_with(alone());
    let b = common::engine_with(alone());
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.context_len(), 4096);
    assert!(a.threads() >= 1);
}

#[test]
fn schema_constrained_output_validates_twenty_times_in_a_row() {
    let _serial = common::one_at_a_time();
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 24},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "language": {"enum": ["rust", "python", "go"]},
            "skills": {"type": "array", "items": {"type": "string", "maxLength": 16}, "maxItems": 3}
        },
        "required": ["name", "age", "language", "skills"],
        "additionalProperties": false
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let engine = common::engine();
    // Four threads at once, so the requests share batches (continuous batching), each with its
    // own grammar; sampled at temperature 1 with a different seed each.
    let outputs: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let (engine, schema) = (&engine, &schema);
                s.spawn(move || {
                    (0..5u64)
                        .map(|i| {
                            let request = ChatRequest {
                                messages: vec![Message::user("Invent a programmer. Answer in JSON.")],
                                sampling: Sampling {
                                    temperature: Some(1.0),
                                    seed: Some(t * 5 + i),
                                    max_tokens: Some(200),
                                    ..Default::default()
                                },
                                response_schema: Some(schema.clone()),
                                ..Default::default()
                            };
                            let g = engine.generate(&request, |_| {}).unwrap();
                            assert_eq!(g.finish, Finish::Stop, "ran out of tokens: {:?}", g.text);
                            g.text
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(outputs.len(), 20);
    for text in outputs {
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        assert!(validator.is_valid(&value), "does not validate: {text}");
    }
}

#[test]
fn a_calculator_conversation_parses_into_tool_calls() {
    let _serial = common::one_at_a_time();
    let engine = common::engine_with(alone());
    let calculator = ToolSpec {
        name: "calculator".into(),
        description: "Evaluates an arithmetic expression exactly.".into(),
        parameters: json!({"type": "object", "properties": {"expression": {"type": "string", "description": "e.g. 2*(3+4)"}}, "required": ["expression"]}),
    };
    let tools = vec![calculator];
    let mut request = ChatRequest {
        messages: vec![Message::user("What is 1234 * 5678? Use the calculator.")],
        tools: tools.clone(),
        sampling: greedy(64),
        ..Default::default()
    };
    let first = engine.generate(&request, |_| {}).unwrap();
    let parsed = parse_tool_calls(&first.text, &tools, 0);
    assert_eq!(parsed.tool_calls.len(), 1, "no tool call in {:?}", first.text);
    let call = &parsed.tool_calls[0];
    assert_eq!((call.id.as_str(), call.name.as_str()), ("call_0", "calculator"));
    let expression = call.arguments["expression"].as_str().unwrap_or_else(|| panic!("arguments: {}", call.arguments));
    assert!(expression.contains("1234") && expression.contains("5678"), "{expression}");

    // The result goes back; the model answers in text.
    let mut answer = Message::assistant(parsed.content.clone());
    answer.tool_calls = vec![ToolCall { id: call.id.clone(), name: call.name.clone(), arguments: call.arguments.clone() }];
    request.messages.push(answer);
    request.messages.push(Message::tool(call.id.clone(), "7006652"));
    let prompt = engine.render_prompt(&request).unwrap();
    assert!(prompt.contains("<tool_response>\n7006652\n</tool_response>"), "{prompt}");
    let second = engine.generate(&request, |_| {}).unwrap();
    assert!(second.text.contains("7006652") || second.text.contains("7,006,652"), "{:?}", second.text);
    assert_eq!(request.messages.iter().filter(|m| m.role == Role::Tool).count(), 1);
}

#[test]
fn an_overlong_prompt_is_a_clear_context_error() {
    let _serial = common::one_at_a_time();
    let engine = common::engine_with(EngineOptions { context_len: Some(256), parallel: 1, ..Default::default() });
    assert_eq!(engine.context_len(), 256);
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(60);
    let err = engine.generate(&ask(&long, greedy(8)), |_| {}).unwrap_err();
    let LocalError::ContextOverflow { prompt_tokens, max_tokens, context_len, .. } = err else { panic!("{err:?}") };
    assert!(prompt_tokens > 256 && max_tokens == 8 && context_len == 256);
    let text = err_text(&engine.generate(&ask(&long, greedy(8)), |_| {}).unwrap_err());
    assert!(text.contains(&format!("the prompt is {prompt_tokens} tokens")) && text.contains("holds 256 tokens"), "{text}");

    // A short prompt asking for more than the context holds, and a prompt that fills it.
    let text = err_text(&engine.generate(&ask("Hi", greedy(1000)), |_| {}).unwrap_err());
    assert!(text.contains("up to 1000 more") && text.contains("holds 256 tokens"), "{text}");
    let err = engine.generate(&ask(&long, Sampling { temperature: Some(0.0), ..Default::default() }), |_| {}).unwrap_err();
    assert!(matches!(err, LocalError::ContextOverflow { .. }), "{err:?}");

    // The engine still answers afterwards.
    let ok = engine.generate(&ask("Say OK.", greedy(4)), |_| {}).unwrap();
    assert!(ok.completion_tokens >= 1);
}

fn err_text(e: &LocalError) -> String {
    e.to_string()
}

#[test]
fn stop_sequences_cut_the_text_where_they_start() {
    let _serial = common::one_at_a_time();
    let engine = common::engine_with(alone());
    let request = ask("Count from 1 to 10, separated by commas. Output only the numbers.", greedy(40));
    let full = engine.generate(&request, |_| {}).unwrap().text;
    for stop in [",5", "7", "1"] {
        let mut streamed = String::new();
        let cut = engine
            .generate(&ChatRequest { stop: vec![stop.into(), "never-appears".into()], ..request.clone() }, |t| streamed.push_str(t))
            .unwrap();
        assert_eq!(streamed, cut.text);
        match full.find(stop) {
            Some(at) => {
                assert_eq!(cut.text, full[..at], "stop {stop:?} in {full:?}");
                assert_eq!(cut.finish, Finish::Stop);
            }
            None => assert_eq!(cut.text, full),
        }
    }
}

#[test]
fn a_cancelled_stream_ends_early() {
    let _serial = common::one_at_a_time();
    let engine = common::engine();
    let mut stream = engine.start(&ask("Write a long story about a lighthouse keeper.", greedy(400))).unwrap();
    let first = stream.next_text().expect("some text");
    assert!(!first.is_empty());
    stream.cancel();
    let g = stream.finish().unwrap();
    assert_eq!(g.finish, Finish::Cancelled);
    assert!(g.completion_tokens < 400, "{}", g.completion_tokens);
}

#[test]
fn invalid_sampling_is_refused() {
    let _serial = common::one_at_a_time();
    let engine = common::engine();
    for (sampling, says) in [
        (Sampling { temperature: Some(-1.0), ..Default::default() }, "temperature"),
        (Sampling { top_p: Some(0.0), ..Default::default() }, "top_p"),
        (Sampling { max_tokens: Some(0), ..Default::default() }, "max_tokens"),
    ] {
        let err = engine.generate(&ask("hi", sampling), |_| {}).unwrap_err().to_string();
        assert!(err.contains(says) && err.contains("invalid request"), "{err}");
    }
}

/// A system prompt of a few hundred tokens, as agents with tool specs have.
fn with_long_system_prompt(question: &str) -> ChatRequest {
    let rules: String = (1..=40).map(|i| format!("Rule {i}: answer briefly, in plain words, and never invent facts.\n")).collect();
    ChatRequest {
        messages: vec![Message::system(format!("You are a careful assistant.\n{rules}")), Message::user(question)],
        sampling: greedy(8),
        ..Default::default()
    }
}

#[test]
fn the_prefix_cache_reuses_a_shared_prompt_prefix_and_answers_the_same() {
    let _serial = common::one_at_a_time();
    let cached = common::engine_with(alone());
    let uncached = common::engine_with(EngineOptions { prefix_cache: false, ..alone() });
    let first = cached.generate(&with_long_system_prompt("What is the capital of France?"), |_| {}).unwrap();
    let request = with_long_system_prompt("What is the capital of Italy?");
    let second = cached.generate(&request, |_| {}).unwrap();
    let reference = uncached.generate(&request, |_| {}).unwrap();
    assert!(first.prompt_tokens > 400, "{first:?}");
    // Everything up to the question is reused; the question is computed.
    assert!(second.cached_tokens > 400 && second.cached_tokens < second.prompt_tokens, "{second:?}");
    assert_eq!(reference.cached_tokens, 0);
    assert_eq!(second.text, reference.text);
}

#[test]
fn concurrent_requests_share_the_prefix_one_of_them_computes() {
    let _serial = common::one_at_a_time();
    let engine = common::engine();
    let questions = ["Name a fruit.", "Name a color.", "Name a planet."];
    let streams: Vec<_> = questions.iter().map(|q| engine.start(&with_long_system_prompt(q)).unwrap()).collect();
    let done: Vec<_> = streams.into_iter().map(|s| s.finish().unwrap()).collect();
    let sharing = done.iter().filter(|g| g.cached_tokens > 400).count();
    assert!(sharing >= 2, "{done:?}");
    assert!(done.iter().all(|g| g.cached_tokens < g.prompt_tokens && g.completion_tokens >= 1), "{done:?}");
}
