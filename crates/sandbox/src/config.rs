//! What a sandbox is started with.

use std::path::PathBuf;
use std::time::Duration;

use agentos_core::{FunctionDefinition, ToolSpec};

/// Resource limits of one sandboxed interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one execution may run before the interpreter's process group is killed and
    /// a fresh interpreter started. Time spent answering tool calls does not count.
    pub timeout: Duration,
    /// CPU seconds the interpreter may use over its whole life (`RLIMIT_CPU`); past it the kernel
    /// kills it and the sandbox starts a fresh one.
    pub cpu_seconds: u64,
    /// Address space of the interpreter in bytes (`RLIMIT_AS`); allocations past it raise
    /// `MemoryError` in Python.
    pub memory_bytes: u64,
    /// Largest file the interpreter may write, in bytes (`RLIMIT_FSIZE`); writing past it fails
    /// with `OSError: [Errno 27] File too large`.
    pub file_size_bytes: u64,
    /// Open file descriptors (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Bytes kept of each part of an execution's result (stdout, stderr, the value's repr, the
    /// traceback, the final answer); the rest is cut from the middle and replaced by a note.
    pub output_bytes: usize,
}

impl Default for Limits {
    /// 30 s per execution, 300 CPU seconds per interpreter, 1 GiB of address space, 64 MiB
    /// files, 256 open files, 16 KiB of each output.
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            cpu_seconds: 300,
            memory_bytes: 1 << 30,
            file_size_bytes: 64 << 20,
            open_files: 256,
            output_bytes: 16 << 10,
        }
    }
}

/// Everything [`Sandbox::start`](crate::Sandbox::start) needs.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The run's work directory: the only place the code may read and write besides the Python
    /// installation (read-only). Created if missing. It must not be `/` or contain the Python
    /// installation.
    pub work_dir: PathBuf,
    /// The interpreter; `None` finds `python3` on the host's `PATH` (version managers' shims are
    /// resolved to the real executable).
    pub python: Option<PathBuf>,
    /// Resource limits.
    pub limits: Limits,
    /// Environment variables granted to the code, on top of the fixed `PATH`, `HOME` and `TMPDIR`
    /// (the work directory), `LANG=C.UTF-8`, `PYTHONDONTWRITEBYTECODE`, `PYTHONUNBUFFERED` and
    /// `PYTHONIOENCODING`. Nothing else of the host's environment reaches the sandbox.
    pub env: Vec<(String, String)>,
    /// Host tools offered to the code as Python functions of the same name; calls are answered
    /// by the [`ToolHandler`](crate::ToolHandler) given to each execution.
    pub tools: Vec<ToolSpec>,
    /// Start even when the kernel lacks a confinement mechanism (`--unsafe-sandbox`); the
    /// [`IsolationReport`](crate::IsolationReport) then lists what is missing.
    pub allow_unsafe: bool,
    /// Functions of an action library, defined (from their [`source`](FunctionDefinition::source))
    /// in every interpreter this sandbox starts, before its first execution and again after each
    /// restart, after the tools (a function named like a tool is skipped). Each source runs in a
    /// module namespace of its own holding the tools and the sandbox's functions, so it must
    /// import and define what its function uses; only the function's name is bound where the
    /// code runs. Calls to them, and the calls that raised, are counted per execution
    /// ([`Execution::library_calls`](crate::Execution::library_calls),
    /// [`Execution::library_raised`](crate::Execution::library_raised)). One whose source fails,
    /// does not define a function of its name, or reads a global name that is neither a builtin
    /// nor bound by the source is left out and named in
    /// [`Sandbox::library_failures`](crate::Sandbox::library_failures).
    pub library: Vec<FunctionDefinition>,
}

impl SandboxConfig {
    /// A config for `work_dir` with the default limits, no tools, no library, no extra
    /// environment and no unsafe fallback.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        SandboxConfig {
            work_dir: work_dir.into(),
            python: None,
            limits: Limits::default(),
            env: Vec::new(),
            tools: Vec::new(),
            allow_unsafe: false,
            library: Vec::new(),
        }
    }
}
