//! The strategies' control flow over the real kernel (SQLite journal, tool registry, roles) with
//! scripted models: chain of thought's answer, self-consistency's vote, the iterations of GIoT and
//! AIoT on one or two models, the order in which ToolChain* expands, and resume by replay.

mod common;

use agentos_agents::{drive, strategy, Strategy, INNER_ROLE};
use agentos_core::{ChatRequest, ChatResponse, Event, Role, StepKind, Trajectory};
use agentos_kernel::{Agent, Capabilities, Ending, Kernel, RunSpec, Storage};
use agentos_llm::{EventSink, LanguageModel, LlmError, ModelCapabilities, Scripted};
use async_trait::async_trait;
use common::Go;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A scripted model that counts its calls and, from call number `hang_from` on, never answers:
/// a process killed in the middle of a model call.
struct Counted {
    script: Scripted,
    calls: AtomicUsize,
    hang_from: AtomicUsize,
}

impl Counted {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl LanguageModel for Counted {
    fn uri(&self) -> &str {
        self.script.uri()
    }
    fn capabilities(&self) -> ModelCapabilities {
        self.script.capabilities()
    }
    async fn chat(&self, request: &ChatRequest, on_event: EventSink<'_>) -> Result<ChatResponse, LlmError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.hang_from.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.script.chat(request, on_event).await
    }
}

struct Setup {
    kernel: Kernel,
    models: Vec<Arc<Counted>>,
    moves: Arc<AtomicUsize>,
    replayed: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

/// A kernel over a fresh database with the `go` tool and one scripted model per script.
fn setup(scripts: &[Value]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let replayed = Arc::new(AtomicUsize::new(0));
    let moves = Arc::new(AtomicUsize::new(0));
    let seen = replayed.clone();
    let mut builder =
        Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap()).tool(Arc::new(Go(moves.clone()))).on_event(move |e| {
            if matches!(e, Event::Step { replayed: true, .. }) {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
    let mut models = Vec::new();
    for (i, script) in scripts.iter().enumerate() {
        let path = dir.path().join(format!("model{i}.json"));
        std::fs::write(&path, script.to_string()).unwrap();
        let script = Scripted::from_file(path.to_str().unwrap()).unwrap();
        let model = Arc::new(Counted { script, calls: AtomicUsize::new(0), hang_from: AtomicUsize::new(usize::MAX) });
        builder = builder.model(model.clone());
        models.push(model);
    }
    Setup { kernel: builder.build().unwrap(), models, moves, replayed, _dir: dir }
}

impl Setup {
    fn uri(&self, model: usize) -> String {
        self.models[model].uri().to_string()
    }

    /// A run of `strategy` on model 0, the `go` tool granted.
    fn spec(&self, strategy: &str, task: &str) -> RunSpec {
        RunSpec {
            task: task.into(),
            strategy: strategy.into(),
            model: self.uri(0),
            max_steps: 5,
            capabilities: Capabilities { tools: ["go".to_string()].into(), ..Default::default() },
            budget: Default::default(),
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

    async fn run(&self, spec: RunSpec) -> (Agent, Ending) {
        let strategy = strategy(&spec.strategy).unwrap();
        let agent = self.kernel.start(spec).await.unwrap();
        let ending = drive(&self.kernel, &agent, strategy.as_ref()).await.unwrap();
        (agent, ending)
    }

    fn trajectory(&self, agent: &Agent) -> Trajectory {
        self.kernel.trajectory(agent.run().as_str()).unwrap()
    }
}

/// The model steps of a trajectory: (request, response).
fn model_steps(t: &Trajectory) -> Vec<(&ChatRequest, &ChatResponse)> {
    t.steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Model { request, response } => Some((request, response)),
            _ => None,
        })
        .collect()
}

/// The text of a request's last message.
fn last(request: &ChatRequest) -> String {
    request.messages.last().unwrap().content()
}

#[tokio::test]
async fn chain_of_thought_answers_with_its_answer_line_or_its_last_line() {
    let s = setup(&[json!([{ "content": "3 apples and 4 apples.\nThat makes 7.\nAnswer: 7\nHope that helps!" }])]);
    let (agent, ending) = s.run(s.spec("cot", "How many apples?")).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    let t = s.trajectory(&agent);
    let steps = model_steps(&t);
    assert_eq!(steps.len(), 1);
    let system = steps[0].0.messages[0].content();
    assert!(system.contains("step by step") && system.contains("`Answer: <answer>`"), "{system}");

    let s = setup(&[json!([{ "content": "Let me see.\n\nIt is 12.\n" }])]);
    assert_eq!(s.run(s.spec("cot", "How many?")).await.1, Ending::Finished("It is 12.".into()));
}

/// A self-consistency script: sample `i` (seed `i`) answers `answers[i]`.
fn samples(answers: &[&str]) -> Value {
    let responses: Vec<Value> =
        answers.iter().enumerate().map(|(i, a)| json!({ "seed": i, "content": format!("Reasoning {i}.\nAnswer: {a}") })).collect();
    json!(responses)
}

#[tokio::test]
async fn self_consistency_votes_over_distinct_samples() {
    let s = setup(&[samples(&["7", "8", "7.0", "8", "7"])]);
    let (agent, ending) = s.run(s.spec("sc", "What is 3 + 4?")).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    let t = s.trajectory(&agent);
    let sampling: Vec<_> = model_steps(&t).iter().map(|(request, _)| (request.sampling.seed, request.sampling.temperature)).collect();
    assert_eq!(sampling, (0..5).map(|i| (Some(i), Some(0.7))).collect::<Vec<_>>(), "five calls, each with a seed of its own");
    assert_eq!(t.usage.model_calls, 5);

    // A tie goes to the answer that came first; the run's temperature is kept when above zero.
    let s = setup(&[samples(&["8", "7", "7.0", "8.", "x"])]);
    let mut spec = s.spec("sc:4", "What is 3 + 4?");
    spec.temperature = Some(0.3);
    let (agent, ending) = s.run(spec).await;
    assert_eq!(ending, Ending::Finished("8".into()));
    let t = s.trajectory(&agent);
    assert!(model_steps(&t).iter().all(|(r, _)| r.sampling.temperature == Some(0.3)));
    assert_eq!(t.usage.model_calls, 4);
}

/// The LLMA's answers, by turn.
fn llma(responses: &[&str]) -> Value {
    json!(responses.iter().map(|r| json!({ "content": r })).collect::<Vec<_>>())
}

#[tokio::test]
async fn guided_iteration_runs_exactly_its_iterations_with_the_inner_dialogue_on_its_own_model() {
    let s = setup(&[
        llma(&["Answer: 1", "Answer: 2", "Answer: 3\nIteration stop: yes", "Answer: 4"]),
        json!([{ "content": "Inner prompt 1" }, { "content": "Inner prompt 2" }, { "content": "Inner prompt 3" }, { "content": "Inner prompt 4" }]),
    ]);
    let mut spec = s.spec("giot", "Think hard.");
    spec.roles.insert(INNER_ROLE.into(), s.uri(1));
    let (agent, ending) = s.run(spec).await;
    assert_eq!(ending, Ending::Finished("3".into()), "GIoT ignores a stop from the LLMA");
    assert_eq!((s.models[0].calls(), s.models[1].calls()), (3, 3));
    let t = s.trajectory(&agent);
    let steps = model_steps(&t);
    let answered_by: Vec<&str> = steps.iter().map(|(_, response)| response.model.as_str()).collect();
    let (outer, inner) = (s.uri(0), s.uri(1));
    assert_eq!(answered_by, [&inner, &outer, &inner, &outer, &inner, &outer]);
    // The LLMA is guided by the inner model's prompts, and the IDA is shown the LLMA's responses.
    let (final_llma, _) = steps[5];
    let guidance: Vec<String> = final_llma.messages.iter().filter(|m| m.role == Role::User).map(|m| m.content()).collect();
    assert!(guidance[0].starts_with("Query:\nThink hard.") && guidance[0].ends_with("Guidance:\nInner prompt 1"), "{guidance:?}");
    assert_eq!(guidance[1..], ["Guidance:\nInner prompt 2", "Guidance:\nInner prompt 3"]);
    assert_eq!(last(steps[4].0), "Current response:\nAnswer: 2");
    assert!(!final_llma.messages[0].content().contains("Iteration stop"), "GIoT does not ask the LLMA to stop");

    let s = setup(&[llma(&["Answer: 1", "Answer: 2", "Answer: 3"])]);
    let (_, ending) = s.run(s.spec("giot:2", "Think.")).await;
    assert_eq!((ending, s.models[0].calls()), (Ending::Finished("2".into()), 4));
}

/// One scripted model that is both the IDA and the LLMA, told apart by their prompts.
fn one_model_for_both(llma_responses: &[&str]) -> Value {
    let mut responses = vec![json!({ "when": "Current response:", "content": "Check the carry." })];
    responses.extend(llma_responses.iter().map(|r| json!({ "content": r })));
    json!(responses)
}

#[tokio::test]
async fn autonomous_iteration_stops_when_the_llma_says_so_and_at_its_cap() {
    let s = setup(&[one_model_for_both(&["Answer: 5\nIteration stop: no", "Answer: 6\n**Iteration stop:** yes", "Answer: 7"])]);
    let (agent, ending) = s.run(s.spec("aiot", "What is 2 + 4?")).await;
    assert_eq!(ending, Ending::Finished("6".into()));
    let t = s.trajectory(&agent);
    let steps = model_steps(&t);
    assert_eq!(steps.len(), 4, "two iterations of IDA and LLMA");
    assert!(steps[1].0.messages[0].content().contains("`Iteration stop: yes`"));
    assert_eq!(steps.iter().map(|(_, r)| r.message.content()).filter(|c| c == "Check the carry.").count(), 2);

    // Without a stop, the run's max_steps caps the iterations, and the last answer counts.
    let s = setup(&[one_model_for_both(&["Answer: 5\nIteration stop: no", "Answer: 6", "Answer: 7\nIteration stop: maybe", "Answer: 8"])]);
    let mut spec = s.spec("aiot", "What is 2 + 4?");
    spec.max_steps = 3;
    let (_, ending) = s.run(spec).await;
    assert_eq!((ending, s.models[0].calls()), (Ending::Finished("7".into()), 6));
}

/// The evaluator's verdict on the step whose latest result is `latest`.
fn judged(latest: &str, cost: u32, remaining: u32) -> Value {
    json!({ "when": format!("Latest result: {latest}"), "content": format!("Step cost: {cost}\nRemaining steps: {remaining}") })
}

fn go(to: &str) -> Value {
    json!([{ "name": "go", "arguments": { "to": to } }])
}

/// The treasure hunt: a search whose cheap-looking first branch turns out dear.
fn treasure_hunt() -> Value {
    json!([
        judged("arrived at A", 0, 1),
        judged("arrived at B", 0, 3),
        judged("arrived at C", 0, 1),
        judged("arrived at E", 1, 5),
        judged("arrived at D", 0, 0),
        judged("the final answer", 0, 0),
        { "when": "Find the treasure", "seed": 0, "tool_calls": go("A") },
        { "when": "Find the treasure", "seed": 1, "tool_calls": go("B") },
        { "when": "arrived at A", "tool_calls": go("C") },
        { "when": "arrived at C", "tool_calls": go("E") },
        { "when": "arrived at B", "tool_calls": go("D") },
        { "when": "arrived at D", "content": "The treasure is here.\nAnswer: D" },
    ])
}

#[tokio::test]
async fn toolchain_expands_the_least_cost_plus_heuristic_first() {
    // Root → A (f = 1 + 0 + 1 = 2) and B (f = 1 + 0 + 3 = 4). A → C (f = 2 + 0 + 1 = 3), deeper
    // but cheaper than B, so it is expanded before B. C → E (f = 2 + 2 + 5 = 9), now dearer than B,
    // so the search goes back to B. B → D (f = 2 + 0 + 0 = 2), which answers.
    let s = setup(&[treasure_hunt()]);
    let (agent, ending) = s.run(s.spec("toolchain", "Find the treasure.")).await;
    assert_eq!(ending, Ending::Finished("D".into()));
    let t = s.trajectory(&agent);
    let calls: Vec<String> = t
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Tool { call, .. } => Some(call.arguments["to"].as_str().unwrap().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(calls, ["A", "B", "C", "E", "D"]);
    // The nodes expanded, in order, by the last message the proposals saw.
    let expanded: Vec<String> = model_steps(&t).iter().filter(|(r, _)| !r.tools.is_empty()).map(|(r, _)| last(r)).collect();
    let mut distinct = expanded.clone();
    distinct.dedup();
    assert_eq!(distinct, ["Find the treasure.", "arrived at A", "arrived at C", "arrived at B", "arrived at D"]);
    assert_eq!(expanded.len(), 10, "two sampled proposals per expansion");
    // The evaluator saw the whole path of the node it judged.
    let judged_e = model_steps(&t).into_iter().map(|(r, _)| last(r)).find(|m| m.contains("Latest result: arrived at E")).unwrap();
    assert!(judged_e.contains("1. go({\"to\":\"A\"}) returned: arrived at A\n2. go({\"to\":\"C\"})"), "{judged_e}");
}

#[tokio::test]
async fn toolchain_speaks_the_text_protocol_and_stops_at_its_expansion_budget() {
    let s = setup(&[json!({ "native_tools": false, "responses": [
        { "when": "Latest result:", "content": "Step cost: 0\nRemaining steps: 0" },
        { "content": "Thought: go\nAction: go\nAction Input: {\"to\": \"A\"}" },
        { "content": "Thought: I know it\nFinal Answer: at A" },
    ]})]);
    let (agent, ending) = s.run(s.spec("toolchain:1", "Where?")).await;
    assert_eq!(ending, Ending::Finished("at A".into()));
    let t = s.trajectory(&agent);
    let steps = model_steps(&t);
    assert!(steps.iter().all(|(r, _)| r.tools.is_empty()));
    assert_eq!(last(steps[2].0), "Observation: arrived at A");

    let wander = json!({ "when": "", "tool_calls": go("nowhere") });
    let s = setup(&[json!([judged("arrived", 0, 1), wander])]);
    let mut spec = s.spec("toolchain", "Where?");
    spec.max_steps = 3;
    let (agent, ending) = s.run(spec).await;
    assert_eq!(ending, Ending::Failed("no final answer within 3 steps; raise --max-steps or make the task smaller".into()));
    let tools = s.trajectory(&agent).steps.iter().filter(|st| st.kind.name() == "tool").count();
    assert_eq!(tools, 3, "identical proposals are merged: one child per expansion");
}

/// Kills a run of `strategy` while model call number `alive` (from 0) of `model` is in flight,
/// restores it, and returns the resumed run's ending and the model calls the resume made.
async fn kill_and_resume(s: &Setup, spec: RunSpec, model: usize, alive: usize) -> (Ending, usize, Agent) {
    let strategy: Box<dyn Strategy> = strategy(&spec.strategy).unwrap();
    s.models[model].hang_from.store(alive, Ordering::SeqCst);
    let agent = s.kernel.start(spec).await.unwrap();
    let killed = tokio::time::timeout(Duration::from_secs(2), drive(&s.kernel, &agent, strategy.as_ref())).await;
    assert!(killed.is_err(), "the run hangs in its model call");
    s.models[model].hang_from.store(usize::MAX, Ordering::SeqCst);
    let before: usize = s.models.iter().map(|m| m.calls()).sum();
    let snapshot = s.kernel.snapshot(agent.run().as_str()).unwrap();
    assert_eq!(snapshot.record.status, "running");
    let restored = s.kernel.restore(snapshot).await.unwrap();
    let ending = drive(&s.kernel, &restored, strategy.as_ref()).await.unwrap();
    let after: usize = s.models.iter().map(|m| m.calls()).sum();
    // The hung calls were counted but never answered.
    (ending, after - before, agent)
}

#[tokio::test]
async fn a_killed_self_consistency_run_resumes_without_repeating_a_model_call() {
    let s = setup(&[samples(&["7", "8", "7.0", "8", "7"])]);
    let (ending, live, agent) = kill_and_resume(&s, s.spec("sc", "What is 3 + 4?"), 0, 3).await;
    assert_eq!(ending, Ending::Finished("7".into()));
    assert_eq!(live, 2, "only the two samples in flight when killed are asked again");
    assert_eq!(s.replayed.load(Ordering::SeqCst), 3);
    let t = s.trajectory(&agent);
    assert_eq!((t.status.as_str(), t.usage.model_calls), ("finished", 5));
    let mut seeds: Vec<u64> = model_steps(&t).iter().map(|(r, _)| r.sampling.seed.unwrap()).collect();
    seeds.sort();
    assert_eq!(seeds, [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn a_killed_guided_iteration_resumes_on_both_models_without_repeating_a_call() {
    let s = setup(&[llma(&["Answer: 1", "Answer: 2", "Answer: 3"]), llma(&["Prompt 1", "Prompt 2", "Prompt 3"])]);
    let mut spec = s.spec("giot", "Think.");
    spec.roles.insert(INNER_ROLE.into(), s.uri(1));
    // Killed during the second LLMA call: IDA, LLMA and IDA are journaled.
    let (ending, live, agent) = kill_and_resume(&s, spec, 0, 1).await;
    assert_eq!(ending, Ending::Finished("3".into()));
    assert_eq!(live, 3, "the second LLMA call, the third IDA call and the third LLMA call");
    assert_eq!(s.replayed.load(Ordering::SeqCst), 3);
    let t = s.trajectory(&agent);
    assert_eq!(t.steps.iter().map(|st| st.seq).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
    let usage = s.kernel.storage().usage(agent.run()).unwrap();
    assert_eq!(usage.model_calls, 6);
}

#[tokio::test]
async fn a_toolchain_run_killed_after_its_last_step_replays_without_calling_anything() {
    let s = setup(&[treasure_hunt()]);
    let spec = s.spec("toolchain", "Find the treasure.");
    let toolchain = strategy(&spec.strategy).unwrap();
    // The search runs to its answer, but the process dies before the run's ending is recorded.
    let agent = s.kernel.start(spec).await.unwrap();
    assert_eq!(toolchain.run(&agent).await.unwrap(), "D");
    let (calls, moves) = (s.models[0].calls(), s.moves.load(Ordering::SeqCst));
    let recorded = s.kernel.snapshot(agent.run().as_str()).unwrap().steps.len();

    let restored = s.kernel.restore(s.kernel.snapshot(agent.run().as_str()).unwrap()).await.unwrap();
    assert_eq!(drive(&s.kernel, &restored, toolchain.as_ref()).await.unwrap(), Ending::Finished("D".into()));
    assert_eq!((s.models[0].calls(), s.moves.load(Ordering::SeqCst)), (calls, moves), "no model or tool call ran again");
    assert_eq!(s.replayed.load(Ordering::SeqCst), recorded);
    assert_eq!(s.trajectory(&agent).steps.len(), recorded);
}
