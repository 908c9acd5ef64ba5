//! ReAct over the real kernel (SQLite journal, tool registry, access manager) with scripted models:
//! each recovery path of malformed model output, and suspend / restore / budget / cancel.

use agentos_agents::{drive, ReAct};
use agentos_core::{Event, Role, StepKind, ToolSpec};
use agentos_kernel::{Agent, Budget, Capabilities, Ending, Kernel, RunSpec, Storage, Tool, ToolContext, ToolError};
use agentos_llm::Scripted;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Add;

#[async_trait]
impl Tool for Add {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "add".into(),
            description: "Adds two integers.".into(),
            parameters: json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"], "additionalProperties": false}),
        }
    }
    async fn call(&self, args: Value, _: &ToolContext) -> Result<String, ToolError> {
        Ok((args["a"].as_i64().unwrap() + args["b"].as_i64().unwrap()).to_string())
    }
}

/// A tool that never finishes within its 50 ms timeout.
struct Stuck;

#[async_trait]
impl Tool for Stuck {
    fn spec(&self) -> ToolSpec {
        ToolSpec { name: "stuck".into(), description: "Hangs.".into(), parameters: json!({"type": "object"}) }
    }
    fn timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }
    async fn call(&self, _: Value, _: &ToolContext) -> Result<String, ToolError> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok("never".into())
    }
}

struct Setup {
    kernel: Kernel,
    events: Arc<Mutex<Vec<Event>>>,
    _dir: tempfile::TempDir,
    uri: String,
}

fn setup(script: Value) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.json");
    std::fs::write(&path, script.to_string()).unwrap();
    let model = Scripted::from_file(path.to_str().unwrap()).unwrap();
    let uri = format!("scripted:{}", path.display());
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let kernel = Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap())
        .tool(Arc::new(Add))
        .tool(Arc::new(Stuck))
        .model(Arc::new(model))
        .on_event(move |e| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    Setup { kernel, events, _dir: dir, uri }
}

fn spec(s: &Setup, tools: &[&str]) -> RunSpec {
    RunSpec {
        task: "What is 2 + 3?".into(),
        strategy: "react".into(),
        model: s.uri.clone(),
        max_steps: 5,
        capabilities: Capabilities { tools: tools.iter().map(|t| t.to_string()).collect(), ..Default::default() },
        budget: Budget::default(),
        priority: 0,
        temperature: None,
        roles: Default::default(),
        actions: Default::default(),
        library: true,
        memory_scopes: Vec::new(),
        profile: None,
        working_memory: Default::default(),
        seat: None,
        team_file: None,
    }
}

async fn run(s: &Setup, spec: RunSpec) -> (Agent, Ending) {
    let agent = s.kernel.start(spec).await.unwrap();
    let ending = drive(&s.kernel, &agent, &ReAct).await.unwrap();
    (agent, ending)
}

/// The tool results the model was shown, in order.
fn observations(s: &Setup, agent: &Agent) -> Vec<String> {
    s.kernel
        .trajectory(agent.run().as_str())
        .unwrap()
        .steps
        .into_iter()
        .filter_map(|st| match st.kind {
            StepKind::Tool { result, .. } => Some(result.content),
            _ => None,
        })
        .collect()
}

/// A script where the first turn makes `call` and the second answers 5.
fn recovering_from(call: Value) -> Value {
    json!([{ "tool_calls": [call] }, { "content": "5" }])
}

#[tokio::test]
async fn solves_a_multi_step_task_and_journals_every_step() {
    let s = setup(json!([
        { "content": "I will add.", "tool_calls": [{ "name": "add", "arguments": { "a": 2, "b": 3 } }] },
        { "content": "The answer is 5." }
    ]));
    let (agent, ending) = run(&s, spec(&s, &["add"])).await;
    assert_eq!(ending, Ending::Finished("The answer is 5.".into()));
    let t = s.kernel.trajectory(agent.run().as_str()).unwrap();
    assert_eq!(t.status, "finished");
    assert_eq!(t.steps.iter().map(|st| st.kind.name()).collect::<Vec<_>>(), ["model", "tool", "model"]);
    assert_eq!(t.steps.iter().map(|st| st.seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(observations(&s, &agent), ["5"]);
    // The second model call saw the tool result as a tool message answering the call.
    let StepKind::Model { request, .. } = &t.steps[2].kind else { panic!() };
    let last = request.messages.last().unwrap();
    assert_eq!((last.role, last.content().as_str(), last.tool_call_id.as_deref()), (Role::Tool, "5", Some("call_0_0")));
    assert_eq!(t.usage.model_calls, 2);
}

#[tokio::test]
async fn a_native_reply_with_an_answer_label_ends_with_the_answer_alone() {
    let s = setup(json!([
        { "tool_calls": [{ "name": "add", "arguments": { "a": 2, "b": 2 } }] },
        { "content": "The tool says 4.\nAnswer: 4" }
    ]));
    let (_, ending) = run(&s, spec(&s, &["add"])).await;
    assert_eq!(ending, Ending::Finished("4".into()));
}

#[tokio::test]
async fn invalid_json_arguments_become_an_observation() {
    let s = setup(recovering_from(json!({ "name": "add", "arguments": "{a: 2, b: 3" })));
    let (agent, ending) = run(&s, spec(&s, &["add"])).await;
    assert_eq!(ending, Ending::Finished("5".into()));
    let seen = observations(&s, &agent);
    assert!(seen[0].contains("not valid JSON") && seen[0].contains("\"a\""), "{seen:?}");
}

#[tokio::test]
async fn an_unknown_tool_becomes_an_observation() {
    let s = setup(recovering_from(json!({ "name": "multiply", "arguments": { "a": 2 } })));
    let (agent, ending) = run(&s, spec(&s, &["add"])).await;
    assert_eq!(ending, Ending::Finished("5".into()));
    assert_eq!(observations(&s, &agent), ["unknown tool `multiply`; the tools you can call are: add"]);
}

#[tokio::test]
async fn a_schema_violation_becomes_an_observation() {
    let s = setup(recovering_from(json!({ "name": "add", "arguments": { "a": "two", "b": 3 } })));
    let (agent, ending) = run(&s, spec(&s, &["add"])).await;
    assert_eq!(ending, Ending::Finished("5".into()));
    let seen = observations(&s, &agent);
    assert!(seen[0].contains("do not match its schema") && seen[0].contains("/a"), "{seen:?}");
}

#[tokio::test]
async fn a_tool_timeout_becomes_an_observation() {
    let s = setup(recovering_from(json!({ "name": "stuck", "arguments": {} })));
    let started = std::time::Instant::now();
    let (agent, ending) = run(&s, spec(&s, &["stuck"])).await;
    assert_eq!(ending, Ending::Finished("5".into()));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(observations(&s, &agent), ["`stuck` timed out after 50 ms and was stopped; try simpler arguments"]);
}

#[tokio::test]
async fn a_denied_capability_becomes_an_observation_and_is_recorded() {
    let s = setup(recovering_from(json!({ "name": "add", "arguments": { "a": 2, "b": 3 } })));
    let (agent, ending) = run(&s, spec(&s, &["stuck"])).await;
    assert_eq!(ending, Ending::Finished("5".into()));
    let seen = observations(&s, &agent);
    assert!(seen[0].starts_with("permission denied") && seen[0].contains("--tools add"), "{seen:?}");
    let events = s.kernel.storage().events(agent.run()).unwrap();
    assert!(events.iter().any(|(kind, payload)| kind == "denied" && payload["call"]["name"] == "add"), "{events:?}");
    assert!(s.events.lock().unwrap().iter().any(|e| matches!(e, Event::Denied { .. })));
}

#[tokio::test]
async fn parallel_calls_of_one_turn_all_run_in_order() {
    let s = setup(json!([
        { "tool_calls": [{ "name": "add", "arguments": { "a": 1, "b": 1 } }, { "name": "add", "arguments": { "a": 2, "b": 2 } }, { "name": "stuck", "arguments": {} }] },
        { "content": "done" }
    ]));
    let (agent, _) = run(&s, spec(&s, &["add", "stuck"])).await;
    let seen = observations(&s, &agent);
    assert_eq!(&seen[..2], ["2", "4"]);
    assert!(seen[2].contains("timed out"));
}

#[tokio::test]
async fn the_text_protocol_recovers_from_a_reply_with_no_action() {
    let s = setup(json!({ "native_tools": false, "responses": [
        { "content": "Hmm, let me think about it." },
        { "content": "Thought: add them\nAction: add\nAction Input: {\"a\": 2, \"b\": 3}" },
        { "content": "Thought: I know it\nFinal Answer: 5" }
    ]}));
    let (agent, ending) = run(&s, spec(&s, &["add"])).await;
    assert_eq!(ending, Ending::Finished("5".into()));
    let t = s.kernel.trajectory(agent.run().as_str()).unwrap();
    let StepKind::Model { request, .. } = &t.steps.last().unwrap().kind else { panic!() };
    let texts: Vec<String> = request.messages.iter().map(|m| m.content()).collect();
    assert!(texts[0].contains("Action Input:") && texts[0].contains("add: Adds two integers."));
    assert!(texts.iter().any(|m| m.starts_with("Observation: Invalid reply: your reply has neither")), "{texts:?}");
    assert!(texts.iter().any(|m| m == "Observation: 5"), "{texts:?}");
    assert!(request.tools.is_empty(), "the text protocol must not send native tool specs");
}

#[tokio::test]
async fn the_step_limit_fails_the_run_with_a_clear_error() {
    let call = json!({ "tool_calls": [{ "name": "add", "arguments": { "a": 1, "b": 1 } }] });
    let s = setup(json!([call, call, call]));
    let mut spec = spec(&s, &["add"]);
    spec.max_steps = 2;
    let (agent, ending) = run(&s, spec).await;
    assert_eq!(ending, Ending::Failed("no final answer within 2 steps; raise --max-steps or make the task smaller".into()));
    assert_eq!(s.kernel.storage().run(agent.run().as_str()).unwrap().status, "failed");
}

#[tokio::test]
async fn a_budget_stops_the_run() {
    let s = setup(recovering_from(json!({ "name": "add", "arguments": { "a": 2, "b": 3 } })));
    let mut spec = spec(&s, &["add"]);
    spec.budget.max_model_calls = Some(1);
    let (_, ending) = run(&s, spec).await;
    let Ending::Failed(error) = ending else { panic!("{ending:?}") };
    assert!(error.contains("exhausted its budget of 1 model calls"), "{error}");
}

#[tokio::test]
async fn a_suspended_run_is_restored_from_its_snapshot_without_repeating_a_step() {
    let s = setup(json!([
        { "tool_calls": [{ "name": "add", "arguments": { "a": 2, "b": 3 } }] },
        { "tool_calls": [{ "name": "add", "arguments": { "a": 5, "b": 5 } }], "delay_ms": 200 },
        { "content": "10" }
    ]));
    let agent = s.kernel.start(spec(&s, &["add"])).await.unwrap();
    let run_id = agent.run().clone();
    let kernel = s.kernel.clone();
    let watcher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(kernel.suspend(&run_id));
    });
    assert_eq!(drive(&s.kernel, &agent, &ReAct).await.unwrap(), Ending::Suspended);
    watcher.await.unwrap();
    let snapshot = s.kernel.snapshot(agent.run().as_str()).unwrap();
    assert_eq!(snapshot.record.status, "suspended");
    let recorded = snapshot.steps.len();
    assert_eq!(recorded, 3, "model, tool, and the model call in flight when suspended");

    s.events.lock().unwrap().clear();
    let restored = s.kernel.restore(snapshot).await.unwrap();
    assert_eq!(drive(&s.kernel, &restored, &ReAct).await.unwrap(), Ending::Finished("10".into()));
    let replayed = s.events.lock().unwrap().iter().filter(|e| matches!(e, Event::Step { replayed: true, .. })).count();
    assert_eq!(replayed, recorded);
    let t = s.kernel.trajectory(agent.run().as_str()).unwrap();
    assert_eq!(t.steps.iter().map(|st| st.seq).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(t.usage.model_calls, 3);
    assert!(s.kernel.restore(s.kernel.snapshot(agent.run().as_str()).unwrap()).await.is_err(), "a finished run cannot be restored");
}

#[tokio::test]
async fn a_cancelled_run_abandons_its_model_call() {
    let s = setup(json!([{ "content": "late", "delay_ms": 10000 }]));
    let agent = s.kernel.start(spec(&s, &["add"])).await.unwrap();
    let (kernel, run_id) = (s.kernel.clone(), agent.run().clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        kernel.cancel(&run_id);
    });
    let ending = tokio::time::timeout(Duration::from_secs(5), drive(&s.kernel, &agent, &ReAct)).await.unwrap().unwrap();
    assert_eq!(ending, Ending::Cancelled);
    assert!(s.kernel.trajectory(agent.run().as_str()).unwrap().steps.is_empty());
}
