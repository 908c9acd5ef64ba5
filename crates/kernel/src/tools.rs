//! Tool manager: the registry of tools, argument validation against each tool's JSON Schema before
//! it runs, a timeout per call, and parallel execution of the calls of one model turn.

use crate::access::{Capabilities, Denied, Operator};
use agentos_core::{RunId, ToolCall, ToolResult, ToolSpec};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Why a tool failed. The text reaches the model as the observation, so it should say what to do.
#[derive(Debug, Error)]
pub enum ToolError {
    /// The arguments were well-formed but unusable (for example a division by zero).
    #[error("{0}")]
    Invalid(String),
    /// The access manager refused part of the work (a path outside the granted folders).
    #[error("{}", .0 .0)]
    Denied(Denied),
    /// The operating system refused.
    #[error("{0}")]
    Io(String),
}

impl From<Denied> for ToolError {
    fn from(d: Denied) -> Self {
        ToolError::Denied(d)
    }
}

/// What a running tool may use: its run, the capabilities of the agent that called it, and the
/// person behind the run.
#[derive(Clone)]
pub struct ToolContext {
    /// The run the call belongs to.
    pub run: RunId,
    /// The calling agent's capabilities; file tools must pass every path through
    /// [`ToolContext::path`].
    pub capabilities: Arc<Capabilities>,
    /// The person behind the run.
    pub operator: Arc<dyn Operator>,
}

impl ToolContext {
    /// Resolves a path the model gave and checks that the agent may touch it.
    pub fn path(&self, path: &str) -> Result<PathBuf, ToolError> {
        Ok(self.capabilities.check_path(path)?)
    }
}

/// A tool: JSON-Schema arguments in, text out.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and argument schema, as the model sees them.
    fn spec(&self) -> ToolSpec;

    /// True when the tool changes the world outside the conversation (writes, deletes, sends), so
    /// the `approve` mode asks the person first.
    fn risky(&self) -> bool {
        false
    }

    /// True when the tool reaches the network.
    fn needs_network(&self) -> bool {
        false
    }

    /// The longest one call may take; `None` uses the registry's default.
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// Runs the tool on arguments already validated against [`Tool::spec`]'s schema.
    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<String, ToolError>;
}

struct Entry {
    tool: Arc<dyn Tool>,
    spec: ToolSpec,
    validator: jsonschema::Validator,
}

/// Why a tool could not be registered.
#[derive(Debug, Error)]
#[error("tool `{name}` has an invalid parameter schema: {reason}")]
pub struct RegistryError {
    /// The tool's name.
    pub name: String,
    /// What is wrong with the schema.
    pub reason: String,
}

/// Every tool the kernel knows, by name, with its compiled argument validator.
pub struct ToolRegistry {
    tools: BTreeMap<String, Entry>,
    default_timeout: Duration,
}

impl ToolRegistry {
    /// An empty registry whose calls time out after `default_timeout` unless a tool says otherwise.
    pub fn new(default_timeout: Duration) -> Self {
        ToolRegistry { tools: BTreeMap::new(), default_timeout }
    }

    /// Adds a tool, replacing any of the same name.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<(), RegistryError> {
        let spec = tool.spec();
        let validator =
            jsonschema::validator_for(&spec.parameters).map_err(|e| RegistryError { name: spec.name.clone(), reason: e.to_string() })?;
        self.tools.insert(spec.name.clone(), Entry { tool, spec, validator });
        Ok(())
    }

    /// The names of all registered tools, sorted.
    pub fn names(&self) -> Vec<String> {
        self.tools.keys().cloned().collect()
    }

    /// Whether a tool of this name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    /// The specs of the named tools that exist, in the order given.
    pub fn specs<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Vec<ToolSpec> {
        names.into_iter().filter_map(|n| self.tools.get(n)).map(|e| e.spec.clone()).collect()
    }

    /// Runs one call for an agent: unknown tool, refused capability, invalid arguments, refused
    /// approval, tool error and timeout each come back as an error result that tells the model
    /// what was wrong, never as a failure of the kernel. `on_denied` hears every refusal.
    pub async fn execute(&self, call: &ToolCall, context: &ToolContext, on_denied: impl Fn(&str)) -> ToolResult {
        let Some(entry) = self.tools.get(&call.name) else {
            let granted: Vec<&str> =
                context.capabilities.tools.iter().map(String::as_str).filter(|n| self.tools.contains_key(*n)).collect();
            return ToolResult::error(call, format!("unknown tool `{}`; the tools you can call are: {}", call.name, granted.join(", ")));
        };
        if let Err(Denied(reason)) = context.capabilities.check_tool(&call.name, entry.tool.needs_network()) {
            on_denied(&reason);
            return ToolResult::error(call, reason);
        }
        if let Err(problem) = self.validate(entry, &call.arguments) {
            return ToolResult::error(call, problem);
        }
        if entry.tool.risky() && context.capabilities.approval == crate::access::Approval::Risky {
            let refusal = match context.operator.approve(call).await {
                Some(true) => None,
                Some(false) => Some(format!(
                    "the person refused to let `{}` run with these arguments; try another way or ask them with ask_user",
                    call.name
                )),
                None => Some(format!(
                    "no person is attached to this run to approve `{}`, so it did not run; go on without it, and say what you could not do",
                    call.name
                )),
            };
            if let Some(reason) = refusal {
                on_denied(&reason);
                return ToolResult::error(call, reason);
            }
        }
        let limit = entry.tool.timeout().unwrap_or(self.default_timeout);
        match tokio::time::timeout(limit, entry.tool.call(call.arguments.clone(), context)).await {
            Ok(Ok(output)) => ToolResult::ok(call, output),
            Ok(Err(ToolError::Denied(Denied(reason)))) => {
                on_denied(&reason);
                ToolResult::error(call, reason)
            }
            Ok(Err(e)) => ToolResult::error(call, format!("`{}` failed: {e}", call.name)),
            Err(_) => ToolResult::error(
                call,
                format!("`{}` timed out after {} ms and was stopped; try simpler arguments", call.name, limit.as_millis()),
            ),
        }
    }

    fn validate(&self, entry: &Entry, arguments: &Value) -> Result<(), String> {
        let schema = || serde_json::to_string(&entry.spec.parameters).unwrap_or_default();
        if let Value::String(raw) = arguments {
            return Err(format!(
                "the arguments for `{}` are not valid JSON: `{raw}`; send a JSON object matching this schema: {}",
                entry.spec.name,
                schema()
            ));
        }
        let problems: Vec<String> = entry
            .validator
            .iter_errors(arguments)
            .map(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("at {at}: {e}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the arguments for `{}` do not match its schema: {}; the schema is {}",
                entry.spec.name,
                problems.join("; "),
                schema()
            ))
        }
    }
}
