//! Working memory of a multi-step run: what the model is shown of the run's earlier steps, chosen
//! per run ([`WorkingMemory`], `--memory window|hiagent|summary`). ReAct with native tool calls
//! asks its [`Context`] for the messages of each request and hands it every reply and
//! observation; the policy decides what of them the model sees next. [`Window`] shows everything;
//! HiAgent (`hiagent.rs`) folds finished subgoals; Chain of Summarization (`summary.rs`)
//! summarizes observations and older steps.
//!
//! A policy shapes only the context: the journal keeps every model call, tool call and summary,
//! so a resumed run replays the same contexts.

use crate::hiagent::Subgoals;
use crate::summary::Summaries;
use crate::{final_reply, AgentError};
use agentos_core::{Message, ToolCall, ToolResult, ToolSpec};
use agentos_kernel::{Agent, WorkingMemory};
use async_trait::async_trait;

/// A working-memory policy over one run's steps. See the module documentation.
#[async_trait]
pub(crate) trait Context: Send + Sync {
    /// What the policy asks of the model, added to the strategy's system prompt.
    fn instructions(&self) -> &'static str {
        ""
    }

    /// The tools the model is offered, given those the run was granted.
    fn tools(&self, granted: Vec<ToolSpec>) -> Vec<ToolSpec> {
        granted
    }

    /// Gets the context ready for the next request (a policy may call the model here).
    async fn prepare(&mut self, agent: &Agent) -> Result<(), AgentError> {
        let _ = agent;
        Ok(())
    }

    /// The messages the model sees after the system prompt and the task.
    fn messages(&self) -> Vec<Message>;

    /// Takes the model's reply.
    async fn reply(&mut self, agent: &Agent, reply: Message) -> Result<(), AgentError>;

    /// Runs the tool calls of a reply, through the kernel unless the policy answers some itself;
    /// results in the calls' order.
    async fn call(&self, agent: &Agent, calls: &[ToolCall]) -> Result<Vec<ToolResult>, AgentError> {
        Ok(agent.call_tools(calls).await?)
    }

    /// Takes an observation: a tool's result, or the agent's note to the model.
    async fn observe(&mut self, agent: &Agent, message: Message) -> Result<(), AgentError>;

    /// The answer in the text of a reply without tool calls (empty when there is none).
    fn answer(&self, text: &str) -> String {
        final_reply(text)
    }
}

/// The context of a run with working memory `policy`.
pub(crate) fn context(policy: WorkingMemory) -> Box<dyn Context> {
    match policy {
        WorkingMemory::Window => Box::<Window>::default(),
        WorkingMemory::HiAgent => Box::<Subgoals>::default(),
        WorkingMemory::Summary => Box::<Summaries>::default(),
    }
}

/// The plain window: every step, as it happened.
#[derive(Default)]
pub(crate) struct Window {
    messages: Vec<Message>,
}

#[async_trait]
impl Context for Window {
    fn messages(&self) -> Vec<Message> {
        self.messages.clone()
    }

    async fn reply(&mut self, _: &Agent, reply: Message) -> Result<(), AgentError> {
        self.messages.push(reply);
        Ok(())
    }

    async fn observe(&mut self, _: &Agent, message: Message) -> Result<(), AgentError> {
        self.messages.push(message);
        Ok(())
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Steps as plain lines for a summary or a memory item: each tool call with its arguments, and
/// each message's text.
pub(crate) fn transcript(messages: &[Message]) -> String {
    let mut lines = String::new();
    for message in messages {
        for call in &message.tool_calls {
            lines.push_str(&format!("- call {}({})\n", call.name, call.arguments));
        }
        let content = message.content();
        if !content.trim().is_empty() {
            lines.push_str(&format!("- {}\n", content.trim()));
        }
    }
    lines
}
