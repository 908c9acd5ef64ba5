//! Chain of thought (Wei et al., 2022, "Chain-of-Thought Prompting Elicits Reasoning in Large
//! Language Models"): the model writes out intermediate reasoning steps before it answers, which
//! makes multi-step arithmetic and symbolic problems far more often right than a direct answer.
//!
//! The prompt is the zero-shot form (an instruction to reason step by step, no exemplars), since a
//! task carries none, and asks for a last `Answer:` line, which [`crate::extract_answer`] reads.

use crate::answer::ANSWER_FORMAT;
use crate::{extract_answer, sampling, AgentError, Strategy};
use agentos_core::{ChatRequest, Message, Sampling};
use agentos_kernel::Agent;
use async_trait::async_trait;

/// Chain of thought: one model call that reasons step by step and ends with `Answer: <answer>`;
/// the answer is that line's text. See the module documentation.
pub struct ChainOfThought;

/// The system prompt of a chain of thought.
const PROMPT: &str = "Solve the user's task. Think step by step: write out your reasoning before you conclude.";

/// The chain-of-thought request for the agent's task, sampled with `sampling`.
pub(crate) fn request(agent: &Agent, sampling: Sampling) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system(format!("{PROMPT} {ANSWER_FORMAT}")), Message::user(agent.task())],
        sampling,
        ..Default::default()
    }
}

#[async_trait]
impl Strategy for ChainOfThought {
    fn name(&self) -> &'static str {
        "cot"
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let reply = agent.model(request(agent, sampling(agent))).await?;
        Ok(extract_answer(&reply.message.content()))
    }
}
