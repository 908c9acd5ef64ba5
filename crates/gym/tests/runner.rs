//! The benchmark runner end to end over the real kernel (SQLite journal, scheduler, tool
//! registry) with scripted models: rewards recorded per episode with their runs' usage, a
//! benchmark started again skipping what ended and resuming what did not, the summary,
//! code-acting strategies in sandboxes and work directories of their own, and feedback before
//! the answer only where the environment gives it and the benchmark asks for it, interactive
//! environments' actions, and working-memory policies as rows.

use agentos_agents::{AgentError, ReAct, Strategy};
use agentos_core::{ChatRequest, Message, StepKind};
use agentos_gym::interact::EpisodeTools;
use agentos_gym::{data_dir, environment, wilson_interval, Benchmark, GymError, Progress};
use agentos_kernel::{Agent, EpisodeRecord, Kernel, Storage, WorkingMemory};
use agentos_tools::Calculator;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, Semaphore};

struct Setup {
    kernel: Kernel,
    uri: String,
    _dir: tempfile::TempDir,
}

fn setup(script: Value) -> Setup {
    setup_with(script, None)
}

/// [`setup`], with the `check_answer` tool `checks` registered too.
fn setup_with(script: Value, checks: Option<Arc<EpisodeTools>>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.json");
    std::fs::write(&path, script.to_string()).unwrap();
    let mut kernel = Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap()).tool(Arc::new(Calculator));
    if let Some(checks) = checks {
        kernel = kernel.tool(checks);
    }
    Setup { kernel: kernel.build().unwrap(), uri: format!("scripted:{}", path.display()), _dir: dir }
}

fn env(name: &str) -> Box<dyn agentos_gym::Environment> {
    environment(name, &data_dir().unwrap()).unwrap()
}

/// A strategy that asks the model once and answers with its reply.
struct Direct;

#[async_trait]
impl Strategy for Direct {
    fn name(&self) -> &'static str {
        "direct"
    }
    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let request = ChatRequest { messages: vec![Message::user(agent.task())], ..Default::default() };
        Ok(agent.model(request).await?.message.content())
    }
}

/// Strategies under their own names, as [`Benchmark::new`] takes them.
fn named(strategies: Vec<Arc<dyn Strategy>>) -> Vec<(String, Arc<dyn Strategy>)> {
    strategies.into_iter().map(|s| (s.name().to_string(), s)).collect()
}

fn runs(s: &Setup) -> usize {
    s.kernel.storage().runs(10_000).unwrap().len()
}

#[tokio::test]
async fn game24_episodes_record_rewards_and_usage_and_a_second_start_skips_them() {
    // The same reply to every puzzle: right for rank 1 (1 1 4 6) only.
    let s = setup(json!([{ "content": "Thought about it.\nAnswer: 6 * 4 * 1 * 1 = 24" }]));
    let reports = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let sink = reports.clone();
    let strategies = named(vec![Arc::new(ReAct), Arc::new(Direct)]);
    let bench = Benchmark::new(s.kernel.clone(), env("game24"), strategies.clone(), &s.uri)
        .limit(3)
        .concurrency(4)
        .on_progress(move |p| sink.lock().unwrap().push(p.clone()));
    assert_eq!(bench.tasks().into_iter().map(|(_, id)| id).collect::<Vec<_>>(), ["1", "2", "3"]);

    let outcome = bench.run("g24").await.unwrap();
    assert_eq!((outcome.ran, outcome.skipped, outcome.unfinished, outcome.episodes.len()), (6, 0, 0, 6));
    let mut rewards: Vec<(String, String, f64)> =
        outcome.episodes.iter().map(|e| (e.strategy.clone(), e.task.clone(), e.reward.unwrap())).collect();
    rewards.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let want =
        [("direct", "1", 1.0), ("direct", "2", 0.0), ("direct", "3", 0.0), ("react", "1", 1.0), ("react", "2", 0.0), ("react", "3", 0.0)];
    assert_eq!(rewards, want.map(|(s, t, r)| (s.to_string(), t.to_string(), r)));
    for e in &outcome.episodes {
        assert_eq!(e.usage.model_calls, 1, "{e:?}");
        assert!(e.usage.input_tokens > 20 && e.usage.output_tokens == 13, "{e:?}");
        assert!(e.wall_ms.is_some());
        let run = s.kernel.storage().run(e.run.as_str()).unwrap();
        assert_eq!((run.status.as_str(), run.strategy.as_str()), ("finished", e.strategy.as_str()));
        assert!(run.task.contains("Use the numbers"), "the run's task is the observation: {}", run.task);
        let info_expression = e.info["expression"].as_str().unwrap();
        assert_eq!(info_expression, "6 * 4 * 1 * 1");
    }
    let wrong = outcome.episodes.iter().find(|e| e.task == "2").unwrap();
    assert!(wrong.info["error"].as_str().unwrap().contains("not one of the numbers 1 1 11 11"), "{}", wrong.info);
    {
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 7, "one report at the start and one per episode");
        assert_eq!((reports[0].total, reports[0].ended, reports[0].last.is_none()), (6, 0, true));
        assert_eq!((reports[6].ended, reports[6].last.is_some()), (6, true));
    }

    let summary = outcome.summary();
    assert_eq!(summary.strategies.iter().map(|r| r.strategy.as_str()).collect::<Vec<_>>(), ["react", "direct"]);
    let react = &summary.strategies[0];
    assert_eq!((react.episodes, react.successes, react.mean_model_calls, react.mean_output_tokens), (3, 1, 1.0, 13.0));
    assert_eq!((react.ci_low, react.ci_high), wilson_interval(1, 3));

    // Started again under the same id: every episode is skipped, no model is called.
    let before = runs(&s);
    reports.lock().unwrap().clear();
    let sink = reports.clone();
    let again = Benchmark::new(s.kernel.clone(), env("game24"), strategies.clone(), &s.uri)
        .limit(3)
        .concurrency(1)
        .on_progress(move |p| sink.lock().unwrap().push(p.clone()))
        .run("g24")
        .await
        .unwrap();
    assert_eq!((again.ran, again.skipped, again.episodes.len()), (0, 6, 6));
    assert_eq!(runs(&s), before, "no run was started");
    assert_eq!(again.summary().strategies, summary.strategies);
    assert_eq!(*reports.lock().unwrap(), [Progress { total: 6, ended: 6, skipped: 6, last: None }]);

    // An episode whose run ended but was not recorded as ended (the process stopped in between)
    // is recorded from its run's answer, without calling the model or starting a run.
    let bench = s.kernel.storage().benchmark("g24").unwrap().unwrap();
    let ended = outcome.episodes.iter().find(|e| e.strategy == "react" && e.task == "2").unwrap().clone();
    let unrecorded = EpisodeRecord { reward: None, info: Value::Null, wall_ms: None, ..ended.clone() };
    s.kernel.storage().record_episode(&bench, &unrecorded).await.unwrap();
    let recovered = Benchmark::new(s.kernel.clone(), env("game24"), strategies.clone(), &s.uri).limit(3).run("g24").await.unwrap();
    assert_eq!((recovered.ran, recovered.skipped, runs(&s)), (1, 5, before));
    let again = recovered.episodes.iter().find(|e| e.strategy == "react" && e.task == "2").unwrap();
    assert_eq!((&again.run, again.reward, &again.info, again.usage), (&ended.run, ended.reward, &ended.info, ended.usage));

    // The same id with other settings is refused, naming both.
    let err = Benchmark::new(s.kernel.clone(), env("game24"), strategies, &s.uri).limit(4).run("g24").await.unwrap_err();
    assert!(matches!(err, GymError::SpecMismatch { .. }), "{err}");
    assert!(err.to_string().contains("\"limit\":3") && err.to_string().contains("\"limit\":4"), "{err}");
}

#[tokio::test]
async fn gsm8k_episodes_use_the_offered_calculator_and_failures_are_recorded() {
    let s = setup(json!([
        { "tool_calls": [{ "name": "calculator", "arguments": { "expression": "(16 - 3 - 4) * 2" } }] },
        { "content": "Answer: 18" }
    ]));
    let strategies = named(vec![Arc::new(ReAct)]);
    let outcome = Benchmark::new(s.kernel.clone(), env("gsm8k"), strategies.clone(), &s.uri).limit(2).run("math").await.unwrap();
    let by_task = |task: &str| outcome.episodes.iter().find(|e| e.task == task).unwrap().clone();
    let (first, second) = (by_task("gsm8k-test-0"), by_task("gsm8k-test-1"));
    assert_eq!((first.reward, first.info["found"].as_str()), (Some(1.0), Some("18")));
    assert_eq!((second.reward, second.info["expected"].as_str()), (Some(0.0), Some("3")));
    assert_eq!(first.usage.model_calls, 2);
    let steps = s.kernel.trajectory(first.run.as_str()).unwrap().steps;
    let results: Vec<String> = steps
        .into_iter()
        .filter_map(|st| match st.kind {
            StepKind::Tool { result, .. } => Some(result.content),
            _ => None,
        })
        .collect();
    assert_eq!(results, ["18"], "the calculator was granted and ran");

    // With one step the agent never answers: the episode ends with reward 0 and the error.
    let failing = Benchmark::new(s.kernel.clone(), env("gsm8k"), strategies, &s.uri).limit(1).max_steps(1).run("short").await.unwrap();
    let e = &failing.episodes[0];
    assert_eq!(e.reward, Some(0.0));
    assert!(e.info["error"].as_str().unwrap().contains("no final answer within 1 steps"), "{}", e.info);
    assert_eq!(failing.summary().strategies[0].successes, 0);
}

#[tokio::test]
async fn an_environment_tool_the_kernel_lacks_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = Kernel::builder(Storage::open(dir.path().join("a.db")).unwrap()).build().unwrap();
    let path = dir.path().join("s.json");
    std::fs::write(&path, "[]").unwrap();
    let err = Benchmark::new(kernel, env("gsm8k"), named(vec![Arc::new(ReAct)]), &format!("scripted:{}", path.display()))
        .limit(1)
        .run("b")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown tools [\"calculator\"]"), "{err}");
    let err = Benchmark::new(Kernel::builder(Storage::open(dir.path().join("b.db")).unwrap()).build().unwrap(), env("game24"), vec![], "m")
        .run("b")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "a benchmark needs at least one strategy");
}

/// A strategy that asks the model once, tells the test it has, waits at a gate, then asks again
/// and answers with the second reply.
struct Gated {
    reached: Arc<Notify>,
    gate: Arc<Semaphore>,
}

#[async_trait]
impl Strategy for Gated {
    fn name(&self) -> &'static str {
        "gated"
    }
    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let mut messages = vec![Message::user(agent.task())];
        let first = agent.model(ChatRequest { messages: messages.clone(), ..Default::default() }).await?;
        messages.push(first.message);
        self.reached.notify_one();
        let _open = self.gate.acquire().await.unwrap();
        messages.push(Message::user("And the answer?"));
        Ok(agent.model(ChatRequest { messages, ..Default::default() }).await?.message.content())
    }
}

#[tokio::test]
async fn an_interrupted_episode_resumes_its_run_without_asking_the_model_again() {
    let s = setup(json!([{ "content": "Let me think: 16 - 3 - 4 = 9 eggs." }, { "content": "Answer: 18" }]));
    let (reached, gate) = (Arc::new(Notify::new()), Arc::new(Semaphore::new(0)));
    let strategies = named(vec![Arc::new(Gated { reached: reached.clone(), gate: gate.clone() })]);
    let bench = Benchmark::new(s.kernel.clone(), env("gsm8k"), strategies, &s.uri).limit(1);

    // The process "dies" while the episode waits between its two model calls.
    tokio::select! {
        done = bench.run("resumable") => panic!("the episode cannot end while the gate is shut: {done:?}"),
        _ = reached.notified() => {}
    }
    let runs_before = runs(&s);
    assert_eq!(runs_before, 1);
    let run = s.kernel.storage().runs(1).unwrap().remove(0);
    assert_eq!(run.status, "running");
    assert_eq!(s.kernel.trajectory(run.id.as_str()).unwrap().usage.model_calls, 1);

    gate.add_permits(1);
    let outcome = bench.run("resumable").await.unwrap();
    assert_eq!((outcome.ran, outcome.skipped), (1, 0));
    let e = &outcome.episodes[0];
    assert_eq!((&e.run, e.reward), (&run.id, Some(1.0)), "the same run carried on and answered 18");
    assert_eq!(runs(&s), runs_before, "no new run was started");
    let t = s.kernel.trajectory(run.id.as_str()).unwrap();
    assert_eq!(
        (t.status.as_str(), t.steps.len(), t.usage.model_calls),
        ("finished", 2, 2),
        "the first model call was replayed, not repeated"
    );
    assert_eq!(e.usage.model_calls, 2);
}

#[tokio::test]
async fn strategies_built_by_name_are_recorded_under_that_name_with_the_roles() {
    let s = setup(json!([{ "content": "Answer: 6 * 4 * 1 * 1 = 24" }]));
    let names = ["sc:2".to_string(), "cot".to_string()];
    let outcome = Benchmark::from_names(s.kernel.clone(), env("game24"), &names, &s.uri)
        .unwrap()
        .limit(1)
        .role("inner", s.uri.clone())
        .run("named")
        .await
        .unwrap();
    assert_eq!(outcome.spec.strategies, names);
    let sc = outcome.episodes.iter().find(|e| e.strategy == "sc:2").expect("the episode keeps the full name");
    assert_eq!((sc.reward, sc.usage.model_calls), (Some(1.0), 2), "two samples, as `sc:2` asks");
    let run = s.kernel.storage().run(sc.run.as_str()).unwrap();
    assert_eq!(run.strategy, "sc:2", "the run rebuilds the same strategy on resume");
    assert_eq!(run.spec["roles"], json!({ "inner": s.uri }));
    let rows: Vec<(String, usize)> = outcome.summary().strategies.into_iter().map(|r| (r.strategy, r.successes)).collect();
    assert_eq!(rows, [("sc:2".to_string(), 1), ("cot".to_string(), 1)]);
    let stored = s.kernel.storage().benchmark("named").unwrap().unwrap().spec;
    assert_eq!(stored["roles"], json!({ "inner": s.uri }));

    let err = Benchmark::from_names(s.kernel.clone(), env("game24"), &["tot".to_string()], &s.uri).err().unwrap().to_string();
    assert!(err.contains("unknown strategy `tot`"), "{err}");
    let twice = ["sc:2".to_string(), "sc:2".to_string()];
    let err = Benchmark::from_names(s.kernel.clone(), env("game24"), &twice, &s.uri).unwrap().run("twice").await.unwrap_err().to_string();
    assert_eq!(err, "the strategy `sc:2` is given twice; give each once");
}

#[tokio::test]
async fn code_acting_strategies_run_each_episode_in_a_work_directory_of_its_own_with_the_tools_as_functions() {
    // One reply serves both: the calculator as a Python function, then final_answer.
    let s = setup(json!([{ "content": "```python\nr = calculator('(16 - 3 - 4) * 2')\nprint(r)\nfinal_answer(r)\n```" }]));
    let work = tempfile::tempdir().unwrap();
    let names = ["codeact".to_string(), "pal".to_string(), "cot".to_string()];
    let outcome = Benchmark::from_names(s.kernel.clone(), env("gsm8k"), &names, &s.uri)
        .unwrap()
        .limit(1)
        .workspace(work.path())
        .run("code")
        .await
        .unwrap();
    let mut folders = Vec::new();
    for name in ["codeact", "pal"] {
        let e = outcome.episodes.iter().find(|e| e.strategy == name).unwrap();
        assert_eq!(e.reward, Some(1.0), "{name}: {:?}", e.info);
        let run = s.kernel.storage().run(e.run.as_str()).unwrap();
        assert_eq!((run.spec["actions"].as_str(), run.spec["capabilities"]["code"].as_bool()), (Some("code"), Some(true)), "{name}");
        let folder = run.spec["capabilities"]["paths"][0].as_str().unwrap().to_string();
        assert!(folder.starts_with(&work.path().join("code").display().to_string()), "{folder}");
        assert!(!std::path::Path::new(&folder).exists(), "an ended episode's work directory is removed: {folder}");
        folders.push(folder);
        let t = s.kernel.trajectory(e.run.as_str()).unwrap();
        let kinds: Vec<&str> = t.steps.iter().map(|s| s.kind.name()).collect();
        assert!(kinds.ends_with(&["model", "code", "tool"]), "{name}: the calculator call from Python is journaled: {kinds:?}");
    }
    assert_ne!(folders[0], folders[1], "each episode has a folder of its own");
    let cot = outcome.episodes.iter().find(|e| e.strategy == "cot").unwrap();
    let run = s.kernel.storage().run(cot.run.as_str()).unwrap();
    assert_eq!((run.spec["actions"].as_str(), run.spec["capabilities"]["code"].as_bool()), (Some("json"), Some(false)), "cot acts in JSON");
}

/// A game24 script: check a wrong candidate first, then answer right once told what was wrong.
fn check_then_answer() -> Value {
    json!([
        { "when": "equals 25", "content": "Answer: 6 * 4 * 1 * 1 = 24" },
        { "when": "permission denied", "content": "Answer: 6 * 4 * 1 + 1 = 24" },
        { "tool_calls": [{ "name": "check_answer", "arguments": { "answer": "6 * 4 * 1 + 1 = 24" } }] }
    ])
}

/// The results of a run's tool steps.
fn tool_results(s: &Setup, run: &str) -> Vec<String> {
    let t = s.kernel.trajectory(run).unwrap();
    t.steps
        .iter()
        .filter_map(|step| match &step.kind {
            StepKind::Tool { result, .. } => Some(result.content.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn feedback_before_the_answer_comes_only_where_the_environment_gives_it_and_the_benchmark_asks() {
    let checks = Arc::new(EpisodeTools::default());
    let s = setup_with(check_then_answer(), Some(checks.clone()));
    let react = || named(vec![Arc::new(ReAct)]);

    let outcome =
        Benchmark::new(s.kernel.clone(), env("game24"), react(), &s.uri).limit(1).feedback(checks.clone()).run("on").await.unwrap();
    let e = &outcome.episodes[0];
    assert_eq!(e.reward, Some(1.0), "{:?}", e.info);
    assert_eq!(tool_results(&s, e.run.as_str()), ["wrong: the expression equals 25, not 24 (9 checks left)"]);
    let summary = outcome.summary();
    assert!(summary.feedback && summary.to_markdown().contains("feedback before the answer on"), "{}", summary.to_markdown());

    // Without --feedback the tool is not granted: the same agent is refused, and answers wrong.
    let outcome = Benchmark::new(s.kernel.clone(), env("game24"), react(), &s.uri).limit(1).run("off").await.unwrap();
    let e = &outcome.episodes[0];
    assert_eq!(e.reward, Some(0.0));
    let results = tool_results(&s, e.run.as_str());
    assert!(results.len() == 1 && results[0].contains("not granted the tool `check_answer`"), "{results:?}");
    assert!(outcome.summary().to_markdown().contains("feedback before the answer off"));

    // An environment that gives no feedback refuses a benchmark that asks for it.
    let err = Benchmark::new(s.kernel.clone(), env("gsm8k"), react(), &s.uri).limit(1).feedback(checks).run("gsm").await.unwrap_err();
    assert!(matches!(err, GymError::NoFeedback { .. }), "{err}");
    assert!(err.to_string().contains("gsm8k gives no feedback"), "{err}");
}

#[tokio::test]
async fn an_interactive_environment_acts_through_its_tools_and_each_strategy_runs_once_per_working_memory() {
    let chains = agentos_gym::gsm8k_chain::load(&data_dir().unwrap()).unwrap();
    let answers: Vec<String> = chains.tasks()[0].problems.iter().map(|p| agentos_tools::arithmetic::format(&p.answer)).collect();
    let next = |n: usize| json!({ "tool_calls": [{ "name": "next_problem", "arguments": { "solved": n, "answer": answers[n - 1] } }] });
    let mut script = vec![json!({ "when": "That was the last problem.", "content": format!("Answers: {}", answers.join("; ")) })];
    for (when, n) in [("Problem 3 of 3", 3), ("Problem 2 of 3", 2), ("Problem 1 of 3", 1)] {
        script.push(json!({ "when": when }).as_object().unwrap().clone().into_iter().chain(next(n).as_object().unwrap().clone()).collect());
    }
    let tools = Arc::new(EpisodeTools::default());
    let s = setup(json!({ "native_tools": true, "responses": script }));
    let react = || named(vec![Arc::new(ReAct)]);
    // The kernel of `setup` lacks the environment's tools: a second kernel over the same database has them.
    let mut builder = Kernel::builder(s.kernel.storage().clone()).tool(Arc::new(Calculator)).tool(tools.clone());
    for action in tools.actions(env("gsm8k-chain").as_ref()) {
        builder = builder.tool(action);
    }
    let kernel = builder.build().unwrap();
    let policies = vec![WorkingMemory::Window, WorkingMemory::Summary];

    let refused = Benchmark::new(kernel.clone(), env("gsm8k-chain"), react(), &s.uri).limit(1).run("no-tools").await.unwrap_err();
    assert!(matches!(refused, GymError::NoActionTools { .. }), "{refused}");
    let direct = Benchmark::new(kernel.clone(), env("gsm8k-chain"), named(vec![Arc::new(Direct)]), &s.uri)
        .limit(1)
        .memories(vec![WorkingMemory::HiAgent])
        .interact(tools.clone())
        .run("direct")
        .await
        .unwrap_err()
        .to_string();
    assert!(direct.contains("no strategy of this benchmark keeps --memory hiagent"), "{direct}");

    let outcome = Benchmark::new(kernel.clone(), env("gsm8k-chain"), react(), &s.uri)
        .limit(1)
        .memories(policies)
        .interact(tools)
        .run("chain")
        .await
        .unwrap();
    let rows: Vec<(String, f64)> = outcome.summary().strategies.into_iter().map(|r| (r.strategy, r.success_rate)).collect();
    assert_eq!(rows, [("react".to_string(), 1.0), ("react+summary".to_string(), 1.0)]);
    for e in &outcome.episodes {
        let results = tool_results(&s, e.run.as_str());
        assert_eq!(results.len(), 3, "three answers handed in: {results:?}");
        assert!(results[1].starts_with("Problem 3 of 3: ") && results[2].starts_with("That was the last problem."), "{results:?}");
        let spec = kernel.snapshot(e.run.as_str()).unwrap().spec().unwrap();
        assert_eq!((spec.strategy.as_str(), spec.working_memory.is_window()), ("react", e.strategy == "react"));
    }
}
