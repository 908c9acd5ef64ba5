//! HiAgent (Hu et al., 2024, "HiAgent: Hierarchical Working Memory Management for Solving
//! Long-Horizon Agent Tasks with Large Language Model"): ReAct whose working memory is chunked
//! by subgoals. The model names a subgoal before it acts (`Subgoal: …`); when it declares one
//! finished (`Done: …`, what it found and whether it was met), that subgoal's action–observation
//! pairs leave the context and a one-line summary takes their place. The details are not lost:
//! they are kept in the run's working memory (a journaled `remember`), and the `recall` tool
//! (HiAgent's retrieval action) brings back whatever the model needs again.
//!
//! The policy shapes only what the model sees: the journal keeps every step. Needs a model with
//! native tool calls, and the kernel's sentence encoder for the working memory.

use crate::{final_reply, sampling, AgentError, Strategy};
use agentos_core::{ChatRequest, Message, ToolCall, ToolResult, ToolSpec};
use agentos_kernel::{render_recalled, Agent, KernelError, MAX_MEMORY_TEXT};
use async_trait::async_trait;
use serde_json::json;

/// ReAct with subgoal-chunked working memory. See the module documentation.
pub struct HiAgent;

const PROMPT: &str = "You are an agent that solves the user's task step by step with tools. \
Whenever a tool can do part of the work, call it instead of working it out yourself, and wait for its result before you go on.\n\
Work in subgoals. Begin every reply with a line `Subgoal: <what you work on now>`. \
When the subgoal you were working on is finished, begin the reply with a line `Done: <what it found, and whether it was met>` first, \
then the next `Subgoal:` line. The steps of a finished subgoal are taken out of the conversation; \
call `recall` with a query to see them again if you need them.\n\
When you know the final answer, reply with `Done:` for the last subgoal and then the answer, without calling a tool.";

/// How many kept chunks one `recall` brings back when the model does not say.
const RECALL_K: usize = 3;

#[async_trait]
impl Strategy for HiAgent {
    fn name(&self) -> &'static str {
        "hiagent"
    }

    fn uses_memory(&self) -> bool {
        true
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        if !agent.model_capabilities().native_tools {
            return Err(KernelError::Config("hiagent needs a model that calls tools natively; use react with this model".into()).into());
        }
        let mut tools = agent.tools();
        if !tools.iter().any(|t| t.name == "recall") {
            tools.push(recall_spec());
        }
        let head = vec![Message::system(PROMPT), Message::user(agent.task())];
        let mut finished: Vec<Message> = Vec::new();
        let mut chunk = Chunk::default();
        let max_steps = agent.spec().max_steps;
        for _ in 0..max_steps {
            let messages = [head.as_slice(), finished.as_slice(), chunk.messages.as_slice()].concat();
            let request = ChatRequest { messages, tools: tools.clone(), sampling: sampling(agent), ..Default::default() };
            let reply = agent.model(request).await?.message;
            let text = reply.content();
            if let Some(outcome) = line_after(&text, "Done:") {
                if let Some(note) = chunk.fold(agent, &outcome).await? {
                    finished.push(note);
                }
            }
            if let Some(subgoal) = line_after(&text, "Subgoal:") {
                chunk.subgoal.get_or_insert(subgoal);
            }
            chunk.messages.push(reply.clone());
            if reply.tool_calls.is_empty() {
                let answer = final_reply(&without_markers(&text));
                if !answer.is_empty() {
                    return Ok(answer);
                }
                chunk.messages.push(Message::user("Your reply had no answer. Call one of the tools, or give the final answer."));
                continue;
            }
            for result in call(agent, &reply.tool_calls).await? {
                chunk.messages.push(Message::tool(result.call_id, result.content));
            }
        }
        Err(AgentError::StepLimit(max_steps))
    }
}

/// The `recall` tool as this strategy offers it when the run was not granted the kernel's own.
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
        let mut trace = format!("Subgoal: {subgoal}\nOutcome: {outcome}\nSteps:\n");
        for message in self.messages.drain(..) {
            for call in &message.tool_calls {
                trace.push_str(&format!("- call {}({})\n", call.name, call.arguments));
            }
            let content = message.content();
            if !content.trim().is_empty() {
                trace.push_str(&format!("- {}\n", content.trim()));
            }
        }
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

/// At most `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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
