//! End-to-end tests of the real `agentos` binary against a real OpenAI-compatible HTTP server on
//! loopback (the simulated model), with a real SQLite database.

mod common;

use agentos_llm::simulated::SimulatedServer;
use common::{agentos, counting, output, text, uri};
use serde_json::json;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A run's id and its journal rows.
type Journal = (String, Vec<(i64, String, String, String)>);

/// (seq, kind, request, result) of every journaled step of the only run in the database; nothing
/// while the database or its tables do not exist yet.
fn journal(db: &Path) -> Journal {
    let read = || -> rusqlite::Result<Journal> {
        let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let run: String = conn.query_row("SELECT id FROM runs", [], |r| r.get(0))?;
        let mut stmt = conn.prepare("SELECT seq, kind, request, result FROM steps ORDER BY seq")?;
        let steps = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok((run, steps))
    };
    read().unwrap_or_default()
}

#[tokio::test]
async fn run_completes_a_multi_step_tool_task_and_shows_its_trajectory() {
    let home = tempfile::tempdir().unwrap();
    let server = SimulatedServer::start(Duration::from_millis(5), counting(2)).await.unwrap();
    let out = output(agentos(home.path(), &["run", "Count to two with the calculator.", "--model", &uri(&server)])).await;
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("[1] tool calculator({\"expression\":\"0+1\"}) = 1"), "{printed}");
    assert!(printed.contains("[3] tool calculator({\"expression\":\"1+1\"}) = 2"), "{printed}");
    assert!(printed.contains("answer: done"), "{printed}");

    let (run, steps) = journal(&home.path().join("agentos.db"));
    let kinds: Vec<&str> = steps.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(kinds, ["model", "tool", "model", "tool", "model"]);

    let show = output(agentos(home.path(), &["runs", "show", &run])).await;
    let shown = text(&show);
    assert!(
        show.status.success() && shown.contains("[finished]") && shown.contains("answer: done") && shown.contains("3 model calls"),
        "{shown}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&output(agentos(home.path(), &["runs", "show", &run, "--json"])).await.stdout).unwrap();
    assert_eq!(json["steps"].as_array().unwrap().len(), 5);
    assert_eq!(json["steps"][1]["result"]["content"], "1");
    let list = text(&output(agentos(home.path(), &["runs", "list"])).await);
    assert!(list.contains(&run) && list.contains("finished"), "{list}");
}

#[tokio::test]
async fn a_run_killed_with_sigkill_resumes_with_no_step_lost_or_repeated() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("agentos.db");
    let server = SimulatedServer::start(Duration::from_millis(150), counting(5)).await.unwrap();
    let mut child = agentos(home.path(), &["run", "Count to five with the calculator.", "--model", &uri(&server)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal(&db).1.len() < 4 {
        assert!(Instant::now() < deadline, "the run recorded no steps");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (run, before) = journal(&db);
    assert!(before.len() >= 4 && before.len() < 11, "killed mid-way: {} steps", before.len());

    let out = output(agentos(home.path(), &["resume", &run])).await;
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("answer: done"), "{printed}");
    assert_eq!(printed.matches("(replayed)").count(), before.len(), "each recorded step is replayed once: {printed}");

    let (_, after) = journal(&db);
    assert_eq!(after.iter().map(|s| s.0).collect::<Vec<_>>(), (0..11).collect::<Vec<_>>(), "no gap, no repeat");
    assert_eq!(&after[..before.len()], &before[..], "recorded steps are kept as they were");
    let model_steps = after.iter().filter(|s| s.1 == "model").count() as u64;
    assert_eq!(model_steps, 6);
    // Replayed model calls never reach the server again: over both processes the server saw each
    // model step once, plus at most the one call that was in flight (unrecorded) at the kill.
    let served = server.requests();
    assert!(
        (model_steps..=model_steps + 1).contains(&served),
        "{served} model calls for {model_steps} model steps: a recorded call was repeated"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "hi", "--model", "local:/nonexistent/model.gguf"], "/nonexistent/model.gguf"),
        (&["run", "hi", "--model", "local:no-such-model"], "agentos models pull no-such-model"),
        (&["run", "hi", "--model", "nope:x"], "unknown scheme `nope`"),
        (&["run", "hi", "--model", "openai-compatible:http://127.0.0.1:9/v1#m", "--strategy", "guess"], "unknown strategy `guess`"),
        (&["run", "hi", "--model", "openai-compatible:http://127.0.0.1:9/v1#m", "--tools", "teleport"], "unknown tool `teleport`"),
        (&["runs", "show", "nope"], "nothing is recorded yet"),
        (&["resume", "nope"], "nothing is recorded yet"),
    ];
    for (args, expected) in cases {
        let out = output(agentos(home.path(), args)).await;
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
}

#[tokio::test]
async fn help_teaches_with_examples() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["runs", "show", "--help"],
        &["resume", "--help"],
        &["bench", "kernel", "--help"],
        &["models", "--help"],
    ] {
        let out = output(agentos(home.path(), args)).await;
        assert!(out.status.success() && text(&out).contains("Example"), "{args:?}: {}", text(&out));
    }
}

#[tokio::test]
async fn run_drives_a_model_behind_agentos_serve() {
    use std::io::BufRead;
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("script.json");
    let calls = json!([
        { "tool_calls": [{ "name": "calculator", "arguments": { "expression": "6*7" } }] },
        { "content": "The answer is 42." }
    ]);
    std::fs::write(&script, calls.to_string()).unwrap();
    let model = format!("scripted:{}", script.display());
    let mut server = agentos(home.path(), &["serve", "--model", &model, "--addr", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut banner = String::new();
    std::io::BufReader::new(server.stderr.take().unwrap()).read_line(&mut banner).unwrap();
    let url =
        banner.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no address in `{banner}`")).to_string();

    let out = output(agentos(home.path(), &["run", "What is 6*7?", "--model", &format!("openai-compatible:{url}#{model}")])).await;
    server.kill().unwrap();
    server.wait().unwrap();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("[1] tool calculator({\"expression\":\"6*7\"}) = 42"), "{printed}");
    assert!(printed.contains("answer: The answer is 42."), "{printed}");
}
