//! CodeAct and its action library, and the program-aided strategies, over the real kernel (SQLite journal, tool registry, access
//! manager) and a real sandboxed Python, with scripted models: multi-step work on a CSV with
//! variables kept between cells, bad code as observations, code refused without the capability,
//! tools called from Python journaled and access-checked, resume after a kill, and functions kept
//! by one run (with the imports and helpers they need, checked in a fresh interpreter), retrieved
//! and used by the next, a use counted a success only when no call raised; a run kept out of the
//! library and a program-aided run keep nothing. CodeAct points out a repeated cell or error; PAL
//! answers with its program's output or fails when it raises; self-consistency over programs
//! votes over the programs that gave an answer.

use agentos_agents::{drive, CodeAct, ProgramAided, ProgramConsistency, ReAct, Strategy};
use agentos_core::{CodeOutput, StepKind, ToolSpec, Trajectory};
use agentos_kernel::{ActionMode, Agent, Capabilities, Ending, Kernel, KernelConfig, RunSpec, Storage, Tool, ToolContext, ToolError};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `note(text)` answers `noted <text>` and counts its calls: a tool with a side effect.
struct Note(Arc<AtomicUsize>);

#[async_trait]
impl Tool for Note {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "note".into(),
            description: "Writes a note.".into(),
            parameters: json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
        }
    }
    async fn call(&self, args: Value, _: &ToolContext) -> Result<String, ToolError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(format!("noted {}", args["text"].as_str().unwrap_or("?")))
    }
}

/// `secret()`: registered, never granted in these tests.
struct Secret;

#[async_trait]
impl Tool for Secret {
    fn spec(&self) -> ToolSpec {
        ToolSpec { name: "secret".into(), description: "Reveals a secret.".into(), parameters: json!({"type": "object"}) }
    }
    async fn call(&self, _: Value, _: &ToolContext) -> Result<String, ToolError> {
        panic!("a tool that was not granted ran")
    }
}

const PRICES: &str = "item,price\napple,1.5\npear,2.5\nmelon,5.0\n";

struct Setup {
    kernel: Kernel,
    notes: Arc<AtomicUsize>,
    work: PathBuf,
    dir: tempfile::TempDir,
}

/// A kernel with `note` and `secret`, cells limited to 2 s, and a work directory holding
/// prices.csv.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("prices.csv"), PRICES).unwrap();
    let notes = Arc::new(AtomicUsize::new(0));
    let mut config = KernelConfig::default();
    config.sandbox_limits.timeout = Duration::from_secs(2);
    let kernel = Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap())
        .config(config)
        .tool(Arc::new(Note(notes.clone())))
        .tool(Arc::new(Secret))
        .build()
        .unwrap();
    Setup { kernel, notes, work, dir }
}

impl Setup {
    /// A code-mode ReAct run of `task` on the scripted model `script` (saved as `name`), with
    /// `note` granted and code execution allowed in the work directory.
    fn spec(&self, name: &str, script: Value, task: &str) -> RunSpec {
        let path = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, script.to_string()).unwrap();
        RunSpec {
            task: task.into(),
            strategy: "react".into(),
            model: format!("scripted:{}", path.display()),
            max_steps: 6,
            capabilities: Capabilities {
                tools: ["note".to_string()].into(),
                paths: vec![self.work.clone()],
                code: true,
                ..Default::default()
            },
            budget: Default::default(),
            priority: 0,
            temperature: None,
            roles: Default::default(),
            actions: ActionMode::Code,
            library: true,
            memory_scopes: Vec::new(),
            profile: None,
            working_memory: Default::default(),
            seat: None,
            team_file: None,
        }
    }

    async fn run(&self, spec: RunSpec) -> (Agent, Ending) {
        self.run_as(spec, &ReAct).await
    }

    /// Runs `spec` with `strategy` to its end.
    async fn run_as(&self, spec: RunSpec, strategy: &dyn Strategy) -> (Agent, Ending) {
        self.kernel.model(&spec.model).unwrap();
        let agent = self.kernel.start(spec).await.unwrap();
        let ending = drive(&self.kernel, &agent, strategy).await.unwrap();
        (agent, ending)
    }

    fn trajectory(&self, agent: &Agent) -> Trajectory {
        self.kernel.trajectory(agent.run().as_str()).unwrap()
    }

    fn events(&self, agent: &Agent, kind: &str) -> Vec<Value> {
        self.kernel.storage().events(agent.run()).unwrap().into_iter().filter(|(k, _)| k == kind).map(|(_, p)| p).collect()
    }
}

/// A reply that runs `code`.
fn cell(code: &str) -> Value {
    json!({ "content": format!("Next step.\n```python\n{code}\n```") })
}

/// A reply that runs `code` when the last observation contains `when`.
fn cell_when(when: &str, code: &str) -> Value {
    json!({ "when": when, "content": format!("```python\n{code}\n```") })
}

/// Each code step of a trajectory: (seq, code, output).
fn code_steps(t: &Trajectory) -> Vec<(u64, &str, &CodeOutput)> {
    t.steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Code { code, output } => Some((s.seq, code.as_str(), output)),
            _ => None,
        })
        .collect()
}

fn kinds(t: &Trajectory) -> Vec<&'static str> {
    t.steps.iter().map(|s| s.kind.name()).collect()
}

#[tokio::test]
async fn codeact_computes_a_csv_statistic_over_cells_that_share_their_variables() {
    let s = setup();
    let script = json!([
        cell("import csv\nwith open('prices.csv') as f:\n    rows = list(csv.DictReader(f))\nprint(len(rows), 'rows')"),
        cell_when("3 rows", "prices = [float(r['price']) for r in rows]\nmean = sum(prices) / len(prices)\nmean"),
        cell_when("[value]\n3.0", "final_answer(f'{mean:.2f} (most expensive: {max(rows, key=lambda r: float(r[\"price\"]))[\"item\"]})')"),
    ]);
    let (agent, ending) = s.run(s.spec("csv", script, "What is the mean price in prices.csv, and which item costs most?")).await;
    assert_eq!(ending, Ending::Finished("3.00 (most expensive: melon)".into()));
    let t = s.trajectory(&agent);
    assert_eq!(kinds(&t), ["library", "model", "code", "model", "code", "model", "code"]);
    let cells = code_steps(&t);
    assert_eq!(cells[0].2.stdout, "3 rows\n");
    assert_eq!(cells[1].2.value.as_deref(), Some("3.0"), "`rows` from the first cell is still defined");
    assert_eq!(cells[2].2.final_answer.as_deref(), Some("3.00 (most expensive: melon)"));
    let StepKind::Model { request, .. } = &t.steps[3].kind else { panic!("a model step") };
    let system = request.messages[0].content();
    assert!(system.contains("def note(text: str) -> str:") && system.contains("def final_answer(answer):"), "{system}");
    assert_eq!(request.messages.last().unwrap().content(), "Observation:\n[stdout]\n3 rows", "the observation goes back as a message");
}

#[tokio::test]
async fn bad_code_comes_back_as_observations_and_the_run_goes_on() {
    let s = setup();
    let script = json!([
        cell("def broken(:\n    pass"),
        cell_when("SyntaxError", "while True:\n    pass"),
        cell_when("time limit", "x = 1\n1 / 0"),
        cell_when("ZeroDivisionError", "print('still here')"),
        json!({ "when": "still here", "content": "I am not sure what to do." }),
        json!({ "when": "no code block", "content": "The code recovered.\nAnswer: recovered" }),
    ]);
    let (agent, ending) = s.run(s.spec("bad", script, "Survive bad code.")).await;
    assert_eq!(ending, Ending::Finished("recovered".into()), "a stated answer without code ends the run");
    let t = s.trajectory(&agent);
    let cells = code_steps(&t);
    assert_eq!(cells.len(), 4);
    assert!(cells[0].2.exception.as_deref().is_some_and(|e| e.contains("SyntaxError")), "{:?}", cells[0].2);
    assert!(cells[1].2.interruption.as_deref().is_some_and(|i| i.contains("time limit")) && cells[1].2.restarted);
    assert!(cells[1].2.observation.contains("[restarted]"), "the model is told its state is gone: {}", cells[1].2);
    assert!(cells[2].2.exception.as_deref().is_some_and(|e| e.contains("ZeroDivisionError: division by zero")));
    assert!(cells[3].2.succeeded() && cells[3].2.stdout == "still here\n");
}

#[tokio::test]
async fn code_is_refused_without_the_capability_and_the_refusal_recorded() {
    let s = setup();
    let script = json!([cell("open('ran.txt', 'w').write('ran')"), json!({ "when": "may not run code", "content": "Answer: refused" }),]);
    let mut spec = s.spec("denied", script, "Try to run code.");
    spec.capabilities.code = false;
    let (agent, ending) = s.run(spec).await;
    assert_eq!(ending, Ending::Finished("refused".into()));
    let t = s.trajectory(&agent);
    let StepKind::Library { functions, .. } = &t.steps[0].kind else { panic!("the library step comes first") };
    assert!(functions.is_empty(), "no library for a run that may not run code");
    let cells = code_steps(&t);
    assert!(cells[0].2.denied.as_deref().is_some_and(|d| d.starts_with("permission denied")), "{:?}", cells[0].2);
    assert!(!s.work.join("ran.txt").exists(), "nothing ran");
    let denied = s.events(&agent, "denied");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["call"]["name"], "execute_code");
}

#[tokio::test]
async fn tools_called_from_python_are_journaled_as_tool_steps_and_access_checked() {
    let s = setup();
    let code = "print(note('from python'))\n\
                try:\n    secret()\nexcept NameError as e:\n    print('not offered:', e)\n\
                try:\n    final_answer.__globals__['_call']('secret', {})\nexcept ToolError as e:\n    print('refused:', e)";
    let script = json!([cell(code), cell_when("refused:", "final_answer('done')")]);
    let (agent, ending) = s.run(s.spec("tools", script, "Use the tools.")).await;
    assert_eq!(ending, Ending::Finished("done".into()));
    let t = s.trajectory(&agent);
    assert_eq!(kinds(&t), ["library", "model", "code", "tool", "tool", "model", "code"]);
    let (seq, _, output) = code_steps(&t)[0];
    assert_eq!((seq, output.tool_calls), (2, 2), "the cell's two calls are the steps right after it");
    assert!(
        output.stdout.starts_with("noted from python\nnot offered: name 'secret' is not defined\nrefused: permission denied"),
        "{output}"
    );
    let calls: Vec<(&str, bool)> = t
        .steps
        .iter()
        .filter_map(|st| match &st.kind {
            StepKind::Tool { call, result } => Some((call.name.as_str(), result.is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(calls, [("note", false), ("secret", true)]);
    assert_eq!(s.notes.load(Ordering::SeqCst), 1);
    let denied = s.events(&agent, "denied");
    assert_eq!((denied.len(), &denied[0]["call"]["name"]), (1, &json!("secret")));
}

#[tokio::test]
async fn a_run_killed_after_a_cell_resumes_without_rerunning_it_and_keeps_its_variables() {
    let s = setup();
    let script = json!([
        cell("x = 41\nwith open('log.txt', 'a') as f:\n    f.write('cell\\n')\nprint(note('once'))"),
        json!({ "content": "```python\nfinal_answer(x + 1)\n```", "delay_ms": 3000 }),
    ]);
    let spec = s.spec("resume", script, "Keep x.");
    s.kernel.model(&spec.model).unwrap();
    let agent = s.kernel.start(spec).await.unwrap();
    let killed = tokio::time::timeout(Duration::from_millis(1500), drive(&s.kernel, &agent, &ReAct)).await;
    assert!(killed.is_err(), "the run is killed while its second model call is in flight");
    drop(agent); // the process dies with its sandbox
    assert_eq!(s.notes.load(Ordering::SeqCst), 1);

    let snapshot = s.kernel.snapshot(&snapshot_run(&s)).unwrap();
    let recorded = snapshot.steps.len();
    assert_eq!(recorded, 4, "library, model, code and the cell's tool call");
    let restored = s.kernel.restore(snapshot).await.unwrap();
    assert_eq!(drive(&s.kernel, &restored, &ReAct).await.unwrap(), Ending::Finished("42".into()), "x survived the kill");
    assert_eq!(s.notes.load(Ordering::SeqCst), 1, "the tool called from the replayed cell did not run again");
    let t = s.trajectory(&restored);
    assert_eq!(kinds(&t), ["library", "model", "code", "tool", "model", "code"]);
    assert_eq!(s.events(&restored, "code_restored"), [json!({"cells": 1})]);
    // The documented cost of rebuilding the state: the code's own file writes happen again.
    assert_eq!(std::fs::read_to_string(s.work.join("log.txt")).unwrap(), "cell\ncell\n");
}

/// The id of the only run in the database.
fn snapshot_run(s: &Setup) -> String {
    let runs = s.kernel.storage().runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    runs[0].id.to_string()
}

const COLUMN_MEAN: &str = "def column_mean(path, column):\n    \"\"\"Mean of a CSV column.\"\"\"\n    import csv\n    \
                           with open(path) as f:\n        values = [float(row[column]) for row in csv.DictReader(f)]\n    \
                           return sum(values) / len(values)";

#[tokio::test]
async fn a_function_kept_by_one_run_is_retrieved_offered_and_used_by_a_related_one() {
    let s = setup();
    // Run 1 writes column_mean and finishes: the function is kept.
    let first =
        json!([cell(&format!("{COLUMN_MEAN}\n\nprint(column_mean('prices.csv', 'price'))")), cell_when("3.0", "final_answer(3.0)"),]);
    let (agent, ending) = s.run(s.spec("first", first, "What is the mean of the price column in prices.csv?")).await;
    assert_eq!(ending, Ending::Finished("3.0".into()));
    let t = s.trajectory(&agent);
    let defined = &code_steps(&t)[0].2.functions;
    assert_eq!(defined.iter().map(|f| f.signature.as_str()).collect::<Vec<_>>(), ["column_mean(path, column)"]);
    let kept = s.kernel.storage().action("column_mean").unwrap().expect("kept after a successful run");
    assert_eq!((kept.docstring.as_str(), kept.created_run.as_str(), kept.uses), ("Mean of a CSV column.", agent.run().as_str(), 0));

    // Run 2, on a related task, is offered it, sees it in its prompt, and calls it.
    let second = json!([cell("final_answer(column_mean('prices.csv', 'price'))")]);
    let (agent, ending) = s.run(s.spec("second", second, "What is the average of the price column of prices.csv?")).await;
    assert_eq!(ending, Ending::Finished("3.0".into()));
    let t = s.trajectory(&agent);
    let StepKind::Library { functions, .. } = &t.steps[0].kind else { panic!("the library step comes first") };
    assert_eq!(functions.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["column_mean"]);
    let StepKind::Model { request, .. } = &t.steps[1].kind else { panic!("a model step") };
    let system = request.messages[0].content();
    assert!(
        system.contains("already defined") && system.contains("def column_mean(path, column):\n    \"\"\"Mean of a CSV column.\"\"\""),
        "{system}"
    );
    assert_eq!(code_steps(&t)[0].2.library_calls, [("column_mean".to_string(), 1)].into());
    let used = s.kernel.storage().action("column_mean").unwrap().unwrap();
    assert_eq!((used.uses, used.successes, used.offers), (1, 1, 1));

    // Run 3 calls it and defines a helper, then fails: the use counts, the helper is not kept.
    let third = json!({ "responses": [
        cell("def median_of(path, column):\n    \"\"\"Median of a CSV column.\"\"\"\n    return 0\nprint(column_mean('prices.csv', 'price'))"),
        json!({ "content": "I keep thinking." }),
    ]});
    let mut spec = s.spec("third", third, "What is the median of the price column of prices.csv?");
    spec.max_steps = 2;
    let (_, ending) = s.run(spec).await;
    assert!(matches!(ending, Ending::Failed(_)), "{ending:?}");
    assert!(s.kernel.storage().action("median_of").unwrap().is_none(), "a failed run adds no function");
    let used = s.kernel.storage().action("column_mean").unwrap().unwrap();
    assert_eq!((used.uses, used.successes, used.offers), (2, 1, 2));

    // An unrelated task is offered nothing.
    let (agent, _) = s.run(s.spec("fourth", json!([cell("final_answer('hi')")]), "Say hello to the user.")).await;
    let t = s.trajectory(&agent);
    let StepKind::Library { functions, .. } = &t.steps[0].kind else { panic!("the library step comes first") };
    assert!(functions.is_empty(), "{functions:?}");
}

#[tokio::test]
async fn a_kept_function_brings_its_imports_and_helpers_to_a_later_runs_fresh_interpreter() {
    let s = setup();
    // Run 1 imports at the top of its cell, defines a function using the import and a helper, and
    // one using a variable of the run, which cannot be kept.
    let code = "import statistics\n\nRATE = 0.2\n\n\
                def prices(path):\n    with open(path) as f:\n        next(f)\n        return [float(line.split(',')[1]) for line in f]\n\n\
                def price_median(path):\n    \"\"\"Median of the price column of a CSV file.\"\"\"\n    return statistics.median(prices(path))\n\n\
                def price_with_tax(price):\n    \"\"\"A price with tax.\"\"\"\n    return price * (1 + RATE)\n\n\
                print(price_median('prices.csv'))";
    let first = json!([cell(code), cell_when("2.5", "final_answer(2.5)")]);
    let (agent, ending) = s.run(s.spec("first", first, "What is the median price in prices.csv?")).await;
    assert_eq!(ending, Ending::Finished("2.5".into()));
    let kept = s.kernel.storage().action("price_median").unwrap().expect("kept after a successful run");
    assert!(
        kept.source.starts_with("import statistics\n\ndef prices(path):\n") && kept.source.contains("\n\ndef price_median(path):\n"),
        "its import and its helper come with it: {}",
        kept.source
    );
    assert!(s.kernel.storage().action("price_with_tax").unwrap().is_none(), "a function reading a variable of the run is not kept");
    let rejected = s.events(&agent, "library_rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let why = rejected[0]["functions"]["price_with_tax"].as_str().unwrap();
    assert!(why.contains("uses RATE"), "{why}");
    assert!(rejected[0]["functions"].get("price_median").is_none(), "{rejected:?}");

    // Run 2 starts a fresh interpreter, is offered the function and calls it: statistics is there.
    let second = json!([cell("final_answer(price_median('prices.csv'))")]);
    let (agent, ending) = s.run(s.spec("second", second, "What is the median of the prices in prices.csv?")).await;
    assert_eq!(ending, Ending::Finished("2.5".into()));
    let t = s.trajectory(&agent);
    let StepKind::Library { functions, .. } = &t.steps[0].kind else { panic!("the library step comes first") };
    assert!(functions.iter().any(|f| f.name == "price_median"), "{functions:?}");
    assert!(s.events(&agent, "library_failed").is_empty(), "every offered function was defined");
    let output = code_steps(&t)[0].2;
    assert_eq!((output.library_calls.get("price_median"), output.library_raised.len()), (Some(&1), 0), "{output:?}");
    let used = s.kernel.storage().action("price_median").unwrap().unwrap();
    assert_eq!((used.uses, used.successes, used.offers), (1, 1, 1));
}

#[tokio::test]
async fn a_use_that_raised_is_not_a_success_though_the_run_finished() {
    let s = setup();
    let first = json!([
        cell("def unit_price(total, units):\n    \"\"\"The price of one unit: total price divided by units.\"\"\"\n    return total / units\n\nunit_price(10, 4)"),
        cell_when("2.5", "final_answer(2.5)"),
    ]);
    let (_, ending) = s.run(s.spec("first", first, "What is the unit price of 4 units for 10?")).await;
    assert_eq!(ending, Ending::Finished("2.5".into()));
    assert!(s.kernel.storage().action("unit_price").unwrap().is_some());

    // Run 2 calls it on zero units: it raises, the code catches it, and the run finishes.
    let second = json!([
        cell("try:\n    unit_price(10, 0)\nexcept ZeroDivisionError:\n    print('no units')"),
        cell_when("no units", "final_answer('undefined')"),
    ]);
    let (agent, ending) = s.run(s.spec("second", second, "What is the unit price of 0 units for 10?")).await;
    assert_eq!(ending, Ending::Finished("undefined".into()));
    let t = s.trajectory(&agent);
    assert_eq!(code_steps(&t)[0].2.library_raised, [("unit_price".to_string(), 1)].into());
    let used = s.kernel.storage().action("unit_price").unwrap().unwrap();
    assert_eq!((used.uses, used.successes, used.offers), (1, 0, 1), "a use whose call raised is not a success");
}

#[tokio::test]
async fn strategies_without_code_actions_refuse_a_code_run() {
    let s = setup();
    let mut spec = s.spec("cot", json!([{ "content": "Answer: 1" }]), "Count.");
    spec.strategy = "cot".into();
    s.kernel.model(&spec.model).unwrap();
    let agent = s.kernel.start(spec).await.unwrap();
    let strategy = agentos_agents::strategy("cot").unwrap();
    let ending = drive(&s.kernel, &agent, strategy.as_ref()).await.unwrap();
    assert_eq!(
        ending,
        Ending::Failed("the strategy `cot` cannot act with `--actions code`; the strategies that can: react, codeact, pal, pal-sc".into())
    );
    assert!(s.trajectory(&agent).steps.is_empty(), "nothing ran");
}

/// The observations (user messages after the task) of a run's last model request.
fn observations(t: &Trajectory) -> Vec<String> {
    let last = t.steps.iter().rev().find_map(|s| match &s.kind {
        StepKind::Model { request, .. } => Some(request),
        _ => None,
    });
    last.unwrap().messages.iter().skip(2).filter(|m| m.role == agentos_core::Role::User).map(|m| m.content()).collect()
}

#[tokio::test]
async fn codeact_points_out_a_repeated_cell_and_a_repeated_error() {
    let s = setup();
    // The most specific conditions first: the first response whose condition holds answers.
    let script = json!([
        cell("solve = lambda: None\nprint(solve())"),
        cell_when("same error as at step 3", "final_answer('changed approach')"),
        cell_when("already sent this same code at step 1", "print(undefined_a)"),
        cell_when("NameError", "x = 2\nprint(undefined_a)"),
        // The same cell again, with other comments and blank lines: a repeat.
        cell_when("None", "# try again\nsolve = lambda: None\n\nprint(solve())"),
    ]);
    let (agent, ending) = s.run_as(s.spec("repeats", script, "Solve it."), &CodeAct).await;
    assert_eq!(ending, Ending::Finished("changed approach".into()));
    let t = s.trajectory(&agent);
    let seen = observations(&t);
    assert_eq!(seen.len(), 4, "{seen:#?}");
    assert!(!seen[0].contains("Note:"), "a first cell is not a repeat: {}", seen[0]);
    assert!(seen[1].contains("you already sent this same code at step 1") && seen[1].contains("different method"), "{}", seen[1]);
    assert!(!seen[2].contains("Note:"), "a first error is not a repeat: {}", seen[2]);
    assert!(seen[3].contains("this is the same error as at step 3") && seen[3].contains("different approach"), "{}", seen[3]);
    // The reply after each note is sampled, not greedy, so that it can differ; the others are not.
    let sampling: Vec<(Option<f32>, Option<u64>)> = t
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Model { request, .. } => Some((request.sampling.temperature, request.sampling.seed)),
            _ => None,
        })
        .collect();
    assert_eq!(sampling, [(None, None), (None, None), (Some(0.7), Some(1)), (None, None), (Some(0.7), Some(3))]);
}

#[tokio::test]
async fn a_run_kept_out_of_the_library_is_offered_nothing_and_keeps_nothing() {
    let s = setup();
    let define = "def total_price(path):\n    \"\"\"Sum of the price column of a CSV file.\"\"\"\n    import csv\n    \
                  with open(path) as f:\n        return sum(float(r['price']) for r in csv.DictReader(f))\nfinal_answer(total_price('prices.csv'))";
    let (_, ending) = s.run(s.spec("keep", json!([cell(define)]), "Total price in prices.csv?")).await;
    assert_eq!(ending, Ending::Finished("9.0".into()));
    assert_eq!(s.kernel.storage().actions().unwrap().len(), 1, "a run in the library keeps its function");

    let mut spec = s.spec(
        "out",
        json!([cell("def other(x):\n    \"\"\"Twice x.\"\"\"\n    return 2 * x\nfinal_answer(other(2))")]),
        "Total price in prices.csv?",
    );
    spec.library = false;
    let (agent, ending) = s.run(spec).await;
    assert_eq!(ending, Ending::Finished("4".into()));
    let t = s.trajectory(&agent);
    let StepKind::Library { functions, .. } = &t.steps[0].kind else { panic!("the library step comes first") };
    assert!(functions.is_empty(), "a run out of the library is offered nothing, though total_price fits its task");
    let kept: Vec<String> = s.kernel.storage().actions().unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(kept, ["total_price"], "and keeps nothing");
}

/// A reply that is a program.
fn program(code: &str) -> String {
    format!("```python\n{code}\n```")
}

#[tokio::test]
async fn pal_answers_with_what_its_program_prints_and_keeps_no_function() {
    let s = setup();
    // Fraction is there without an import, as the prompt promises.
    let code = "def solution():\n    \"\"\"Eggs sold.\"\"\"\n    eggs = Fraction(16 - 3 - 4)\n    return int(eggs * 2)\nprint('working')\nprint(solution())";
    let mut spec = s.spec("pal", json!([{ "content": program(code) }]), "How many dollars a day?");
    spec.strategy = "pal".into();
    let (agent, ending) = s.run_as(spec, &ProgramAided).await;
    assert_eq!(ending, Ending::Finished("18".into()), "the last line printed");
    let t = s.trajectory(&agent);
    assert_eq!(kinds(&t), ["model", "code"], "one program, run once; no library asked");
    assert!(code_steps(&t)[0].1.starts_with("from itertools import combinations, permutations, product\n"), "{:?}", code_steps(&t)[0].1);
    let StepKind::Model { request, .. } = &t.steps[0].kind else { panic!("a model step") };
    assert!(request.messages[0].content().contains("writing a Python program that computes the answer"));
    assert!(s.kernel.storage().actions().unwrap().is_empty(), "a program-aided run keeps nothing in the library");

    // A program that raises ends the run without an answer, and there is no second attempt.
    let mut spec = s.spec("pal-fail", json!([{ "content": program("print(1 / 0)") }, { "content": program("print(2)") }]), "Divide.");
    spec.strategy = "pal".into();
    let (agent, ending) = s.run_as(spec, &ProgramAided).await;
    assert_eq!(ending, Ending::Failed("no answer: the program failed: ZeroDivisionError: division by zero".into()));
    assert_eq!(s.trajectory(&agent).usage.model_calls, 1);
}

#[tokio::test]
async fn program_self_consistency_votes_over_the_programs_that_answered() {
    let s = setup();
    let replies =
        [program("print(7)"), program("print(1 / 0)"), program("x = 8\nprint(x)"), "No program here.".to_string(), program("print(7.0)")];
    let script: Vec<Value> = replies.iter().enumerate().map(|(i, r)| json!({ "seed": i, "content": r })).collect();
    let mut spec = s.spec("psc", json!(script), "What is 3 + 4?");
    spec.strategy = "pal-sc".into();
    let (agent, ending) = s.run_as(spec, &ProgramConsistency::default()).await;
    assert_eq!(ending, Ending::Finished("7".into()), "7 and 7.0 agree; the failures do not vote");
    let t = s.trajectory(&agent);
    assert_eq!(t.usage.model_calls, 5);
    assert_eq!(code_steps(&t).len(), 4, "every reply with a program runs, in order");

    let failing: Vec<Value> = (0..2).map(|i| json!({ "seed": i, "content": program("raise ValueError('no')") })).collect();
    let mut spec = s.spec("psc-fail", json!(failing), "What is 3 + 4?");
    spec.strategy = "pal-sc:2".into();
    let (_, ending) = s.run_as(spec, &ProgramConsistency { samples: 2 }).await;
    assert_eq!(ending, Ending::Failed("no answer: none of the 2 programs gave an answer (the program failed: ValueError: no)".into()));
}
