//! Long-term memory end to end, through the real `agentos` binary, a real SQLite database and the
//! real sentence encoder: with scripted models, a run for a person keeps a fact with `remember`,
//! a second run for the same person is briefed with it (its answer depends on the briefing),
//! `agentos memory` lists, shows, exports and forgets it, and bad scopes are refused naming
//! them; with the real local model (Qwen2.5-Coder-0.5B), a fact the first run's exchange taught
//! (extracted and merged after it, Mem0-style) answers the second run's question.

mod common;

use common::{agentos, output, text};
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// `agentos` with the encoder the test suite uses (pulled once into the real cache).
fn agentos_with_memory(home: &Path, args: &[&str]) -> Command {
    let mut cmd = agentos(home, args);
    cmd.env("AGENTOS_EMBEDDING_MODEL", agentos_models::encoder_model().expect("the sentence encoder is pulled"));
    cmd
}

fn script(home: &Path, name: &str, responses: serde_json::Value) -> String {
    let path = home.join(name);
    std::fs::write(&path, responses.to_string()).unwrap();
    format!("scripted:{}", path.display())
}

#[tokio::test]
async fn a_second_run_for_the_same_person_recalls_what_the_first_kept() {
    let home = tempfile::tempdir().unwrap();
    let first = script(
        home.path(),
        "first.json",
        json!([
            { "tool_calls": [{ "name": "remember", "arguments": { "text": "Dana's favourite fruit is mango." } }] },
            { "content": "Noted." }
        ]),
    );
    let out = output(agentos_with_memory(
        home.path(),
        &["run", "My favourite fruit is mango.", "--model", &first, "--memory-scope", "person:dana", "--tools", "calculator"],
    ))
    .await;
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("tool remember") && printed.contains("in person:dana"), "{printed}");

    // The answer depends on the briefing: only a task that came with `mango` gets it.
    let second = script(
        home.path(),
        "second.json",
        json!([
            { "when": "mango", "content": "Your favourite fruit is mango." },
            { "content": "I do not know." }
        ]),
    );
    let out = output(agentos_with_memory(
        home.path(),
        &["run", "Which fruit do I like best?", "--model", &second, "--memory-scope", "person:dana"],
    ))
    .await;
    let printed = text(&out);
    assert!(out.status.success() && printed.contains("answer: Your favourite fruit is mango."), "{printed}");
    assert!(printed.contains("[0] memory: recall 5 from person:dana") && printed.contains("Dana's favourite fruit is mango."), "{printed}");

    let listed = text(&output(agentos(home.path(), &["memory", "list", "--scope", "person:dana"])).await);
    assert!(listed.contains("person:dana  trusted from model  Dana's favourite fruit is mango."), "{listed}");
    let id = listed.split_whitespace().next().unwrap().to_string();
    let shown = text(&output(agentos(home.path(), &["memory", "show", &id])).await);
    assert!(shown.contains("source: model (trusted)") && shown.contains("written by run"), "{shown}");
    let out = output(agentos(home.path(), &["memory", "export", "--out", "dana.jsonl"])).await;
    assert!(out.status.success(), "{}", text(&out));
    let exported = std::fs::read_to_string(home.path().join("dana.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(exported.trim()).unwrap();
    assert_eq!((line["id"].as_str(), line["trust"].as_str()), (Some(id.as_str()), Some("trusted")));

    let out = output(agentos(home.path(), &["memory", "forget", &id])).await;
    assert!(out.status.success() && text(&out).contains(&format!("forgot {id}")), "{}", text(&out));
    let listed = text(&output(agentos(home.path(), &["memory", "list"])).await);
    assert!(listed.contains("no memory kept"), "{listed}");
    let out = output(agentos(home.path(), &["memory", "forget", &id])).await;
    assert!(!out.status.success() && text(&out).contains(&format!("no memory item `{id}`")), "{}", text(&out));
}

#[tokio::test]
async fn bad_memory_scopes_are_refused_naming_them() {
    let home = tempfile::tempdir().unwrap();
    for (scope, why) in [("team:red", "comes with the team"), ("run:abc", "working memory is its own"), ("dana", "no `:`")] {
        let out = output(agentos(home.path(), &["run", "hi", "--model", "scripted:none.json", "--memory-scope", scope])).await;
        let printed = text(&out);
        assert!(!out.status.success() && printed.contains(scope) && printed.contains(why), "{scope}: {printed}");
    }
    let out = output(agentos(home.path(), &["memory", "list", "--scope", "galaxy:far"])).await;
    assert!(!out.status.success() && text(&out).contains("galaxy:far"), "{}", text(&out));
}

#[tokio::test]
async fn with_the_local_model_a_second_run_knows_what_the_first_exchange_taught() {
    let home = tempfile::tempdir().unwrap();
    let model = format!("local:{}", agentos_models::test_model().expect("the test model is pulled").display());
    let run = |task: &str| {
        let mut cmd =
            agentos_with_memory(home.path(), &["run", task, "--model", &model, "--strategy", "cot", "--memory-scope", "person:dana"]);
        cmd.args(["--max-steps", "3"]);
        output(cmd)
    };
    let out = run("I just moved to Lisbon and my favourite fruit is mango. Suggest a dessert for me in one sentence.").await;
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    let kept = text(&output(agentos(home.path(), &["memory", "list", "--scope", "person:dana", "--json"])).await);
    let items: serde_json::Value = serde_json::from_str(&kept).unwrap_or_else(|e| panic!("{e}: {kept}\n{printed}"));
    let items = items.as_array().unwrap();
    assert!(
        items.iter().any(|i| i["text"].as_str().unwrap_or("").to_lowercase().contains("mango") && i["source"] == "model"),
        "the first run kept the fact: {kept}\n{printed}"
    );

    let out = run("What is my favourite fruit? Answer with the fruit only.").await;
    let printed = text(&out);
    let answer = printed.lines().find_map(|l| l.strip_prefix("answer: ")).unwrap_or_default().to_lowercase();
    assert!(out.status.success() && answer.contains("mango"), "{printed}");
}

#[tokio::test]
async fn bench_memory_compares_recalled_turns_with_the_whole_history() {
    let home = tempfile::tempdir().unwrap();
    let model = script(home.path(), "answers.json", json!([{ "content": "Answer: 0" }]));
    let out = output(agentos_with_memory(
        home.path(),
        &["bench", "memory", "--model", &model, "--conversations", "1", "--problems", "2", "--sessions", "2", "-k", "3"],
    ))
    .await;
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("2 questions over 1 conversations of 2 sessions"), "{printed}");
    let memory = printed.lines().find(|l| l.starts_with("| memory (recalled turns) | 0/2 (0 %) |")).unwrap_or_else(|| panic!("{printed}"));
    assert!(memory.contains("% (k = 3)"), "{memory}");
    assert!(printed.lines().any(|l| l.starts_with("| whole history | 0/2 (0 %) | all turns |")), "{printed}");
    // One ingest run and two runs per question, journaled like any other.
    let runs = text(&output(agentos(home.path(), &["runs", "list", "--json"])).await);
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 5, "{runs}");
}

#[tokio::test]
async fn a_profile_is_set_by_the_person_and_told_in_the_system_message_of_their_runs() {
    let home = tempfile::tempdir().unwrap();
    for profile in ["I eat no meat.", "I am vegetarian. Keep answers short."] {
        let out = output(agentos_with_memory(home.path(), &["memory", "profile", "dana", "--set", profile])).await;
        assert!(out.status.success() && text(&out).contains("set the profile of dana"), "{}", text(&out));
    }
    let out = output(agentos(home.path(), &["memory", "profile", "eve"])).await;
    assert!(
        !out.status.success() && text(&out).contains("eve has no profile; set one with `agentos memory profile eve --set"),
        "{}",
        text(&out)
    );
    let shown = text(&output(agentos(home.path(), &["memory", "profile", "dana"])).await);
    assert!(shown.starts_with("I am vegetarian. Keep answers short."), "{shown}");
    let history = text(&output(agentos(home.path(), &["memory", "list", "--history", "--scope", "person:dana"])).await);
    assert!(history.contains("trusted from profile (superseded)  I eat no meat."), "{history}");

    let model = script(home.path(), "dinner.json", json!([{ "content": "Lentil curry." }]));
    let out =
        output(agentos(home.path(), &["run", "Plan my dinner.", "--model", &model, "--profile", "dana", "--tools", "calculator"])).await;
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_str(&text(&output(agentos(home.path(), &["runs", "list", "--json"])).await)).unwrap();
    let run = list[0]["id"].as_str().unwrap().to_string();
    let shown: serde_json::Value =
        serde_json::from_slice(&output(agentos(home.path(), &["runs", "show", &run, "--json"])).await.stdout).unwrap();
    let system = shown["steps"][0]["request"]["messages"][0].to_string();
    assert!(system.contains("About the person you are helping, in their own words: I am vegetarian. Keep answers short."), "{system}");

    let out = output(agentos(home.path(), &["run", "hi", "--model", &model, "--profile", "nobody"])).await;
    assert!(!out.status.success() && text(&out).contains("--profile nobody: nobody has no profile"), "{}", text(&out));
}

#[tokio::test]
async fn memory_blocks_are_set_by_hand_pinned_in_a_run_and_edited_by_its_model() {
    let home = tempfile::tempdir().unwrap();
    let out = output(agentos(home.path(), &["memory", "block", "person:dana", "human", "--set", "Dana is a chef."])).await;
    assert!(out.status.success() && text(&out).contains("set memory block `human` of person:dana (15 characters)"), "{}", text(&out));
    for (args, error) in [
        (["memory", "block", "person:dana", "Bad!", "--set", "x"], "bad memory block label `Bad!`"),
        (["memory", "block", "run:abc", "human", "--set", "x"], "not in `run:abc`"),
    ] {
        let out = output(agentos(home.path(), &args)).await;
        assert!(!out.status.success() && text(&out).contains(error), "{}", text(&out));
    }

    let model = script(
        home.path(),
        "edit.json",
        json!([
            { "tool_calls": [{ "name": "memory_append", "arguments": { "label": "human", "text": "Dana is moving to Lisbon." } }] },
            { "content": "Noted." }
        ]),
    );
    let out = output(agentos_with_memory(
        home.path(),
        &["run", "I am moving to Lisbon.", "--model", &model, "--memory-scope", "person:dana", "--tools", "calculator"],
    ))
    .await;
    let printed = text(&out);
    assert!(out.status.success() && printed.contains("memory: pin the memory blocks of person:dana = human (trusted)"), "{printed}");
    let blocks = text(&output(agentos(home.path(), &["memory", "blocks", "person:dana"])).await);
    assert!(blocks.starts_with("human  (trusted, written by run ") && blocks.contains("41 of 2000 characters)"), "{blocks}");
    assert!(blocks.ends_with("\n  Dana is a chef.\n  Dana is moving to Lisbon.\n"), "{blocks}");

    let list: serde_json::Value = serde_json::from_str(&text(&output(agentos(home.path(), &["runs", "list", "--json"])).await)).unwrap();
    let run = list[0]["id"].as_str().unwrap().to_string();
    let shown: serde_json::Value =
        serde_json::from_slice(&output(agentos(home.path(), &["runs", "show", &run, "--json"])).await.stdout).unwrap();
    let system = shown["steps"].as_array().unwrap().iter().find_map(|s| s["request"]["messages"].get(0)).unwrap().to_string();
    assert!(system.contains(r#"<human chars=\"15/2000\">\nDana is a chef.\n</human>"#), "{system}");
}
