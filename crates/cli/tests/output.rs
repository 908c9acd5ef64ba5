//! What the real `agentos` binary prints for people: the `runs list` table, `runs show` with its
//! requests, durations and status events, tasks from standard input and files, the local-model
//! loading line, and the exit statuses in `--help`. Models are scripted or simulated.

mod common;

use agentos_llm::simulated::SimulatedServer;
use common::{agentos, counting, output, text, uri};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A scripted model in `dir` that calls the calculator once, then answers `done`.
fn scripted(dir: &Path) -> String {
    let script = json!([
        { "content": "Let me compute.", "tool_calls": [{ "name": "calculator", "arguments": { "expression": "6*7" } }] },
        { "content": "done" }
    ]);
    let path = dir.join("script.json");
    std::fs::write(&path, script.to_string()).unwrap();
    format!("scripted:{}", path.display())
}

/// Whether `text` holds a local time with its zone, as `2026-12-02 06:01:13 +00:00`.
fn has_local_time(text: &str) -> bool {
    text.split("  ").any(|cell| {
        let b = cell.trim().as_bytes();
        b.len() == 26
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                10 | 19 => *c == b' ',
                13 | 16 | 23 => *c == b':',
                20 => *c == b'+' || *c == b'-',
                _ => c.is_ascii_digit(),
            })
    })
}

/// The id of the newest run, from `runs list --json`.
async fn newest_run(home: &Path) -> String {
    let listed: serde_json::Value = serde_json::from_slice(&output(agentos(home, &["runs", "list", "--json"])).await.stdout).unwrap();
    listed[0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn runs_list_is_a_table_with_a_header_local_times_models_and_cut_tasks() {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    let long = format!("Add these up. {}", "1 + ".repeat(30_000));
    std::fs::write(home.path().join("task.txt"), &long).unwrap();
    let out = output(agentos(home.path(), &["run", "--task-file", "task.txt", "--model", &model])).await;
    let printed = text(&out);
    assert!(out.status.success(), "{}", &printed[..2000.min(printed.len())]);
    let header = printed.lines().find(|l| l.starts_with("task: ")).unwrap();
    assert!(header.len() < 1000 && header.contains("more characters]"), "the run header shows the task cut: {header}");

    let mut list = agentos(home.path(), &["runs", "list"]);
    list.env("COLUMNS", "150");
    let out = output(list).await;
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    let columns: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(columns, ["ID", "STATUS", "STARTED", "STRATEGY", "MODEL", "TASK"], "{listed}");
    let row = lines[1];
    assert!(row.contains("finished") && row.contains("react") && has_local_time(row), "{row}");
    assert!(row.contains("scripted:") && row.contains("Add these up. 1 + 1 +") && row.ends_with('…'), "{row}");
    assert!(row.chars().count() <= 150, "the row fits 150 columns: {} characters", row.chars().count());
    // The task column starts where its header does.
    assert_eq!(lines[0].find("TASK"), row.find("Add these up."), "{listed}");

    let json: serde_json::Value = serde_json::from_slice(&output(agentos(home.path(), &["runs", "list", "--json"])).await.stdout).unwrap();
    assert_eq!(json[0]["task"].as_str().unwrap(), long, "--json keeps the whole task");
    assert_eq!(json[0]["model"].as_str().unwrap(), model);
    assert!(json[0]["benchmark"].is_null());
}

#[tokio::test]
async fn run_reads_its_task_from_standard_input_and_refuses_an_empty_one() {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    let mut child = agentos(home.path(), &["run", "-", "--model", &model]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"What is 6*7?\nUse the calculator.\n").unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let run = newest_run(home.path()).await;
    let shown: serde_json::Value =
        serde_json::from_slice(&output(agentos(home.path(), &["runs", "show", &run, "--json"])).await.stdout).unwrap();
    assert_eq!(shown["task"], "What is 6*7?\nUse the calculator.");

    // `output` gives the command an empty standard input.
    let out = output(agentos(home.path(), &["run", "-", "--model", &model])).await;
    assert!(!out.status.success() && text(&out).contains("the task read from standard input (`agentos run -`) is empty"), "{}", text(&out));
    let out = output(agentos(home.path(), &["run", "--task-file", "missing.md", "--model", &model])).await;
    assert!(!out.status.success() && text(&out).contains("--task-file missing.md: cannot read the task"), "{}", text(&out));
    let out = output(agentos(home.path(), &["run", "hi", "--task-file", "missing.md", "--model", &model])).await;
    assert!(!out.status.success() && text(&out).contains("cannot be used with"), "{}", text(&out));
}

fn steps(db: &Path) -> i64 {
    let count = || -> rusqlite::Result<i64> {
        let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.query_row("SELECT COUNT(*) FROM steps", [], |r| r.get(0))
    };
    count().unwrap_or(0)
}

#[tokio::test]
async fn runs_show_gives_requests_durations_and_the_suspension_and_resumption_in_order() {
    let home = tempfile::tempdir().unwrap();
    let server = SimulatedServer::start(Duration::from_millis(100), counting(4)).await.unwrap();
    let model = uri(&server);
    let child = agentos(home.path(), &["run", "Count to four with the calculator.", "--model", &model])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while steps(&home.path().join("agentos.db")) < 2 {
        assert!(Instant::now() < deadline, "the run recorded no steps");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SAFETY: signals a child process of this test.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap().status;
    assert_eq!(status.code(), Some(3), "Ctrl-C suspends the run: exit status 3");
    let run = newest_run(home.path()).await;
    let resumed = output(agentos(home.path(), &["resume", &run])).await;
    assert!(resumed.status.success(), "{}", text(&resumed));

    let out = output(agentos(home.path(), &["runs", "show", &run])).await;
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    let started = shown.lines().find_map(|l| l.strip_prefix("started: ")).unwrap_or_else(|| panic!("no start time in\n{shown}"));
    assert!(has_local_time(started), "{shown}");
    let lines: Vec<&str> = shown.lines().collect();
    let at = |what: &str| lines.iter().position(|l| l.contains(what)).unwrap_or_else(|| panic!("no `{what}` in\n{shown}"));
    let (suspended, resumed) = (at("  suspended"), at("  resumed"));
    assert!(lines[suspended].starts_with("-- ") && has_local_time(&lines[suspended][3..]), "{shown}");
    assert!(suspended < resumed && lines[resumed].starts_with("-- "), "{shown}");
    assert!(lines[..suspended].iter().any(|l| l.starts_with("[1] tool")), "a step came before the suspension:\n{shown}");
    assert!(lines[resumed..].iter().any(|l| l.starts_with("[8] model")), "the run went on after the resumption:\n{shown}");
    assert!(at("  finished") > resumed, "{shown}");

    // Every step has its duration; each model step the messages its request added.
    let step_lines: Vec<&&str> = lines.iter().filter(|l| l.starts_with('[')).collect();
    assert_eq!(step_lines.len(), 9, "{shown}");
    for line in step_lines {
        let mark = line.split(')').next().unwrap();
        assert!(mark.ends_with(" ms") || mark.ends_with(" s"), "no duration in `{line}`");
    }
    assert!(lines[at("[0] model") - 1].contains("> user: Count to four with the calculator."), "{shown}");
    let second = at("[2] model");
    assert!(lines[second - 1].starts_with("      > tool result (") && lines[second - 1].ends_with(": 1"), "{shown}");
    assert_eq!(shown.matches("> user: Count to four").count(), 1, "a request shows only what it added:\n{shown}");
    assert!(shown.contains("usage: 5 model calls,"), "{shown}");
}

#[tokio::test]
async fn a_local_model_says_it_is_loading_and_help_gives_the_exit_statuses() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("broken.gguf");
    std::fs::write(&file, vec![0u8; 3 << 20]).unwrap();
    let out = output(agentos(home.path(), &["run", "hi", "--model", &format!("local:{}", file.display())])).await;
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(printed.contains("loading local model broken (3 MiB) …"), "{printed}");

    for args in [&["run", "--help"][..], &["resume", "--help"]] {
        let help = text(&output(agentos(home.path(), args)).await);
        assert!(
            help.contains("Exit status:\n  0  the run finished")
                && help.contains("\n  3  it was suspended")
                && help.contains("\n  4  it was cancelled"),
            "{help}"
        );
    }
}
