//! agentos-agents: how an agent decides. Each strategy is one file, cites its paper, and talks to
//! the world only through its [`Agent`] handle on the kernel.
//!
//! Owns: the [`Strategy`] trait, the strategies ([`ReAct`], with code actions CodeAct and its
//! action library, also by name as [`CodeAct`], and with the working-memory policies of
//! `--memory` (the plain window, HiAgent's subgoal chunks, Chain of Summarization);
//! [`ChainOfThought`], [`SelfConsistency`],
//! [`AIoT`] and [`GIoT`], [`ToolChainStar`], and the program-aided [`ProgramAided`] and
//! [`ProgramConsistency`]), the team topologies ([`Debate`], [`DyLAN`], [`Malt`], [`CrossTeam`],
//! [`ReAd`], [`Umi`], [`Polaris`], [`Cases`], and a team declared in a team file, [`TeamFile`], played by
//! [`DeclaredTeam`]), what they share about final answers ([`extract_answer`],
//! [`majority_vote`]), and [`drive`], which runs a strategy on an agent (briefed from long-term
//! memory before, teaching it after, for runs granted a memory scope) and records how the run
//! ended.
//!
//! Must not: call a provider, a tool or the database directly.

#![warn(missing_docs)]

mod answer;
mod cases;
mod codeact;
mod cot;
mod crossteam;
mod debate;
mod declared;
mod dylan;
mod hiagent;
mod iot;
mod malt;
mod memory;
mod pal;
mod pal_sc;
mod polaris;
mod react;
mod read;
mod sc;
mod summary;
pub mod team;
mod teamfile;
mod toolchain;
mod umi;
mod working;

pub use answer::{extract_answer, final_reply, majority_vote, normalize_answer, same_answer};
pub use cases::{Cases, CASE_WRITER_ROLE, SOLVER_ROLE};
pub use codeact::CodeAct;
pub use cot::ChainOfThought;
pub use crossteam::CrossTeam;
pub use debate::Debate;
pub use declared::{DeclaredTeam, SELECTOR_ATTEMPTS};
pub use dylan::DyLAN;
pub use iot::{AIoT, GIoT, INNER_ROLE};
pub use malt::{Malt, GENERATOR_ROLE, REFINER_ROLE, VERIFIER_ROLE};
pub use pal::ProgramAided;
pub use pal_sc::ProgramConsistency;
pub use polaris::{Polaris, PRIMARY_ROLE};
pub use react::ReAct;
pub use read::{ReAd, CRITIC_ROLE};
pub use sc::SelfConsistency;
pub use team::PLANNER_ROLE;
pub use teamfile::{
    Actor, Condition, ExpressionError, ModelCheck, Progress, Protocol, RunGrant, Structure, TeamFile, TeamFileError, Termination,
};
pub use toolchain::{ToolChainStar, EVALUATOR_ROLE};
pub use umi::{Umi, CALLER_ROLE, SUMMARIZER_ROLE};

use agentos_core::{ChatRequest, ChatResponse, Sampling};
use agentos_kernel::{ActionMode, Agent, Ending, Kernel, KernelError, WorkingMemory};
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
    /// The strategy's last resort gave no answer (a program-aided run whose program failed).
    #[error("no answer: {0}")]
    NoAnswer(String),
    /// The strategy name is not known.
    #[error(
        "unknown strategy `{0}`; the strategies are: {list} (sc, pal-sc, giot, toolchain, dylan, crossteam, read and cases take a count after a colon, as in `sc:9`; debate takes agents×rounds, as in `debate:3x2`)",
        list = STRATEGIES.join(", ")
    )]
    UnknownStrategy(String),
    /// The run's team file is refused (see [`TeamFile::parse`]).
    #[error(transparent)]
    TeamFile(#[from] TeamFileError),
    /// A strategy name's count (after the colon) is not a whole number of at least 1.
    #[error("strategy `{0}`: the count must be at least 1 (a whole number after the colon, as in `sc:5`; `debate:3x2` for 3 agents and 2 rounds)")]
    BadCount(String),
    /// A role model was given that none of the run's strategies uses.
    #[error("role `{role}` is not used by {strategies}; {uses}")]
    UnusedRole {
        /// The role given.
        role: String,
        /// The strategies, comma-separated.
        strategies: String,
        /// The roles they use, or all roles and who uses them.
        uses: String,
    },
    /// The run asks for an action mode the strategy cannot act in.
    #[error("the strategy `{strategy}` cannot act with `--actions {mode}`; the strategies that can: {supported}")]
    UnsupportedActions {
        /// The strategy's name.
        strategy: &'static str,
        /// The mode the run asked for.
        mode: ActionMode,
        /// The strategies that support it, comma-separated.
        supported: String,
    },
    /// The run asks for a working-memory policy the strategy cannot keep its context with.
    #[error("the strategy `{strategy}` cannot keep `--memory {policy}`; the strategies that can: {supported}")]
    UnsupportedMemory {
        /// The strategy's name.
        strategy: &'static str,
        /// The policy the run asked for.
        policy: WorkingMemory,
        /// The strategies that support it, comma-separated.
        supported: String,
    },
}

/// The names of the strategies [`strategy`] builds.
pub const STRATEGIES: &[&str] = &[
    "react",
    "codeact",
    "cot",
    "sc",
    "aiot",
    "giot",
    "toolchain",
    "pal",
    "pal-sc",
    "debate",
    "dylan",
    "malt",
    "crossteam",
    "read",
    "umi",
    "polaris",
    "cases",
];

/// A way of deciding: a task and a kernel handle in, an answer out.
#[async_trait]
pub trait Strategy: Send + Sync {
    /// The strategy's name, as `--strategy` takes it.
    fn name(&self) -> &'static str;

    /// The action modes it can act in (a run's [`RunSpec::actions`](agentos_kernel::RunSpec::actions));
    /// JSON tool calls only, unless the strategy says more.
    fn action_modes(&self) -> &'static [ActionMode] {
        &[ActionMode::Json]
    }

    /// The roles ([`RunSpec::roles`](agentos_kernel::RunSpec::roles)) whose model it calls
    /// besides the run's own: none, unless the strategy says more.
    fn roles(&self) -> &'static [&'static str] {
        &[]
    }

    /// The working-memory policies ([`RunSpec::working_memory`](agentos_kernel::RunSpec::working_memory))
    /// it can keep its context with: the plain window only, unless the strategy says more.
    fn working_memories(&self) -> &'static [WorkingMemory] {
        &[WorkingMemory::Window]
    }

    /// Works on the agent's task until it has an answer.
    async fn run(&self, agent: &Agent) -> Result<String, AgentError>;
}

/// The strategy with this name, one of [`STRATEGIES`]. Nine take a count after a colon, so that
/// a run's stored strategy name rebuilds the same strategy on resume: `sc:9` (samples of
/// [`SelfConsistency`]), `pal-sc:9` (programs of [`ProgramConsistency`]), `giot:5` (iterations of
/// [`GIoT`]), `toolchain:3` (candidate actions per expansion of [`ToolChainStar`]), `dylan:6`
/// (agents of [`DyLAN`]), `crossteam:4` (teams of [`CrossTeam`]), `read:2` (refinements of
/// [`ReAd`]), `cases:5` (similar cases of [`Cases`]) and `debate:3x2` (agents and rounds of
/// [`Debate`]); without one they take their
/// defaults. `team` builds [`DeclaredTeam`], which plays the run's team file
/// (`agentos run --team FILE`); it is not among [`STRATEGIES`], which need nothing but a name.
///
/// ```
/// assert_eq!(agentos_agents::strategy("sc:9").unwrap().name(), "sc");
/// assert!(agentos_agents::strategy("cot:2").is_err());
/// ```
pub fn strategy(name: &str) -> Result<Box<dyn Strategy>, AgentError> {
    let unknown = || AgentError::UnknownStrategy(name.to_string());
    let (base, count) = match name.split_once(':') {
        Some((base, _)) if !STRATEGIES.contains(&base) => return Err(unknown()),
        Some(("debate", count)) => {
            return Debate::parse(count).map(|d| Box::new(d) as Box<dyn Strategy>).ok_or_else(|| AgentError::BadCount(name.to_string()))
        }
        Some((base, count)) => {
            (base, Some(count.trim().parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| AgentError::BadCount(name.to_string()))?))
        }
        None => (name, None),
    };
    Ok(match (base, count) {
        ("react", None) => Box::new(ReAct),
        ("codeact", None) => Box::new(CodeAct),
        ("pal", None) => Box::new(ProgramAided),
        ("pal-sc", samples) => Box::new(samples.map_or_else(ProgramConsistency::default, |samples| ProgramConsistency { samples })),
        ("cot", None) => Box::new(ChainOfThought),
        ("sc", samples) => Box::new(samples.map_or_else(SelfConsistency::default, |samples| SelfConsistency { samples })),
        ("aiot", None) => Box::new(AIoT),
        ("giot", iterations) => Box::new(iterations.map_or_else(GIoT::default, |iterations| GIoT { iterations })),
        ("toolchain", candidates) => Box::new(candidates.map_or_else(ToolChainStar::default, |candidates| ToolChainStar { candidates })),
        ("debate", None) => Box::new(Debate::default()),
        ("dylan", agents) => Box::new(agents.map_or_else(DyLAN::default, |agents| DyLAN { agents, ..DyLAN::default() })),
        ("malt", None) => Box::new(Malt),
        ("crossteam", teams) => Box::new(teams.map_or_else(CrossTeam::default, |teams| CrossTeam { teams })),
        ("read", refinements) => Box::new(refinements.map_or_else(ReAd::default, |refinements| ReAd { refinements })),
        ("umi", None) => Box::new(Umi),
        ("polaris", None) => Box::new(Polaris),
        ("cases", cases) => Box::new(cases.map_or_else(Cases::default, |cases| Cases { cases })),
        ("team", None) => Box::new(DeclaredTeam),
        _ => return Err(unknown()),
    })
}

/// Whether `strategy` can act in `mode`; the error names the strategies that can.
///
/// ```
/// use agentos_agents::{check_actions, strategy};
/// use agentos_kernel::ActionMode;
/// assert!(check_actions(strategy("react").unwrap().as_ref(), ActionMode::Code).is_ok());
/// let refused = check_actions(strategy("cot").unwrap().as_ref(), ActionMode::Code).unwrap_err();
/// assert!(refused.to_string().contains("strategies that can: react"));
/// ```
pub fn check_actions(strategy: &dyn Strategy, mode: ActionMode) -> Result<(), AgentError> {
    if strategy.action_modes().contains(&mode) {
        return Ok(());
    }
    let supported = strategies_that(|s| s.action_modes().contains(&mode));
    Err(AgentError::UnsupportedActions { strategy: strategy.name(), mode, supported })
}

/// Whether `strategy` can keep its context with the working-memory policy `policy`; the error
/// names the strategies that can.
///
/// ```
/// use agentos_agents::{check_memory, strategy};
/// use agentos_kernel::WorkingMemory;
/// assert!(check_memory(strategy("react").unwrap().as_ref(), WorkingMemory::HiAgent).is_ok());
/// let refused = check_memory(strategy("cot").unwrap().as_ref(), WorkingMemory::Summary).unwrap_err();
/// assert!(refused.to_string().contains("--memory summary`; the strategies that can: react"), "{refused}");
/// ```
pub fn check_memory(strategy: &dyn Strategy, policy: WorkingMemory) -> Result<(), AgentError> {
    if strategy.working_memories().contains(&policy) {
        return Ok(());
    }
    let supported = strategies_that(|s| s.working_memories().contains(&policy));
    Err(AgentError::UnsupportedMemory { strategy: strategy.name(), policy, supported })
}

/// The names of the strategies of [`STRATEGIES`] for which `can` holds, comma-separated.
fn strategies_that(can: impl Fn(&dyn Strategy) -> bool) -> String {
    let names: Vec<&str> = STRATEGIES.iter().copied().filter(|name| self::strategy(name).is_ok_and(|s| can(s.as_ref()))).collect();
    names.join(", ")
}

/// Whether some strategy of `strategies` calls the model of `role`; the error names the roles
/// they use, or, when they use none, every role and the strategies that use it.
///
/// ```
/// use agentos_agents::{check_role, strategy};
/// let aiot = strategy("aiot").unwrap();
/// assert!(check_role(&[aiot.as_ref()], "inner").is_ok());
/// let refused = check_role(&[aiot.as_ref()], "judge").unwrap_err().to_string();
/// assert!(refused.contains("role `judge`") && refused.contains("inner"), "{refused}");
/// ```
pub fn check_role(strategies: &[&dyn Strategy], role: &str) -> Result<(), AgentError> {
    if strategies.iter().any(|s| s.roles().contains(&role)) {
        return Ok(());
    }
    let mut used: Vec<&str> = strategies.iter().flat_map(|s| s.roles().iter().copied()).collect();
    used.sort_unstable();
    used.dedup();
    let uses = if used.is_empty() {
        let built: Vec<Box<dyn Strategy>> = STRATEGIES.iter().filter_map(|name| self::strategy(name).ok()).collect();
        let mut every: Vec<(&str, Vec<&str>)> = Vec::new();
        for s in &built {
            for role in s.roles() {
                match every.iter_mut().find(|(r, _)| r == role) {
                    Some((_, users)) => users.push(s.name()),
                    None => every.push((role, vec![s.name()])),
                }
            }
        }
        let every: Vec<String> = every.iter().map(|(role, users)| format!("`{role}` ({})", users.join(", "))).collect();
        format!("no role is used there; the roles are {}: drop --role, or pick a strategy that uses it", every.join(", "))
    } else {
        format!("the roles used: {}", used.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", "))
    };
    let names: Vec<&str> = strategies.iter().map(|s| s.name()).collect();
    Err(AgentError::UnusedRole {
        role: role.to_string(),
        strategies: format!("{} {}", if names.len() == 1 { "strategy" } else { "strategies" }, names.join(", ")),
        uses,
    })
}

/// Runs `strategy` on `agent` to its end and records the ending. Returns how it ended. A run whose
/// action mode the strategy cannot act in, or whose working memory it cannot keep, fails at once
/// ([`check_actions`], [`check_memory`]).
pub async fn drive(kernel: &Kernel, agent: &Agent, strategy: &dyn Strategy) -> Result<Ending, KernelError> {
    let checked = check_actions(strategy, agent.spec().actions).and_then(|()| check_memory(strategy, agent.spec().working_memory));
    let outcome = match checked {
        Ok(()) => with_memory(agent, strategy).await,
        Err(refused) => Err(refused),
    };
    let ending = ending(&outcome);
    kernel.finish(agent, ending.clone()).await?;
    Ok(ending)
}

/// How a run ends when its strategy came to `outcome`.
pub(crate) fn ending(outcome: &Result<String, AgentError>) -> Ending {
    match outcome {
        Ok(answer) => Ending::Finished(answer.clone()),
        Err(AgentError::Kernel(KernelError::Suspended(_))) => Ending::Suspended,
        Err(AgentError::Kernel(KernelError::Cancelled(_))) => Ending::Cancelled,
        Err(AgentError::Kernel(KernelError::Interrupted { reason, .. })) => Ending::Interrupted(reason.clone()),
        Err(e) => Ending::Failed(e.to_string()),
    }
}

/// Runs `strategy` briefed with what long-term memory holds on the task, and merges what the run
/// taught into memory once it has an answer (both only for runs granted a long-term scope).
async fn with_memory(agent: &Agent, strategy: &dyn Strategy) -> Result<String, AgentError> {
    memory::brief(agent).await?;
    let answer = strategy.run(agent).await?;
    memory::learn(agent).await?;
    Ok(answer)
}

/// The temperature of samples that must differ when the run asks for none above zero.
const SAMPLE_TEMPERATURE: f32 = 0.7;

/// The most tokens one model call may write: enough for a long chain of thought, and a bound on
/// the time a small model that loops can spend before the strategy sees its answer.
pub const MAX_TOKENS_PER_CALL: u32 = 1024;

/// The sampling settings the run asks for.
fn sampling(agent: &Agent) -> Sampling {
    Sampling { temperature: agent.spec().temperature, max_tokens: Some(MAX_TOKENS_PER_CALL), ..Default::default() }
}

/// The sampling settings of sample `index` (from 0) among several of the same request: the run's
/// temperature if it is above zero, else [`SAMPLE_TEMPERATURE`], and the seed `index`, so that
/// every sample is a request of its own in the journal and providers that honour seeds vary.
fn sample(agent: &Agent, index: u32) -> Sampling {
    let temperature = agent.spec().temperature.filter(|t| *t > 0.0).unwrap_or(SAMPLE_TEMPERATURE);
    Sampling { temperature: Some(temperature), seed: Some(u64::from(index)), max_tokens: Some(MAX_TOKENS_PER_CALL), ..Default::default() }
}

/// Sends `requests` to the run's model at once, so that the scheduler can serve them together,
/// and returns the responses in the requests' order. Each call takes its journal number when it
/// is first polled, and `join_all` first polls them in order, so the numbering, and with it
/// replay, does not depend on which answer comes back first.
async fn model_all(agent: &Agent, requests: Vec<ChatRequest>) -> Result<Vec<ChatResponse>, AgentError> {
    let calls = requests.into_iter().map(|request| agent.model(request));
    futures::future::join_all(calls).await.into_iter().map(|r| r.map_err(AgentError::from)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_strategy_by_name_with_its_count() {
        for name in STRATEGIES {
            assert_eq!(strategy(name).unwrap().name(), *name);
        }
        for name in ["sc:9", "pal-sc:3", "giot:5", "toolchain:3", "dylan:6", "crossteam:4", "read:2", "cases:5"] {
            assert_eq!(strategy(name).unwrap().name(), name.split(':').next().unwrap());
        }
        for bad in ["tot", "react:2", "tot:2", "umi:2", ""] {
            let err = strategy(bad).err().expect(bad).to_string();
            assert!(err.contains(&format!("`{bad}`")) && err.contains("toolchain"), "{err}");
        }
        for bad in ["sc:0", "sc:x", "giot:", "toolchain:-1"] {
            let err = strategy(bad).err().expect(bad).to_string();
            assert!(err.contains(&format!("`{bad}`")) && err.contains("the count must be at least 1"), "{err}");
        }
    }
}
