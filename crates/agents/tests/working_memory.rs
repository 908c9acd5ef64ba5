//! ReAct's working-memory policies over the real kernel and SQLite, with scripted models that
//! answer by what they were last shown. HiAgent (`--memory hiagent`, with the real sentence
//! encoder): a finished subgoal's steps leave the context for a one-line note, are kept in the
//! run's working memory (journaled), and come back through `recall`. Chain of Summarization
//! (`--memory summary`): a long observation is shown as its summary, and older steps give way to
//! notes. Either way every step stays in the journal.

use agentos_agents::{drive, ReAct};
use agentos_core::{MemoryOp, Role, StepKind, ToolSpec};
use agentos_kernel::{Capabilities, Ending, Kernel, RunSpec, Storage, Tool, ToolContext, ToolError, WorkingMemory};
use agentos_memory::SentenceEncoder;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

/// `report()`: a long report whose one useful fact is at its end.
struct Report;

#[async_trait]
impl Tool for Report {
    fn spec(&self) -> ToolSpec {
        ToolSpec { name: "report".into(), description: "Reads the report.".into(), parameters: json!({"type": "object", "properties": {}}) }
    }
    async fn call(&self, _: Value, _: &ToolContext) -> Result<String, ToolError> {
        Ok(format!("report: {} total 42", "filler ".repeat(200)))
    }
}

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
        working_memory: WorkingMemory::HiAgent,
        ..RunSpec::new("Add 2 and 3, then double it.", "react", format!("scripted:{}", path.display()))
    };
    let agent = kernel.start(spec).await.unwrap();
    let ending = drive(&kernel, &agent, &ReAct).await.unwrap();
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

#[tokio::test]
async fn summary_shows_a_long_observation_as_its_summary_and_older_steps_as_notes() {
    let dir = tempfile::tempdir().unwrap();
    let kernel =
        Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap()).tool(Arc::new(Add)).tool(Arc::new(Report)).build().unwrap();
    let add = |a: u32, b: u32| json!([{ "name": "add", "arguments": { "a": a, "b": b } }]);
    // The summaries' requests come first: they show earlier steps, which later conditions match.
    let script = json!({ "native_tools": true, "responses": [
        { "when": "Latest steps:", "content": "Sums 3, 5 and 7 found; the report's total is 42. Left: add 2 more." },
        { "when": "Observation:\n", "content": "The report's total is 42." },
        { "when": "sum is 9", "content": "Answer: 9" },
        { "when": "sum is 7", "tool_calls": add(7, 2) },
        { "when": "(summarized) The report's total is 42.", "tool_calls": add(5, 2) },
        { "when": "sum is 5", "tool_calls": [{ "name": "report", "arguments": {} }] },
        { "when": "sum is 3", "tool_calls": add(3, 2) },
        { "when": "Add 1 and 2", "tool_calls": add(1, 2) },
        { "content": "lost" }
    ]});
    let path = dir.path().join("model.json");
    std::fs::write(&path, script.to_string()).unwrap();
    let spec = RunSpec {
        max_steps: 8,
        capabilities: Capabilities { tools: ["add".to_string(), "report".to_string()].into(), ..Default::default() },
        working_memory: WorkingMemory::Summary,
        ..RunSpec::new("Add 1 and 2, add 2, read the report, then keep adding 2 until 9.", "react", format!("scripted:{}", path.display()))
    };
    let agent = kernel.start(spec).await.unwrap();
    assert_eq!(drive(&kernel, &agent, &ReAct).await.unwrap(), Ending::Finished("9".into()));

    let steps = kernel.trajectory(agent.run().as_str()).unwrap().steps;
    let requests: Vec<_> =
        steps.iter().filter_map(|s| if let StepKind::Model { request, .. } = &s.kind { Some(request) } else { None }).collect();
    assert_eq!(requests.len(), 8, "six turns of the agent, one single-frame and one multi-frame summary");
    let report = steps.iter().find_map(|s| match &s.kind {
        StepKind::Tool { result, .. } if result.content.starts_with("report:") => Some(result.content.clone()),
        _ => None,
    });
    assert!(report.is_some_and(|r| r.len() > 1000), "the journal keeps the whole observation");
    // The request after the report shows its summary, not the report.
    let after = &requests[4].messages;
    let shown = after.last().unwrap().content();
    assert_eq!((after.last().unwrap().role, shown.as_str()), (Role::Tool, "(summarized) The report's total is 42."));
    // The last request: the notes stand for the first four turns; the fifth is shown as it was.
    let last = &requests[7].messages;
    let texts: Vec<String> = last.iter().map(|m| m.content()).collect();
    assert!(texts[2].starts_with("Notes on the steps so far") && texts[2].contains("total is 42"), "{texts:#?}");
    assert!(!texts.iter().any(|t| t.contains("sum is 3") || t.contains("filler")), "{texts:#?}");
    assert_eq!(last.len(), 5, "system, task, notes, the kept turn's call and its result: {texts:#?}");
    assert_eq!(texts[4], "sum is 9");
}

#[tokio::test]
async fn a_policy_other_than_the_window_is_refused_where_it_cannot_apply() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap()).build().unwrap();
    let path = dir.path().join("model.json");
    std::fs::write(&path, json!({ "native_tools": false, "responses": [{ "content": "Final Answer: 1" }] }).to_string()).unwrap();
    let uri = format!("scripted:{}", path.display());
    let cases = [
        ("react", "--memory summary works with react on a model that calls tools natively"),
        ("cot", "the strategy `cot` cannot keep `--memory summary`; the strategies that can: react"),
    ];
    for (name, refusal) in cases {
        let spec = RunSpec { working_memory: WorkingMemory::Summary, ..RunSpec::new("What is 1?", name, uri.clone()) };
        let agent = kernel.start(spec).await.unwrap();
        let strategy = agentos_agents::strategy(name).unwrap();
        let Ending::Failed(why) = drive(&kernel, &agent, strategy.as_ref()).await.unwrap() else { panic!("{name} ran") };
        assert!(why.contains(refusal), "{why}");
    }
}
