use crate::{EventSink, LanguageModel, LlmError, ModelCapabilities};
use agentos_core::{ChatRequest, ChatResponse, FinishReason, Message, ModelEvent, Role, ToolCall, Usage};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// A model that replays canned responses from a JSON file: for deterministic tests of a
/// strategy's control flow, never for real work.
///
/// The response for a request is chosen by its turn, the number of assistant messages already in
/// the request, so a replayed (resumed) run gets the same answers as the original. The file is
/// either a JSON array of responses or an object:
///
/// ```json
/// { "native_tools": true,
///   "responses": [
///     { "content": "Let me add.", "tool_calls": [{ "name": "calculator", "arguments": { "expression": "1+2" } }] },
///     { "content": "3", "delay_ms": 50 } ] }
/// ```
///
/// `arguments` may be a string, standing for arguments the model wrote as text that is not JSON.
/// With `"native_tools": false` the model claims no native tool calling, so ReAct uses its text
/// protocol. Token counts are words, split on whitespace.
#[derive(Debug)]
pub struct Scripted {
    uri: String,
    path: String,
    script: Script,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ScriptFile {
    List(Vec<ScriptedResponse>),
    Full(Script),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Script {
    #[serde(default = "yes")]
    native_tools: bool,
    responses: Vec<ScriptedResponse>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptedResponse {
    #[serde(default)]
    content: String,
    #[serde(default)]
    tool_calls: Vec<ScriptedCall>,
    #[serde(default)]
    delay_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptedCall {
    name: String,
    #[serde(default)]
    arguments: Value,
}

impl Scripted {
    /// Loads a script from `path`.
    pub fn from_file(path: &str) -> Result<Self, LlmError> {
        let err = |reason: String| LlmError::Script { path: path.to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        Self::from_json(path, &text).map_err(|e| match e {
            LlmError::Script { reason, .. } => err(reason),
            other => other,
        })
    }

    /// Parses a script from JSON text; `path` names it in errors.
    pub fn from_json(path: &str, text: &str) -> Result<Self, LlmError> {
        let file: ScriptFile = serde_json::from_str(text).map_err(|e| LlmError::Script {
            path: path.to_string(),
            reason: format!("not a valid script ({e}); expected a JSON array of responses or {{\"responses\": [...]}}"),
        })?;
        let script = match file {
            ScriptFile::List(responses) => Script { native_tools: true, responses },
            ScriptFile::Full(s) => s,
        };
        Ok(Scripted { uri: format!("scripted:{path}"), path: path.to_string(), script })
    }
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[async_trait]
impl LanguageModel for Scripted {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn capabilities(&self) -> ModelCapabilities {
        ModelCapabilities { native_tools: self.script.native_tools }
    }

    async fn chat(&self, request: &ChatRequest, on_event: EventSink<'_>) -> Result<ChatResponse, LlmError> {
        let turn = request.messages.iter().filter(|m| m.role == Role::Assistant).count();
        let scripted = self.script.responses.get(turn).ok_or_else(|| LlmError::Script {
            path: self.path.clone(),
            reason: format!("no response for turn {turn}: the script has {} responses; add more", self.script.responses.len()),
        })?;
        if scripted.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(scripted.delay_ms)).await;
        }
        let mut message = Message::assistant(scripted.content.clone());
        for (i, call) in scripted.tool_calls.iter().enumerate() {
            let id = format!("call_{turn}_{i}");
            on_event(ModelEvent::ToolCallStart { id: id.clone(), name: call.name.clone() });
            message.tool_calls.push(ToolCall { id, name: call.name.clone(), arguments: call.arguments.clone() });
        }
        if !scripted.content.is_empty() {
            on_event(ModelEvent::TextDelta { text: scripted.content.clone() });
        }
        let input_tokens = request.messages.iter().map(|m| words(&m.content())).sum();
        Ok(ChatResponse {
            finish_reason: if message.tool_calls.is_empty() { FinishReason::Stop } else { FinishReason::ToolCalls },
            usage: Usage { input_tokens, output_tokens: words(&scripted.content), model_calls: 1, cost_usd: 0.0 },
            model: self.uri.clone(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(model: &Scripted, assistant_turns: usize) -> Result<ChatResponse, LlmError> {
        let mut request = ChatRequest { messages: vec![Message::user("hi")], ..Default::default() };
        for _ in 0..assistant_turns {
            request.messages.push(Message::assistant("earlier"));
        }
        futures::executor::block_on(model.chat(&request, &|_| {}))
    }

    #[test]
    fn picks_the_response_by_turn() {
        let m = Scripted::from_json("t", r#"[{"content":"a"},{"content":"b","tool_calls":[{"name":"x","arguments":{"k":1}}]}]"#).unwrap();
        assert_eq!(ask(&m, 0).unwrap().message.content(), "a");
        let second = ask(&m, 1).unwrap();
        assert_eq!(second.message.tool_calls[0].name, "x");
        assert_eq!(second.finish_reason, FinishReason::ToolCalls);
        let err = ask(&m, 2).unwrap_err().to_string();
        assert!(err.contains("no response for turn 2"), "{err}");
    }

    #[test]
    fn rejects_a_malformed_script_naming_the_file() {
        let err = Scripted::from_json("bad.json", r#"{"respones": []}"#).unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("not a valid script"), "{err}");
    }
}
