//! End-to-end tests of `agentos bench gym` and `agentos export`: the real binary, a temporary
//! AGENTOS_HOME with its SQLite database, the real Game of 24 data, and a scripted model that
//! answers each puzzle differently.

mod common;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn agentos(home: &Path, args: &[&str]) -> Command {
    let mut cmd = common::agentos(home, args);
    cmd.env("AGENTOS_DATA", data());
    cmd
}

fn run(home: &Path, args: &[&str]) -> (Output, String) {
    let out = agentos(home, args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

/// A model for the first three puzzles (1 1 4 6, 1 1 11 11, 1 1 3 8). Chain of thought reads the
/// `Answer:` line of the first reply and ignores its tool calls: right, right, wrong. ReAct runs
/// the tool call, which is refused (Game of 24 offers no tools), and answers after the refusal:
/// right for 1 1 4 6, wrong (11 * 11 - 1 - 1 = 119) for 1 1 11 11, and wrong for 1 1 3 8.
fn script(dir: &Path, delay_ms: u64) -> String {
    let script = json!([
        { "when": "granted the tool `calculator`", "delay_ms": delay_ms,
          "content": "The check was refused, but the expression is right.\nAnswer: 6 * 4 * 1 * 1 = 24" },
        { "when": "granted the tool `current_time`", "delay_ms": delay_ms, "content": "Answer: 11 * 11 - 1 - 1 = 24" },
        { "when": "numbers 1 1 4 6 and", "delay_ms": delay_ms,
          "content": "6 * 4 * 1 * 1 is 24; let me check it.\nAnswer: 6 * 4 * 1 * 1 = 24",
          "tool_calls": [{ "name": "calculator", "arguments": { "expression": "6 * 4 * 1 * 1" } }] },
        { "when": "numbers 1 1 11 11 and", "delay_ms": delay_ms, "content": "Answer: 11 + 11 + 1 + 1 = 24",
          "tool_calls": [{ "name": "current_time", "arguments": {} }] },
        { "when": "numbers 1 1 3 8 and", "delay_ms": delay_ms, "content": "Answer: 1 + 1 + 3 + 8 = 24" }
    ]);
    let path = dir.join("script.json");
    std::fs::write(&path, script.to_string()).unwrap();
    format!("scripted:{}", path.display())
}

/// The id in the `benchmark <id>: ...` line the bench prints first.
fn benchmark_id(text: &str) -> String {
    let line = text.lines().find(|l| l.starts_with("benchmark ")).unwrap_or_else(|| panic!("no benchmark line: {text}"));
    line["benchmark ".len()..].split(':').next().unwrap().to_string()
}

fn count(home: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(home.join("agentos.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn from(conversation: &Value) -> Vec<String> {
    conversation.as_array().unwrap().iter().map(|t| t["from"].as_str().unwrap().to_string()).collect()
}

#[test]
fn bench_gym_scores_strategies_resumes_and_exports_training_data() {
    let home = tempfile::tempdir().unwrap();
    let model = script(home.path(), 0);
    let args = ["bench", "gym", "--env", "game24", "--strategies", "cot,react", "--model", &model, "--limit", "3"];
    let (out, text) = run(home.path(), &args);
    assert!(out.status.success(), "{text}");
    let id = benchmark_id(&text);
    assert!(id.starts_with("game24-"), "{id}");
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(table.contains("| strategy | episodes | successes |"), "{table}");
    assert!(table.contains("| cot | 3 | 2 | 66.7% "), "{table}");
    assert!(table.contains("| react | 3 | 1 | 33.3% "), "{table}");
    assert!(!text.contains("resuming"), "{text}");
    assert_eq!(count(home.path(), "SELECT COUNT(*) FROM runs"), 6);
    let results = home.path().join("bench");
    for extension in ["md", "csv", "json", "svg"] {
        let path = results.join(format!("{id}.{extension}"));
        assert!(path.is_file() && text.contains(&path.display().to_string()), "{} not written or not named: {text}", path.display());
    }
    assert_eq!(std::fs::read_to_string(results.join(format!("{id}.md"))).unwrap(), table);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(results.join(format!("{id}.json"))).unwrap()).unwrap();
    assert_eq!(summary["strategies"][0]["successes"], 2);

    // The same command again: the same benchmark, every episode skipped, no run started.
    let (out, again) = run(home.path(), &args);
    assert!(out.status.success(), "{again}");
    assert!(again.contains(&format!("resuming benchmark {id}: 6 of 6 episodes already done")), "{again}");
    assert!(again.contains("0 episodes ran now, 6 done before"), "{again}");

    // The episodes' runs are listed apart from runs started on their own.
    let (_, own) = run(home.path(), &["runs", "list"]);
    assert!(own.starts_with("no runs yet") && own.contains("--gym"), "{own}");
    let (_, gym) = run(home.path(), &["runs", "list", "--gym"]);
    let rows: Vec<&str> = gym.lines().collect();
    assert!(rows[0].contains("BENCHMARK") && rows.len() == 7 && rows[1..].iter().all(|r| r.contains(&id)), "{gym}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), table, "the same table");
    assert_eq!(count(home.path(), "SELECT COUNT(*) FROM runs"), 6, "no new run");

    // ShareGPT: exactly the three successful episodes, each from its last model call.
    let file = home.path().join("train.jsonl");
    let (out, text) = run(home.path(), &["export", "--benchmark", &id, "--format", "sharegpt", "--out", file.to_str().unwrap()]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("wrote 3 sharegpt lines: the successful episodes, of 6 ended (benchmark")
            && text.contains(&file.display().to_string()),
        "{text}"
    );
    let lines = jsonl(&file);
    let mut done: Vec<(String, String)> =
        lines.iter().map(|l| (l["strategy"].as_str().unwrap().to_string(), l["task"].as_str().unwrap().to_string())).collect();
    done.sort();
    assert_eq!(done, [("cot".to_string(), "1".to_string()), ("cot".into(), "2".into()), ("react".into(), "1".into())]);
    let react = lines.iter().find(|l| l["strategy"] == "react").unwrap();
    assert_eq!((&react["env"], &react["id"]), (&json!("game24"), &json!(format!("{id}:react:1"))));
    let turns = &react["conversations"];
    assert_eq!(from(turns), ["system", "human", "gpt", "function_call", "observation", "gpt"]);
    assert!(turns[1]["value"].as_str().unwrap().contains("Use the numbers 1 1 4 6"), "{turns}");
    let call: Value = serde_json::from_str(turns[3]["value"].as_str().unwrap()).unwrap();
    assert_eq!(call, json!({ "name": "calculator", "arguments": { "expression": "6 * 4 * 1 * 1" } }));
    assert!(turns[4]["value"].as_str().unwrap().contains("permission denied"), "{turns}");
    assert!(turns[5]["value"].as_str().unwrap().ends_with("Answer: 6 * 4 * 1 * 1 = 24"), "{turns}");
    assert!(react.get("tools").is_none(), "Game of 24 offers no tools");
    let cot = lines.iter().find(|l| l["strategy"] == "cot" && l["task"] == "2").unwrap();
    assert_eq!(from(&cot["conversations"]), ["system", "human", "gpt", "function_call"], "cot's reply, its ignored call included");
    assert_eq!(cot["conversations"][2]["value"], "Answer: 11 + 11 + 1 + 1 = 24");

    // DPO: only 1 1 11 11 has a success (cot) and a failure (react); puzzle 1 has no failure and
    // puzzle 3 no success. Without --out the lines go to stdout and the count to stderr.
    let out = agentos(home.path(), &["export", "--run", &id, "--format", "dpo"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote 1 dpo pair (benchmark"), "{}", String::from_utf8_lossy(&out.stderr));
    let pairs: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(pairs.len(), 1);
    let pair = &pairs[0];
    assert_eq!((&pair["task"], &pair["chosen_strategy"], &pair["rejected_strategy"]), (&json!("2"), &json!("cot"), &json!("react")));
    let roles = |messages: &Value| messages.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(roles(&pair["prompt"]), ["system", "user"]);
    assert!(pair["prompt"][1]["content"].as_str().unwrap().contains("1 1 11 11"));
    assert_eq!(roles(&pair["chosen"]), ["assistant"]);
    assert_eq!(pair["chosen"][0]["content"], "Answer: 11 + 11 + 1 + 1 = 24");
    assert_eq!(roles(&pair["rejected"]), ["assistant", "tool", "assistant"]);
    let call = &pair["rejected"][0]["tool_calls"][0];
    assert_eq!(
        (&call["type"], &call["function"]["name"], &call["function"]["arguments"]),
        (&json!("function"), &json!("current_time"), &json!("{}"))
    );
    assert_eq!(pair["rejected"][1]["tool_call_id"], call["id"]);
    assert_eq!(pair["rejected"][2]["content"], "Answer: 11 * 11 - 1 - 1 = 24");

    // An unknown benchmark names the known ones.
    let (out, text) = run(home.path(), &["export", "--benchmark", "nope", "--format", "dpo"]);
    assert!(!out.status.success() && text.contains("no benchmark `nope`") && text.contains(&format!("the benchmarks are: {id}")), "{text}");
}

#[test]
fn bad_settings_are_refused_naming_the_input() {
    let home = tempfile::tempdir().unwrap();
    let model = script(home.path(), 0);
    let cases: [(&[&str], &str); 7] = [
        (&["--strategies", "cot,tot"], "unknown strategy `tot`"),
        (&["--strategies", "cot", "--memory", "rag"], "unknown working memory `rag`; the policies are: window, hiagent, summary"),
        (
            &["--strategies", "cot", "--memory", "summary"],
            "--memory: the strategy `cot` cannot keep `--memory summary`; the strategies that can: react",
        ),
        (&["--strategies", "react", "--memory", "window,window"], "--memory: `window` is given twice"),
        (&["--strategies", "cot", "--env", "chess"], "unknown environment `chess`"),
        (&["--strategies", "cot", "--id", "a/b"], "--id `a/b`"),
        (&["--strategies", "cot", "--data", "/nonexistent"], "--data /nonexistent: no such folder"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["bench", "gym", "--model", &model, "--limit", "1"];
        if !extra.contains(&"--env") {
            args.extend(["--env", "game24"]);
        }
        args.extend(extra);
        let (out, text) = run(home.path(), &args);
        assert!(!out.status.success() && text.contains(want), "{args:?}: {text}");
    }
    let (out, text) = run(home.path(), &["export", "--benchmark", "nope", "--format", "sharegpt"]);
    assert!(!out.status.success() && text.contains("nothing is recorded yet") && text.contains("`agentos bench gym` creates it"), "{text}");
}

#[test]
fn an_interrupted_benchmark_says_how_to_resume_and_resumes() {
    let home = tempfile::tempdir().unwrap();
    let model = script(home.path(), 150);
    let args = [
        "bench",
        "gym",
        "--env",
        "game24",
        "--strategies",
        "cot,react",
        "--model",
        &model,
        "--limit",
        "3",
        "--concurrency",
        "1",
        "--id",
        "g24",
    ];
    let child = agentos(home.path(), &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let ended = "SELECT COUNT(*) FROM episodes WHERE reward IS NOT NULL";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !home.path().join("agentos.db").exists()
        || count(home.path(), "SELECT COUNT(*) FROM sqlite_master WHERE name = 'episodes'") == 0
        || count(home.path(), ended) < 1
    {
        assert!(Instant::now() < deadline, "no episode ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("interrupted: ") && text.contains("of 6 episodes of benchmark g24 done and recorded"), "{text}");
    assert!(text.contains("--id g24"), "the resume command is printed: {text}");
    let before = count(home.path(), ended);
    assert!(before < 6, "interrupted before the end: {before} ended");

    let (out, text) = run(home.path(), &args);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("resuming benchmark g24: {before} of 6 episodes already done")), "{text}");
    assert!(text.contains("| cot | 3 | 2 |") && text.contains("| react | 3 | 1 |"), "{text}");
    assert_eq!(count(home.path(), ended), 6);
}

#[test]
fn code_acting_strategies_and_feedback_run_from_the_command_line() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("code.json");
    let script = json!([
        { "when": "equals 25", "content": "Answer: 6 * 4 * 1 * 1 = 24" },
        { "when": "Task: Use the numbers", "content": "```python\nprint('Answer: 6 * 4 * 1 * 1 = 24')\n```" },
        { "content": "```python\nprint(check_answer('6 * 4 + 1 * 1'))\n```" }
    ]);
    std::fs::write(&path, script.to_string()).unwrap();
    let model = format!("scripted:{}", path.display());
    let args = ["bench", "gym", "--env", "game24", "--strategies", "pal,codeact", "--limit", "1", "--feedback", "--model", &model];
    let (out, text) = run(home.path(), &args);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("feedback before the answer on"), "{text}");
    assert!(text.contains("| pal | 1 | 1 | 100.0%"), "the program printed the answer: {text}");
    assert!(text.contains("| codeact | 1 | 1 | 100.0%"), "the check from Python came back, then the answer: {text}");
    assert!(!home.path().join("bench").join("work").join(benchmark_id(&text)).join("pal").join("1").exists(), "work directory removed");

    // Refused before anything runs: feedback where the environment gives none, and settings of
    // code actions for strategies that act in JSON.
    let (out, text) = run(home.path(), &["bench", "gym", "--env", "gsm8k", "--strategies", "pal", "--feedback", "--model", &model]);
    assert!(!out.status.success() && text.contains("--feedback: gsm8k gives no feedback before the answer"), "{text}");
    let (out, text) = run(home.path(), &["bench", "gym", "--env", "gsm8k", "--strategies", "cot", "--no-library", "--model", &model]);
    assert!(!out.status.success() && text.contains("--no-library applies to strategies that act in code"), "{text}");
}
