//! `agentos play` with the real binary: a game of Who is the spy on scripted players, each on
//! its own model, ends with the table of per-player outcomes (and `--json` with the outcome as a
//! last line); bad settings are refused naming their flag, before any database is made.

mod common;

use common::{agentos, output, text};
use serde_json::{json, Value};
use std::path::Path;

/// A player's script in `home`: a vague description, and a vote for `votes_for`.
fn player(home: &Path, name: &str, votes_for: u32) -> String {
    let path = home.join(format!("{name}.json"));
    let script = json!({ "native_tools": false, "responses": [
        { "when": "describe your word", "content": "Description: something many people enjoy." },
        { "when": ": vote", "content": format!("Vote: Player {votes_for}") },
    ]});
    std::fs::write(&path, script.to_string()).unwrap();
    format!("direct@scripted:{}", path.display())
}

#[tokio::test]
async fn a_game_of_spygame_prints_every_players_outcome() {
    let home = tempfile::tempdir().unwrap();
    // Everyone votes for Player 1, who votes for Player 2: Player 1 is out in round 1.
    let players: Vec<String> = (1..=3).map(|i| player(home.path(), &format!("p{i}"), if i == 1 { 2 } else { 1 })).collect();
    let mut args = vec!["play", "spygame", "--players", "3", "--seed", "4"];
    for p in &players {
        args.extend(["--player", p.as_str()]);
    }
    let out = output(agentos(home.path(), &args)).await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("PLAYER") && said.contains("DISQUALIFIED"), "the table: {said}");
    let rows: Vec<&str> = said.lines().filter(|l| l.starts_with("player-")).collect();
    assert_eq!(rows.len(), 3, "{said}");
    assert!(rows[0].contains("p1.json") && rows[0].contains("direct"), "{}", rows[0]);
    assert!(rows[0].split_whitespace().any(|cell| cell == "1"), "player-1 was out in round 1: {}", rows[0]);

    args.push("--json");
    let out = output(agentos(home.path(), &args)).await;
    let printed = String::from_utf8_lossy(&out.stdout);
    let last: Value = serde_json::from_str(printed.lines().last().unwrap()).unwrap();
    let outcome = &last["outcome"];
    assert_eq!(outcome["game"], "spygame");
    assert_eq!(outcome["players"][0]["eliminated_in"], 1);
    assert_eq!(outcome["players"][0]["votes_received"], 2);
}

#[tokio::test]
async fn bad_game_settings_are_refused_naming_their_flag() {
    let home = tempfile::tempdir().unwrap();
    let model = player(home.path(), "p", 1);
    for (args, expected) in [
        (vec!["play", "spygame", "--players", "2", "--player", &model], "--players 2: must be from 3 to 8"),
        (vec!["play", "auction", "--noise", "95", "--player", &model], "--noise 95: must be from 0 to 90"),
        (vec!["play", "spygame", "--player", "smart@openai:gpt-4o"], "--player `smart@openai:gpt-4o`: unknown style `smart`"),
        (
            vec!["play", "auction", "--bidders", "2", "--player", &format!("{model},{model},{model}")],
            "--player was given 3 times for 2 seats",
        ),
        (vec!["play", "spygame", "--player", "cot@scripted:/nonexistent/script.json"], "--player scripted:/nonexistent/script.json"),
    ] {
        let out = output(agentos(home.path(), &args)).await;
        let said = text(&out);
        assert!(!out.status.success() && said.contains(expected), "{args:?}: expected `{expected}` in {said}");
    }
    assert!(!home.path().join("agentos.db").exists(), "nothing was played");
}

#[tokio::test]
async fn each_game_has_help_with_examples() {
    let home = tempfile::tempdir().unwrap();
    for game in ["spygame", "auction"] {
        let out = output(agentos(home.path(), &["play", game, "--help"])).await;
        let said = text(&out);
        assert!(out.status.success() && said.contains("Examples:") && said.contains(&format!("agentos play {game} --")), "{said}");
    }
}
