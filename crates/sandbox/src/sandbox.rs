//! The sandboxed interpreter and its executions.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentos_core::FunctionDefinition;
use async_trait::async_trait;
use serde_json::Value;
use tokio::time::Instant;

use crate::filesystem;
use crate::interpreter::{Event, Interpreter, Sent, Streams};
use crate::isolation::{IsolationReport, KernelSupport, Plan};
use crate::output::Clipped;
use crate::protocol::{encode, DriverFrame, HostFrame};
use crate::python::{self, PythonInstallation};
use crate::{SandboxConfig, SandboxError};

/// Names the code may not give a tool: Python keywords and the driver's own functions.
const RESERVED_NAMES: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "final_answer",
    "ToolError",
];

/// Answers the code's calls to host tools while an execution runs.
///
/// The kernel implements this over its tool registry, so that access checks, argument validation
/// and the journal apply to calls made from Python exactly as to JSON tool calls.
#[async_trait]
pub trait ToolHandler: Send + Sync {
    /// Runs tool `name` with `arguments` (a JSON object). `Ok` text is what the Python function
    /// returns; `Err` text becomes a `ToolError` raised in Python.
    async fn call(&self, name: &str, arguments: Value) -> Result<String, String>;
}

/// A [`ToolHandler`] for sandboxes offered no tools: every call is an error.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTools;

#[async_trait]
impl ToolHandler for NoTools {
    async fn call(&self, name: &str, _arguments: Value) -> Result<String, String> {
        Err(format!("no tool named {name:?} is available to this code"))
    }
}

/// An exception the code raised (syntax errors included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    /// The exception's class name, e.g. `ZeroDivisionError`.
    pub type_name: String,
    /// `str()` of the exception.
    pub message: String,
    /// The formatted traceback, showing the code's own lines and none of the driver's.
    pub traceback: String,
}

/// Why an execution did not finish on its own. Each one killed the interpreter's process group;
/// a fresh interpreter was started, without the variables, imports and definitions of earlier
/// executions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// The code ran past [`Limits::timeout`](crate::Limits::timeout).
    TimedOut {
        /// The limit.
        limit: Duration,
    },
    /// The interpreter died: killed by a signal (a CPU-time limit is `SIGXCPU` or `SIGKILL`, a
    /// crash `SIGSEGV`) or exited (`os._exit`).
    Died {
        /// The signal that killed it.
        signal: Option<i32>,
        /// Its exit status, if it exited.
        exit_code: Option<i32>,
    },
    /// The interpreter sent something that is not a frame of the protocol (the code wrote to the
    /// driver's socket).
    ProtocolViolation {
        /// What was wrong.
        detail: String,
    },
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL: a limit was reached or the kernel killed it",
        libc::SIGXCPU => "SIGXCPU: its CPU-time limit was reached",
        libc::SIGXFSZ => "SIGXFSZ: its file-size limit was reached",
        libc::SIGSEGV => "SIGSEGV: it crashed",
        libc::SIGBUS => "SIGBUS: it crashed",
        libc::SIGABRT => "SIGABRT: it aborted",
        libc::SIGSYS => "SIGSYS: a forbidden system call",
        _ => "a signal",
    }
}

impl fmt::Display for Interruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interruption::TimedOut { limit } => write!(f, "the code ran past its {} s time limit and was killed", limit.as_secs_f64()),
            Interruption::Died { signal: Some(signal), .. } => {
                write!(f, "the interpreter was killed by signal {signal} ({})", signal_name(*signal))
            }
            Interruption::Died { exit_code: Some(code), .. } => write!(f, "the interpreter exited with status {code}"),
            Interruption::Died { .. } => write!(f, "the interpreter died"),
            Interruption::ProtocolViolation { detail } => write!(f, "the interpreter broke the sandbox protocol ({detail}) and was killed"),
        }
    }
}

/// What one execution did: the observation an agent gets for its code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Execution {
    /// What the code wrote to stdout (file descriptor 1), cut to the output limit.
    pub stdout: String,
    /// What the code wrote to stderr (file descriptor 2), cut to the output limit.
    pub stderr: String,
    /// `repr()` of the last statement's value when it is an expression that is not `None`.
    pub value: Option<String>,
    /// The exception the code raised.
    pub exception: Option<Exception>,
    /// The value passed to `final_answer()` (a `str` as is, anything else as its `repr()`).
    pub final_answer: Option<String>,
    /// Why the code was stopped, if it was.
    pub interruption: Option<Interruption>,
    /// Whether a fresh interpreter replaced a killed one (after this execution was stopped, or
    /// before it ran because an earlier execution was abandoned mid-way): earlier state is gone.
    pub restarted: bool,
    /// How many host tools the code called.
    pub tool_calls: u32,
    /// The top-level functions the code defined (`def` and `async def` statements of the cell
    /// itself, not nested ones), each with its signature, docstring and a self-contained source,
    /// in the order of the cell; a name defined twice is reported once, as last defined. The
    /// source is the function's `def` preceded by what it needs of this interpreter's top-level
    /// bindings, from this cell or earlier ones: the imports (`import a.b`, `import a as b`,
    /// `from x import y as z`) it uses, and the functions it calls with what those need in turn.
    /// Other global names (variables, classes) are left out, so a function using them does not
    /// pass the library's check (see [`SandboxConfig::library`](crate::SandboxConfig::library)).
    pub functions: Vec<FunctionDefinition>,
    /// How often the code called each function of the config's
    /// [`library`](crate::SandboxConfig::library), by name (functions not called are absent).
    pub library_calls: BTreeMap<String, u32>,
    /// How many of those calls raised an exception out of the function, by name (`final_answer`
    /// called inside one is not raising; for an `async def`, only what raises when it is called,
    /// not when it is awaited, counts).
    pub library_raised: BTreeMap<String, u32>,
    /// Wall-clock time of the execution, tool calls included.
    pub duration: Duration,
}

impl Execution {
    /// Whether the code ran to its end without raising and without being stopped.
    pub fn succeeded(&self) -> bool {
        self.exception.is_none() && self.interruption.is_none()
    }

    /// Whether the wall-clock timeout stopped the code.
    pub fn timed_out(&self) -> bool {
        matches!(self.interruption, Some(Interruption::TimedOut { .. }))
    }

    /// The signal that killed the interpreter, if one did (a timeout's `SIGKILL` is not counted).
    pub fn killed_by_signal(&self) -> Option<i32> {
        match self.interruption {
            Some(Interruption::Died { signal, .. }) => signal,
            _ => None,
        }
    }
}

impl fmt::Display for Execution {
    /// The observation for a model: every non-empty part under a heading.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<(&str, String)> = Vec::new();
        for (heading, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !text.is_empty() {
                parts.push((heading, text.trim_end_matches('\n').to_string()));
            }
        }
        if let Some(value) = &self.value {
            parts.push(("value", value.clone()));
        }
        if let Some(exception) = &self.exception {
            parts.push(("exception", exception.traceback.trim_end_matches('\n').to_string()));
        }
        if let Some(answer) = &self.final_answer {
            parts.push(("final answer", answer.clone()));
        }
        if let Some(interruption) = &self.interruption {
            parts.push(("interrupted", interruption.to_string()));
        }
        if self.restarted {
            let lost = "a fresh interpreter was started: variables, imports and definitions from earlier executions are gone (files in the work directory remain)";
            parts.push(("restarted", lost.to_string()));
        }
        if parts.is_empty() {
            return f.write_str("(the code ran and printed nothing)");
        }
        for (i, (heading, text)) in parts.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "[{heading}]\n{text}")?;
        }
        Ok(())
    }
}

/// A persistent Python interpreter confined to one run's work directory.
///
/// ```no_run
/// # async fn demo() -> Result<(), agentos_sandbox::SandboxError> {
/// use agentos_sandbox::{NoTools, Sandbox, SandboxConfig};
/// let mut sandbox = Sandbox::start(SandboxConfig::new("/tmp/run-1")).await?;
/// sandbox.execute("x = 20", &NoTools).await?;
/// let execution = sandbox.execute("x * 2 + 2", &NoTools).await?;
/// assert_eq!(execution.value.as_deref(), Some("42"));
/// # Ok(()) }
/// ```
pub struct Sandbox {
    config: SandboxConfig,
    python: Arc<PythonInstallation>,
    plan: Plan,
    env: Vec<(String, String)>,
    report: IsolationReport,
    interpreter: Option<Interpreter>,
    restarts: u32,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox").field("report", &self.report).field("restarts", &self.restarts).finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Finds Python, checks what the kernel offers, prepares the work directory and starts the
    /// interpreter. Refuses (naming each missing mechanism) when the kernel lacks one and
    /// `config.allow_unsafe` is off.
    pub async fn start(mut config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let python = python::locate(config.python.as_deref()).await?;
        for tool in &config.tools {
            check_tool_name(&tool.name)?;
        }
        let plan = Plan::new(KernelSupport::get(), config.allow_unsafe)?;
        config.work_dir = filesystem::prepare_work_dir(&config.work_dir, &python)?;
        let env = environment(&config.work_dir, &config.env)?;
        let report = IsolationReport {
            python: python.executable.clone(),
            python_version: python.version.clone(),
            work_dir: config.work_dir.clone(),
            active: plan.active(),
            missing: plan.missing.clone(),
            landlock_abi: plan.landlock_abi,
            read_only: if plan.landlock { filesystem::read_only_paths(&python) } else { Vec::new() },
            limits: config.limits.clone(),
            env: env.iter().map(|(name, _)| name.clone()).collect(),
        };
        let mut sandbox = Sandbox { config, python, plan, env, report, interpreter: None, restarts: 0 };
        sandbox.interpreter = Some(sandbox.spawn().await?);
        Ok(sandbox)
    }

    /// What confines this sandbox.
    pub fn report(&self) -> &IsolationReport {
        &self.report
    }

    /// The work directory (canonical).
    pub fn work_dir(&self) -> &Path {
        &self.config.work_dir
    }

    /// How many times a killed interpreter was replaced.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The functions of the config's [`library`](crate::SandboxConfig::library) the interpreter
    /// could not define, by name, with the error (empty when all were defined).
    pub fn library_failures(&self) -> BTreeMap<String, String> {
        self.interpreter.as_ref().map(|interpreter| interpreter.library_failures.clone()).unwrap_or_default()
    }

    /// Runs `code` as the next cell of the notebook, answering its tool calls with `tools`.
    ///
    /// Whatever the code does comes back as an [`Execution`]; `Err` means the host could not
    /// start a fresh interpreter after the code killed the old one, or lost its own I/O.
    pub async fn execute(&mut self, code: &str, tools: &dyn ToolHandler) -> Result<Execution, SandboxError> {
        let started = Instant::now();
        let limits = self.config.limits.clone();
        let mut execution = Execution::default();
        // A cell still running here belongs to an execution whose future was dropped (a cancelled
        // run): its frames would answer this one, so it goes, with its interpreter.
        if let Some(mut abandoned) = self.interpreter.take_if(|interpreter| interpreter.in_cell) {
            abandoned.terminate().await;
            self.restarts += 1;
            execution.restarted = true;
        }
        if self.interpreter.is_none() {
            self.interpreter = Some(self.spawn().await?);
        }
        let interpreter = self.interpreter.as_mut().expect("an interpreter was just started");
        let mut streams = Streams::new(limits.output_bytes);
        let mut deadline = Instant::now() + limits.timeout;
        let mut outgoing = encode(&HostFrame::Exec { code });
        interpreter.in_cell = true;
        let outcome = loop {
            match interpreter.send(&outgoing, deadline).await {
                Sent::Done => {}
                Sent::Closed => break Err(interpreter.died().await),
                Sent::Deadline => break Err(Interruption::TimedOut { limit: limits.timeout }),
            }
            match interpreter.next_event(&mut streams, deadline).await {
                Event::Frame(DriverFrame::Done(done)) => break Ok(*done),
                Event::Frame(DriverFrame::Call { id, name, arguments }) => {
                    execution.tool_calls += 1;
                    let asked = Instant::now();
                    let answer = tools.call(&name, arguments).await;
                    deadline += asked.elapsed();
                    let (ok, text) = match &answer {
                        Ok(output) => (true, output.as_str()),
                        Err(error) => (false, error.as_str()),
                    };
                    outgoing = encode(&HostFrame::Reply { id, ok, text });
                }
                Event::Frame(DriverFrame::Ready { .. }) => {
                    break Err(Interruption::ProtocolViolation { detail: "a second `ready` frame in the middle of an execution".into() })
                }
                Event::Closed => break Err(interpreter.died().await),
                Event::Deadline => break Err(Interruption::TimedOut { limit: limits.timeout }),
                Event::Violation(detail) => break Err(Interruption::ProtocolViolation { detail }),
            }
        };
        match outcome {
            Ok(done) => {
                interpreter.in_cell = false;
                interpreter.drain(&mut streams);
                let render = |clipped: Clipped| clipped.render(limits.output_bytes);
                execution.value = done.value.map(render);
                execution.final_answer = done.final_answer.map(render);
                execution.functions = done.functions;
                execution.library_calls = done.library_calls;
                execution.library_raised = done.library_raised;
                execution.exception = done.exception.map(|raised| Exception {
                    type_name: raised.type_name,
                    message: render(raised.message),
                    traceback: render(raised.traceback),
                });
            }
            Err(interruption) => {
                interpreter.terminate().await;
                interpreter.drain(&mut streams);
                execution.interruption = Some(interruption);
                self.interpreter = None;
                self.interpreter = Some(self.spawn().await?);
                self.restarts += 1;
                execution.restarted = true;
            }
        }
        execution.stdout = streams.stdout.clipped().render(limits.output_bytes);
        execution.stderr = streams.stderr.clipped().render(limits.output_bytes);
        execution.duration = started.elapsed();
        Ok(execution)
    }

    /// Stops the interpreter and waits for it to exit.
    pub async fn shutdown(mut self) {
        if let Some(mut interpreter) = self.interpreter.take() {
            interpreter.terminate().await;
        }
    }

    /// Starts a confined interpreter as this sandbox's config and plan say.
    async fn spawn(&self) -> Result<Interpreter, SandboxError> {
        Interpreter::start(&self.python, &self.plan, &self.config, &self.env).await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(interpreter) = &self.interpreter {
            interpreter.kill_group();
        }
    }
}

fn check_tool_name(name: &str) -> Result<(), SandboxError> {
    let refuse = |reason: &str| SandboxError::ToolName { name: name.to_string(), reason: reason.to_string() };
    let mut chars = name.chars();
    let identifier =
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !identifier {
        return Err(refuse("a Python function name is ASCII letters, digits and `_`, not starting with a digit; rename the tool"));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(refuse("it is a Python keyword or one of the sandbox's own functions (final_answer, ToolError); rename the tool"));
    }
    Ok(())
}

/// The interpreter's whole environment: fixed variables, then the config's grants.
fn environment(work_dir: &Path, granted: &[(String, String)]) -> Result<Vec<(String, String)>, SandboxError> {
    let dir = work_dir.to_string_lossy().into_owned();
    let mut env: Vec<(String, String)> = [
        ("PATH", "/usr/bin:/bin"),
        ("HOME", dir.as_str()),
        ("TMPDIR", dir.as_str()),
        ("LANG", "C.UTF-8"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONUNBUFFERED", "1"),
        ("PYTHONIOENCODING", "utf-8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (name, value) in granted {
        let refuse = |reason: &str| SandboxError::Environment { name: name.clone(), reason: reason.to_string() };
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(refuse("a name must be non-empty and contain no `=` or NUL"));
        }
        if value.contains('\0') {
            return Err(refuse("its value contains a NUL byte"));
        }
        env.retain(|(existing, _)| existing != name);
        env.push((name.clone(), value.clone()));
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_must_be_python_identifiers() {
        assert!(check_tool_name("read_file").is_ok());
        assert!(check_tool_name("_private2").is_ok());
        for bad in ["read-file", "2fast", "", "class", "final_answer", "naïve"] {
            let err = check_tool_name(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")) && err.contains("rename the tool"), "{err}");
        }
    }

    #[test]
    fn the_environment_holds_only_what_is_granted() {
        let dir = Path::new("/tmp/run");
        let env = environment(dir, &[("TOKEN".into(), "granted".into()), ("LANG".into(), "en_US.UTF-8".into())]).unwrap();
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["PATH", "HOME", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "TOKEN", "LANG"]);
        assert!(env.contains(&("HOME".into(), "/tmp/run".into())));
        assert!(environment(dir, &[("A=B".into(), String::new())]).unwrap_err().to_string().contains("\"A=B\""));
    }

    #[test]
    fn observations_name_each_part_and_a_lost_state() {
        let execution = Execution {
            stdout: "hi\n".into(),
            interruption: Some(Interruption::TimedOut { limit: Duration::from_secs(2) }),
            restarted: true,
            ..Execution::default()
        };
        let text = execution.to_string();
        assert!(
            text.starts_with("[stdout]\nhi\n[interrupted]\nthe code ran past its 2 s time limit and was killed\n[restarted]\n"),
            "{text}"
        );
        assert!(text.contains("earlier executions are gone"), "{text}");
        assert_eq!(Execution::default().to_string(), "(the code ran and printed nothing)");
        let died = Interruption::Died { signal: Some(libc::SIGXCPU), exit_code: None };
        assert!(died.to_string().contains("CPU-time limit"), "{died}");
    }
}
