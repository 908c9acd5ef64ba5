use crate::storage::StorageError;
use agentos_llm::LlmError;
use thiserror::Error;

/// Why a syscall failed. Tool failures are not here: they come back to the agent as error results.
#[derive(Debug, Error)]
pub enum KernelError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The model call failed after the provider's retries.
    #[error("model call failed: {0}")]
    Model(#[from] LlmError),
    /// The agent used up a budget of its run.
    #[error(
        "run {run} exhausted its budget of {limit} {what}; raise it (--max-calls / --max-tokens / --max-seconds) or simplify the task"
    )]
    BudgetExhausted {
        /// The run.
        run: String,
        /// `model calls`, `tokens` or `seconds`.
        what: &'static str,
        /// The limit that was reached.
        limit: u64,
    },
    /// The run was cancelled.
    #[error("run {0} was cancelled")]
    Cancelled(String),
    /// The run was suspended between steps; `agentos resume` carries it on.
    #[error("run {0} was suspended; `agentos resume {0}` carries it on")]
    Suspended(String),
    /// The run was interrupted by something other than the person (a signal, its output
    /// closing); `agentos resume` carries it on.
    #[error("run {run} was interrupted ({reason}); `agentos resume {run}` carries it on")]
    Interrupted {
        /// The run.
        run: String,
        /// What interrupted it.
        reason: String,
    },
    /// On resume, the agent asked for something other than what the journal recorded at this
    /// position, so the recorded results cannot be replayed.
    #[error("run {run} cannot be replayed: at step {seq} the journal has {recorded} but the agent now asks for {asked}; the strategy or its settings changed since the run was recorded")]
    ReplayDiverged {
        /// The run.
        run: String,
        /// The journal position.
        seq: u64,
        /// What the journal holds there.
        recorded: String,
        /// What the agent asked for.
        asked: String,
    },
    /// The run spec or a setting is unusable.
    #[error("{0}")]
    Config(String),
    /// The run's code sandbox could not be started or kept (not bad code, which is an
    /// observation): no usable Python, or confinement this machine lacks.
    #[error("the code sandbox failed: {0}")]
    Sandbox(#[from] agentos_sandbox::SandboxError),
    /// A question was put to the person but nobody is there to answer.
    #[error(
        "the agent asked the person `{0}`, but no one is attached to this run; run it in a terminal, or give the information in the task"
    )]
    NoOperator(String),
    /// A memory syscall's input is unusable (empty, too large, an unknown scope).
    #[error("{0}")]
    Memory(agentos_memory::MemoryError),
    /// A memory syscall named a scope the run was not granted.
    #[error("run {run} may not touch memory scope `{scope}`: it may use its own working memory (`run`), the scopes it was granted (--memory-scope) and, in a team, its team's (`team:<team run>`)")]
    MemoryScope {
        /// The run.
        run: String,
        /// The scope it named.
        scope: String,
    },
    /// An update or a lookup named an item that is not there to use.
    #[error("memory item `{id}` cannot be used: {why}")]
    NoMemory {
        /// The item's id.
        id: String,
        /// Why.
        why: String,
    },
    /// A memory syscall needs the sentence encoder, and the kernel has none.
    #[error("memory needs the sentence encoder, and this kernel was built without one; `agentos models pull all-minilm-l6-v2` fetches it")]
    NoEncoder,
    /// A tool's arguments do not fit its parameters.
    #[error("bad arguments for {0}")]
    BadArguments(String),
}
