//! agentos-agents: how an agent decides. Each strategy is one file, cites its paper, and talks to
//! the world only through its [`Agent`] handle on the kernel.
//!
//! Owns: the [`Strategy`] trait, the strategies ([`ReAct`]), and [`drive`], which runs a strategy
//! on an agent and records how the run ended.
//!
//! Must not: call a provider, a tool or the database directly.

mod react;

pub use react::ReAct;

use agentos_kernel::{Agent, Ending, Kernel, KernelError};
use async_trait::async_trait;
use thiserror::Error;

/// Why a strategy ended without an answer.
#[derive(Debug, Error)]
pub enum AgentError {
    /// A syscall failed (model unreachable, budget spent, suspended, cancelled, ...).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The step limit was reached without a final answer.
    #[error("no final answer within {0} steps; raise --max-steps or make the task smaller")]
    StepLimit(u32),
    /// The strategy name is not known.
    #[error("unknown strategy `{0}`; the strategies are: {list}", list = STRATEGIES.join(", "))]
    UnknownStrategy(String),
}

/// The names of the strategies [`strategy`] builds.
pub const STRATEGIES: &[&str] = &["react"];

/// A way of deciding: a task and a kernel handle in, an answer out.
#[async_trait]
pub trait Strategy: Send + Sync {
    /// The strategy's name, as `--strategy` takes it.
    fn name(&self) -> &'static str;

    /// Works on the agent's task until it has an answer.
    async fn run(&self, agent: &Agent) -> Result<String, AgentError>;
}

/// The strategy with this name.
pub fn strategy(name: &str) -> Result<Box<dyn Strategy>, AgentError> {
    match name {
        "react" => Ok(Box::new(ReAct)),
        other => Err(AgentError::UnknownStrategy(other.to_string())),
    }
}

/// Runs `strategy` on `agent` to its end and records the ending. Returns how it ended.
pub async fn drive(kernel: &Kernel, agent: &Agent, strategy: &dyn Strategy) -> Result<Ending, KernelError> {
    let ending = match strategy.run(agent).await {
        Ok(answer) => Ending::Finished(answer),
        Err(AgentError::Kernel(KernelError::Suspended(_))) => Ending::Suspended,
        Err(AgentError::Kernel(KernelError::Cancelled(_))) => Ending::Cancelled,
        Err(e) => Ending::Failed(e.to_string()),
    };
    kernel.finish(agent, ending.clone()).await?;
    Ok(ending)
}
