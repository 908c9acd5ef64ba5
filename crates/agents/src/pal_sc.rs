//! Self-consistency over programs: several programs sampled for one task, each run, and the
//! answer most of their outputs give. It is self-consistency (Wang et al., 2023,
//! "Self-Consistency Improves Chain of Thought Reasoning in Language Models") with programs in
//! place of chains of thought, as Program of Thoughts (Chen et al., 2023, "Program of Thoughts
//! Prompting") does with PoT + SC and PAL (Gao et al., 2023) with majority voting over its
//! samples.
//!
//! The programs are [`crate::ProgramAided`] requests at a temperature above zero with a seed of
//! their own, sent together so the scheduler can serve them at once; each is then run as a cell
//! of the run's sandbox, in order (one interpreter per run, so a program sees the names earlier
//! ones defined; each defines what it uses). Programs that raise, time out or print nothing are
//! dropped, and the vote ([`crate::majority_vote`]) is over the outputs of the rest.

use crate::pal::{execute, request};
use crate::{majority_vote, model_all, sample, AgentError, Strategy};
use agentos_kernel::{ActionMode, Agent};
use async_trait::async_trait;

/// Self-consistency over `samples` programs. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramConsistency {
    /// How many programs to sample (at least one is).
    pub samples: u32,
}

impl ProgramConsistency {
    /// The number of programs when none is given.
    pub const DEFAULT_SAMPLES: u32 = 5;
}

impl Default for ProgramConsistency {
    fn default() -> Self {
        ProgramConsistency { samples: Self::DEFAULT_SAMPLES }
    }
}

#[async_trait]
impl Strategy for ProgramConsistency {
    fn name(&self) -> &'static str {
        "pal-sc"
    }

    fn action_modes(&self) -> &'static [ActionMode] {
        &[ActionMode::Code]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let requests = (0..self.samples.max(1)).map(|i| request(agent, sample(agent, i))).collect();
        let mut answers = Vec::new();
        let mut failures = Vec::new();
        for reply in model_all(agent, requests).await? {
            match execute(agent, &reply.message.content()).await? {
                Ok(answer) => answers.push(answer),
                Err(why) => failures.push(why),
            }
        }
        majority_vote(&answers).ok_or_else(|| {
            failures.dedup();
            AgentError::NoAnswer(format!("none of the {} programs gave an answer ({})", self.samples.max(1), failures.join("; ")))
        })
    }
}
