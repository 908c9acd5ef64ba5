use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a model is told about a tool: its name, what it does, and its arguments as a JSON Schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Unique name, as the model calls it.
    pub name: String,
    /// What the tool does, written for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// A model's request to run one tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Id that the tool result refers back to.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the model gave them (validated later against the tool's schema).
    pub arguments: Value,
}

/// Tool-call arguments as the text a wire format carries: JSON text, or the raw text itself when
/// the model wrote arguments that were not JSON (kept as a JSON string).
pub fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// The outcome of one tool call, as the model will see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// What the tool returned, or what went wrong, as text for the model.
    pub content: String,
    /// True when the call failed (bad arguments, unknown tool, denied, timeout, tool error).
    #[serde(default)]
    pub is_error: bool,
}

impl ToolResult {
    /// A successful result.
    pub fn ok(call: &ToolCall, content: impl Into<String>) -> Self {
        ToolResult { call_id: call.id.clone(), name: call.name.clone(), content: content.into(), is_error: false }
    }

    /// A failed result whose content tells the model what was wrong.
    pub fn error(call: &ToolCall, content: impl Into<String>) -> Self {
        ToolResult { call_id: call.id.clone(), name: call.name.clone(), content: content.into(), is_error: true }
    }
}
