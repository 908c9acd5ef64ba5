//! Context manager: suspending an agent between steps, and restoring it from its snapshot.
//!
//! A snapshot is the run's record (its spec) and its journal. Because strategies are plain async
//! code over a journaled kernel, restoring needs no serialized stack: the strategy starts again
//! with the journal loaded, replays every recorded syscall without re-executing it, and goes live
//! where the journal ends (see [`crate::Agent`]).

use crate::agent::{Agent, Control, Halt};
use crate::error::KernelError;
use crate::storage::{RunRecord, Storage};
use crate::tools::ToolContext;
use crate::{Kernel, RunSpec};
use agentos_core::{RunId, Step, StepKind, Usage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

/// Everything needed to restore a run: its record and every step it journaled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// The run as stored.
    pub record: RunRecord,
    /// Its journal, in order.
    pub steps: Vec<Step>,
}

impl Snapshot {
    /// Run `run` and its journal, read from `storage`.
    pub fn load(storage: &Storage, run: &str) -> Result<Snapshot, KernelError> {
        let record = storage.run(run)?;
        let steps = storage.steps(&record.id)?;
        Ok(Snapshot { record, steps })
    }

    /// The run's spec as stored; refused, naming the run, when it cannot be read.
    pub fn spec(&self) -> Result<RunSpec, KernelError> {
        serde_json::from_value(self.record.spec.clone())
            .map_err(|e| KernelError::Config(format!("run {} has an unreadable spec ({e}); it cannot be resumed", self.record.id)))
    }
}

/// New limits for a resumed run (`agentos resume --max-steps N --max-calls N --max-tokens N
/// --max-seconds N`),
/// recorded with it; `None` keeps the recorded limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most reasoning steps.
    pub max_steps: Option<u32>,
    /// Most model calls.
    pub max_model_calls: Option<u64>,
    /// Most tokens, in and out together.
    pub max_tokens: Option<u64>,
    /// Most seconds spent in syscalls.
    pub max_seconds: Option<u64>,
}

impl Limits {
    /// Applies the limits to `spec`, returning what changed as `{name: [old, new]}`.
    fn apply(&self, spec: &mut RunSpec) -> serde_json::Map<String, serde_json::Value> {
        let mut changes = serde_json::Map::new();
        let mut change = |name: &str, old: serde_json::Value, new: serde_json::Value| {
            if old != new {
                changes.insert(name.to_string(), serde_json::json!([old, new]));
            }
        };
        if let Some(steps) = self.max_steps {
            change("max_steps", spec.max_steps.into(), steps.into());
            spec.max_steps = steps;
        }
        if let Some(calls) = self.max_model_calls {
            change("max_model_calls", spec.budget.max_model_calls.into(), calls.into());
            spec.budget.max_model_calls = Some(calls);
        }
        if let Some(tokens) = self.max_tokens {
            change("max_tokens", spec.budget.max_tokens.into(), tokens.into());
            spec.budget.max_tokens = Some(tokens);
        }
        if let Some(seconds) = self.max_seconds {
            change("max_seconds", spec.budget.max_seconds.into(), seconds.into());
            spec.budget.max_seconds = Some(seconds);
        }
        changes
    }
}

/// What stopped a run from outside, for [`Kernel::interrupt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// The person (Ctrl-C): the run ends `suspended`.
    Person,
    /// Something else, named here (`SIGTERM`, `its output closed`): the run ends `interrupted`.
    Other(String),
}

impl Kernel {
    /// Asks a live run to stop at its next step boundary; it ends with status `suspended`.
    /// Returns false when no such run is live in this process.
    pub fn suspend(&self, run: &RunId) -> bool {
        self.control(run).map(|c| c.stop(Halt::Suspend, false)).is_some()
    }

    /// Stops a live run at once: the syscall in flight (a model call, a tool call, a code cell, a
    /// question) is abandoned and not journaled, so a resume repeats nothing, and the run ends
    /// `suspended` (stopped by the person) or `interrupted`. Returns false when no such run is
    /// live in this process.
    pub fn interrupt(&self, run: &RunId, by: Interruption) -> bool {
        let halt = match by {
            Interruption::Person => Halt::Suspend,
            Interruption::Other(reason) => Halt::Interrupt(reason),
        };
        self.control(run).map(|c| c.stop(halt, true)).is_some()
    }

    /// Cancels a live run: a syscall in flight is abandoned, and the run ends `cancelled`.
    /// Returns false when no such run is live in this process.
    pub fn cancel(&self, run: &RunId) -> bool {
        self.control(run).map(|c| c.stop(Halt::Cancel, true)).is_some()
    }

    fn control(&self, run: &RunId) -> Option<Arc<Control>> {
        self.inner.live.lock().unwrap().get(run).cloned()
    }

    /// The snapshot of a stored run.
    pub fn snapshot(&self, run: &str) -> Result<Snapshot, KernelError> {
        Snapshot::load(&self.inner.storage, run)
    }

    /// Restores a run from its snapshot: the returned agent replays the journal, then goes live.
    /// A finished run cannot be restored, nor one that another live process drives.
    pub async fn restore(&self, snapshot: Snapshot) -> Result<Agent, KernelError> {
        self.restore_with(snapshot, Limits::default()).await
    }

    /// Restores a run like [`Kernel::restore`] with new `limits`, which are stored with the run
    /// (its spec, and the status event that records the resume says what changed), so a run that
    /// failed on a limit can be carried on past it.
    pub async fn restore_with(&self, snapshot: Snapshot, limits: Limits) -> Result<Agent, KernelError> {
        let mut spec = snapshot.spec()?;
        let Snapshot { record, steps } = snapshot;
        if record.status == "finished" {
            return Err(KernelError::Config(format!("run {} already finished; start a new run instead", record.id)));
        }
        let changes = limits.apply(&mut spec);
        let stored = (!changes.is_empty()).then(|| serde_json::to_value(&spec).expect("a run spec serializes"));
        self.inner.storage.acquire(record.id.as_str(), stored, changes.into()).await?;
        self.agent(record.id, spec, steps)
    }

    /// A finished run opened only to replay its journal (a finished member of a resumed team):
    /// it takes no lease, so a syscall past its journal fails.
    pub(crate) fn replay_only(&self, snapshot: Snapshot, spec: RunSpec) -> Result<Agent, KernelError> {
        let mut agent = self.agent(snapshot.record.id, spec, snapshot.steps)?;
        agent.replay_only = true;
        Ok(agent)
    }

    /// The agent of run `run`, live in this process, with `journal` (its recorded steps) to
    /// replay and their usage already charged.
    pub(crate) fn agent(&self, run: RunId, spec: RunSpec, journal: Vec<Step>) -> Result<Agent, KernelError> {
        let model = self.model(&spec.model)?;
        let mut usage = Usage::default();
        for step in &journal {
            if let StepKind::Model { response, .. } = &step.kind {
                usage += response.usage;
            }
        }
        let journal: HashMap<u64, Step> = journal.into_iter().map(|s| (s.seq, s)).collect();
        let control = Arc::new(Control::default());
        self.inner.live.lock().unwrap().insert(run.clone(), control.clone());
        let tool_context =
            ToolContext { run: run.clone(), capabilities: Arc::new(spec.capabilities.clone()), operator: self.inner.operator.clone() };
        Ok(Agent {
            kernel: self.inner.clone(),
            run,
            spec,
            model,
            tool_context,
            control,
            next_seq: AtomicU64::new(0),
            journal: Mutex::new(journal),
            usage: Arc::new(Mutex::new(usage)),
            spent_ms: AtomicU64::new(0),
            ledger: Default::default(),
            replay_only: false,
            requests: Mutex::new(BTreeMap::new()),
            code: tokio::sync::Mutex::new(Default::default()),
            tainted: AtomicBool::new(false),
            briefed: Default::default(),
            recalled_untrusted: AtomicBool::new(false),
            blocks: Default::default(),
        })
    }
}
