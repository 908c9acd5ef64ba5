//! HiAgent (Hu et al., 2024, "HiAgent: Hierarchical Working Memory Management for Solving
//! Long-Horizon Agent Tasks with Large Language Model"), as a working-memory policy
//! (`--memory hiagent`): the working memory is chunked by subgoals. The model names a subgoal
//! before it acts (`Subgoal: …`); when it declares one finished (`Done: …`, what it found and
//! whether it was met), that subgoal's action–observation pairs leave the context and a one-line
//! summary takes their place. The details are not lost: they are kept in the run's working memory
//! (a journaled `remember`), and the `recall` tool (HiAgent's retrieval action) brings back
//! whatever the model needs again.
//!
//! The policy shapes only what the model sees: the journal keeps every step. Its runs need the
//! kernel's sentence encoder for the working memory.

use crate::working::{cut, transcript, Context};
use crate::{final_reply, AgentError};
use agentos_core::{Message, ToolCall, ToolResult, ToolSpec};
use agentos_kernel::{render_recalled, Agent, KernelError, MAX_MEMORY_TEXT};
use async_trait::async_trait;
use serde_json::json;

const INSTRUCTIONS: &str = "Work in subgoals. Begin every reply with a line `Subgoal: <what you work on now>`. \
When the subgoal you were working on is finished, begin the reply with a line `Done: <what it found, and whether it was met>` first, \
then the next `Subgoal:` line. The steps of a finished subgoal are taken out of the conversation, so write in the `Done:` line every result you will need later; \
call `recall` with a query to see the steps again if you need them. \
When you know the final answer, write `Done:` for the last subgoal and then the answer, without calling a tool.";

/// How many kept chunks one `recall` brings back when the model does not say.
const RECALL_K: usize = 3;

/// The subgoal-chunked context. See the module documentation.
#[derive(Default)]
pub(crate) struct Subgoals {
    /// The notes that stand for finished subgoals.
    finished: Vec<Message>,
    /// The subgoal under way.
    chunk: Chunk,
}

#[async_trait]
impl Context for Subgoals {
    fn instructions(&self) -> &'static str {
        INSTRUCTIONS
    }

    fn tools(&self, mut granted: Vec<ToolSpec>) -> Vec<ToolSpec> {
        if !granted.iter().any(|t| t.name == "recall") {
            granted.push(recall_spec());
        }
        granted
    }

    fn messages(&self) -> Vec<Message> {
        [self.finished.as_slice(), self.chunk.messages.as_slice()].concat()
    }

    async fn reply(&mut self, agent: &Agent, reply: Message) -> Result<(), AgentError> {
        let text = reply.content();
        if let Some(outcome) = line_after(&text, "Done:") {
            if let Some(note) = self.chunk.fold(agent, &outcome).await? {
                self.finished.push(note);
            }
        }
        if let Some(subgoal) = line_after(&text, "Subgoal:") {
            self.chunk.subgoal.get_or_insert(subgoal);
        }
        self.chunk.messages.push(reply);
        Ok(())
    }

    async fn call(&self, agent: &Agent, calls: &[ToolCall]) -> Result<Vec<ToolResult>, AgentError> {
        call(agent, calls).await
    }

    async fn observe(&mut self, _: &Agent, message: Message) -> Result<(), AgentError> {
        self.chunk.messages.push(message);
        Ok(())
    }

    fn answer(&self, text: &str) -> String {
        final_reply(&without_markers(text))
    }
}

/// The `recall` tool as this policy offers it when the run was not granted the kernel's own.
fn recall_spec() -> ToolSpec {
    ToolSpec {
        name: "recall".into(),
        description: "Brings back the steps of finished subgoals closest to a query.".into(),
        parameters: json!({"type": "object", "properties": {
            "query": {"type": "string", "description": "what to look for"},
            "k": {"type": "integer", "minimum": 1, "maximum": 10}
        }, "required": ["query"]}),
    }
}

/// The steps of the subgoal under way.
#[derive(Default)]
struct Chunk {
    subgoal: Option<String>,
    messages: Vec<Message>,
}

impl Chunk {
    /// Ends the subgoal: keeps its steps in the run's working memory and returns the note that
    /// replaces them in the context (`None` when it had no steps to fold).
    async fn fold(&mut self, agent: &Agent, outcome: &str) -> Result<Option<Message>, AgentError> {
        if self.messages.is_empty() {
            return Ok(None);
        }
        let subgoal = self.subgoal.take().unwrap_or_else(|| "(unnamed)".into());
        let trace = format!("Subgoal: {subgoal}\nOutcome: {outcome}\nSteps:\n{}", transcript(&self.messages));
        self.messages.clear();
        let kept = agent.remember("run", cut(&trace, MAX_MEMORY_TEXT), "model").await?;
        Ok(Some(Message::user(format!("Finished subgoal: {subgoal}. Outcome: {outcome} (its steps are kept as {}.)", kept.id))))
    }
}

/// The model's tool calls of one turn: `recall` from the run's memory, the others through the
/// kernel; results in the calls' order.
async fn call(agent: &Agent, calls: &[ToolCall]) -> Result<Vec<ToolResult>, AgentError> {
    let mut results = Vec::with_capacity(calls.len());
    for call in calls {
        if call.name != "recall" {
            results.extend(agent.call_tools(std::slice::from_ref(call)).await?);
            continue;
        }
        let query = call.arguments["query"].as_str().unwrap_or("").to_string();
        let k = call.arguments["k"].as_u64().map_or(RECALL_K, |k| k.clamp(1, 10) as usize);
        let result = match agent.recall(&[], &query, k, true).await {
            Ok(items) => ToolResult::ok(call, render_recalled(&items)),
            Err(KernelError::Memory(problem)) => ToolResult::error(call, problem.to_string()),
            Err(other) => return Err(other.into()),
        };
        results.push(result);
    }
    Ok(results)
}

/// The rest of the first line that starts with `marker` (after spaces), trimmed and not empty.
fn line_after(text: &str, marker: &str) -> Option<String> {
    text.lines().find_map(|l| l.trim_start().strip_prefix(marker)).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// `text` without its `Subgoal:` and `Done:` lines: what is left of a final reply is the answer.
fn without_markers(text: &str) -> String {
    let kept: Vec<&str> =
        text.lines().filter(|l| !l.trim_start().starts_with("Subgoal:") && !l.trim_start().starts_with("Done:")).collect();
    kept.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_markers() {
        let reply = "Done: Problem 1 is 18, met.\nSubgoal: solve problem 2\nI will add.";
        assert_eq!(line_after(reply, "Done:").as_deref(), Some("Problem 1 is 18, met."));
        assert_eq!(line_after(reply, "Subgoal:").as_deref(), Some("solve problem 2"));
        assert_eq!(line_after("Subgoal:   \nx", "Subgoal:"), None);
        assert_eq!(without_markers("Done: all met\nAnswers: 1; 2; 3"), "Answers: 1; 2; 3");
        assert_eq!(cut("héllo", 2), "h");
    }
}
