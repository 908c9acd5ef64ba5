//! Chain of Summarization (Ma et al., 2023, "Large Language Models Play StarCraft II: Benchmarks
//! and A Chain of Summarization Approach"), as a working-memory policy (`--memory summary`).
//! Single-frame summarization: an observation longer than [`SINGLE_FRAME`] bytes is shown to the
//! model as the summary a separate model call writes of it. Multi-frame summarization: once more
//! than [`FRAMES`] turns (a reply and its observations) are in the context, all but the last
//! [`KEEP`] give way to one summary of what was done, found and left to do, which folds in the
//! summary before it, so the context stays bounded however long the run.
//!
//! The summaries are model calls of the run like any other (journaled, replayed on resume, and
//! counted in its usage); the policy shapes only what the model sees.

use crate::working::{cut, transcript, Context};
use crate::{sampling, AgentError};
use agentos_core::{ChatRequest, Message, Role};
use agentos_kernel::Agent;
use async_trait::async_trait;

/// Observations longer than this many bytes are summarized (single frame).
pub(crate) const SINGLE_FRAME: usize = 800;

/// The most turns the context holds before the older ones are summarized (multi frame).
pub(crate) const FRAMES: usize = 4;

/// The turns kept verbatim after a multi-frame summary.
pub(crate) const KEEP: usize = 1;

/// The most bytes of steps one summary request shows the model.
const MAX_SUMMARIZED: usize = 24 * 1024;

const SINGLE_PROMPT: &str = "You summarize one observation an agent received while working on a task. \
Keep every fact, number and name the task may need, exactly as written; drop the rest. Reply with the summary alone, in at most five sentences.";

const MULTI_PROMPT: &str = "You keep the notes of an agent working on a task. Given the notes so far and the agent's latest steps, \
write the new notes: every result found (numbers exactly as written), what is finished, and what is left to do. \
Reply with the notes alone, in at most eight short lines.";

/// The summarized context. See the module documentation.
#[derive(Default)]
pub(crate) struct Summaries {
    /// The multi-frame summary of the turns that left the context.
    notes: Option<String>,
    /// The turns in the context: each a reply followed by its observations.
    turns: Vec<Vec<Message>>,
}

#[async_trait]
impl Context for Summaries {
    async fn prepare(&mut self, agent: &Agent) -> Result<(), AgentError> {
        if self.turns.len() <= FRAMES {
            return Ok(());
        }
        let folded: Vec<Message> = self.turns.drain(..self.turns.len() - KEEP).flatten().collect();
        let steps = transcript(&folded);
        let earlier = self.notes.as_deref().unwrap_or("(none yet)");
        let shown = format!("Task: {}\n\nNotes so far:\n{earlier}\n\nLatest steps:\n{}", agent.task(), cut(&steps, MAX_SUMMARIZED));
        self.notes = Some(summarize(agent, MULTI_PROMPT, shown).await?);
        Ok(())
    }

    fn messages(&self) -> Vec<Message> {
        let notes = self
            .notes
            .iter()
            .map(|notes| Message::user(format!("Notes on the steps so far (the steps themselves were summarized):\n{notes}")));
        notes.chain(self.turns.iter().flatten().cloned()).collect()
    }

    async fn reply(&mut self, _: &Agent, reply: Message) -> Result<(), AgentError> {
        self.turns.push(vec![reply]);
        Ok(())
    }

    async fn observe(&mut self, agent: &Agent, mut message: Message) -> Result<(), AgentError> {
        let content = message.content();
        if message.role == Role::Tool && content.len() > SINGLE_FRAME {
            let shown = format!("Task: {}\n\nObservation:\n{}", agent.task(), cut(&content, MAX_SUMMARIZED));
            let summary = summarize(agent, SINGLE_PROMPT, shown).await?;
            message = Message::tool(message.tool_call_id.clone().unwrap_or_default(), format!("(summarized) {summary}"));
        }
        match self.turns.last_mut() {
            Some(turn) => turn.push(message),
            None => self.turns.push(vec![message]),
        }
        Ok(())
    }
}

/// The model's summary of `shown`, asked with the system prompt `prompt`.
async fn summarize(agent: &Agent, prompt: &str, shown: String) -> Result<String, AgentError> {
    let request =
        ChatRequest { messages: vec![Message::system(prompt), Message::user(shown)], sampling: sampling(agent), ..Default::default() };
    Ok(agent.model(request).await?.message.content().trim().to_string())
}
