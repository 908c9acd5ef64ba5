//! The Chat Completions wire format as a server reads and writes it
//! (<https://platform.openai.com/docs/api-reference/chat/create>).

use agentos_core::{ChatRequest, ChatResponse, FinishReason, Message, Role, Sampling, ToolCall, ToolSpec, Usage};
use serde::Deserialize;
use serde_json::{json, Value};

/// A request as clients send it. Fields agentos does not use are ignored.
#[derive(Deserialize)]
pub struct Request {
    messages: Vec<InMessage>,
    #[serde(default)]
    tools: Vec<InTool>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    seed: Option<u64>,
    stop: Option<Stop>,
    #[serde(default)]
    pub stream: bool,
    response_format: Option<ResponseFormat>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: String,
    json_schema: Option<JsonSchemaFormat>,
}

#[derive(Deserialize)]
struct JsonSchemaFormat {
    schema: Value,
}

#[derive(Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    tool_calls: Vec<InCall>,
    tool_call_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<InPart>),
}

#[derive(Deserialize)]
struct InPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct InCall {
    id: String,
    function: InFunction,
}

#[derive(Deserialize)]
struct InFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct InTool {
    function: InToolSpec,
}

#[derive(Deserialize)]
struct InToolSpec {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "any_object")]
    parameters: Value,
}

fn any_object() -> Value {
    json!({ "type": "object" })
}

impl Request {
    /// The request in agentos's terms, or what is wrong with it.
    pub fn into_chat(self) -> Result<ChatRequest, String> {
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.into_iter().enumerate() {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "tool" => Role::Tool,
                other => return Err(format!("messages[{i}].role `{other}` is not one of system, developer, user, assistant, tool")),
            };
            let text = match m.content {
                None => String::new(),
                Some(Content::Text(text)) => text,
                Some(Content::Parts(parts)) => {
                    if let Some(part) = parts.iter().find(|p| p.kind != "text") {
                        return Err(format!("messages[{i}].content has a `{}` part; only text parts are supported", part.kind));
                    }
                    parts.into_iter().map(|p| p.text).collect()
                }
            };
            let mut message = Message::text(role, text);
            if role == Role::Tool {
                message.tool_call_id =
                    Some(m.tool_call_id.ok_or_else(|| format!("messages[{i}] is a tool message without `tool_call_id`"))?);
            }
            message.tool_calls = m
                .tool_calls
                .into_iter()
                .map(|c| ToolCall {
                    id: c.id,
                    name: c.function.name,
                    arguments: serde_json::from_str(&c.function.arguments).unwrap_or(Value::String(c.function.arguments)),
                })
                .collect();
            messages.push(message);
        }
        if messages.is_empty() {
            return Err("`messages` is empty; send at least one message".into());
        }
        let response_schema = match self.response_format {
            None => None,
            Some(f) if f.kind == "json_schema" => {
                Some(f.json_schema.ok_or("response_format of type json_schema needs `json_schema.schema`")?.schema)
            }
            Some(f) if f.kind == "json_object" => Some(json!({ "type": "object" })),
            Some(f) if f.kind == "text" => None,
            Some(f) => return Err(format!("response_format type `{}` is not one of text, json_object, json_schema", f.kind)),
        };
        Ok(ChatRequest {
            messages,
            tools: self
                .tools
                .into_iter()
                .map(|t| ToolSpec { name: t.function.name, description: t.function.description, parameters: t.function.parameters })
                .collect(),
            sampling: Sampling {
                temperature: self.temperature,
                top_p: self.top_p,
                max_tokens: self.max_completion_tokens.or(self.max_tokens),
                seed: self.seed,
            },
            stop: match self.stop {
                None => Vec::new(),
                Some(Stop::One(s)) => vec![s],
                Some(Stop::Many(v)) => v,
            },
            response_schema,
        })
    }
}

fn finish(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Other => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
    }
}

/// Tool calls in the wire format; streamed ones carry their index.
pub fn tool_calls(calls: &[ToolCall], streamed: bool) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let arguments = agentos_core::arguments_text(&c.arguments);
            let mut call = json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": arguments } });
            if streamed {
                call["index"] = json!(i);
            }
            call
        })
        .collect()
}

fn usage(u: &Usage) -> Value {
    json!({ "prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens, "total_tokens": u.total_tokens() })
}

/// A whole `chat.completion`, `created` at that Unix time.
pub fn completion(id: &str, created: u64, model: &str, r: &ChatResponse) -> Value {
    let content = r.message.content();
    let mut message = json!({ "role": "assistant", "content": if content.is_empty() && !r.message.tool_calls.is_empty() { Value::Null } else { json!(content) } });
    if !r.message.tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls(&r.message.tool_calls, false));
    }
    json!({ "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{ "index": 0, "message": message, "finish_reason": finish(r.finish_reason) }], "usage": usage(&r.usage) })
}

/// One `chat.completion.chunk` with a delta, of the completion `created` at that Unix time.
pub fn chunk(id: &str, created: u64, model: &str, delta: Value, reason: Option<FinishReason>) -> Value {
    json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": reason.map(finish) }] })
}

/// The last chunk: no choices, the usage.
pub fn usage_chunk(id: &str, created: u64, model: &str, u: &Usage) -> Value {
    json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": usage(u) })
}
