//! agentos-tools: the built-in tools an agent can be granted, each an [`agentos_kernel::Tool`].
//!
//! Owns: the tools themselves ([`Calculator`], [`ReadFile`], [`WriteFile`], [`ListFiles`],
//! [`CurrentTime`], [`AskUser`]), their descriptions and strict argument schemas as the model
//! sees them, and the exact rational [`arithmetic`] that the calculator and answer checkers
//! share. [`builtin`] hands all of them to the kernel's tool registry.
//!
//! Must not: touch a path except through
//! [`ToolContext::path`](agentos_kernel::ToolContext::path), which enforces the granted folders
//! after `..` and symbolic links are resolved; reach the network; talk to the person except
//! through [`ToolContext::operator`](agentos_kernel::ToolContext::operator); or decide on its own
//! which tools an agent may call (the kernel's access manager does). Failures come back as
//! [`ToolError`]s whose text tells the model what went wrong and what to do instead.

#![warn(missing_docs)]

pub mod arithmetic;
mod ask;
mod calculator;
mod files;
mod time;

pub use ask::AskUser;
pub use calculator::Calculator;
pub use files::{ListFiles, ReadFile, WriteFile, LIST_LIMIT, READ_LIMIT};
pub use time::CurrentTime;

use agentos_kernel::{Tool, ToolError};
use serde_json::Value;
use std::sync::Arc;

/// Every built-in tool, ready for [`agentos_kernel::ToolRegistry::register`]: `calculator`,
/// `read_file`, `write_file`, `list_files`, `current_time` and `ask_user`.
pub fn builtin() -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(Calculator), Arc::new(ReadFile), Arc::new(WriteFile), Arc::new(ListFiles), Arc::new(CurrentTime), Arc::new(AskUser)]
}

/// The string argument `name`, which the schema marks required.
fn required_str<'a>(arguments: &'a Value, name: &str) -> Result<&'a str, ToolError> {
    arguments.get(name).and_then(Value::as_str).ok_or_else(|| ToolError::Invalid(format!("missing the string argument `{name}`")))
}

/// The optional string argument `name`.
fn optional_str<'a>(arguments: &'a Value, name: &str) -> Result<Option<&'a str>, ToolError> {
    match arguments.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ToolError::Invalid(format!("the argument `{name}` must be a string, not {other}"))),
    }
}

/// The optional boolean argument `name`.
fn optional_bool(arguments: &Value, name: &str) -> Result<Option<bool>, ToolError> {
    match arguments.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ToolError::Invalid(format!("the argument `{name}` must be true or false, not {other}"))),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers shared by the unit tests.

    use agentos_core::{RunId, ToolCall};
    use agentos_kernel::{Capabilities, Nobody, Operator, ToolContext};
    use async_trait::async_trait;
    use std::path::Path;
    use std::sync::Arc;

    /// A context that grants every built-in tool and the folder `dir`, with nobody attached.
    pub fn context(dir: &Path) -> ToolContext {
        with_operator(dir, Arc::new(Nobody))
    }

    /// A context that grants every built-in tool and the folder `dir`, with `operator` attached.
    pub fn with_operator(dir: &Path, operator: Arc<dyn Operator>) -> ToolContext {
        let tools = super::builtin().iter().map(|t| t.spec().name).collect();
        let capabilities = Capabilities { tools, paths: vec![dir.to_path_buf()], ..Default::default() };
        ToolContext { run: RunId::new(), capabilities: Arc::new(capabilities), operator }
    }

    /// An operator that answers every question with a fixed text and records the questions.
    pub struct Answers(pub String, pub std::sync::Mutex<Vec<String>>);

    #[async_trait]
    impl Operator for Answers {
        async fn ask(&self, question: &str) -> Option<String> {
            self.1.lock().unwrap().push(question.to_string());
            Some(self.0.clone())
        }
        async fn approve(&self, _call: &ToolCall) -> Option<bool> {
            Some(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn builtin_has_every_tool_once_with_strict_schemas() {
        let tools = builtin();
        let names: Vec<String> = tools.iter().map(|t| t.spec().name).collect();
        assert_eq!(names, ["calculator", "read_file", "write_file", "list_files", "current_time", "ask_user"]);
        for tool in &tools {
            let spec = tool.spec();
            let p = &spec.parameters;
            assert_eq!(p["type"], "object", "{}", spec.name);
            assert_eq!(p["additionalProperties"], false, "{}", spec.name);
            let properties: BTreeSet<&String> = p["properties"].as_object().unwrap().keys().collect();
            let required = p["required"].as_array().unwrap_or_else(|| panic!("{} has no `required`", spec.name));
            for r in required {
                assert!(properties.contains(&r.as_str().unwrap().to_string()), "{} requires an unknown property {r}", spec.name);
            }
            assert!(spec.description.len() > 40, "{} needs a real description", spec.name);
            assert!(!tool.needs_network(), "{}", spec.name);
        }
        let risky: Vec<String> = tools.iter().filter(|t| t.risky()).map(|t| t.spec().name).collect();
        assert_eq!(risky, ["write_file"]);
    }

    #[test]
    fn argument_helpers() {
        let args = serde_json::json!({"a": "x", "b": 3, "c": true, "n": null});
        assert_eq!(required_str(&args, "a").unwrap(), "x");
        assert!(required_str(&args, "b").is_err());
        assert!(required_str(&args, "z").is_err());
        assert_eq!(optional_str(&args, "z").unwrap(), None);
        assert_eq!(optional_str(&args, "n").unwrap(), None);
        assert!(optional_str(&args, "b").is_err());
        assert_eq!(optional_bool(&args, "c").unwrap(), Some(true));
        assert_eq!(optional_bool(&args, "z").unwrap(), None);
        assert!(optional_bool(&args, "a").is_err());
    }
}
