//! Team runs with the real `agentos` binary: a debate killed with SIGKILL in the middle of a round
//! resumes without any member repeating a recorded model call (the simulated model server on
//! loopback counts every call), `runs show` prints the team as a tree, `runs list` leaves members
//! out, and a member cannot be resumed on its own; the example team file runs with `--team`.

mod common;

use agentos_llm::simulated::SimulatedServer;
use common::{agentos, counting, output, text, uri};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The model steps journaled by the members of team run `team`.
fn member_model_steps(home: &Path, team: &str) -> i64 {
    let conn = rusqlite::Connection::open(home.join("agentos.db")).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM steps s JOIN team_members tm ON tm.run = s.run \
         WHERE s.kind = 'model' AND tm.team = (SELECT key FROM runs WHERE id = ?1)",
        [team],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

/// Waits until `holds` is true, failing with `what` if it never comes.
async fn eventually(what: &str, holds: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !holds() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_debate_killed_mid_round_resumes_without_repeating_a_member_call() {
    let home = tempfile::tempdir().unwrap();
    // Every member answers `done` (no tool calls); the third call of the first round is held.
    let server = SimulatedServer::start(Duration::from_millis(1), counting(0)).await.unwrap();
    server.hold_from(Some(2));
    let model = uri(&server);
    let mut child = agentos(home.path(), &["run", "Say done.", "--model", &model, "--strategy", "debate"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    let team = first.strip_prefix("run ").and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("{first:?}")).to_string();
    eventually("the three members never called the model", || server.requests() >= 3).await;
    eventually("two answers were never journaled", || member_model_steps(home.path(), &team) == 2).await;
    child.kill().unwrap(); // SIGKILL: nothing more is recorded
    child.wait().unwrap();
    server.hold_from(None);

    let out = output(agentos(home.path(), &["resume", &team])).await;
    let said = text(&out);
    assert!(out.status.success() && said.contains("answer: done"), "{said}");
    assert_eq!(member_model_steps(home.path(), &team), 3, "one model call per member, none twice");
    assert_eq!(server.requests(), 4, "the server saw the two journaled calls once, and the held one again");

    let shown = output(agentos(home.path(), &["runs", "show", &team])).await;
    let tree = text(&shown);
    assert!(tree.contains("team: 3 members, stopped (consensus) in round 0; 3 messages on the board"), "{tree}");
    for member in ["├─ agent-1  [finished]", "├─ agent-2  [finished]", "└─ agent-3  [finished]"] {
        assert!(tree.contains(member), "{member} in {tree}");
    }
    assert!(tree.contains("│   [1] round 0 post (") && tree.contains("ms): done"), "each member's steps are under it: {tree}");

    let json: Value = serde_json::from_slice(&output(agentos(home.path(), &["runs", "show", &team, "--json"])).await.stdout).unwrap();
    assert_eq!(json["team"]["stopped"]["reason"], "consensus");
    assert_eq!(json["team"]["members"].as_array().unwrap().len(), 3);
    assert_eq!(json["usage"]["model_calls"], 3, "a team's usage is its members'");

    let listed = text(&output(agentos(home.path(), &["runs", "list"])).await);
    assert_eq!(listed.lines().count(), 2, "the team alone, not its members: {listed}");
    let member = format!("{team}.agent-1");
    let refused = output(agentos(home.path(), &["resume", &member])).await;
    let said = text(&refused);
    assert!(!refused.status.success() && said.contains(&format!("a member resumes with its team: `agentos resume {team}`")), "{said}");
}

#[tokio::test]
async fn the_example_team_file_runs_with_team_and_stops_when_the_reviewer_approves() {
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("script.json");
    let replies = serde_json::json!({ "native_tools": false, "responses": [
        { "when": "You are `reviewer`", "content": "Every step is right. APPROVED\nAnswer: 4" },
        { "content": "2 + 2 = 4.\nAnswer: 4" },
    ] });
    std::fs::write(&script, replies.to_string()).unwrap();
    let model = format!("scripted:{}", script.display());
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/teams/review.toml");
    let file = file.to_str().unwrap();
    let out = output(agentos(home.path(), &["run", "What is 2 + 2?", "--model", &model, "--team", file])).await;
    let said = text(&out);
    assert!(out.status.success() && said.contains("answer: 4"), "{said}");
    let team = said.lines().next().and_then(|l| l.strip_prefix("run ")).and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    let tree = text(&output(agentos(home.path(), &["runs", "show", &team])).await);
    assert!(tree.contains("team: 2 members, stopped (answer) in round 1; 2 messages on the board"), "{tree}");
    let json: Value = serde_json::from_slice(&output(agentos(home.path(), &["runs", "show", &team, "--json"])).await.stdout).unwrap();
    assert_eq!(json["team"]["stopped"]["detail"]["condition"], "mention(\"APPROVED\") and min_rounds(2)");
}
