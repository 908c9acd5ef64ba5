//! The built-in tools as the kernel runs them: registered in a `ToolRegistry`, their arguments
//! checked against their schemas, and refusals reported.

use agentos_core::{RunId, ToolCall, ToolResult};
use agentos_kernel::{Approval, Capabilities, Nobody, ToolContext, ToolRegistry};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn registry() -> ToolRegistry {
    let mut registry = ToolRegistry::new(Duration::from_secs(10));
    for tool in agentos_tools::builtin() {
        registry.register(tool).expect("every built-in schema compiles");
    }
    registry
}

fn context(dir: &Path, approval: Approval) -> ToolContext {
    let tools = agentos_tools::builtin().iter().map(|t| t.spec().name).collect();
    let capabilities = Capabilities { tools, paths: vec![dir.to_path_buf()], approval, ..Default::default() };
    ToolContext { run: RunId::new(), capabilities: Arc::new(capabilities), operator: Arc::new(Nobody) }
}

async fn execute(registry: &ToolRegistry, context: &ToolContext, name: &str, arguments: Value) -> (ToolResult, Vec<String>) {
    let denied = Mutex::new(Vec::new());
    let call = ToolCall { id: "c1".into(), name: name.into(), arguments };
    let result = registry.execute(&call, context, |reason| denied.lock().unwrap().push(reason.to_string())).await;
    (result, denied.into_inner().unwrap())
}

#[test]
fn all_tools_register_under_their_names() {
    assert_eq!(registry().names(), ["ask_user", "calculator", "current_time", "list_files", "read_file", "write_file"]);
}

#[tokio::test]
async fn calls_run_through_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, ctx) = (registry(), context(dir.path(), Approval::Never));
    let (result, _) = execute(&registry, &ctx, "calculator", json!({"expression": "8 / (3 - 8/3)"})).await;
    assert!(!result.is_error, "{}", result.content);
    assert_eq!(result.content, "24");
    let (result, _) = execute(&registry, &ctx, "write_file", json!({"path": "a/b.txt", "content": "hi"})).await;
    assert_eq!((result.is_error, result.content.as_str()), (false, "wrote 2 bytes to a/b.txt"));
    let (result, _) = execute(&registry, &ctx, "read_file", json!({"path": "a/b.txt"})).await;
    assert_eq!((result.is_error, result.content.as_str()), (false, "hi"));
    let (result, _) = execute(&registry, &ctx, "list_files", json!({})).await;
    assert_eq!((result.is_error, result.content.as_str()), (false, "1 entry in `.`:\na/"));
    let (result, _) = execute(&registry, &ctx, "current_time", json!({"timezone": "utc"})).await;
    assert!(!result.is_error && result.content.contains("UTC"), "{}", result.content);
    let (result, _) = execute(&registry, &ctx, "ask_user", json!({"question": "ok?"})).await;
    assert!(result.is_error && result.content.contains("no person is attached"), "{}", result.content);
}

#[tokio::test]
async fn schemas_are_strict() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, ctx) = (registry(), context(dir.path(), Approval::Never));
    let bad = [
        ("calculator", json!({})),
        ("calculator", json!({"expression": "1", "extra": 1})),
        ("calculator", json!({"expression": 12})),
        ("read_file", json!({"file": "a.txt"})),
        ("write_file", json!({"path": "a.txt"})),
        ("write_file", json!({"path": "a.txt", "content": "x", "append": "yes"})),
        ("list_files", json!({"path": ".", "recursive": true})),
        ("current_time", json!({"timezone": "mars"})),
        ("ask_user", json!({"question": ""})),
    ];
    for (name, arguments) in bad {
        let (result, _) = execute(&registry, &ctx, name, arguments.clone()).await;
        assert!(result.is_error, "{name} accepted {arguments}");
        assert!(result.content.contains("do not match its schema"), "{name} {arguments}: {}", result.content);
    }
    assert!(!dir.path().join("a.txt").exists());
}

#[tokio::test]
async fn refusals_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry();
    let ctx = context(dir.path(), Approval::Never);
    let (result, denied) = execute(&registry, &ctx, "read_file", json!({"path": "/etc/passwd"})).await;
    assert!(result.is_error && result.content.starts_with("permission denied"), "{}", result.content);
    assert_eq!(denied, std::slice::from_ref(&result.content));
    // write_file is risky: under `approve`, a run with nobody attached may not write.
    let ctx = context(dir.path(), Approval::Risky);
    let (result, denied) = execute(&registry, &ctx, "write_file", json!({"path": "x.txt", "content": "x"})).await;
    assert!(result.is_error && result.content.contains("no person is attached to this run to approve `write_file`"), "{}", result.content);
    assert!(!result.content.contains("refused"), "nobody refused: {}", result.content);
    assert_eq!(denied.len(), 1);
    assert!(!dir.path().join("x.txt").exists());
    // Tools that are not risky still run under `approve`.
    let (result, denied) = execute(&registry, &ctx, "calculator", json!({"expression": "2^-2"})).await;
    assert_eq!((result.content.as_str(), denied.len()), ("1/4 ≈ 0.25", 0));
}
