//! End-to-end tests of `agentos simulate epidemic`: the real binary, a temporary AGENTOS_HOME with
//! its SQLite database, and a scripted model that answers every archetype the same.

mod common;

use common::{agentos, text};
use serde_json::{json, Value};
use std::path::Path;

/// A scripted model that answers every question `Probability: 0.25`, as a model URI.
fn scripted(home: &Path) -> String {
    let path = home.join("script.json");
    std::fs::write(&path, json!([{ "content": "Half would stay home.\nProbability: 0.25" }]).to_string()).unwrap();
    format!("scripted:{}", path.display())
}

#[test]
fn a_simulation_is_one_run_with_one_model_call_per_archetype_per_day() {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    let args = ["simulate", "epidemic", "--agents", "500", "--steps", "3", "--archetypes", "2", "--seed", "4", "--model", &model];
    let out = agentos(home.path(), &[&args[..], &["--json"]].concat()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let days = printed["history"]["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert!(days.iter().all(|d| d["model_calls"] == 2 && d["answers"][1]["probability"] == 0.25), "{days:?}");
    assert_eq!(printed["scenario"], json!({ "agents": 500, "steps": 3, "archetypes": 2, "seed": 4 }));

    // The same command prints a line a day and the table, and the run is listed with the first.
    let out = agentos(home.path(), &args).output().unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    for expected in ["epidemic: 500 agents in 2 archetypes, 3 days, seed 4: 6 model calls", "day 3/3: S ", "p(isolate) 0.25 0.25"] {
        assert!(said.contains(expected), "`{expected}` in: {said}");
    }
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("step  susceptible  exposed  infectious  recovered  isolating  model calls"), "{table}");
    assert!(table.contains("6 model calls for 500 agents in 2 archetypes over 3 days"), "{table}");
    let rows: Vec<&str> =
        table.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && !l.contains("model calls")).collect();
    assert_eq!(rows.len(), 4, "day 0 and three days: {table}");
    let listed = agentos(home.path(), &["runs", "list"]).output().unwrap();
    assert_eq!(text(&listed).matches("population").count(), 2, "{}", text(&listed));
}
