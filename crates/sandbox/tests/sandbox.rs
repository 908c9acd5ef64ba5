//! The sandbox as a notebook: state, outputs, tools, limits, restarts, and bad code as observations.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agentos_sandbox::{bench, Interruption, NoTools, Sandbox, SandboxConfig, SandboxError};
use common::{add_spec, config, Adder};

async fn start(config: SandboxConfig) -> Sandbox {
    match Sandbox::start(config).await {
        Ok(sandbox) => sandbox,
        Err(e) => panic!("the sandbox did not start: {e}"),
    }
}

#[tokio::test]
async fn variables_imports_and_definitions_persist_between_executions() {
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = start(config(dir.path())).await;
    for code in ["import math\nx = 20", "def double(n):\n    return 2 * n", "class Point:\n    pass"] {
        let execution = sandbox.execute(code, &NoTools).await.unwrap();
        assert!(execution.succeeded() && execution.value.is_none(), "{execution}");
    }
    let execution = sandbox.execute("p = Point()\ndouble(x) + int(math.sqrt(4))", &NoTools).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("42"), "{execution}");
    let execution = sandbox.execute("_ + 1", &NoTools).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("43"), "the last value is `_`, as in Jupyter: {execution}");
    let execution = sandbox.execute("import pickle\npickle.loads(pickle.dumps(p)).__class__.__name__", &NoTools).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("'Point'"), "classes live in a real __main__: {execution}");
}

#[tokio::test]
async fn the_value_is_the_repr_of_a_last_expression_that_is_not_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = start(config(dir.path())).await;
    for (code, value) in [("'text'", Some("'text'")), ("[1, 2][0:1]", Some("[1]")), ("None", None), ("y = 3", None), ("print('x')", None)] {
        let execution = sandbox.execute(code, &NoTools).await.unwrap();
        assert_eq!(execution.value.as_deref(), value, "{code}: {execution}");
    }
}

#[tokio::test]
async fn stdout_and_stderr_are_captured_per_execution_and_cannot_forge_frames() {
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = start(config(dir.path())).await;
    let code = "import os, sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\nos.write(1, b'raw fd 1\\n')\n\
                sys.stdout.buffer.write(b'\\x00\\x00\\x00\\x0f{\"type\":\"done\"}')\nsys.stdout.flush()";
    let execution = sandbox.execute(code, &NoTools).await.unwrap();
    assert!(execution.succeeded(), "{execution}");
    assert!(execution.stdout.starts_with("to stdout\nraw fd 1\n"), "{execution:?}");
    assert!(execution.stdout.ends_with("{\"type\":\"done\"}"), "a frame printed is just output: {execution:?}");
    assert_eq!(execution.stderr, "to stderr\n");
    let execution = sandbox.execute("print('next')", &NoTools).await.unwrap();
    assert_eq!((execution.stdout.as_str(), execution.stderr.as_str()), ("next\n", ""), "nothing carries over");
}

#[tokio::test]
async fn exceptions_and_syntax_errors_are_observations_with_the_codes_own_traceback() {
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = start(config(dir.path())).await;
    sandbox.execute("x = 1", &NoTools).await.unwrap();
    let execution = sandbox.execute("def inner():\n    return {}['missing']\n\nprint('before')\ninner()", &NoTools).await.unwrap();
    let exception = execution.exception.as_ref().expect("a KeyError");
    assert_eq!((exception.type_name.as_str(), exception.message.as_str()), ("KeyError", "'missing'"));
    assert!(
        exception.traceback.contains("line 5, in <module>") && exception.traceback.contains("line 2, in inner"),
        "{}",
        exception.traceback
    );
    assert!(exception.traceback.contains("return {}['missing']"), "source lines are shown: {}", exception.traceback);
    assert!(!exception.traceback.contains("agentos-driver"), "{}", exception.traceback);
    assert_eq!(execution.stdout, "before\n");

    let execution = sandbox.execute("def broken(:\n    pass", &NoTools).await.unwrap();
    let exception = execution.exception.as_ref().expect("a SyntaxError");
    assert_eq!(exception.type_name, "SyntaxError");
    assert!(exception.traceback.contains("<cell-") && !exception.traceback.contains("ast.py"), "{}", exception.traceback);
    let execution = sandbox.execute("raise SystemExit(3)", &NoTools).await.unwrap();
    assert_eq!(execution.exception.as_ref().map(|e| e.type_name.as_str()), Some("SystemExit"), "{execution}");
    let execution = sandbox.execute("x", &NoTools).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("1"), "errors do not reset the state: {execution}");
}

#[tokio::test]
async fn long_outputs_are_cut_with_a_note_saying_how_much() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.limits.output_bytes = 1000;
    let mut sandbox = start(config).await;
    let code = "print('a' * 100_000)\nimport sys\nprint('e' * 5000, file=sys.stderr)\n'v' * 50_000";
    let execution = sandbox.execute(code, &NoTools).await.unwrap();
    for (part, text, cut) in [("stdout", &execution.stdout, 100_001 - 1000), ("stderr", &execution.stderr, 5001 - 1000)] {
        assert!(text.len() < 1200, "{part} is {} bytes", text.len());
        assert!(text.contains(&format!("[... {cut} bytes cut here")), "{part}: {text}");
    }
    let value = execution.value.expect("a value");
    assert!(value.len() < 1200 && value.contains(&format!("[... {} bytes cut here", 50_002 - 1000)), "{value}");
    assert!(value.starts_with("'vvv") && value.ends_with("vvv'"), "head and tail are kept: {value}");
    let execution = sandbox.execute("raise ValueError('m' * 10_000)", &NoTools).await.unwrap();
    let exception = execution.exception.expect("a ValueError");
    assert!(exception.traceback.len() < 1200 && exception.traceback.ends_with("mmm\n"), "{}", exception.traceback);
}

#[tokio::test]
async fn host_tools_are_python_functions_answered_by_the_handler() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.tools = vec![add_spec()];
    let mut sandbox = start(config).await;
    let execution = sandbox.execute("total = add(2, 3)\ntotal = add(a=int(total), b=10)\ntotal", &Adder).await.unwrap();
    assert_eq!((execution.value.as_deref(), execution.tool_calls), (Some("'15'"), 2), "{execution}");
    let code = "try:\n    add(1, 'x')\nexcept ToolError as e:\n    print('refused:', e)\nadd.__doc__";
    let execution = sandbox.execute(code, &Adder).await.unwrap();
    assert!(execution.stdout.starts_with("refused: add needs integers"), "{execution}");
    assert!(execution.value.as_deref().is_some_and(|doc| doc.contains("Adds two integers.") && doc.contains("a (integer)")), "{execution}");
    let execution = sandbox.execute("add(1, 2, 3)", &Adder).await.unwrap();
    assert_eq!(execution.exception.map(|e| e.type_name), Some("TypeError".to_string()));
    let execution = sandbox.execute("add(1, b=object())", &Adder).await.unwrap();
    let exception = execution.exception.expect("arguments that are not JSON");
    assert!(exception.message.contains("JSON values"), "{}", exception.message);
}

/// Answers every call with its arguments, as JSON.
struct Echo;

#[async_trait::async_trait]
impl agentos_sandbox::ToolHandler for Echo {
    async fn call(&self, _name: &str, arguments: serde_json::Value) -> Result<String, String> {
        Ok(arguments.to_string())
    }
}

#[tokio::test]
async fn an_optional_tool_parameter_given_as_none_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    let parameters = serde_json::json!({
        "type": "object",
        "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["path"]
    });
    config.tools = vec![agentos_core::ToolSpec { name: "head".into(), description: "First lines.".into(), parameters }];
    let mut sandbox = start(config).await;
    let execution = sandbox.execute("[head('a.txt', None), head('a.txt', limit=3), head(None)]", &Echo).await.unwrap();
    let want = r#"['{"path":"a.txt"}', '{"limit":3,"path":"a.txt"}', '{"path":null}']"#;
    assert_eq!(execution.value.as_deref(), Some(want), "a required parameter keeps its None for the tool to refuse");
}

#[tokio::test]
async fn each_execution_reports_the_top_level_functions_it_defined() {
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = start(config(dir.path())).await;
    let code =
        "import functools\n\ndef helper(x, *, scale=2):\n    \"\"\"Scales x.\n\n    Twice by default.\"\"\"\n    return x * scale\n\n\
                @functools.lru_cache\ndef cached(n):\n    return n\n\nif False:\n    def never():\n        pass\n\n\
                def rebound():\n    pass\nrebound = 3\n\ndef outer():\n    def nested():\n        pass\n\nasync def later(): pass\n";
    let execution = sandbox.execute(code, &NoTools).await.unwrap();
    assert!(execution.succeeded(), "{execution}");
    let names: Vec<&str> = execution.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["helper", "cached", "outer", "later"], "defined by this cell, top level only, still bound");
    let helper = &execution.functions[0];
    assert_eq!((helper.signature.as_str(), helper.docstring.as_str()), ("helper(x, *, scale=2)", "Scales x.\n\nTwice by default."));
    assert!(helper.source.starts_with("def helper(x, *, scale=2):") && helper.source.ends_with("return x * scale\n"), "{helper:?}");
    assert!(
        execution.functions[1].source.starts_with("import functools\n\n@functools.lru_cache\ndef cached(n):"),
        "decorators belong to the source, and the import they use: {:?}",
        execution.functions[1]
    );
    let execution = sandbox.execute("def helper(x):\n    return x\nraise ValueError('after the def')", &NoTools).await.unwrap();
    assert_eq!(execution.functions.len(), 1, "a def that ran counts even if the cell raised later: {execution}");
    assert!(sandbox.execute("helper(1)", &NoTools).await.unwrap().functions.is_empty(), "calling defines nothing");
}

/// A library function `name` defined by `source`.
fn function(name: &str, source: &str) -> agentos_core::FunctionDefinition {
    agentos_core::FunctionDefinition { name: name.into(), source: source.into(), ..Default::default() }
}

#[tokio::test]
async fn library_functions_are_defined_at_start_and_after_a_restart_and_their_calls_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.limits.timeout = Duration::from_millis(500);
    config.tools = vec![add_spec()];
    config.library = vec![
        function("double", "def double(n):\n    \"\"\"Twice n.\"\"\"\n    return 2 * n\n"),
        function("quadruple", "def double(n):\n    return 2 * n\n\ndef quadruple(n):\n    return double(double(n))\n"),
        function("octuple", "def octuple(n):\n    return quadruple(double(n))\n"),
        function("root", "def root(n):\n    return math.sqrt(n)\n"),
        function("inverse", "def inverse(n):\n    return 1 / n\n"),
        function("answer", "def answer():\n    final_answer(str(int(add(40, 2))))\n"),
        function("broken", "def broken(:\n"),
        function("add", "def add(a, b):\n    return 0\n"),
    ];
    let mut sandbox = start(config).await;
    let failures = sandbox.library_failures();
    assert_eq!(failures.keys().collect::<Vec<_>>(), ["add", "broken", "octuple", "root"], "{failures:?}");
    assert!(failures["broken"].contains("SyntaxError") && failures["add"].contains("taken by a tool"), "{failures:?}");
    assert!(
        failures["root"].contains("NameError: it uses math, which its source neither imports nor defines"),
        "a function must bring what it uses: {failures:?}"
    );
    assert!(failures["octuple"].contains("uses double, quadruple"), "another library function is not its own: {failures:?}");
    let execution = sandbox.execute("root", &NoTools).await.unwrap();
    assert_eq!(execution.exception.map(|e| e.type_name).as_deref(), Some("NameError"), "a function that failed is not defined");
    let execution = sandbox.execute("quadruple(3) + double(1) + int(add(1, 1))", &Adder).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("16"), "the tool keeps its name: {execution}");
    assert_eq!(
        execution.library_calls,
        [("double".to_string(), 1), ("quadruple".to_string(), 1)].into(),
        "quadruple calls the double of its own source, not the library's"
    );
    assert!(execution.functions.is_empty(), "library functions are not the cell's definitions");
    let code = "try:\n    inverse(0)\nexcept ZeroDivisionError:\n    pass\ninverse(4)";
    let execution = sandbox.execute(code, &NoTools).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("0.25"), "{execution}");
    assert_eq!(execution.library_calls, [("inverse".to_string(), 2)].into());
    assert_eq!(execution.library_raised, [("inverse".to_string(), 1)].into(), "a raise counts even when the code caught it");
    let execution = sandbox.execute("answer()", &Adder).await.unwrap();
    assert_eq!(execution.final_answer.as_deref(), Some("42"), "tools and final_answer are there: {execution}");
    assert!(execution.library_raised.is_empty(), "ending with final_answer is not raising: {execution:?}");
    let execution = sandbox.execute("def sextuple(n):\n    return double(n) * 3", &NoTools).await.unwrap();
    assert_eq!(
        execution.functions[0].source,
        "def double(n):\n    \"\"\"Twice n.\"\"\"\n    return 2 * n\n\ndef sextuple(n):\n    return double(n) * 3\n",
        "a library function it calls comes with it"
    );
    let execution = sandbox.execute("double.__doc__", &NoTools).await.unwrap();
    assert_eq!((execution.value.as_deref(), execution.library_calls.len()), (Some("'Twice n.'"), 0), "counts are per execution");
    let execution = sandbox.execute("while True: pass", &NoTools).await.unwrap();
    assert!(execution.timed_out() && execution.restarted, "{execution}");
    let execution = sandbox.execute("double(21)", &NoTools).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("42"), "a fresh interpreter defines the library again: {execution}");
}

#[tokio::test]
async fn a_defined_functions_source_carries_the_imports_and_functions_it_needs_and_runs_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = start(config(dir.path())).await;
    let setup = "import csv\nimport os.path\nimport json as j\nfrom statistics import mean as average\nRATE = 2\n\n\
                 def rows(path):\n    with open(path) as f:\n        return list(csv.DictReader(f))\n";
    assert!(sandbox.execute(setup, &NoTools).await.unwrap().succeeded());
    let code = "def values(path, column):\n    return [float(r[column]) for r in rows(path)]\n\n\
                def column_mean(path, column):\n    \"\"\"Mean of a CSV column.\"\"\"\n    return average(values(path, column))\n\n\
                def stem(path):\n    return os.path.splitext(path)[0]\n\n\
                def scaled(x):\n    return x * RATE\n";
    let execution = sandbox.execute(code, &NoTools).await.unwrap();
    assert!(execution.succeeded(), "{execution}");
    let source = |name: &str| execution.functions.iter().find(|f| f.name == name).unwrap().source.clone();
    assert_eq!(
        source("column_mean"),
        "import csv\nfrom statistics import mean as average\n\n\
         def rows(path):\n    with open(path) as f:\n        return list(csv.DictReader(f))\n\n\
         def values(path, column):\n    return [float(r[column]) for r in rows(path)]\n\n\
         def column_mean(path, column):\n    \"\"\"Mean of a CSV column.\"\"\"\n    return average(values(path, column))\n",
        "its imports (from earlier cells too) and the functions it calls, transitively, each once"
    );
    assert_eq!(source("stem"), "import os.path\n\ndef stem(path):\n    return os.path.splitext(path)[0]\n");
    assert_eq!(source("scaled"), "def scaled(x):\n    return x * RATE\n", "a variable is not carried");
    let execution = sandbox.execute("csv = None\ndef first(path):\n    return csv.reader(path)", &NoTools).await.unwrap();
    assert_eq!(execution.functions[0].source, "def first(path):\n    return csv.reader(path)", "`csv` no longer names the module");

    // A fresh interpreter defines each from its source alone, and refuses the one that cannot stand on its own.
    std::fs::write(dir.path().join("work/prices.csv"), "item,price\napple,1.5\npear,2.5\n").unwrap();
    let mut fresh = config(dir.path());
    fresh.library = ["column_mean", "stem", "scaled"].map(|name| function(name, &source(name))).to_vec();
    let mut fresh = start(fresh).await;
    let failures = fresh.library_failures();
    assert_eq!(failures.keys().collect::<Vec<_>>(), ["scaled"], "{failures:?}");
    assert!(failures["scaled"].contains("uses RATE"), "{failures:?}");
    let execution = fresh.execute("column_mean('prices.csv', 'price'), stem('a/b.txt')", &NoTools).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("(2.0, 'a/b')"), "{execution}");
    let execution = fresh.execute("rows", &NoTools).await.unwrap();
    assert!(execution.exception.is_some(), "only the function's own name is bound where the code runs: {execution}");
}

#[tokio::test]
async fn final_answer_records_the_answer_and_ends_the_execution() {
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = start(config(dir.path())).await;
    let code = "try:\n    final_answer({'mean': 2.5})\nexcept Exception:\n    print('caught')\nprint('not reached')";
    let execution = sandbox.execute(code, &NoTools).await.unwrap();
    assert_eq!(execution.final_answer.as_deref(), Some("{'mean': 2.5}"), "{execution}");
    assert!(execution.succeeded() && execution.stdout.is_empty(), "{execution}");
    let execution = sandbox.execute("final_answer('done')", &NoTools).await.unwrap();
    assert_eq!(execution.final_answer.as_deref(), Some("done"));
    let execution = sandbox.execute("1", &NoTools).await.unwrap();
    assert_eq!(execution.final_answer, None, "an answer belongs to one execution");
}

#[tokio::test]
async fn an_infinite_loop_times_out_and_a_fresh_interpreter_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.limits.timeout = Duration::from_secs(1);
    let mut sandbox = start(config).await;
    sandbox.execute("x = 1\nopen('kept.txt', 'w').write('file')", &NoTools).await.unwrap();
    let execution = sandbox.execute("print('looping', flush=True)\nwhile True:\n    pass", &NoTools).await.unwrap();
    assert!(execution.timed_out() && execution.restarted, "{execution:?}");
    assert_eq!(execution.stdout, "looping\n", "output before the kill is kept");
    assert!(execution.to_string().contains("earlier executions are gone"), "{execution}");
    assert_eq!(sandbox.restarts(), 1);
    let execution = sandbox.execute("x", &NoTools).await.unwrap();
    assert_eq!(execution.exception.map(|e| e.type_name), Some("NameError".to_string()), "the state was lost");
    let execution = sandbox.execute("open('kept.txt').read()", &NoTools).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("'file'"), "the work directory was not");
}

#[tokio::test]
async fn an_abandoned_execution_does_not_answer_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = start(config(dir.path())).await;
    sandbox.execute("x = 1", &NoTools).await.unwrap();
    let cancelled =
        tokio::time::timeout(Duration::from_millis(300), sandbox.execute("import time\ntime.sleep(5)\n'stale'", &NoTools)).await;
    assert!(cancelled.is_err(), "the slow execution was abandoned");
    let execution = sandbox.execute("'fresh'", &NoTools).await.unwrap();
    assert_eq!((execution.value.as_deref(), execution.restarted), (Some("'fresh'"), true), "{execution}");
    assert!(execution.to_string().contains("[restarted]"), "{execution}");
    assert_eq!(sandbox.execute("x", &NoTools).await.unwrap().exception.map(|e| e.type_name), Some("NameError".to_string()));
}

#[tokio::test]
async fn time_spent_in_tool_calls_does_not_count_against_the_timeout() {
    struct Slow;
    #[async_trait::async_trait]
    impl agentos_sandbox::ToolHandler for Slow {
        async fn call(&self, _name: &str, _arguments: serde_json::Value) -> Result<String, String> {
            tokio::time::sleep(Duration::from_millis(700)).await;
            Ok("slept".into())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.limits.timeout = Duration::from_secs(1);
    config.tools = vec![add_spec()];
    let mut sandbox = start(config).await;
    let execution = sandbox.execute("[add(1, 1) for _ in range(3)][-1]", &Slow).await.unwrap();
    assert_eq!(execution.value.as_deref(), Some("'slept'"), "{execution}");
}

#[tokio::test]
async fn the_cpu_time_limit_kills_and_restarts_the_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.limits.cpu_seconds = 1;
    config.limits.timeout = Duration::from_secs(120);
    let mut sandbox = start(config).await;
    let execution = sandbox.execute("while True:\n    pass", &NoTools).await.unwrap();
    let signal = execution.killed_by_signal();
    assert!(signal == Some(libc::SIGXCPU) || signal == Some(libc::SIGKILL), "{execution:?}");
    assert!(execution.restarted && !execution.timed_out(), "{execution:?}");
    assert_eq!(sandbox.execute("2 + 2", &NoTools).await.unwrap().value.as_deref(), Some("4"));
}

#[tokio::test]
async fn memory_and_file_size_limits_raise_inside_python() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.limits.memory_bytes = 512 << 20;
    config.limits.file_size_bytes = 1 << 20;
    let mut sandbox = start(config).await;
    sandbox.execute("kept = 'state'", &NoTools).await.unwrap();
    let execution = sandbox.execute("block = bytearray(2 << 30)", &NoTools).await.unwrap();
    assert_eq!(execution.exception.map(|e| e.type_name), Some("MemoryError".to_string()));
    let execution = sandbox.execute("chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))", &NoTools).await.unwrap();
    assert_eq!(execution.exception.map(|e| e.type_name), Some("MemoryError".to_string()));
    let execution = sandbox.execute("del chunks\nopen('big.bin', 'wb').write(b'x' * (2 << 20))", &NoTools).await.unwrap();
    let exception = execution.exception.expect("a file over the limit");
    assert!(exception.message.contains("File too large"), "{}", exception.message);
    let execution = sandbox.execute("kept", &NoTools).await.unwrap();
    assert_eq!((execution.value.as_deref(), execution.restarted), (Some("'state'"), false), "{execution}");
}

#[tokio::test]
async fn new_processes_are_refused_and_exiting_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = start(config(dir.path())).await;
    let execution = sandbox.execute("import subprocess\nsubprocess.run(['echo', 'hi'])", &NoTools).await.unwrap();
    assert_eq!(execution.exception.map(|e| e.type_name), Some("PermissionError".to_string()));
    let execution = sandbox.execute("import os\nos.system('echo hi')", &NoTools).await.unwrap();
    assert!(execution.value.as_deref() != Some("0") && !execution.stdout.contains("hi"), "{execution}");
    let execution = sandbox
        .execute("import threading\nbox = []\nt = threading.Thread(target=box.append, args=(7,))\nt.start(); t.join()\nbox", &NoTools)
        .await
        .unwrap();
    assert_eq!(execution.value.as_deref(), Some("[7]"), "threads are allowed: {execution}");
    let execution = sandbox.execute("os._exit(3)", &NoTools).await.unwrap();
    assert_eq!(execution.interruption, Some(Interruption::Died { signal: None, exit_code: Some(3) }));
    assert!(execution.restarted);
}

#[tokio::test]
async fn a_looping_fork_bombing_sandbox_leaves_another_answering() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad_config = config(&dir.path().join("bad"));
    bad_config.limits.timeout = Duration::from_secs(4);
    let mut bad = start(bad_config).await;
    let mut good = start(config(&dir.path().join("good"))).await;
    let bad_finished = AtomicBool::new(false);
    let bomb = async {
        let execution = bad
            .execute(
                "import os\ntry:\n    while True:\n        os.fork()\nexcept OSError as e:\n    print(e)\nwhile True:\n    pass",
                &NoTools,
            )
            .await;
        bad_finished.store(true, Ordering::SeqCst);
        execution.unwrap()
    };
    let answers = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut answered_while_bad_ran = 0;
        for n in 0..20 {
            let execution = good.execute(&format!("{n} * 2"), &NoTools).await.unwrap();
            assert_eq!(execution.value, Some((n * 2).to_string()));
            answered_while_bad_ran += usize::from(!bad_finished.load(Ordering::SeqCst));
        }
        answered_while_bad_ran
    };
    let (bombed, answered_while_bad_ran) = tokio::join!(bomb, answers);
    assert!(bombed.timed_out() && bombed.stdout.contains("Operation not permitted"), "{bombed:?}");
    assert_eq!(answered_while_bad_ran, 20, "the good sandbox answered while the bad one looped");
    assert_eq!(good.execute("'still here'", &NoTools).await.unwrap().value.as_deref(), Some("'still here'"));
}

#[tokio::test]
async fn the_code_sees_only_the_granted_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.env = vec![("GRANTED".into(), "yes".into())];
    let mut sandbox = start(config).await;
    let execution = sandbox.execute("import os\nsorted(os.environ)", &NoTools).await.unwrap();
    let expected = "['GRANTED', 'HOME', 'LANG', 'PATH', 'PYTHONDONTWRITEBYTECODE', 'PYTHONIOENCODING', 'PYTHONUNBUFFERED', 'TMPDIR']";
    assert_eq!(execution.value.as_deref(), Some(expected), "{execution}");
    let execution = sandbox
        .execute("import tempfile, os\nos.path.dirname(tempfile.mkstemp()[1]) == os.getcwd() == os.environ['HOME']", &NoTools)
        .await
        .unwrap();
    assert_eq!(execution.value.as_deref(), Some("True"), "temporary files go to the work directory: {execution}");
}

#[tokio::test]
async fn bad_configurations_are_refused_with_the_input_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut missing_python = config(dir.path());
    missing_python.python = Some("/nonexistent/python3".into());
    let err = Sandbox::start(missing_python).await.unwrap_err();
    assert!(matches!(err, SandboxError::PythonUnusable { .. }) && err.to_string().contains("/nonexistent/python3"), "{err}");

    let err = Sandbox::start(SandboxConfig::new("/")).await.unwrap_err();
    assert!(matches!(err, SandboxError::WorkDir { .. }) && err.to_string().contains("a directory of its own"), "{err}");

    let mut bad_tool = config(dir.path());
    bad_tool.tools = vec![agentos_core::ToolSpec { name: "read-file".into(), ..add_spec() }];
    let err = Sandbox::start(bad_tool).await.unwrap_err();
    assert!(err.to_string().contains("\"read-file\""), "{err}");
}

#[tokio::test]
async fn the_report_lists_the_mechanisms_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = start(config(dir.path())).await;
    let report = sandbox.report();
    assert!(report.is_complete() && agentos_sandbox::missing_mechanisms().is_empty(), "this machine lacks: {report}");
    assert!(report.read_only.iter().any(|p| p.join("os.py").is_file()), "the standard library is readable: {report}");
    let text = report.to_string();
    for expected in ["Landlock file-system rules", "user and network namespaces", "seccomp filter", "10 s wall clock", "env      emptied"] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bench_measures_side_by_side_and_prints_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let report = bench(config(dir.path()), 2).await.unwrap();
    println!("{report}");
    assert!(report.python_start > Duration::ZERO && report.sandbox_start > Duration::ZERO && report.round_trip > Duration::ZERO);
    let text = report.to_string();
    assert_eq!(text.matches("x python -c pass").count(), 3, "{text}");
    assert!(text.contains("median of 2 samples") && text.contains("seccomp filter"), "{text}");
}
