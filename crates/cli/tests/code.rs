//! End-to-end tests of code actions through the real `agentos` binary: `run --actions code` with a
//! scripted model and a real sandbox, `runs show` rendering code steps, the action library
//! commands `actions list / show / rm`, and the strategies that act only in code.

mod common;

use common::{agentos, output, text};

/// A scripted model that writes `column_mean` and prints the mean, then answers with it.
const SCRIPT: &str = r#"[
  {"content": "I will define a helper and use it.\n```python\ndef column_mean(path, column):\n    \"\"\"Mean of a CSV column.\"\"\"\n    import csv\n    with open(path) as f:\n        values = [float(row[column]) for row in csv.DictReader(f)]\n    return sum(values) / len(values)\n\nmean = column_mean('prices.csv', 'price')\nprint('mean', mean)\n```"},
  {"when": "mean 3.0", "content": "```python\nfinal_answer(f'{mean:.1f}')\n```"}
]"#;

#[tokio::test]
async fn run_with_code_actions_shows_its_cells_and_keeps_its_functions_in_the_library() {
    let home = tempfile::tempdir().unwrap();
    let work = home.path().join("data");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("prices.csv"), "item,price\napple,1.5\npear,2.5\nmelon,5.0\n").unwrap();
    let script = home.path().join("script.json");
    std::fs::write(&script, SCRIPT).unwrap();
    let model = format!("scripted:{}", script.display());
    let task = "What is the mean of the price column in prices.csv?";

    let out = output(agentos(home.path(), &["run", task, "--actions", "code", "--workdir", "data", "--model", &model])).await;
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    // The code streams as the model writes it; its step shows the output, not the code again.
    assert!(printed.contains("[2] code: the block above\n      output:\n      | [stdout]\n      | mean 3.0"), "{printed}");
    assert_eq!(printed.matches("def column_mean(path, column):").count(), 1, "{printed}");
    assert!(printed.contains("defined: column_mean(path, column)") && printed.contains("answer: 3.0"), "{printed}");

    let runs = text(&output(agentos(home.path(), &["runs", "list"])).await);
    let run = runs.lines().nth(1).and_then(|row| row.split_whitespace().next()).unwrap().to_string();
    let shown = text(&output(agentos(home.path(), &["runs", "show", &run])).await);
    assert!(shown.contains("[0] library (") && shown.contains("): no function relevant to the task"), "{shown}");
    assert!(
        shown.contains("model (") && shown.contains(":\n      | ```python\n      | final_answer(f'{mean:.1f}')\n      | ```"),
        "{shown}"
    );
    assert!(shown.contains("): the block above\n      output:\n      | [final answer]\n      | 3.0"), "{shown}");
    assert_eq!(shown.matches("final_answer(f'{mean:.1f}')").count(), 1, "each code block is shown once:\n{shown}");
    assert_eq!(shown.matches("def column_mean(path, column):").count(), 1, "each code block is shown once:\n{shown}");

    let list = output(agentos(home.path(), &["actions", "list"])).await;
    let listed = text(&list);
    assert!(list.status.success() && listed.contains("column_mean") && listed.contains("Mean of a CSV column."), "{listed}");
    let show = output(agentos(home.path(), &["actions", "show", "column_mean"])).await;
    let about = text(&show);
    assert!(show.status.success() && about.starts_with("column_mean(path, column)\noffered to 0 runs, used by 0"), "{about}");
    assert!(about.contains(&format!("written by run {run}")) && about.contains("return sum(values) / len(values)"), "{about}");

    // A second run on a related task is offered the function.
    let second = home.path().join("second.json");
    std::fs::write(&second, r#"[{"content": "```python\nfinal_answer(column_mean('prices.csv', 'price'))\n```"}]"#).unwrap();
    let model = format!("scripted:{}", second.display());
    let out =
        output(agentos(home.path(), &["run", "Average price in prices.csv?", "--actions", "code", "--workdir", "data", "--model", &model]))
            .await;
    let printed = text(&out);
    assert!(out.status.success() && printed.contains("[0] library: offered column_mean(path, column)"), "{printed}");
    let json: serde_json::Value =
        serde_json::from_slice(&output(agentos(home.path(), &["actions", "show", "column_mean", "--json"])).await.stdout).unwrap();
    assert_eq!((json["uses"].as_u64(), json["successes"].as_u64()), (Some(1), Some(1)), "{json}");

    let rm = output(agentos(home.path(), &["actions", "rm", "column_mean"])).await;
    assert!(rm.status.success(), "{}", text(&rm));
    let again = output(agentos(home.path(), &["actions", "rm", "column_mean"])).await;
    assert!(!again.status.success() && text(&again).contains("no function `column_mean`"), "{}", text(&again));
    assert!(text(&output(agentos(home.path(), &["actions", "list"])).await).contains("is empty"));
}

#[tokio::test]
async fn code_actions_are_refused_for_a_strategy_without_them() {
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("script.json");
    std::fs::write(&script, SCRIPT).unwrap();
    let model = format!("scripted:{}", script.display());
    let out = output(agentos(home.path(), &["run", "Count.", "--actions", "code", "--strategy", "cot", "--model", &model])).await;
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(printed.contains("the strategy `cot` cannot act with `--actions code`; the strategies that can: react, codeact"), "{printed}");
    let bad = output(agentos(home.path(), &["run", "Count.", "--actions", "python", "--model", &model])).await;
    assert!(text(&bad).contains("unknown action mode `python`; the modes are: json, code"), "{}", text(&bad));
}

#[tokio::test]
async fn strategies_that_act_only_in_code_run_in_code_without_being_told() {
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("pal.json");
    std::fs::write(&script, r#"[{"content": "```python\neggs = 16 - 3 - 4\nprint(eggs * 2)\n```"}]"#).unwrap();
    let model = format!("scripted:{}", script.display());
    let out = output(agentos(home.path(), &["run", "How many dollars?", "--strategy", "pal", "--model", &model])).await;
    let printed = text(&out);
    assert!(out.status.success() && printed.contains("| 18") && printed.contains("answer: 18"), "{printed}");

    let out = output(agentos(home.path(), &["run", "Count.", "--strategy", "codeact", "--actions", "json", "--model", &model])).await;
    let printed = text(&out);
    assert!(!out.status.success() && printed.contains("the strategy `codeact` cannot act with `--actions json`"), "{printed}");
    let out = output(agentos(home.path(), &["run", "Count.", "--no-library", "--model", &model])).await;
    let printed = text(&out);
    assert!(!out.status.success() && printed.contains("--no-library applies to code actions only"), "{printed}");
}
