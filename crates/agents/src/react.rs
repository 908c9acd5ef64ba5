//! ReAct (Yao et al., 2023, "ReAct: Synergizing Reasoning and Acting in Language Models"): the
//! model interleaves reasoning with actions, and each action's observation feeds the next step.
//!
//! With a model that calls tools natively, each turn is a chat completion that either asks for
//! tool calls (run in parallel by the kernel, their results returned as tool messages) or answers.
//! With a model that does not, the agent uses the paper's text protocol: `Thought:`, `Action:`,
//! `Action Input:`, then an `Observation:` written by the agent, until `Final Answer:`.
//!
//! With native tool calls, what the model sees of the earlier steps is the run's working-memory
//! policy (`working.rs`): every step, HiAgent's subgoal chunks, or Chain of Summarization.
//!
//! With [`ActionMode::Code`] the actions are Python instead: that is CodeAct (see `codeact.rs`).
//!
//! Malformed output never ends the run: invalid JSON, an unknown tool, arguments that break the
//! schema, or no action at all become an observation that tells the model what was wrong, and the
//! next step lets it correct itself.

use crate::{codeact, sample, sampling, working, AgentError, Strategy};
use agentos_core::{ChatRequest, Message, ToolCall, ToolResult, ToolSpec};
use agentos_kernel::{ActionMode, Agent, KernelError, WorkingMemory};
use async_trait::async_trait;
use serde_json::Value;
use std::future::Future;

/// The ReAct strategy, and with code actions CodeAct. See the module documentation.
pub struct ReAct;

pub(crate) const NATIVE_PROMPT: &str = "You are an agent that solves the user's task step by step with tools. \
Whenever a tool can do part of the work (arithmetic, reading or writing files, the time), call it instead of working it out yourself, \
with arguments that match its JSON schema, and wait for its result before you go on. \
When you know the final answer, reply with the answer alone, without calling a tool.";

#[async_trait]
impl Strategy for ReAct {
    fn name(&self) -> &'static str {
        "react"
    }

    fn action_modes(&self) -> &'static [ActionMode] {
        &ActionMode::ALL
    }

    fn working_memories(&self) -> &'static [WorkingMemory] {
        &WorkingMemory::ALL
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let policy = agent.spec().working_memory;
        if !policy.is_window() && (agent.spec().actions == ActionMode::Code || !agent.model_capabilities().native_tools) {
            return Err(KernelError::Config(format!(
                "--memory {policy} works with react on a model that calls tools natively, acting in JSON; drop --memory, or use such a model"
            ))
            .into());
        }
        if agent.spec().actions == ActionMode::Code {
            codeact::run(agent).await
        } else if agent.model_capabilities().native_tools {
            native(agent).await
        } else {
            text_protocol(agent).await
        }
    }
}

/// ReAct with native tool calls, its context kept by the run's working-memory policy.
async fn native(agent: &Agent) -> Result<String, AgentError> {
    let mut context = working::context(agent.spec().working_memory);
    let tools = context.tools(agent.tools());
    let system = match context.instructions() {
        "" => NATIVE_PROMPT.to_string(),
        more => format!("{NATIVE_PROMPT}\n{more}"),
    };
    let head = [Message::system(system), Message::user(agent.task())];
    let max_steps = agent.spec().max_steps;
    for _ in 0..max_steps {
        context.prepare(agent).await?;
        let messages = [head.as_slice(), &context.messages()].concat();
        let request = ChatRequest { messages, tools: tools.clone(), sampling: sampling(agent), ..Default::default() };
        let reply = agent.model(request).await?.message;
        context.reply(agent, reply.clone()).await?;
        if reply.tool_calls.is_empty() {
            let answer = context.answer(&reply.content());
            if !answer.is_empty() {
                return Ok(answer);
            }
            context.observe(agent, Message::user("Your reply had no answer. Call one of the tools, or give the final answer.")).await?;
            continue;
        }
        for result in context.call(agent, &reply.tool_calls).await? {
            context.observe(agent, Message::tool(result.call_id, result.content)).await?;
        }
    }
    Err(AgentError::StepLimit(max_steps))
}

/// The system prompt of the text protocol, listing the tools with their schemas.
pub(crate) fn text_prompt(tools: &[ToolSpec]) -> String {
    let mut listing = String::new();
    for t in tools {
        listing.push_str(&format!("- {}: {} Arguments (JSON Schema): {}\n", t.name, t.description, t.parameters));
    }
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    format!(
        "You solve the user's task by interleaving Thought, Action and Observation steps.\n\n\
You can use these tools:\n{listing}\n\
Use exactly this format:\n\n\
Thought: what you think about what to do next\n\
Action: the tool to use, one of [{}]\n\
Action Input: the tool's arguments as one JSON object\n\n\
Then stop: the Observation (the tool's result) will be given to you. Repeat as often as needed. \
When you know the answer, write:\n\n\
Thought: I know the final answer\n\
Final Answer: the answer to the task",
        names.join(", ")
    )
}

/// Where the model must stop in the text protocol: the observation is the agent's to write.
pub(crate) const OBSERVATION_STOP: &str = "\nObservation:";

/// What one reply in the text protocol asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    Answer(String),
    Act {
        tool: String,
        arguments: Value,
    },
    /// The reply does not follow the protocol; the text says how.
    Malformed(String),
}

/// What `reply` asks for, in the text protocol.
pub(crate) fn parse(reply: &str) -> Parsed {
    let field = |name: &str| -> Option<String> {
        let start = reply.rfind(name)? + name.len();
        let rest = &reply[start..];
        let end = ["\nThought:", "\nAction:", "\nAction Input:", "\nObservation:", "\nFinal Answer:"]
            .iter()
            .filter_map(|m| rest.find(m))
            .min()
            .unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    };
    let action = field("Action:");
    if let Some(answer) = field("Final Answer:") {
        if action.is_none() {
            return Parsed::Answer(answer);
        }
        return Parsed::Malformed("your reply has both an Action and a Final Answer; give one of them".into());
    }
    let Some(tool) = action else {
        return Parsed::Malformed("your reply has neither an `Action:` line nor a `Final Answer:` line; follow the format".into());
    };
    let Some(input) = field("Action Input:") else {
        return Parsed::Malformed(format!("the Action `{tool}` has no `Action Input:` line; give its arguments as one JSON object"));
    };
    let input = input.trim_start_matches("```json").trim_start_matches("```").trim_end_matches("```").trim();
    match serde_json::from_str::<Value>(input) {
        Ok(arguments) => Parsed::Act { tool, arguments },
        // The kernel reports unparseable arguments, schema in hand, like any invalid call.
        Err(_) => Parsed::Act { tool, arguments: Value::String(input.to_string()) },
    }
}

/// What one reply of a text protocol leads to.
pub(crate) enum Turn {
    /// The run's answer.
    Answer(String),
    /// The user message that answers the reply: an observation, or what was wrong with it.
    Observe(String),
    /// An observation after which the agent must change course (it repeated itself): the next
    /// reply is sampled at a temperature above zero, with the step as its seed, even when the
    /// run decodes greedily.
    Rethink(String),
}

/// The loop of a text protocol: asks the model (stopping at `stop`) and lets `act` turn each reply,
/// with its step number, into the answer or the next user message, until there is an answer or
/// the run's step limit is reached.
pub(crate) async fn observe_loop<F, Fut>(
    agent: &Agent,
    mut messages: Vec<Message>,
    stop: Vec<String>,
    mut act: F,
) -> Result<String, AgentError>
where
    F: FnMut(u32, String) -> Fut + Send,
    Fut: Future<Output = Result<Turn, AgentError>> + Send,
{
    let max_steps = agent.spec().max_steps;
    let mut next = sampling(agent);
    for step in 0..max_steps {
        let request = ChatRequest { messages: messages.clone(), stop: stop.clone(), sampling: next, ..Default::default() };
        let reply = agent.model(request).await?.message.content();
        messages.push(Message::assistant(reply.clone()));
        next = sampling(agent);
        match act(step, reply).await? {
            Turn::Answer(answer) => return Ok(answer),
            Turn::Observe(text) => messages.push(Message::user(text)),
            Turn::Rethink(text) => {
                messages.push(Message::user(text));
                next = sample(agent, step);
            }
        }
    }
    Err(AgentError::StepLimit(max_steps))
}

async fn text_protocol(agent: &Agent) -> Result<String, AgentError> {
    let messages = vec![Message::system(text_prompt(&agent.tools())), Message::user(agent.task())];
    observe_loop(agent, messages, vec![OBSERVATION_STOP.into()], |step, reply| async move {
        let observation = match parse(&reply) {
            Parsed::Answer(answer) => return Ok(Turn::Answer(answer)),
            Parsed::Malformed(problem) => format!("Invalid reply: {problem}."),
            Parsed::Act { tool, arguments } => {
                let call = ToolCall { id: format!("step{step}"), name: tool, arguments };
                let results: Vec<ToolResult> = agent.call_tools(std::slice::from_ref(&call)).await?;
                results.into_iter().map(|r| r.content).collect()
            }
        };
        Ok(Turn::Observe(format!("Observation: {observation}")))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_text_protocol() {
        let cases = [
            (
                "Thought: add\nAction: calculator\nAction Input: {\"expression\": \"1+2\"}",
                Parsed::Act { tool: "calculator".into(), arguments: json!({"expression": "1+2"}) },
            ),
            ("Thought: done\nFinal Answer: 3", Parsed::Answer("3".into())),
            (
                "Action: calculator\nAction Input: ```json\n{\"expression\": \"2\"}\n```",
                Parsed::Act { tool: "calculator".into(), arguments: json!({"expression": "2"}) },
            ),
            (
                "Action: calculator\nAction Input: {expression: 1+2}",
                Parsed::Act { tool: "calculator".into(), arguments: Value::String("{expression: 1+2}".into()) },
            ),
        ];
        for (reply, want) in cases {
            assert_eq!(parse(reply), want, "{reply}");
        }
        for malformed in ["I think it is 3.", "Action: calculator", "Action: calculator\nAction Input: {}\nFinal Answer: 3"] {
            assert!(matches!(parse(malformed), Parsed::Malformed(_)), "{malformed}");
        }
    }
}
