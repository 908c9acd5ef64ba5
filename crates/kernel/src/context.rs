//! Context manager: suspending an agent between steps, and restoring it from its snapshot.
//!
//! A snapshot is the run's record (its spec) and its journal. Because strategies are plain async
//! code over a journaled kernel, restoring needs no serialized stack: the strategy starts again
//! with the journal loaded, replays every recorded syscall without re-executing it, and goes live
//! where the journal ends (see [`crate::Agent`]).

use crate::agent::{Agent, Control};
use crate::error::KernelError;
use crate::storage::RunRecord;
use crate::tools::ToolContext;
use crate::{Kernel, RunSpec};
use agentos_core::{RunId, Step, StepKind, Usage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Everything needed to restore a run: its record and every step it journaled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// The run as stored.
    pub record: RunRecord,
    /// Its journal, in order.
    pub steps: Vec<Step>,
}

impl Kernel {
    /// Asks a live run to stop at its next step boundary; it ends with status `suspended`.
    /// Returns false when no such run is live in this process.
    pub fn suspend(&self, run: &RunId) -> bool {
        self.control(run).map(|c| c.suspend.store(true, Ordering::SeqCst)).is_some()
    }

    /// Cancels a live run: a model call in flight is abandoned, and the run ends `cancelled`.
    /// Returns false when no such run is live in this process.
    pub fn cancel(&self, run: &RunId) -> bool {
        self.control(run).map(|c| c.cancel.cancel()).is_some()
    }

    fn control(&self, run: &RunId) -> Option<Arc<Control>> {
        self.inner.live.lock().unwrap().get(run).cloned()
    }

    /// The snapshot of a stored run.
    pub fn snapshot(&self, run: &str) -> Result<Snapshot, KernelError> {
        let record = self.inner.storage.run(run)?;
        let steps = self.inner.storage.steps(&record.id)?;
        Ok(Snapshot { record, steps })
    }

    /// Restores a run from its snapshot: the returned agent replays the journal, then goes live.
    /// A finished run cannot be restored.
    pub async fn restore(&self, snapshot: Snapshot) -> Result<Agent, KernelError> {
        let Snapshot { record, steps } = snapshot;
        if record.status == "finished" {
            return Err(KernelError::Config(format!("run {} already finished; start a new run instead", record.id)));
        }
        let spec: RunSpec = serde_json::from_value(record.spec.clone())
            .map_err(|e| KernelError::Config(format!("run {} has an unreadable spec ({e}); it cannot be resumed", record.id)))?;
        let mut usage = Usage::default();
        for step in &steps {
            if let StepKind::Model { response, .. } = &step.kind {
                usage += response.usage;
            }
        }
        let journal: HashMap<u64, Step> = steps.into_iter().map(|s| (s.seq, s)).collect();
        self.inner.storage.set_status(&record.id, "running", None).await?;
        let agent = self.agent(record.id, spec, journal)?;
        *agent.usage.lock().unwrap() = usage;
        Ok(agent)
    }

    pub(crate) fn agent(&self, run: RunId, spec: RunSpec, journal: HashMap<u64, Step>) -> Result<Agent, KernelError> {
        let model = self.model(&spec.model)?;
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
            usage: Mutex::new(Usage::default()),
            requests: Mutex::new(BTreeMap::new()),
            code: tokio::sync::Mutex::new(Default::default()),
        })
    }
}
