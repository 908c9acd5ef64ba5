//! The agent's side of the kernel: [`Agent`] is the handle through which a running strategy makes
//! every syscall (model calls, tool calls, questions to the person).
//!
//! Syscalls are a journal. Each gets the next sequence number of its run and is written to SQLite,
//! request and result, before the result is handed back. A resumed run replays: the strategy runs
//! again from the start, and each syscall whose number the journal already holds returns the
//! recorded result instead of running again (after checking it asks for the same thing), until
//! the journal ends and live execution takes over. So a killed run neither loses nor repeats a
//! recorded step.

use crate::code::CodeState;
use crate::error::KernelError;
use crate::tools::ToolContext;
use crate::{KernelInner, RunSpec};
use agentos_core::{
    ChatRequest, ChatResponse, Event, MemoryOp, Message, MessageOp, ModelEvent, Role, RunId, Step, StepKind, ToolCall, ToolResult,
    ToolSpec, Usage,
};
use agentos_llm::{LanguageModel, ModelCapabilities};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Controls of a live run that the kernel can pull from outside: stop it at the next step
/// boundary, or at once, abandoning the syscall in flight (which is then not journaled, so a
/// resume repeats nothing).
#[derive(Default)]
pub(crate) struct Control {
    /// How the run is to stop, once asked.
    pub(crate) halt: OnceLock<Halt>,
    /// Fires when the run must stop at once: syscalls in flight are abandoned.
    pub(crate) now: CancellationToken,
}

/// How a run was asked to stop.
#[derive(Clone, Debug)]
pub(crate) enum Halt {
    /// Suspended by the person: ends `suspended`.
    Suspend,
    /// Interrupted by something else (a signal, a closed output), for this reason: ends
    /// `interrupted`.
    Interrupt(String),
    /// Cancelled: ends `cancelled`.
    Cancel,
}

impl Control {
    /// Asks the run to stop; at once (abandoning the syscall in flight) if `now`. The first ask
    /// decides how it ends.
    pub(crate) fn stop(&self, halt: Halt, now: bool) {
        let _ = self.halt.set(halt);
        if now {
            self.now.cancel();
        }
    }

    /// The error that ends the run, once it was asked to stop.
    pub(crate) fn halted(&self, run: &RunId) -> Option<KernelError> {
        Some(match self.halt.get()? {
            Halt::Suspend => KernelError::Suspended(run.to_string()),
            Halt::Interrupt(reason) => KernelError::Interrupted { run: run.to_string(), reason: reason.clone() },
            Halt::Cancel => KernelError::Cancelled(run.to_string()),
        })
    }
}

/// A running agent's handle on the kernel. Strategies see only this.
pub struct Agent {
    pub(crate) kernel: Arc<KernelInner>,
    pub(crate) run: RunId,
    pub(crate) spec: RunSpec,
    pub(crate) model: Arc<dyn LanguageModel>,
    pub(crate) tool_context: ToolContext,
    pub(crate) control: Arc<Control>,
    pub(crate) next_seq: AtomicU64,
    pub(crate) journal: Mutex<HashMap<u64, Step>>,
    pub(crate) usage: Arc<Mutex<Usage>>,
    /// Milliseconds spent in the run's syscalls, replayed ones included (their journaled
    /// durations): what [`Budget::max_seconds`](crate::Budget::max_seconds) bounds.
    pub(crate) spent_ms: AtomicU64,
    /// The ledger of the team this run leads or is a member of (see [`crate::team`]).
    pub(crate) ledger: OnceLock<Arc<crate::team::Ledger>>,
    /// Whether the run had finished and is opened only to replay it (a finished member of a
    /// resumed team): it holds no lease, so a live syscall fails.
    pub(crate) replay_only: bool,
    /// The latest model requests in the journal, by position: the bases that the next model
    /// step's request is stored as a difference from.
    pub(crate) requests: Mutex<BTreeMap<u64, Arc<ChatRequest>>>,
    /// The run's code sandbox and what it needs (see [`Agent::execute_code`]); held across a
    /// whole execution, so cells run one at a time.
    pub(crate) code: tokio::sync::Mutex<CodeState>,
    /// Whether outside content (a tool result, a code cell's output, an untrusted memory) has
    /// entered the run's context: the model's own memories are untrusted from then on.
    pub(crate) tainted: AtomicBool,
    /// The task with what memory brought to it (see [`Agent::brief`]).
    pub(crate) briefed: OnceLock<String>,
    /// Whether untrusted memory was recalled into the run's context: from then on every risky
    /// tool call needs the person's approval (see [`Agent::remember`]'s module).
    pub(crate) recalled_untrusted: AtomicBool,
    /// The run's view of its pinned memory blocks, derived from its journal (see
    /// [`crate::blocks`]).
    pub(crate) blocks: crate::blocks::Pinned,
}

impl Agent {
    /// The run this agent belongs to.
    pub fn run(&self) -> &RunId {
        &self.run
    }

    /// The task the agent was given, followed by what memory brought to it, once the run was
    /// briefed ([`Agent::brief`]).
    pub fn task(&self) -> &str {
        self.briefed.get().map_or(&self.spec.task, String::as_str)
    }

    /// Adds `notes` (what long-term memory holds that bears on the task) after the task, as every
    /// strategy will read it from [`Agent::task`]. Only the first briefing counts; call it before
    /// the strategy starts, from journaled recalls, so a resumed run is briefed the same way.
    pub fn brief(&self, notes: &str) {
        let _ = self.briefed.set(format!("{}\n\n{notes}", self.spec.task));
    }

    /// The run's spec.
    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// Its seat in its team, when the run is a team's member.
    pub fn seat(&self) -> Option<&crate::team::Seat> {
        self.spec.seat.as_ref()
    }

    /// The same agent, stopped by `control` (its team's): interrupting the team interrupts it.
    pub(crate) fn controlled_by(mut self, control: Arc<Control>) -> Agent {
        self.kernel.live.lock().unwrap().insert(self.run.clone(), control.clone());
        self.control = control;
        self
    }

    /// What the run's model can do.
    pub fn model_capabilities(&self) -> ModelCapabilities {
        self.model.capabilities()
    }

    /// The URI of the model that answers `role`'s calls (see [`RunSpec::roles`]): the role's own
    /// model if the spec names one, else the run's model.
    pub fn role_model(&self, role: &str) -> &str {
        self.spec.roles.get(role).unwrap_or(&self.spec.model)
    }

    /// The specs of the tools this agent was granted (the memory tools among them).
    pub fn tools(&self) -> Vec<ToolSpec> {
        let granted = &self.tool_context.capabilities.tools;
        let mut specs = self.kernel.tools.specs(granted);
        specs.extend(granted.iter().filter(|name| self.is_memory_tool(name)).filter_map(|name| crate::memory::tool_spec(name)));
        specs
    }

    /// Usage of the run so far, replayed steps included.
    pub fn usage(&self) -> Usage {
        *self.usage.lock().unwrap()
    }

    /// True while some recorded steps have not been replayed yet.
    pub fn replaying(&self) -> bool {
        !self.journal.lock().unwrap().is_empty()
    }

    /// Tells the watchers, if there are any; `event` is only built when someone listens.
    pub(crate) fn emit(&self, event: impl FnOnce() -> Event) {
        if let Some(hook) = &self.kernel.events {
            hook(&event());
        }
    }

    /// The step boundary: honours requests to stop, then takes the next journal number.
    pub(crate) fn begin(&self) -> Result<u64, KernelError> {
        match self.control.halted(&self.run) {
            Some(stop) => Err(stop),
            None => Ok(self.next_seq.fetch_add(1, Ordering::SeqCst)),
        }
    }

    /// Resolves when the run must stop at once, with the error that ends it: the other arm of a
    /// `select!` around a syscall in flight.
    pub(crate) async fn stopped(&self) -> KernelError {
        self.control.now.cancelled().await;
        self.control.halted(&self.run).unwrap_or_else(|| KernelError::Cancelled(self.run.to_string()))
    }

    /// Takes the recorded step at `seq`, if the journal has one, checking it answers the same ask.
    pub(crate) fn replay(&self, seq: u64, asked: Asked<'_>) -> Result<Option<StepKind>, KernelError> {
        let Some(step) = self.journal.lock().unwrap().remove(&seq) else { return Ok(None) };
        self.spent_ms.fetch_add(step.duration_ms, Ordering::Relaxed);
        let same = match (&step.kind, asked) {
            (StepKind::Model { request, .. }, Asked::Model(now)) => serde_json::to_value(request).ok() == serde_json::to_value(now).ok(),
            (StepKind::Tool { call, .. }, Asked::Tool(now)) => call.name == now.name && call.arguments == now.arguments,
            (StepKind::AskUser { question, .. }, Asked::User(now)) => question == now,
            (StepKind::Code { code, .. }, Asked::Code(now)) => code == now,
            (StepKind::Library { query, .. }, Asked::Library(now)) => query == now,
            (StepKind::Memory { op, .. }, Asked::Memory(now)) => op == now,
            (StepKind::Message { op, .. }, Asked::Message(now)) => op == now,
            _ => false,
        };
        if !same {
            return Err(KernelError::ReplayDiverged {
                run: self.run.to_string(),
                seq,
                recorded: describe(&step.kind),
                asked: asked.to_string(),
            });
        }
        self.emit(|| Event::Step { run: self.run.clone(), step: step.clone(), replayed: true });
        Ok(Some(step.kind))
    }

    /// Journals `step`; a model step comes with the URI of the model that answered and its usage.
    pub(crate) async fn record(&self, step: &Step, model: Option<(&str, Usage)>) -> Result<(), KernelError> {
        let model = model.map(|(uri, usage)| (uri.to_string(), usage));
        let base = match step.kind {
            StepKind::Model { .. } => self.requests.lock().unwrap().range(..step.seq).next_back().map(|(s, r)| (*s, r.clone())),
            _ => None,
        };
        self.kernel.storage.record_step(&self.run, step, model, base.as_ref().map(|(s, r)| (*s, r.as_ref()))).await?;
        self.spent_ms.fetch_add(step.duration_ms, Ordering::Relaxed);
        self.emit(|| Event::Step { run: self.run.clone(), step: step.clone(), replayed: false });
        Ok(())
    }

    /// `request` with the person's profile ([`RunSpec::profile`]) at the end of its system
    /// message, after Janus (Lee et al., 2024: a person's values stated in the system message
    /// steer the model's answers to them).
    fn with_profile(&self, request: ChatRequest) -> ChatRequest {
        let Some(profile) = &self.spec.profile else { return request };
        with_system_note(request, &format!("About the person you are helping, in their own words: {profile}"))
    }

    /// Keeps a journaled model request as a base for the next ones (the last few suffice).
    fn remember_request(&self, seq: u64, request: Arc<ChatRequest>) {
        let mut requests = self.requests.lock().unwrap();
        requests.insert(seq, request);
        while requests.len() > 4 {
            requests.pop_first();
        }
    }

    fn charge(&self, usage: Usage) {
        *self.usage.lock().unwrap() += usage;
    }

    /// Fails once the run has spent its budget, or the team it belongs to has; otherwise
    /// admits the call under the team's budget until the returned guard drops.
    fn check_budget(&self) -> Result<Option<crate::team::Admitted<'_>>, KernelError> {
        check_spent(&self.run, &self.spec.budget, self.usage(), Some(self.spent_ms.load(Ordering::Relaxed)))?;
        self.ledger.get().map(|ledger| ledger.admit()).transpose()
    }

    /// Syscall: one model call on the run's model, queued by the scheduler, streamed live, journaled.
    pub async fn model(&self, request: ChatRequest) -> Result<ChatResponse, KernelError> {
        self.call_model(&self.spec.model, &self.model, request).await
    }

    /// Syscall: one model call on the model of `role` (see [`Agent::role_model`]), queued,
    /// streamed, journaled and budgeted exactly like [`Agent::model`]; the journal records which
    /// model answered. The run's spec, roles included, is stored with the run, so a resumed run
    /// sends each replayed call to the same role's model.
    pub async fn model_as(&self, role: &str, request: ChatRequest) -> Result<ChatResponse, KernelError> {
        let uri = self.role_model(role);
        if uri == self.spec.model {
            return self.model(request).await;
        }
        let model = self.kernel.model(uri)?;
        self.call_model(uri, &model, request).await
    }

    /// One model call on `model`, named `uri` in the journal.
    async fn call_model(&self, uri: &str, model: &Arc<dyn LanguageModel>, request: ChatRequest) -> Result<ChatResponse, KernelError> {
        let request = self.with_blocks(self.with_profile(request)).await?;
        let seq = self.begin()?;
        if let Some(StepKind::Model { request, response }) = self.replay(seq, Asked::Model(&request))? {
            self.remember_request(seq, Arc::new(request));
            self.charge(response.usage);
            return Ok(response);
        }
        let _admitted = self.check_budget()?;
        let started = Instant::now();
        let call = async {
            let _permit = self.kernel.scheduler.acquire(model.uri(), self.run.as_str(), self.spec.priority).await;
            let on_event = |delta: ModelEvent| self.emit(|| Event::Model { run: self.run.clone(), seq, delta });
            model.chat(&request, &on_event).await
        };
        let response = tokio::select! {
            r = call => r?,
            stop = self.stopped() => return Err(stop),
        };
        self.charge(response.usage);
        let usage = response.usage;
        let step = Step { seq, kind: StepKind::Model { request, response }, duration_ms: started.elapsed().as_millis() as u64 };
        self.record(&step, Some((uri, usage))).await?;
        let StepKind::Model { request, response } = step.kind else { unreachable!("built as a model step above") };
        self.remember_request(seq, Arc::new(request));
        Ok(response)
    }

    /// Syscall: the tool calls of one model turn, run in parallel, each validated, access-checked
    /// and journaled. Failures come back as error results for the model, in the calls' order.
    pub async fn call_tools(&self, calls: &[ToolCall]) -> Result<Vec<ToolResult>, KernelError> {
        let mut seqs = Vec::with_capacity(calls.len());
        for _ in calls {
            seqs.push(self.begin()?);
        }
        let runs = calls.iter().zip(seqs).map(|(call, seq)| self.call_tool(call, seq));
        futures::future::join_all(runs).await.into_iter().collect()
    }

    /// One tool call at journal position `seq`: replayed if recorded, else validated,
    /// access-checked, run and journaled.
    pub(crate) async fn call_tool(&self, call: &ToolCall, seq: u64) -> Result<ToolResult, KernelError> {
        let memory = self.is_memory_tool(&call.name);
        if let Some(StepKind::Tool { result, .. }) = self.replay(seq, Asked::Tool(call))? {
            if memory {
                self.replayed_memory_tool(call, &result).await?;
            } else {
                self.taint();
            }
            return Ok(result);
        }
        let started = Instant::now();
        if memory {
            return self.memory_tool(call, seq, started).await;
        }
        let denials = Mutex::new(Vec::new());
        let context = self.guarded_context();
        let result = tokio::select! {
            r = self.kernel.tools.execute(call, &context, |reason| denials.lock().unwrap().push(reason.to_string())) => r,
            stop = self.stopped() => return Err(stop),
        };
        self.taint();
        for reason in denials.into_inner().unwrap() {
            self.kernel
                .storage
                .record_event(&self.run, "denied", serde_json::json!({ "seq": seq, "call": call, "reason": reason }))
                .await?;
            self.emit(|| Event::Denied { run: self.run.clone(), call: call.clone(), reason });
        }
        self.record(&crate::memory::tool_step(seq, call, &result, started), None).await?;
        Ok(result)
    }

    /// Syscall: asks the person a question and waits for the answer.
    pub async fn ask_user(&self, question: &str) -> Result<String, KernelError> {
        let seq = self.begin()?;
        if let Some(StepKind::AskUser { answer, .. }) = self.replay(seq, Asked::User(question))? {
            return Ok(answer);
        }
        let started = Instant::now();
        let answer = tokio::select! {
            answer = self.tool_context.operator.ask(question) => answer.ok_or_else(|| KernelError::NoOperator(question.to_string()))?,
            stop = self.stopped() => return Err(stop),
        };
        let step = Step {
            seq,
            kind: StepKind::AskUser { question: question.to_string(), answer: answer.clone() },
            duration_ms: started.elapsed().as_millis() as u64,
        };
        self.record(&step, None).await?;
        Ok(answer)
    }
}

/// Fails when `used` (and `spent_ms`, the time spent in syscalls, where known) reaches a limit of
/// `budget`, naming `run`.
pub(crate) fn check_spent(run: &RunId, budget: &crate::Budget, used: Usage, spent_ms: Option<u64>) -> Result<(), KernelError> {
    let exhausted = |what, limit| Err(KernelError::BudgetExhausted { run: run.to_string(), what, limit });
    if let Some(limit) = budget.max_model_calls.filter(|l| used.model_calls >= *l) {
        return exhausted("model calls", limit);
    }
    if let Some(limit) = budget.max_tokens.filter(|l| used.total_tokens() >= *l) {
        return exhausted("tokens", limit);
    }
    match (budget.max_seconds, spent_ms) {
        (Some(limit), Some(ms)) if ms >= limit * 1000 => exhausted("seconds", limit),
        _ => Ok(()),
    }
}

/// `request` with `note` at the end of its system message (one is added first when it has none).
pub(crate) fn with_system_note(mut request: ChatRequest, note: &str) -> ChatRequest {
    match request.messages.first_mut() {
        Some(first) if first.role == Role::System => *first = Message::system(format!("{}\n\n{note}", first.content())),
        _ => request.messages.insert(0, Message::system(note)),
    }
    request
}

/// What a syscall asks for, to compare with what the journal recorded at its position.
#[derive(Clone, Copy)]
pub(crate) enum Asked<'a> {
    Model(&'a ChatRequest),
    Tool(&'a ToolCall),
    User(&'a str),
    /// A code cell, by its code.
    Code(&'a str),
    /// The action library's offer, by its query.
    Library(&'a str),
    /// A memory syscall.
    Memory(&'a MemoryOp),
    /// A team message syscall.
    Message(&'a MessageOp),
}

impl std::fmt::Display for Asked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Asked::Model(r) => write!(f, "a model call with {} messages", r.messages.len()),
            Asked::Tool(c) => write!(f, "a call of `{}` with {}", c.name, c.arguments),
            Asked::User(q) => write!(f, "the question `{q}`"),
            Asked::Code(code) => {
                write!(f, "a code cell of {} lines starting `{}`", code.lines().count(), code.lines().next().unwrap_or(""))
            }
            Asked::Library(query) => write!(f, "the action library's functions for `{query}`"),
            Asked::Memory(op) => write!(f, "the memory syscall `{op}`"),
            Asked::Message(op) => write!(f, "the team message `{op}`"),
        }
    }
}

/// What a recorded step asked for, in the words of a replay error.
pub(crate) fn describe(kind: &StepKind) -> String {
    match kind {
        StepKind::Model { request, .. } => Asked::Model(request).to_string(),
        StepKind::Tool { call, .. } => Asked::Tool(call).to_string(),
        StepKind::AskUser { question, .. } => Asked::User(question).to_string(),
        StepKind::Code { code, .. } => Asked::Code(code).to_string(),
        StepKind::Library { query, .. } => Asked::Library(query).to_string(),
        StepKind::Memory { op, .. } => Asked::Memory(op).to_string(),
        StepKind::Message { op, .. } => Asked::Message(op).to_string(),
    }
}
