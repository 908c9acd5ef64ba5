//! What the sandbox tests share: a config in a temporary directory, and a tool handler.

#![allow(dead_code)] // each test file uses part of it

use std::path::Path;
use std::time::Duration;

use agentos_core::ToolSpec;
use agentos_sandbox::{SandboxConfig, ToolHandler};
use async_trait::async_trait;
use serde_json::{json, Value};

/// A sandbox config working in `root/work`, with a 10 s timeout (every test that wants a loop to
/// be stopped sets its own, shorter one).
pub fn config(root: &Path) -> SandboxConfig {
    let mut config = SandboxConfig::new(root.join("work"));
    config.limits.timeout = Duration::from_secs(10);
    config
}

/// The spec of `add(a, b)`.
pub fn add_spec() -> ToolSpec {
    ToolSpec {
        name: "add".into(),
        description: "Adds two integers.".into(),
        parameters: json!({
            "type": "object",
            "properties": {"a": {"type": "integer", "description": "first"}, "b": {"type": "integer", "description": "second"}},
            "required": ["a", "b"]
        }),
    }
}

/// A host tool `add(a, b)` that refuses anything but integers.
pub struct Adder;

#[async_trait]
impl ToolHandler for Adder {
    async fn call(&self, name: &str, arguments: Value) -> Result<String, String> {
        if name != "add" {
            return Err(format!("unknown tool {name}"));
        }
        match (arguments["a"].as_i64(), arguments["b"].as_i64()) {
            (Some(a), Some(b)) => Ok((a + b).to_string()),
            _ => Err(format!("add needs integers a and b, got {arguments}")),
        }
    }
}
