//! Code actions: a persistent, confined CPython interpreter per agent run.
//!
//! In CodeAct (Wang et al., 2024) an agent acts by writing Python that an interpreter runs, and
//! sees what the code printed, returned or raised as its next observation; DynaSaur (Nguyen et al.,
//! 2024) keeps the functions the agent writes for later runs. This crate owns the interpreter such
//! agents need:
//!
//! - [`Sandbox`]: the machine's `python3` started once per run and driven like a notebook over a
//!   private socket: variables, imports and definitions persist between [`Sandbox::execute`] calls,
//!   and each returns an [`Execution`] with stdout, stderr, the `repr` of the last expression, any
//!   exception with its traceback, each cut to a configurable size with a note saying how much.
//! - Confinement, checked by [`IsolationReport`]: Landlock (the file system is the work directory,
//!   read-write, plus the Python installation and system libraries, read-only; no signals to
//!   processes outside the sandbox), a user and network namespace (no host capabilities, no
//!   network), a seccomp filter (no sockets, no new processes, no mount, namespace, module, tracing
//!   or io_uring syscalls), rlimits (CPU time, address space, file size, open files), a wall-clock
//!   timeout that kills the interpreter's process group, and an emptied environment. Where the
//!   kernel lacks a mechanism, [`Sandbox::start`] refuses unless [`SandboxConfig::allow_unsafe`] is
//!   set, and names what is missing.
//! - Kernel tools inside Python: every [`ToolSpec`](agentos_core::ToolSpec) given in the config is
//!   a Python function whose call comes back to the host's [`ToolHandler`], plus
//!   `final_answer(value)`.
//! - What an action library needs (DynaSaur): each [`Execution`] names the top-level functions its
//!   cell defined, with signature, docstring and a self-contained source (the imports and helper
//!   functions of the interpreter it uses come with it); [`SandboxConfig::library`] defines
//!   functions kept from earlier runs in every interpreter the sandbox starts, each checked to
//!   resolve every global name it reads, and each execution counts the calls made to them and
//!   those that raised.
//! - [`bench()`]: start-up and round-trip times side by side with a plain `python3 -c pass`.
//!
//! Decisions: new processes are refused, not contained (`os.fork`, `subprocess` and `os.system`
//! fail; threads work), so killing the interpreter's process group ends everything it started.
//! Exec is allowed only of the interpreter itself, and replacing the driver that way ends in a
//! restart. `RLIMIT_NPROC` is not used: it does not bind root and counts every process of a user.
//! Not limited: the total disk use and number of files in the work directory (only each file's
//! size is).
//!
//! Bad code is an observation, never an error of this crate: syntax errors, exceptions, infinite
//! loops, memory or fork bombs and attempts to leave the sandbox all come back as an
//! [`Execution`] (a killed interpreter is restarted and the execution says its state was lost).
//! `Err` means the host could not run an interpreter at all.
//!
//! This crate must not decide what an agent may do: which tools exist, their access checks and
//! their journal belong to the kernel, which answers the calls through [`ToolHandler`]. It never
//! passes the host's environment, files or sockets to the interpreter.

#![warn(missing_docs)]

mod bench;
mod config;
mod filesystem;
mod interpreter;
mod isolation;
mod output;
mod protocol;
mod python;
mod sandbox;
mod syscalls;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use bench::{bench, BenchReport};
pub use config::{Limits, SandboxConfig};
pub use isolation::{missing_mechanisms, IsolationReport, Mechanism, Missing};
pub use sandbox::{Exception, Execution, Interruption, NoTools, Sandbox, ToolHandler};

/// Why the host could not start or keep a sandboxed interpreter (bad code is never one of these).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No `python3` on the host's `PATH`.
    #[error("no `python3` found on PATH ({path}); install CPython 3.8 or newer, or set the sandbox's python to its full path")]
    PythonNotFound {
        /// The `PATH` that was searched.
        path: String,
    },
    /// The configured or found interpreter does not run or is not Python 3.8+.
    #[error(
        "the Python interpreter {python} cannot be used: {detail}; check that `{python} -c pass` works and that it is CPython 3.8 or newer"
    )]
    PythonUnusable {
        /// The interpreter that was tried.
        python: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The work directory cannot be created or would expose too much.
    #[error("the work directory {path} cannot be used: {reason}")]
    WorkDir {
        /// The directory as configured.
        path: PathBuf,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A tool cannot become a Python function.
    #[error("the tool {name:?} cannot be offered to Python: {reason}")]
    ToolName {
        /// The tool's name.
        name: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// An environment variable granted in the config is malformed.
    #[error("the environment variable {name:?} cannot be granted to the sandbox: {reason}")]
    Environment {
        /// The variable's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The kernel lacks mechanisms the sandbox needs and `allow_unsafe` is off.
    #[error("the sandbox refuses to start: {}. Pass --unsafe-sandbox (SandboxConfig::allow_unsafe) to run with only what this machine has", MissingList(.missing))]
    MissingMechanisms {
        /// What is missing and what each would have protected.
        missing: Vec<Missing>,
    },
    /// A confinement mechanism could not be prepared for this run.
    #[error("preparing {mechanism} for the sandbox failed: {detail}")]
    Confinement {
        /// The mechanism.
        mechanism: Mechanism,
        /// What failed.
        detail: String,
    },
    /// The interpreter process could not be started.
    #[error("starting the sandboxed interpreter {python} failed: {source}")]
    Spawn {
        /// The interpreter.
        python: PathBuf,
        /// The error from fork, the confinement applied in the child, or exec.
        source: io::Error,
    },
    /// The interpreter started but did not complete the handshake.
    #[error("the sandboxed interpreter did not start: {detail}")]
    Handshake {
        /// What happened, with the interpreter's stderr when it printed any.
        detail: String,
    },
    /// Reading from or writing to the interpreter failed on the host side.
    #[error("sandbox I/O failed: {0}")]
    Io(#[from] io::Error),
}

struct MissingList<'a>(&'a [Missing]);

impl fmt::Display for MissingList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, missing) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{missing}")?;
        }
        Ok(())
    }
}
