//! The OpenAI Chat Completions provider: `POST {base}/chat/completions`, streamed, for the OpenAI
//! API and every server that speaks it (vLLM, llama.cpp server, Ollama, OpenRouter).
//!
//! Implements the request and the plain JSON answer of
//! <https://platform.openai.com/docs/api-reference/chat/create> and the streamed chunks of
//! <https://platform.openai.com/docs/api-reference/chat-streaming> (`stream: true` with
//! `stream_options.include_usage`, ended by `data: [DONE]`). Sending, retries, timeouts and the
//! event stream itself are shared with the other HTTP providers in `http.rs`.

use crate::http::{self, Assembler, Base, Endpoint, Flow, SseEvent, Wire, WireError};
use crate::LlmError;
use agentos_core::{ChatRequest, FinishReason, Message, Role, ToolSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The OpenAI API's base URL, used by `openai:<model>` unless `OPENAI_BASE_URL` is set.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

const KEY_VAR: &str = "OPENAI_API_KEY";
const BASE_VAR: &str = "OPENAI_BASE_URL";
const PROVIDER: &str = "OpenAI";
const PATH: &str = "/chat/completions";

/// A model behind the OpenAI Chat Completions API (`openai:<model>`), or behind any server that
/// speaks it (`openai-compatible:<base-url>#<model>`).
///
/// One instance keeps one connection pool; share it (it is `Send + Sync`) rather than building one
/// per call. The API key goes in an `Authorization: Bearer` header and never into an error.
#[derive(Debug)]
pub struct OpenAi {
    uri: String,
    model: String,
    compatible: bool,
    endpoint: Endpoint,
}

impl OpenAi {
    /// `openai:<model>`: the OpenAI API (or the server at `OPENAI_BASE_URL`, when set), with the
    /// key from `OPENAI_API_KEY`, which must be set.
    pub fn new(model: &str) -> Result<Self, LlmError> {
        Self::with_key(model, http::env_var(KEY_VAR))
    }

    /// Like [`OpenAi::new`], with the API key given here: `None` (or a blank key) is
    /// [`LlmError::MissingApiKey`].
    pub fn with_key(model: &str, api_key: Option<String>) -> Result<Self, LlmError> {
        let key = http::require_key(api_key, PROVIDER, KEY_VAR)?;
        Self::build(Base::from_env(BASE_VAR, OPENAI_BASE_URL), model, false)?.with_api_key(&key)
    }

    /// `openai-compatible:<base-url>#<model>`: any Chat Completions server at `base_url` (such as
    /// `http://127.0.0.1:8080/v1`), with the key from `OPENAI_API_KEY` when it is set, and none
    /// otherwise.
    pub fn compatible(base_url: &str, model: &str) -> Result<Self, LlmError> {
        let this = Self::build(Base::Given(base_url.to_string()), model, true)?;
        match http::env_var(KEY_VAR) {
            Some(key) => this.with_api_key(&key),
            None => Ok(this),
        }
    }

    fn build(base: Base, model: &str, compatible: bool) -> Result<Self, LlmError> {
        let uri = Self::make_uri(&base, model, compatible);
        http::check_model(&uri, model)?;
        let endpoint = Endpoint::new(base.join(&uri, PATH)?)?;
        Ok(OpenAi { uri, model: model.to_string(), compatible, endpoint })
    }

    fn make_uri(base: &Base, model: &str, compatible: bool) -> String {
        if compatible {
            format!("openai-compatible:{}#{model}", base.as_str())
        } else {
            format!("openai:{model}")
        }
    }

    /// Sends `api_key` as the bearer token, replacing any key set before. A key that cannot be
    /// sent in a header (control characters) is [`LlmError::MissingApiKey`].
    pub fn with_api_key(mut self, api_key: &str) -> Result<Self, LlmError> {
        self.endpoint.set_api_key("authorization", "Bearer ", api_key, PROVIDER, KEY_VAR)?;
        Ok(self)
    }

    /// Calls the server at `base_url` (ending before `/chat/completions`, such as
    /// `http://127.0.0.1:8080/v1`) instead.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self, LlmError> {
        let base = Base::Given(base_url.to_string());
        let uri = Self::make_uri(&base, &self.model, self.compatible);
        self.endpoint.set_url(base.join(&uri, PATH)?);
        self.uri = uri;
        Ok(self)
    }

    http::endpoint_methods!();

    /// The JSON body of a streamed Chat Completions request for `request`.
    fn request_body(&self, request: &ChatRequest) -> Vec<u8> {
        let sampling = &request.sampling;
        let body = WireRequest {
            model: &self.model,
            messages: request.messages.iter().map(WireMessage::from).collect(),
            stream: true,
            stream_options: StreamOptions { include_usage: true },
            tools: request.tools.iter().map(|t| WireTool { kind: "function", function: t }).collect(),
            temperature: sampling.temperature,
            top_p: sampling.top_p,
            max_tokens: sampling.max_tokens,
            seed: sampling.seed,
            stop: &request.stop,
            response_format: request.response_schema.as_ref().map(|schema| ResponseFormat {
                kind: "json_schema",
                json_schema: JsonSchemaFormat { name: "response", schema, strict: true },
            }),
        };
        serde_json::to_vec(&body).expect("a chat request serializes")
    }
}

/// A Chat Completions request, borrowing from the [`ChatRequest`] it is built from.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat<'a>>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: &'a ToolSpec,
}

#[derive(Serialize)]
struct ResponseFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    json_schema: JsonSchemaFormat<'a>,
}

#[derive(Serialize)]
struct JsonSchemaFormat<'a> {
    name: &'static str,
    schema: &'a Value,
    strict: bool,
}

/// One message in the Chat Completions wire format. Tool-call arguments travel as JSON text;
/// arguments kept as a string (text that was not JSON) go back as that text.
#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// `null` for an assistant message that only calls tools.
    content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
struct OutCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction<'a>,
}

#[derive(Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    arguments: String,
}

impl<'a> From<&'a Message> for WireMessage<'a> {
    fn from(m: &'a Message) -> Self {
        let content = m.content();
        let calls_only = m.role == Role::Assistant && !m.tool_calls.is_empty() && content.is_empty();
        WireMessage {
            role: m.role.as_str(),
            content: if calls_only { None } else { Some(content) },
            tool_calls: m
                .tool_calls
                .iter()
                .map(|c| OutCall {
                    id: &c.id,
                    kind: "function",
                    function: OutFunction { name: &c.name, arguments: agentos_core::arguments_text(&c.arguments) },
                })
                .collect(),
            tool_call_id: if m.role == Role::Tool { Some(m.tool_call_id.as_deref().unwrap_or_default()) } else { None },
        }
    }
}

/// A streamed chunk or a complete answer: both carry choices, usage, the model, or an error.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Completion {
    #[serde(deserialize_with = "http::null_default")]
    model: String,
    #[serde(deserialize_with = "http::null_default")]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

/// A choice: a `delta` when streamed, a `message` when not.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Choice {
    #[serde(deserialize_with = "http::null_default")]
    index: u64,
    #[serde(alias = "message", deserialize_with = "http::null_default")]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Delta {
    #[serde(deserialize_with = "http::null_default")]
    content: String,
    #[serde(deserialize_with = "http::null_default")]
    tool_calls: Vec<WireCall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireCall {
    index: Option<u64>,
    #[serde(deserialize_with = "http::null_default")]
    id: String,
    #[serde(deserialize_with = "http::null_default")]
    function: WireFunction,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireFunction {
    #[serde(deserialize_with = "http::null_default")]
    name: String,
    /// A fragment of JSON text when streamed; some servers send a whole JSON object instead.
    arguments: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireUsage {
    #[serde(deserialize_with = "http::null_default")]
    prompt_tokens: u64,
    #[serde(deserialize_with = "http::null_default")]
    completion_tokens: u64,
}

/// Reads the Chat Completions wire format.
struct ChatCompletions;

impl ChatCompletions {
    fn read(completion: Completion, out: &mut Assembler<'_>) -> Result<(), WireError> {
        if let Some(error) = &completion.error {
            return Err(http::server_error(error, &["server_error"]));
        }
        out.model(&completion.model);
        for choice in completion.choices.iter().filter(|c| c.index == 0) {
            out.text(&choice.delta.content);
            for (i, call) in choice.delta.tool_calls.iter().enumerate() {
                let arguments = match &call.function.arguments {
                    Value::Null => String::new(),
                    other => agentos_core::arguments_text(other),
                };
                out.tool_call(call.index.unwrap_or(i as u64), &call.id, &call.function.name, &arguments);
            }
            if let Some(reason) = &choice.finish_reason {
                out.finish_reason(match reason.as_str() {
                    "stop" => FinishReason::Stop,
                    "length" => FinishReason::Length,
                    "tool_calls" | "function_call" => FinishReason::ToolCalls,
                    _ => FinishReason::Other,
                });
            }
        }
        if let Some(usage) = &completion.usage {
            out.input_tokens(usage.prompt_tokens);
            out.output_tokens(usage.completion_tokens);
        }
        Ok(())
    }
}

impl Wire for ChatCompletions {
    fn event(&self, event: &SseEvent, out: &mut Assembler<'_>) -> Result<Flow, WireError> {
        Self::read(http::decode(event.data.as_bytes())?, out)?;
        Ok(Flow::Continue)
    }

    fn body(&self, body: &[u8], out: &mut Assembler<'_>) -> Result<(), WireError> {
        let completion: Completion = http::decode(body)?;
        if completion.error.is_none() && completion.choices.is_empty() {
            return Err(WireError::invalid("the JSON answer has no `choices`"));
        }
        Self::read(completion, out)
    }
}

http::impl_language_model!(OpenAi, ChatCompletions);
