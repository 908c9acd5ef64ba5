//! The Anthropic provider: the Messages API, `POST {base}/v1/messages`, streamed.
//!
//! Implements the request and the JSON answer of <https://docs.anthropic.com/en/api/messages>
//! (version `2023-06-01`) and its server-sent events, <https://docs.anthropic.com/en/api/messages-streaming>:
//! `message_start`, `content_block_start` / `_delta` / `_stop` (text and tool use), `message_delta`,
//! `message_stop`, `ping` and `error`. Sending, retries, timeouts and the event stream itself are
//! shared with the other HTTP providers in `http.rs`.

use crate::http::{self, Assembler, Base, Endpoint, Flow, SseEvent, Wire, WireError};
use crate::LlmError;
use agentos_core::{ChatRequest, FinishReason, Role, ToolCall};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The Anthropic API's base URL, used unless `ANTHROPIC_BASE_URL` is set.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// The Messages API version sent in the `anthropic-version` header.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The completion token limit sent when the request sets none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

const KEY_VAR: &str = "ANTHROPIC_API_KEY";
const BASE_VAR: &str = "ANTHROPIC_BASE_URL";
const PROVIDER: &str = "Anthropic";
const PATH: &str = "/v1/messages";

/// A Claude model behind the Anthropic Messages API (`anthropic:<model>`).
///
/// One instance keeps one connection pool; share it (it is `Send + Sync`) rather than building one
/// per call. The API key goes in the `x-api-key` header and never into an error.
#[derive(Debug)]
pub struct Anthropic {
    uri: String,
    model: String,
    endpoint: Endpoint,
}

impl Anthropic {
    /// `anthropic:<model>`: the Anthropic API (or the server at `ANTHROPIC_BASE_URL`, when set),
    /// with the key from `ANTHROPIC_API_KEY`, which must be set.
    pub fn new(model: &str) -> Result<Self, LlmError> {
        Self::with_key(model, http::env_var(KEY_VAR))
    }

    /// Like [`Anthropic::new`], with the API key given here: `None` (or a blank key) is
    /// [`LlmError::MissingApiKey`].
    pub fn with_key(model: &str, api_key: Option<String>) -> Result<Self, LlmError> {
        let key = http::require_key(api_key, PROVIDER, KEY_VAR)?;
        let uri = format!("anthropic:{model}");
        http::check_model(&uri, model)?;
        let mut endpoint = Endpoint::new(Base::from_env(BASE_VAR, ANTHROPIC_BASE_URL).join(&uri, PATH)?)?;
        endpoint.set_api_key("x-api-key", "", &key, PROVIDER, KEY_VAR)?;
        endpoint.set_header("anthropic-version", ANTHROPIC_VERSION);
        Ok(Anthropic { uri, model: model.to_string(), endpoint })
    }

    /// Calls the server at `base_url` (ending before `/v1/messages`, such as
    /// `http://127.0.0.1:8080`) instead.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self, LlmError> {
        self.endpoint.set_url(Base::Given(base_url.to_string()).join(&self.uri, PATH)?);
        Ok(self)
    }

    http::endpoint_methods!();

    /// The JSON body of a streamed Messages request for `request`.
    ///
    /// System messages join the top-level `system` field. Tool results become `tool_result` blocks
    /// of a user message (consecutive results share one message); assistant tool calls become
    /// `tool_use` blocks. The API has no seed (it is left out) and no portable schema-constrained
    /// output, so a `response_schema` becomes an instruction at the end of `system`.
    fn request_body(&self, request: &ChatRequest) -> Vec<u8> {
        let mut system: Vec<String> = Vec::new();
        let mut messages: Vec<Value> = Vec::new();
        let mut after_tool_result = false;
        for m in &request.messages {
            let text = m.content();
            let merge = std::mem::replace(&mut after_tool_result, m.role == Role::Tool);
            match m.role {
                Role::System => system.push(text),
                Role::User => messages.push(json!({ "role": "user", "content": text })),
                Role::Assistant => {
                    let mut blocks: Vec<Value> = Vec::new();
                    if !text.is_empty() {
                        blocks.push(json!({ "type": "text", "text": text }));
                    }
                    blocks.extend(m.tool_calls.iter().map(tool_use));
                    // The API refuses empty content; an empty assistant turn says nothing anyway.
                    if !blocks.is_empty() {
                        messages.push(json!({ "role": "assistant", "content": blocks }));
                    }
                }
                Role::Tool => {
                    let block =
                        json!({ "type": "tool_result", "tool_use_id": m.tool_call_id.as_deref().unwrap_or_default(), "content": text });
                    match messages.last_mut().and_then(|last| last["content"].as_array_mut()) {
                        Some(blocks) if merge => blocks.push(block),
                        _ => messages.push(json!({ "role": "user", "content": [block] })),
                    }
                }
            }
        }
        if let Some(schema) = &request.response_schema {
            system.push(format!("Answer with a single JSON value, and nothing else, that is valid under this JSON Schema:\n{schema}"));
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        body.insert("max_tokens".into(), json!(request.sampling.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
        body.insert("stream".into(), json!(true));
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        body.insert("messages".into(), Value::Array(messages));
        if !request.tools.is_empty() {
            let tools = request.tools.iter().map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }));
            body.insert("tools".into(), tools.collect());
        }
        http::put(&mut body, "temperature", request.sampling.temperature.map(http::float));
        http::put(&mut body, "top_p", request.sampling.top_p.map(http::float));
        if !request.stop.is_empty() {
            body.insert("stop_sequences".into(), json!(request.stop));
        }
        serde_json::to_vec(&Value::Object(body)).expect("a request body serializes")
    }
}

/// An assistant tool call as a `tool_use` block. The API takes only an object as `input`; other
/// arguments (text that was not JSON) go as `{"raw_arguments": <value>}`.
fn tool_use(call: &ToolCall) -> Value {
    let input = match &call.arguments {
        Value::Object(_) => call.arguments.clone(),
        other => json!({ "raw_arguments": other }),
    };
    json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": input })
}

/// A streamed event; which fields are set depends on its `type`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StreamEvent {
    #[serde(rename = "type", deserialize_with = "http::null_default")]
    kind: String,
    #[serde(deserialize_with = "http::null_default")]
    index: u64,
    message: Option<WireMessage>,
    content_block: Option<Block>,
    delta: Option<Delta>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

/// A message: the complete answer when not streamed, its start (model, input tokens) when streamed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireMessage {
    #[serde(deserialize_with = "http::null_default")]
    model: String,
    #[serde(deserialize_with = "http::null_default")]
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

/// A content block: `text` (text) or `tool_use` (id, name, input).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Block {
    #[serde(rename = "type", deserialize_with = "http::null_default")]
    kind: String,
    #[serde(deserialize_with = "http::null_default")]
    text: String,
    #[serde(deserialize_with = "http::null_default")]
    id: String,
    #[serde(deserialize_with = "http::null_default")]
    name: String,
    input: Option<Value>,
}

/// A block delta (`text_delta`, `input_json_delta`) or a message delta (`stop_reason`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Delta {
    #[serde(rename = "type", deserialize_with = "http::null_default")]
    kind: String,
    #[serde(deserialize_with = "http::null_default")]
    text: String,
    #[serde(deserialize_with = "http::null_default")]
    partial_json: String,
    stop_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireUsage {
    input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

/// Error types after which a retry may succeed.
const TRANSIENT_ERRORS: &[&str] = &["overloaded_error", "api_error", "rate_limit_error"];

/// Reads the Messages API wire format.
struct Messages;

impl Messages {
    /// Prompt tokens are all input tokens, cached or not; counts arrive cumulative.
    fn usage(usage: &WireUsage, out: &mut Assembler<'_>) {
        if let Some(input) = usage.input_tokens {
            out.input_tokens(input + usage.cache_creation_input_tokens.unwrap_or(0) + usage.cache_read_input_tokens.unwrap_or(0));
        }
        if let Some(output) = usage.output_tokens {
            out.output_tokens(output);
        }
    }

    fn stop_reason(reason: &str, out: &mut Assembler<'_>) {
        out.finish_reason(match reason {
            "tool_use" => FinishReason::ToolCalls,
            "max_tokens" => FinishReason::Length,
            _ => FinishReason::Stop,
        });
    }

    /// A block's text, or a tool call's start: its input when the block carries it whole (the
    /// streamed API sends `{}` here and the input in deltas).
    fn block(index: u64, block: &Block, out: &mut Assembler<'_>) {
        match block.kind.as_str() {
            "text" => out.text(&block.text),
            "tool_use" => {
                let input = match &block.input {
                    None => String::new(),
                    Some(Value::Object(o)) if o.is_empty() => String::new(),
                    Some(input) => agentos_core::arguments_text(input),
                };
                out.tool_call(index, &block.id, &block.name, &input);
            }
            _ => {}
        }
    }
}

impl Wire for Messages {
    fn event(&self, event: &SseEvent, out: &mut Assembler<'_>) -> Result<Flow, WireError> {
        let event: StreamEvent = http::decode(event.data.as_bytes())?;
        match event.kind.as_str() {
            "message_start" => {
                let message = event.message.unwrap_or_default();
                out.model(&message.model);
                if let Some(usage) = &message.usage {
                    Self::usage(usage, out);
                }
            }
            "content_block_start" => Self::block(event.index, &event.content_block.unwrap_or_default(), out),
            "content_block_delta" => {
                let delta = event.delta.unwrap_or_default();
                match delta.kind.as_str() {
                    "text_delta" => out.text(&delta.text),
                    "input_json_delta" => out.tool_call(event.index, "", "", &delta.partial_json),
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = event.delta.and_then(|d| d.stop_reason) {
                    Self::stop_reason(&reason, out);
                }
                if let Some(usage) = &event.usage {
                    Self::usage(usage, out);
                }
            }
            "message_stop" => return Ok(Flow::Done),
            "error" => return Err(http::server_error(&event.error.unwrap_or_default(), TRANSIENT_ERRORS)),
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn body(&self, body: &[u8], out: &mut Assembler<'_>) -> Result<(), WireError> {
        let message: WireMessage = http::decode(body)?;
        if let Some(error) = &message.error {
            return Err(http::server_error(error, TRANSIENT_ERRORS));
        }
        out.model(&message.model);
        for (index, block) in message.content.iter().enumerate() {
            Self::block(index as u64, block, out);
        }
        if let Some(reason) = &message.stop_reason {
            Self::stop_reason(reason, out);
        }
        if let Some(usage) = &message.usage {
            Self::usage(usage, out);
        }
        Ok(())
    }
}

http::impl_language_model!(Anthropic, Messages);
