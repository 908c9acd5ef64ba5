//! agentos-kernel: the syscalls every agent goes through, after AIOS (Mei et al., 2024).
//!
//! Owns: the model-call [`Scheduler`], the [`ToolRegistry`] (validation, timeouts, parallel
//! calls), the access manager ([`Capabilities`], deny by default), [`Storage`] (one SQLite file;
//! every syscall journaled before its result is returned), the context manager (suspend,
//! [`Snapshot`], restore), and code actions: one confined Python sandbox per live run
//! ([`Agent::execute_code`], after CodeAct) and the action library of the functions agents wrote
//! ([`Agent::retrieve_actions`], [`ActionRecord`], after DynaSaur), and memory: journaled
//! remember / recall / update / forget over the store of `agentos-memory` ([`Agent::remember`],
//! [`Agent::recall`], and the model's `remember` and `recall` tools), with pinned memory blocks
//! the agent edits with its `memory_append` and `memory_replace` tools ([`BLOCK_TOOLS`], after
//! MemGPT, Packer et al., 2023). A strategy holds an [`Agent`] handle and nothing else.
//!
//! Must not: know any strategy, render anything for a person, or let an agent reach a model, a
//! tool or the disk except through a syscall.

mod access;
mod actions;
mod agent;
mod benchmarks;
mod blocks;
mod code;
mod context;
mod error;
mod lease;
mod memory;
mod retrieval;
mod scheduler;
mod storage;
mod team;
mod tools;

pub use access::{Approval, Capabilities, Denied, Nobody, Operator};
pub use actions::{ActionRecord, ActionUse};
pub use agent::Agent;
pub use agentos_memory::store::{check_text as check_memory_text, MAX_TEXT as MAX_MEMORY_TEXT};
pub use benchmarks::{BenchmarkRecord, EpisodeRecord};
pub use blocks::BLOCK_TOOLS;
pub use context::{Interruption, Limits, Snapshot};
pub use error::KernelError;
pub use lease::{Holder, Lease, LEASE_TTL};
pub use memory::{render_recalled, MEMORY_TOOLS};
pub use scheduler::{Permit, Policy, Scheduler};
pub use storage::{RunOrigin, RunRecord, Storage, StorageError};
pub use team::{MemberSpec, Seat, StopReason, Team};
pub use tools::{RegistryError, Tool, ToolContext, ToolError, ToolRegistry};

use agentos_core::{Event, RunId, Trajectory};
use agentos_llm::LanguageModel;
use agentos_memory::Embedder;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits on what one run may spend. `None` is unlimited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Most model calls.
    pub max_model_calls: Option<u64>,
    /// Most tokens, in and out together.
    pub max_tokens: Option<u64>,
    /// Most seconds spent in syscalls (model calls above all), counted from their journaled
    /// durations, so a resumed run counts the time it spent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<u64>,
}

/// How an agent acts on the world.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionMode {
    /// JSON tool calls (native, or a strategy's text protocol).
    #[default]
    Json,
    /// Python code run in the run's sandbox, tools being Python functions (CodeAct, Wang et al.,
    /// 2024); the run also needs [`Capabilities::code`].
    Code,
}

impl ActionMode {
    /// Every mode, as `--actions` takes them.
    pub const ALL: [ActionMode; 2] = [ActionMode::Json, ActionMode::Code];

    /// The mode's name: `json` or `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionMode::Json => "json",
            ActionMode::Code => "code",
        }
    }
}

impl fmt::Display for ActionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionMode {
    type Err = String;

    /// `json` or `code`.
    ///
    /// ```
    /// use agentos_kernel::ActionMode;
    /// assert_eq!("code".parse::<ActionMode>(), Ok(ActionMode::Code));
    /// assert!("python".parse::<ActionMode>().unwrap_err().contains("json, code"));
    /// ```
    fn from_str(text: &str) -> Result<Self, String> {
        ActionMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == text.trim())
            .ok_or_else(|| format!("unknown action mode `{text}`; the modes are: {}", ActionMode::ALL.map(ActionMode::as_str).join(", ")))
    }
}

/// What a multi-step strategy's model sees of the run's earlier steps: its working-memory
/// policy (`--memory`). The policy shapes only the context; the journal keeps every step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkingMemory {
    /// Every step, as it happened (the context only grows).
    #[default]
    Window,
    /// Subgoal chunks (HiAgent, Hu et al., 2024): a finished subgoal's steps give way to a
    /// one-line outcome, and stay in the run's working memory for the `recall` tool.
    HiAgent,
    /// Observation summaries (Chain of Summarization, Ma et al., 2023): a long observation gives
    /// way to its single-frame summary, and older steps to one multi-frame summary.
    Summary,
}

impl WorkingMemory {
    /// Every policy, as `--memory` takes them.
    pub const ALL: [WorkingMemory; 3] = [WorkingMemory::Window, WorkingMemory::HiAgent, WorkingMemory::Summary];

    /// The policy's name: `window`, `hiagent` or `summary`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkingMemory::Window => "window",
            WorkingMemory::HiAgent => "hiagent",
            WorkingMemory::Summary => "summary",
        }
    }

    /// Whether it is the default, [`WorkingMemory::Window`] (which a stored spec leaves out).
    pub fn is_window(&self) -> bool {
        *self == WorkingMemory::Window
    }

    /// Whether it keeps what it takes out of the context through the memory syscalls, so that
    /// its runs need the kernel's sentence encoder ([`KernelBuilder::encoder`]).
    pub fn uses_memory(self) -> bool {
        self == WorkingMemory::HiAgent
    }
}

impl fmt::Display for WorkingMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkingMemory {
    type Err = String;

    /// `window`, `hiagent` or `summary`.
    ///
    /// ```
    /// use agentos_kernel::WorkingMemory;
    /// assert_eq!("hiagent".parse::<WorkingMemory>(), Ok(WorkingMemory::HiAgent));
    /// assert_eq!(serde_json::to_string(&WorkingMemory::HiAgent).unwrap(), "\"hiagent\"", "stored by the same name");
    /// assert!("rag".parse::<WorkingMemory>().unwrap_err().contains("window, hiagent, summary"));
    /// ```
    fn from_str(text: &str) -> Result<Self, String> {
        WorkingMemory::ALL.into_iter().find(|policy| policy.as_str() == text.trim()).ok_or_else(|| {
            format!("unknown working memory `{text}`; the policies are: {}", WorkingMemory::ALL.map(WorkingMemory::as_str).join(", "))
        })
    }
}

/// Everything that defines a run; stored with it, so that a resume rebuilds the same agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The task, in the person's words.
    pub task: String,
    /// The strategy's name (`react`, ...).
    pub strategy: String,
    /// The model URI.
    pub model: String,
    /// Most reasoning steps (model turns) before the strategy gives up.
    pub max_steps: u32,
    /// What the agent may do.
    pub capabilities: Capabilities,
    /// What it may spend.
    #[serde(default)]
    pub budget: Budget,
    /// Scheduling priority (higher first, under the priority policy).
    #[serde(default)]
    pub priority: i32,
    /// Sampling temperature of the agent's model calls (`None`: the model's default).
    #[serde(default)]
    pub temperature: Option<f32>,
    /// The model URI of each named role a strategy calls through [`Agent::model_as`] (for example
    /// `"inner"` → `"openai:gpt-4o-mini"` for Iteration of Thought's inner dialogue agent). A role
    /// not named here uses `model`.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// How the agent acts: JSON tool calls, or Python code ([`ActionMode::Code`], which also
    /// needs [`Capabilities::code`]).
    #[serde(default)]
    pub actions: ActionMode,
    /// Whether a code-mode run joins the action library (DynaSaur): it is offered the kept
    /// functions relevant to its task, and the functions it writes may be kept. Only runs whose
    /// strategy asks the library ([`Agent::retrieve_actions`]) join it at all; `false` offers
    /// nothing and keeps nothing, as for a run measured without the library.
    #[serde(default = "joins_library")]
    pub library: bool,
    /// The long-term memory scopes the run may read and write besides its own working memory
    /// (`person:alice`, `agent:planner`; see [`Agent::remember`]). The first is where the
    /// model's `remember` tool keeps facts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memory_scopes: Vec<String>,
    /// The person's profile, their preferences in their own words (`--profile NAME` reads it from
    /// memory when the run starts): the kernel adds it to the system message of every model call
    /// of the run. Stored with the run, so a resumed run sees the profile it started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// What a multi-step strategy's model sees of the run's earlier steps (`--memory`); only
    /// strategies that keep a growing context (ReAct with native tool calls) take another policy
    /// than [`WorkingMemory::Window`].
    #[serde(default, skip_serializing_if = "WorkingMemory::is_window")]
    pub working_memory: WorkingMemory,
    /// Its seat in a team, for a member run (see [`Agent::team`]): set by the kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<Seat>,
    /// The text of the team file a `team` run plays (`agentos run --team FILE`; see
    /// agentos-agents' `teamfile`): the text itself, not its path, so that a resumed run
    /// rebuilds the same team whatever became of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_file: Option<String>,
}

impl RunSpec {
    /// A run of `strategy` on `model` for `task`: 10 steps, no capabilities, no budget, priority
    /// 0, the model's temperature, no roles, JSON actions, the action library joined, no
    /// long-term memory, the plain window of working memory, no seat in a team and no team file. Change what differs with struct update syntax.
    ///
    /// ```
    /// use agentos_kernel::RunSpec;
    /// let spec = RunSpec { max_steps: 3, ..RunSpec::new("What is 2+2?", "cot", "scripted:answers.json") };
    /// assert_eq!((spec.max_steps, spec.capabilities.tools.len()), (3, 0));
    /// ```
    pub fn new(task: impl Into<String>, strategy: impl Into<String>, model: impl Into<String>) -> Self {
        RunSpec {
            task: task.into(),
            strategy: strategy.into(),
            model: model.into(),
            max_steps: 10,
            capabilities: Capabilities::default(),
            budget: Budget::default(),
            priority: 0,
            temperature: None,
            roles: BTreeMap::new(),
            actions: ActionMode::Json,
            library: true,
            memory_scopes: Vec::new(),
            profile: None,
            working_memory: WorkingMemory::Window,
            seat: None,
            team_file: None,
        }
    }
}

/// [`RunSpec::library`] of a run stored before the setting existed: it joined the library.
fn joins_library() -> bool {
    true
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// With this answer.
    Finished(String),
    /// Suspended between steps; it can be resumed.
    Suspended,
    /// Cancelled.
    Cancelled,
    /// Stopped by something other than the person (a signal, a closed output), for this
    /// reason; it can be resumed.
    Interrupted(String),
    /// With this error; it can be resumed, and retries from the failed step.
    Failed(String),
}

impl Ending {
    /// The status stored for the run.
    pub fn status(&self) -> &'static str {
        match self {
            Ending::Finished(_) => "finished",
            Ending::Suspended => "suspended",
            Ending::Cancelled => "cancelled",
            Ending::Interrupted(_) => "interrupted",
            Ending::Failed(_) => "failed",
        }
    }
}

/// Kernel settings.
#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// Order of waiting model calls.
    pub policy: Policy,
    /// Most concurrent calls per model.
    pub max_concurrent_per_model: usize,
    /// Default timeout of one tool call.
    pub tool_timeout: Duration,
    /// Resource limits of each run's code sandbox (timeout per cell, CPU, memory, file size,
    /// output size).
    pub sandbox_limits: agentos_sandbox::Limits,
    /// The Python of code sandboxes; `None` finds `python3` on `PATH`.
    pub python: Option<PathBuf>,
    /// Start code sandboxes even where this machine's kernel lacks a confinement mechanism
    /// (`--unsafe-sandbox`); otherwise code execution fails, naming what is missing.
    pub allow_unsafe: bool,
    /// Most functions of the action library offered to a code-mode run (only those relevant to
    /// its task are).
    pub offered_actions: usize,
}

impl Default for KernelConfig {
    /// FIFO, 16 calls per model, 30 s per tool call, the sandbox's default limits, `python3` from
    /// `PATH`, full confinement required, 5 library functions offered.
    fn default() -> Self {
        KernelConfig {
            policy: Policy::Fifo,
            max_concurrent_per_model: 16,
            tool_timeout: Duration::from_secs(30),
            sandbox_limits: agentos_sandbox::Limits::default(),
            python: None,
            allow_unsafe: false,
            offered_actions: 5,
        }
    }
}

type EventHook = Arc<dyn Fn(&Event) + Send + Sync>;

pub(crate) struct KernelInner {
    pub(crate) config: KernelConfig,
    pub(crate) storage: Storage,
    pub(crate) scheduler: Scheduler,
    pub(crate) tools: ToolRegistry,
    pub(crate) operator: Arc<dyn Operator>,
    pub(crate) events: Option<EventHook>,
    pub(crate) models: Mutex<HashMap<String, Arc<dyn LanguageModel>>>,
    pub(crate) live: Mutex<HashMap<RunId, Arc<agent::Control>>>,
    /// The sentence encoder memory embeds text with, if the kernel was given one.
    pub(crate) encoder: Option<Arc<dyn Embedder>>,
}

impl KernelInner {
    /// The model a URI names, built once and shared by every agent of this kernel.
    pub(crate) fn model(&self, uri: &str) -> Result<Arc<dyn LanguageModel>, KernelError> {
        let mut models = self.models.lock().unwrap();
        if let Some(m) = models.get(uri) {
            return Ok(m.clone());
        }
        let model = agentos_llm::from_uri(uri)?;
        models.insert(uri.to_string(), model.clone());
        Ok(model)
    }
}

/// The kernel. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Kernel {
    inner: Arc<KernelInner>,
}

/// Assembles a [`Kernel`]: storage, settings, tools, the person behind it, and who hears events.
pub struct KernelBuilder {
    storage: Storage,
    config: KernelConfig,
    tools: Vec<Arc<dyn Tool>>,
    models: HashMap<String, Arc<dyn LanguageModel>>,
    operator: Arc<dyn Operator>,
    events: Option<EventHook>,
    encoder: Option<Arc<dyn Embedder>>,
}

impl KernelBuilder {
    /// Sets the sentence encoder memory embeds text with (without one, memory syscalls fail
    /// saying so).
    pub fn encoder(mut self, encoder: Arc<dyn Embedder>) -> Self {
        self.encoder = Some(encoder);
        self
    }

    /// Sets the kernel settings.
    pub fn config(mut self, config: KernelConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers a tool.
    pub fn tool(mut self, tool: Arc<dyn Tool>) -> Self {
        self.tools.push(tool);
        self
    }

    /// Registers a model instance under its URI, instead of building it from the URI.
    pub fn model(mut self, model: Arc<dyn LanguageModel>) -> Self {
        self.models.insert(model.uri().to_string(), model);
        self
    }

    /// Lets code sandboxes start where this machine lacks a confinement mechanism
    /// ([`KernelConfig::allow_unsafe`], `--unsafe-sandbox`), keeping the rest of the config.
    pub fn allow_unsafe_sandbox(mut self, allow: bool) -> Self {
        self.config.allow_unsafe = allow;
        self
    }

    /// Sets the person who answers questions and approvals (default: [`Nobody`]).
    pub fn operator(mut self, operator: Arc<dyn Operator>) -> Self {
        self.operator = operator;
        self
    }

    /// Sets who hears every event of every run, live.
    pub fn on_event(mut self, hook: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(hook));
        self
    }

    /// Builds the kernel. Fails if a tool's schema does not compile.
    pub fn build(self) -> Result<Kernel, RegistryError> {
        let mut tools = ToolRegistry::new(self.config.tool_timeout);
        for tool in self.tools {
            tools.register(tool)?;
        }
        Ok(Kernel {
            inner: Arc::new(KernelInner {
                config: self.config.clone(),
                storage: self.storage,
                scheduler: Scheduler::new(self.config.policy, self.config.max_concurrent_per_model),
                tools,
                operator: self.operator,
                events: self.events,
                models: Mutex::new(self.models),
                live: Mutex::new(HashMap::new()),
                encoder: self.encoder,
            }),
        })
    }
}

impl Kernel {
    /// Starts assembling a kernel over `storage`.
    pub fn builder(storage: Storage) -> KernelBuilder {
        KernelBuilder {
            storage,
            config: KernelConfig::default(),
            tools: Vec::new(),
            models: HashMap::new(),
            operator: Arc::new(Nobody),
            events: None,
            encoder: None,
        }
    }

    /// The database.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// The names of every registered tool.
    pub fn tool_names(&self) -> Vec<String> {
        self.inner.tools.names()
    }

    /// The model a URI names, built once and shared by every agent of this kernel.
    pub fn model(&self, uri: &str) -> Result<Arc<dyn LanguageModel>, KernelError> {
        self.inner.model(uri)
    }

    /// Records a new run and returns its agent handle.
    pub async fn start(&self, spec: RunSpec) -> Result<Agent, KernelError> {
        let known = |t: &&String| self.inner.tools.contains(t) || MEMORY_TOOLS.contains(&t.as_str());
        let unknown: Vec<&String> = spec.capabilities.tools.iter().filter(|t| !known(t)).collect();
        if !unknown.is_empty() {
            return Err(KernelError::Config(format!(
                "unknown tools {unknown:?}; the tools there are: {}, {}",
                self.inner.tools.names().join(", "),
                MEMORY_TOOLS.join(", ")
            )));
        }
        for scope in &spec.memory_scopes {
            match agentos_memory::Scope::parse(scope)? {
                agentos_memory::Scope::Run(_) => {
                    return Err(KernelError::Config(format!(
                        "memory scope `{scope}`: a run's working memory is its own; grant agent:<name> or person:<name>"
                    )))
                }
                agentos_memory::Scope::Team(_) => {
                    return Err(KernelError::Config(format!(
                        "memory scope `{scope}`: a team's shared memory comes with the team (its members and the team run \
                         use it); grant agent:<name> or person:<name>"
                    )))
                }
                parsed if parsed.to_string() != *scope => {
                    return Err(KernelError::Config(format!("memory scope `{scope}`: write it as `{parsed}`")))
                }
                _ => {}
            }
        }
        for uri in spec.roles.values() {
            self.model(uri)?;
        }
        let run = RunId::new();
        let agent = self.agent(run.clone(), spec.clone(), Vec::new())?;
        let value = serde_json::to_value(&spec).expect("a run spec serializes");
        self.inner.storage.create_run(RunRecord::starting(run, &spec.task, &spec.strategy, &spec.model, value)).await?;
        Ok(agent)
    }

    /// Ends a run: shuts its code sandbox down, keeps the functions a successful code run wrote
    /// in the action library and records how the functions it was offered served it (see
    /// [`Agent::retrieve_actions`]), records how it ended, tells the watchers, and returns its
    /// status.
    pub async fn finish(&self, agent: &Agent, ending: Ending) -> Result<&'static str, KernelError> {
        let used_code = agent.close_code().await;
        if used_code && matches!(ending, Ending::Finished(_) | Ending::Failed(_)) {
            self.update_library(agent, matches!(ending, Ending::Finished(_))).await?;
        }
        let status = ending.status();
        let output = match ending {
            Ending::Finished(text) | Ending::Failed(text) | Ending::Interrupted(text) => text,
            Ending::Suspended | Ending::Cancelled => String::new(),
        };
        self.inner.live.lock().unwrap().remove(agent.run());
        self.inner.storage.set_status(agent.run(), status, Some(output.clone()).filter(|o| !o.is_empty())).await?;
        if let Some(hook) = &self.inner.events {
            hook(&Event::Finished { run: agent.run().clone(), status: status.to_string(), output });
        }
        Ok(status)
    }

    /// The whole stored trajectory of a run.
    pub fn trajectory(&self, run: &str) -> Result<Trajectory, KernelError> {
        trajectory(&self.inner.storage, run)
    }
}

/// The whole stored trajectory of a run, read straight from storage (no kernel needed).
pub fn trajectory(storage: &Storage, run: &str) -> Result<Trajectory, KernelError> {
    let record = storage.run(run)?;
    let steps = storage.steps(&record.id)?;
    let usage = storage.usage(&record.id)?;
    let events = storage.run_events(&record.id)?;
    let answer = if record.status == "finished" { record.output.clone() } else { None };
    Ok(Trajectory {
        run: record.id,
        task: record.task,
        strategy: record.strategy,
        model: record.model,
        status: record.status,
        created_at: record.created_at,
        steps,
        answer,
        usage,
        events,
    })
}
