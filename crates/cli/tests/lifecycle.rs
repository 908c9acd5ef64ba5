//! A run's life with the real `agentos` binary: one process at a time drives a run (leases),
//! signals and Ctrl-C stop it at once and leave it resumable, a dead process's run shows as
//! interrupted, and `resume` takes new limits. The model is the simulated OpenAI-compatible
//! server on loopback; the database is real SQLite.

mod common;

use agentos_llm::simulated::SimulatedServer;
use common::{agentos, counting, output, text, uri};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The positions of the journaled steps of `run`.
fn seqs(home: &Path, run: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(home.join("agentos.db")).unwrap();
    let mut stmt = conn.prepare("SELECT seq FROM steps WHERE run = (SELECT key FROM runs WHERE id = ?1) ORDER BY seq").unwrap();
    stmt.query_map([run], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

/// The run as `runs show --json` gives it.
async fn show(home: &Path, run: &str) -> Value {
    let out = output(agentos(home, &["runs", "show", run, "--json"])).await;
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

/// Starts `agentos run` on `server` and returns the child and its run id, read from the first
/// line it prints.
fn start(home: &Path, server: &SimulatedServer, extra: &[&str]) -> (Child, String) {
    let mut args = vec!["run", "Count with the calculator.", "--model"];
    let model = uri(server);
    args.push(&model);
    args.extend_from_slice(extra);
    let mut child = agentos(home, &args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    let run = first.strip_prefix("run ").and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("printed {first:?}"));
    (child, run.to_string())
}

/// Waits until `holds` is true, failing with `what` if it never comes.
async fn eventually(what: &str, holds: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !holds() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `server` has received `n` requests.
async fn requests(server: &SimulatedServer, n: u64) {
    eventually(&format!("the model never received {n} requests"), || server.requests() >= n).await;
}

/// Waits until `server` has seen its client abandon one request (it notices the closed
/// connection on its own time).
async fn abandoned(server: &SimulatedServer) {
    eventually("the model server never saw the call in flight cancelled", || server.abandoned() == 1).await;
}

/// Waits for `child` to exit and returns its exit code; kills it and fails if it does not exit
/// while the model call it abandoned would still be pending.
async fn exit_code(mut child: Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("agentos did not stop: the model call in flight was not abandoned");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// Starts a run whose second model call is held unanswered, waits until that call is in flight,
/// and stops the process with `sig`. Returns the run, the server (now answering every call) and
/// agentos's exit code.
async fn stopped_mid_call(home: &Path, sig: libc::c_int) -> (String, SimulatedServer, i32) {
    let server = SimulatedServer::start(Duration::from_millis(1), counting(2)).await.unwrap();
    server.stall_from(Some(1));
    let (child, run) = start(home, &server, &[]);
    requests(&server, 2).await;
    signal(&child, sig);
    let code = exit_code(child).await;
    server.stall_from(None);
    (run, server, code)
}

#[tokio::test]
async fn a_second_driver_of_a_live_run_is_refused_with_who_holds_it() {
    let home = tempfile::tempdir().unwrap();
    let server = SimulatedServer::start(Duration::from_millis(1), counting(1)).await.unwrap();
    server.stall_from(Some(0));
    let (mut child, run) = start(home.path(), &server, &[]);
    requests(&server, 1).await;

    let second = output(agentos(home.path(), &["resume", &run])).await;
    let said = text(&second);
    assert_eq!(second.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("run {run} is being driven by process {}", child.id())), "{said}");
    assert_eq!(server.requests(), 1, "the refused resume made no model call");
    let listed = text(&output(agentos(home.path(), &["runs", "list"])).await);
    assert!(listed.contains("running"), "{listed}");

    child.kill().unwrap(); // SIGKILL: no chance to record anything
    child.wait().unwrap();
    assert_eq!(show(home.path(), &run).await["status"], "interrupted", "a run whose process died shows as interrupted");
}

#[tokio::test]
async fn ctrl_c_abandons_the_model_call_in_flight_and_the_run_resumes_without_repeating_a_step() {
    let home = tempfile::tempdir().unwrap();
    let (run, server, code) = stopped_mid_call(home.path(), libc::SIGINT).await;
    assert_eq!(code, 3, "suspended");
    abandoned(&server).await;
    let before = seqs(home.path(), &run);
    assert_eq!(before, [0, 1], "the first model call and its tool call; nothing of the abandoned call");
    assert_eq!(show(home.path(), &run).await["status"], "suspended");

    let out = output(agentos(home.path(), &["resume", &run])).await;
    let said = text(&out);
    assert!(out.status.success() && said.contains("answer: done"), "{said}");
    assert_eq!(said.matches("(replayed)").count(), 2, "{said}");
    assert_eq!(seqs(home.path(), &run), [0, 1, 2, 3, 4], "no step lost or repeated");
    assert_eq!(server.requests(), 2 + 2, "only the abandoned call and the last one were sent again");
}

#[tokio::test]
async fn a_sigterm_stops_the_run_at_once_and_leaves_it_interrupted_and_resumable() {
    let home = tempfile::tempdir().unwrap();
    let (run, server, code) = stopped_mid_call(home.path(), libc::SIGTERM).await;
    assert_eq!(code, 3);
    abandoned(&server).await;
    assert_eq!(show(home.path(), &run).await["status"], "interrupted");
    let listed = text(&output(agentos(home.path(), &["runs", "list"])).await);
    assert!(listed.contains("interrupted"), "{listed}");
    let shown = text(&output(agentos(home.path(), &["runs", "show", &run])).await);
    assert!(shown.contains("interrupted: SIGTERM"), "the run's events say what stopped it: {shown}");

    let out = output(agentos(home.path(), &["resume", &run])).await;
    assert!(out.status.success() && text(&out).contains("answer: done"), "{}", text(&out));
    assert_eq!(seqs(home.path(), &run), [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn a_closed_output_interrupts_the_run() {
    let home = tempfile::tempdir().unwrap();
    let server = SimulatedServer::start(Duration::from_millis(50), counting(3)).await.unwrap();
    // As `agentos run … | head -1`: the reader goes away after the first line.
    let (mut child, run) = start(home.path(), &server, &[]);
    drop(child.stdout.take());
    let code = exit_code(child).await;
    assert_eq!(code, 3);
    let shown = show(home.path(), &run).await;
    assert_eq!(shown["status"], "interrupted", "{shown}");
    let out = output(agentos(home.path(), &["resume", &run])).await;
    assert!(out.status.success() && text(&out).contains("answer: done"), "{}", text(&out));
}

#[tokio::test]
async fn resume_with_a_raised_step_limit_finishes_a_run_that_failed_on_it() {
    let home = tempfile::tempdir().unwrap();
    let server = SimulatedServer::start(Duration::from_millis(1), counting(3)).await.unwrap();
    let out = output(agentos(home.path(), &["run", "Count.", "--model", &uri(&server), "--max-steps", "2"])).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("no final answer within 2 steps") && said.contains("--max-steps"), "{said}");
    let run = said.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(seqs(home.path(), &run), [0, 1, 2, 3]);

    let out = output(agentos(home.path(), &["resume", &run, "--max-steps", "10"])).await;
    let said = text(&out);
    assert!(out.status.success() && said.contains("answer: done"), "{said}");
    assert_eq!(seqs(home.path(), &run), (0..7).collect::<Vec<_>>(), "no step lost or repeated");
    assert_eq!(server.requests(), 4, "each model step was asked once");
    let spec: Value = {
        let conn = rusqlite::Connection::open(home.path().join("agentos.db")).unwrap();
        let spec: String = conn.query_row("SELECT spec FROM runs WHERE id = ?1", [&run], |r| r.get(0)).unwrap();
        serde_json::from_str(&spec).unwrap()
    };
    assert_eq!(spec["max_steps"], 10, "the new limit is stored with the run");
    let conn = rusqlite::Connection::open(home.path().join("agentos.db")).unwrap();
    let resumed: String =
        conn.query_row("SELECT payload FROM events WHERE kind = 'status' AND payload LIKE '%resumed%'", [], |r| r.get(0)).unwrap();
    assert!(resumed.contains(r#""max_steps":[2,10]"#), "the resume records what it changed: {resumed}");
    let shown = text(&output(agentos(home.path(), &["runs", "show", &run])).await);
    assert!(shown.contains("resumed with max_steps 2 → 10"), "{shown}");
}

#[tokio::test]
async fn a_relative_scripted_path_is_found_again_from_another_folder() {
    let home = tempfile::tempdir().unwrap();
    let script = json!([
        { "tool_calls": [{ "name": "calculator", "arguments": { "expression": "2+2" } }] },
        { "content": "4" }
    ]);
    std::fs::write(home.path().join("script.json"), script.to_string()).unwrap();
    let out = output(agentos(home.path(), &["run", "Add.", "--model", "scripted:script.json", "--max-steps", "1"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let run = text(&out).split_whitespace().nth(1).unwrap().to_string();

    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let mut resume = agentos(home.path(), &["resume", &run, "--max-steps", "3"]);
    resume.current_dir(&elsewhere);
    let out = output(resume).await;
    assert!(out.status.success() && text(&out).contains("answer: 4"), "{}", text(&out));
    let model = show(home.path(), &run).await["model"].as_str().unwrap().to_string();
    assert_eq!(model, format!("scripted:{}", home.path().join("script.json").display()));
}
