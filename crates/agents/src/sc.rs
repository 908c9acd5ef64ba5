//! Self-consistency (Wang et al., 2023, "Self-Consistency Improves Chain of Thought Reasoning in
//! Language Models"): sample several diverse chains of thought for the same task and answer with
//! the answer most of them reach, marginalizing out the reasoning paths.
//!
//! Each sample is a [`crate::ChainOfThought`] request at a temperature above zero with a seed of
//! its own, so each is a journaled model call of its own; the samples are sent together, so the
//! scheduler can serve them at once. The vote is [`crate::majority_vote`]: answers are compared as
//! numbers when both are numbers, else normalized (case, whitespace, a trailing period), and a tie
//! goes to the answer that came first.

use crate::{cot, extract_answer, majority_vote, model_all, sample, AgentError, Strategy};
use agentos_kernel::Agent;
use async_trait::async_trait;

/// Self-consistency over `samples` chains of thought. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfConsistency {
    /// How many chains of thought to sample (at least one is).
    pub samples: u32,
}

impl SelfConsistency {
    /// The number of samples when none is given.
    pub const DEFAULT_SAMPLES: u32 = 5;
}

impl Default for SelfConsistency {
    fn default() -> Self {
        SelfConsistency { samples: Self::DEFAULT_SAMPLES }
    }
}

#[async_trait]
impl Strategy for SelfConsistency {
    fn name(&self) -> &'static str {
        "sc"
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let requests = (0..self.samples.max(1)).map(|i| cot::request(agent, sample(agent, i))).collect();
        let answers: Vec<String> = model_all(agent, requests).await?.iter().map(|r| extract_answer(&r.message.content())).collect();
        Ok(majority_vote(&answers).unwrap_or_default())
    }
}
