//! HiAgent over the real kernel, SQLite and sentence encoder, with a scripted model that answers
//! by what it was last shown: a finished subgoal's steps leave the context for a one-line note,
//! are kept in the run's working memory (journaled), come back through `recall`, and every step
//! stays in the journal.

use agentos_agents::{drive, HiAgent};
use agentos_core::{MemoryOp, Role, StepKind, ToolSpec};
use agentos_kernel::{Capabilities, Ending, Kernel, RunSpec, Storage, Tool, ToolContext, ToolError};
use agentos_memory::SentenceEncoder;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

/// `add(a, b)`: says `sum is <a+b>`.
struct Add;

#[async_trait]
impl Tool for Add {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "add".into(),
            description: "Adds two numbers.".into(),
            parameters: json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
        }
    }
    async fn call(&self, args: Value, _: &ToolContext) -> Result<String, ToolError> {
        Ok(format!("sum is {}", args["a"].as_f64().unwrap_or(0.0) + args["b"].as_f64().unwrap_or(0.0)))
    }
}

#[tokio::test]
async fn a_finished_subgoal_leaves_the_context_for_a_note_and_comes_back_through_recall() {
    let dir = tempfile::tempdir().unwrap();
    let encoder = SentenceEncoder::load(&agentos_models::encoder_model().expect("the sentence encoder is pulled")).unwrap();
    let kernel = Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap())
        .tool(Arc::new(Add))
        .encoder(Arc::new(encoder))
        .build()
        .unwrap();
    // The first response whose condition holds answers, so the recall's result (which shows the
    // folded steps, `sum is 5` among them) is matched before the bare `sum is 5`.
    let script = json!({ "native_tools": true, "responses": [
        { "when": "Outcome: the sum is 5, met.", "content": "Done: doubled, 10, met.\nAnswer: 10" },
        { "when": "then double it", "content": "Subgoal: add 2 and 3", "tool_calls": [{ "name": "add", "arguments": { "a": 2, "b": 3 } }] },
        { "when": "sum is 5", "content": "Done: the sum is 5, met.\nSubgoal: double 5", "tool_calls": [{ "name": "add", "arguments": { "a": 5, "b": 5 } }] },
        { "when": "sum is 10", "content": "Subgoal: check the first sum", "tool_calls": [{ "name": "recall", "arguments": { "query": "add 2 and 3" } }] },
        { "content": "lost" }
    ]});
    let path = dir.path().join("model.json");
    std::fs::write(&path, script.to_string()).unwrap();
    let spec = RunSpec {
        max_steps: 6,
        capabilities: Capabilities { tools: ["add".to_string()].into(), ..Default::default() },
        ..RunSpec::new("Add 2 and 3, then double it.", "hiagent", format!("scripted:{}", path.display()))
    };
    let agent = kernel.start(spec).await.unwrap();
    let ending = drive(&kernel, &agent, &HiAgent).await.unwrap();
    assert_eq!(ending, Ending::Finished("10".into()));

    let steps = kernel.trajectory(agent.run().as_str()).unwrap().steps;
    let kinds: Vec<&str> = steps.iter().map(|s| s.kind.name()).collect();
    assert_eq!(kinds, ["model", "tool", "model", "memory", "tool", "model", "memory", "model", "memory"], "the journal keeps every step");
    let requests: Vec<_> =
        steps.iter().filter_map(|s| if let StepKind::Model { request, .. } = &s.kind { Some(request) } else { None }).collect();
    // The third request: the first subgoal's call and result are gone, a note stands for them.
    let third = &requests[2].messages;
    assert!(!third.iter().any(|m| m.role == Role::Tool && m.content().contains("sum is 5")), "{third:#?}");
    let StepKind::Memory { result: agentos_core::MemoryResult::Item { item }, op: MemoryOp::Remember { text, .. } } = &steps[3].kind else {
        panic!("the fold keeps the steps: {:?}", steps[3].kind)
    };
    assert!(
        text.starts_with("Subgoal: add 2 and 3\nOutcome: the sum is 5, met.") && text.contains("call add({\"a\":2,\"b\":3})"),
        "{text}"
    );
    let note = format!("Finished subgoal: add 2 and 3. Outcome: the sum is 5, met. (its steps are kept as {}.)", item.id);
    assert!(third.iter().any(|m| m.role == Role::User && m.content() == note), "{third:#?}");
    assert!(requests[2].messages.len() < requests[1].messages.len() + 2, "the context shrank where a subgoal ended");
    // The recall brought the folded steps back.
    let StepKind::Memory { result: agentos_core::MemoryResult::Recalled { items }, .. } = &steps[6].kind else {
        panic!("{:?}", steps[6].kind)
    };
    assert_eq!(items[0].item.id, item.id);
}
