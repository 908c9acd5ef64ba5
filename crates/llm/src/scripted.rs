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
/// Strategies that send different prompts at the same turn (a search, a vote over samples, two
/// agents talking) need more than the turn. A response may carry conditions: `"when"`, a substring
/// of the request's last user or tool message, and `"seed"`, the request's sampling seed. The
/// first response, in file order, whose conditions all hold answers; when none does, the
/// responses without conditions answer by turn, counted among themselves:
///
/// ```json
/// [ { "when": "Remaining steps", "content": "Remaining steps: 2" },
///   { "seed": 1, "content": "Answer: 8" },
///   { "content": "Answer: 7" } ]
/// ```
///
/// Here a request whose last user message asks for `Remaining steps` gets the first response, any
/// other request with seed 1 the second, and every other request at turn 0 the third. The choice
/// depends on the request alone, so it stays deterministic and a resumed run replays.
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
    /// Answers only requests whose last user or tool message contains this.
    #[serde(default)]
    when: Option<String>,
    /// Answers only requests with this sampling seed.
    #[serde(default)]
    seed: Option<u64>,
}

impl ScriptedResponse {
    fn conditional(&self) -> bool {
        self.when.is_some() || self.seed.is_some()
    }

    /// True when every condition of this response holds for `request`.
    fn matches(&self, request: &ChatRequest) -> bool {
        let last = request.messages.iter().rev().find(|m| matches!(m.role, Role::User | Role::Tool)).map(|m| m.content());
        let when = self.when.as_ref().map_or(true, |w| last.as_ref().is_some_and(|text| text.contains(w.as_str())));
        let seed = self.seed.map_or(true, |s| request.sampling.seed == Some(s));
        when && seed
    }
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

    /// Parses a script from JSON text; `path` names it in errors, which also name the field that
    /// is wrong (`responses[2].tool_calls[0]: missing field `name``).
    pub fn from_json(path: &str, text: &str) -> Result<Self, LlmError> {
        let invalid = |reason: String| LlmError::Script { path: path.to_string(), reason };
        // The first character decides the form, so that an error is about the form the file has.
        let script = match text.trim_start().chars().next() {
            Some('[') => Script { native_tools: true, responses: parse(text, "responses").map_err(invalid)? },
            Some('{') => parse(text, "").map_err(invalid)?,
            _ => return Err(invalid("not a valid script: expected a JSON array of responses or {\"responses\": [...]}".into())),
        };
        Ok(Scripted { uri: format!("scripted:{path}"), path: path.to_string(), script })
    }
}

/// `text` as a `T`; the error names the field that is wrong, as a path under `root` (the object
/// holding an unknown field, since the message names the field).
fn parse<T: serde::de::DeserializeOwned>(text: &str, root: &str) -> Result<T, String> {
    use serde_path_to_error::Segment;
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
        let message = e.inner().to_string();
        let mut segments: Vec<&Segment> = e.path().iter().collect();
        if message.starts_with("unknown field") {
            segments.pop();
        }
        let mut at = root.to_string();
        for segment in segments {
            match segment {
                Segment::Seq { index } => at.push_str(&format!("[{index}]")),
                Segment::Map { key } | Segment::Enum { variant: key } => {
                    if !at.is_empty() {
                        at.push('.');
                    }
                    at.push_str(key);
                }
                Segment::Unknown => {}
            }
        }
        if at.is_empty() {
            at = "the script".into();
        }
        format!("{at}: {message}")
    })
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
        let responses = &self.script.responses;
        let by_turn = || responses.iter().filter(|r| !r.conditional()).nth(turn);
        let scripted = responses.iter().find(|r| r.conditional() && r.matches(request)).or_else(by_turn).ok_or_else(|| {
            let unconditional = responses.iter().filter(|r| !r.conditional()).count();
            LlmError::Script {
                path: self.path.clone(),
                reason: format!(
                    "no response for turn {turn}: no conditional response matches and the script has {unconditional} responses without conditions; add more"
                ),
            }
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

    fn ask_with(model: &Scripted, messages: Vec<Message>, seed: Option<u64>) -> String {
        let request = ChatRequest { messages, sampling: agentos_core::Sampling { seed, ..Default::default() }, ..Default::default() };
        futures::executor::block_on(model.chat(&request, &|_| {})).unwrap().message.content()
    }

    #[test]
    fn conditional_responses_win_over_the_turn_in_file_order() {
        let m = Scripted::from_json(
            "t",
            r#"[{"when":"Remaining","content":"estimate"},{"content":"first"},{"seed":1,"content":"seed one"},
                {"when":"arrived","seed":2,"content":"both"},{"content":"second"}]"#,
        )
        .unwrap();
        let user = |text: &str| vec![Message::user(text)];
        assert_eq!(ask_with(&m, user("Remaining steps?"), Some(1)), "estimate", "the first match wins");
        assert_eq!(ask_with(&m, user("hi"), Some(1)), "seed one");
        assert_eq!(ask_with(&m, user("hi"), Some(2)), "first", "`both` needs its `when` too");
        assert_eq!(ask_with(&m, vec![Message::user("go"), Message::assistant("x"), Message::tool("c", "arrived")], Some(2)), "both");
        // Without a match, the unconditional responses answer by turn, counted among themselves.
        assert_eq!(ask_with(&m, vec![Message::user("hi"), Message::assistant("x"), Message::user("on")], None), "second");
        // `when` looks at the last user or tool message only.
        assert_eq!(ask_with(&m, vec![Message::user("Remaining"), Message::assistant("x"), Message::user("on")], None), "second");
        let err = ask(&m, 2).unwrap_err().to_string();
        assert!(err.contains("no response for turn 2") && err.contains("2 responses without conditions"), "{err}");
    }

    #[test]
    fn rejects_a_malformed_script_naming_the_file_and_the_field() {
        let err = |text: &str| Scripted::from_json("bad.json", text).unwrap_err().to_string();
        let cases = [
            (r#"{"respones": []}"#, "the script: unknown field `respones`, expected `native_tools` or `responses`"),
            (r#"{"native_tools": true}"#, "the script: missing field `responses`"),
            (r#"[{"content": "a"}, {"contnet": "b"}]"#, "responses[1]: unknown field `contnet`, expected one of `content`"),
            (r#"{"responses": [{}, {}, {"tool_calls": [{"arguments": {}}]}]}"#, "responses[2].tool_calls[0]: missing field `name`"),
            (r#"[{"delay_ms": "soon"}]"#, "responses[0].delay_ms: invalid type: string \"soon\", expected u64"),
            ("calls: 3", "not a valid script: expected a JSON array"),
        ];
        for (text, expected) in cases {
            let message = err(text);
            assert!(message.contains("bad.json") && message.contains(expected), "{text}: {message}");
            assert!(!message.contains("untagged"), "{message}");
        }
    }
}
