//! ToolChain* (Zhuang et al., 2023, "ToolChain*: Efficient Action Space Navigation in Large
//! Language Models with A* Search"): the possible sequences of tool calls form a decision tree,
//! and A* search, with a cost made of the path so far and a heuristic estimate of what remains,
//! expands the most promising node first, pruning expensive branches without walking them all.
//!
//! The search, as built here:
//!
//! - **Node**: the conversation after a sequence of tool calls and their observations; the root
//!   is the task alone. Tools run through [`Agent::call_tools`], so every call is journaled and
//!   access-checked, and a resumed search replays instead of calling again.
//! - **Expansion**: the model is asked for its next action at the node `candidates` times (sampled
//!   above temperature zero, each with a seed of its own, sent together), with the tools offered
//!   as native tool calls where the model has them, else in ReAct's text protocol. Identical
//!   actions are merged; each distinct one becomes a child. A child that calls tools has them
//!   run; a child that answers (no tool call) is a goal; a reply that is empty or breaks the text
//!   protocol becomes a child whose observation says what was wrong, as in ReAct.
//! - **Cost** `g`: each step costs 1 plus a step cost in [0, 1] that the evaluator judges (0: the
//!   step clearly helped; 1: it was useless or wrong); a step whose tool call failed, or an invalid
//!   reply, costs the full 2. A final answer is a step too, judged the same way.
//! - **Heuristic** `h`: the evaluator's estimate of how many more tool calls the task needs
//!   (clamped to [0, 100]); 0 for a goal, and the parent's for an invalid reply. The evaluator is
//!   one model call per child, on the model of the [`EVALUATOR_ROLE`] role (the run's model unless
//!   the spec names one), asked for two labeled numbers; an unreadable number falls back to a step
//!   cost of 0.5 and an estimate of 1 step.
//! - **Open set**: a binary heap ordered by `f = g + h`, ties going to the node created first, so
//!   the order of expansions depends on the model's answers alone. A goal is returned when it
//!   leaves the heap, not when it is created, so a cheaper path found later still wins.
//! - **Budget**: at most the run's `max_steps` expansions; then the run fails with
//!   [`AgentError::StepLimit`].

use crate::react::{parse, text_prompt, Parsed, NATIVE_PROMPT, OBSERVATION_STOP};
use crate::{extract_answer, model_all, normalize_answer, sample, sampling, AgentError, Strategy};
use agentos_core::{ChatRequest, Message, ToolCall, ToolResult, ToolSpec};
use agentos_kernel::Agent;
use async_trait::async_trait;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The role whose model evaluates ToolChain*'s steps (step cost and heuristic):
/// `roles["evaluator"]` of the run's spec, or the run's model if it names none.
pub const EVALUATOR_ROLE: &str = "evaluator";

/// ToolChain*: A* search over tool-call sequences, `candidates` actions proposed per expansion.
/// See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolChainStar {
    /// How many actions to sample at each expanded node (at least one is).
    pub candidates: u32,
}

impl ToolChainStar {
    /// The number of candidate actions per expansion when none is given.
    pub const DEFAULT_CANDIDATES: u32 = 2;
}

impl Default for ToolChainStar {
    fn default() -> Self {
        ToolChainStar { candidates: Self::DEFAULT_CANDIDATES }
    }
}

/// The highest step cost the evaluator can give; a failed step costs it.
const MAX_STEP_COST: f64 = 1.0;
/// The step cost when the evaluator's reply has none.
const DEFAULT_STEP_COST: f64 = 0.5;
/// The highest estimate of remaining steps taken from the evaluator.
const MAX_REMAINING: f64 = 100.0;
/// The estimate of remaining steps when the evaluator's reply has none.
const DEFAULT_REMAINING: f64 = 1.0;
/// The longest observation, in characters, shown to the evaluator.
const MAX_OBSERVATION_CHARS: usize = 1000;

const EVALUATOR_PROMPT: &str = "You judge the progress of an agent that solves a task with tools. \
Do not solve the task yourself and do not call tools.";

const EVALUATION_FORMAT: &str = "Reply with exactly two lines:\n\
Step cost: <a number from 0 to 1: 0 if the latest step clearly brought the agent closer to a correct answer, 1 if it was useless or wrong>\n\
Remaining steps: <how many more tool calls the agent needs before it can give the final answer; 0 if it can answer now>";

/// One node of the search tree.
struct Node {
    /// The conversation that leads to this node, as the acting model sees it.
    messages: Vec<Message>,
    /// Each step on the path, described for the evaluator.
    steps: Vec<String>,
    /// The number of steps from the root.
    depth: u32,
    /// `g`: the cost of the path.
    cost: f64,
    /// `h`: the estimated cost of what remains.
    estimate: f64,
    /// The final answer, for a goal.
    answer: Option<String>,
}

/// A node in the open set: the least `f` first, then the node created first.
struct Frontier {
    f: f64,
    node: usize,
}

impl Ord for Frontier {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops its greatest entry: make that the least f, then the earliest node.
        other.f.total_cmp(&self.f).then_with(|| other.node.cmp(&self.node))
    }
}

impl PartialOrd for Frontier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Frontier {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Frontier {}

/// What one proposed reply asks for.
enum Action {
    /// Run these tool calls; `reply` is the assistant message that asked for them.
    Calls { reply: Message, calls: Vec<ToolCall> },
    /// This is the final answer.
    Answer(String),
    /// The reply is unusable, for this reason (for the model).
    Invalid { reply: Message, problem: String },
}

impl Action {
    /// Reads a reply in the protocol the search uses.
    fn read(reply: Message, native: bool, depth: u32) -> Action {
        if native {
            if !reply.tool_calls.is_empty() {
                let calls = reply.tool_calls.clone();
                return Action::Calls { reply, calls };
            }
            let answer = extract_answer(&reply.content());
            if answer.is_empty() {
                return Action::Invalid { reply, problem: "your reply was empty; call one of the tools, or give the final answer".into() };
            }
            return Action::Answer(answer);
        }
        let text = reply.content();
        match parse(&text) {
            Parsed::Answer(answer) if !answer.is_empty() => Action::Answer(answer),
            Parsed::Answer(_) => Action::Invalid { reply: Message::assistant(text), problem: "your Final Answer is empty".into() },
            Parsed::Act { tool, arguments } => {
                let calls = vec![ToolCall { id: format!("step{depth}"), name: tool, arguments }];
                Action::Calls { reply: Message::assistant(text), calls }
            }
            Parsed::Malformed(problem) => Action::Invalid { reply: Message::assistant(text), problem },
        }
    }

    /// What makes two actions the same.
    fn key(&self) -> String {
        match self {
            Action::Calls { calls, .. } => format!("calls {}", describe(calls)),
            Action::Answer(answer) => format!("answer {}", normalize_answer(answer)),
            Action::Invalid { reply, .. } => format!("invalid {}", reply.content()),
        }
    }
}

/// Tool calls as the evaluator reads them: `name(arguments)`, separated by `; `.
fn describe(calls: &[ToolCall]) -> String {
    calls.iter().map(|c| format!("{}({})", c.name, c.arguments)).collect::<Vec<_>>().join("; ")
}

#[async_trait]
impl Strategy for ToolChainStar {
    fn name(&self) -> &'static str {
        "toolchain"
    }

    fn roles(&self) -> &'static [&'static str] {
        &[EVALUATOR_ROLE]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let native = agent.model_capabilities().native_tools;
        let tools = agent.tools();
        let system = if native { NATIVE_PROMPT.to_string() } else { text_prompt(&tools) };
        let root = Node {
            messages: vec![Message::system(system), Message::user(agent.task())],
            steps: Vec::new(),
            depth: 0,
            cost: 0.0,
            estimate: 0.0,
            answer: None,
        };
        let mut nodes = vec![root];
        let mut open = BinaryHeap::from([Frontier { f: 0.0, node: 0 }]);
        let max_expansions = agent.spec().max_steps;
        let mut expansions = 0;
        while let Some(Frontier { node, .. }) = open.pop() {
            if let Some(answer) = &nodes[node].answer {
                return Ok(answer.clone());
            }
            if expansions == max_expansions {
                break;
            }
            expansions += 1;
            let parent = &nodes[node];
            let mut children = Vec::new();
            for action in self.propose(agent, parent, native, &tools).await? {
                children.push(child(agent, parent, action, native).await?);
            }
            for child in children {
                open.push(Frontier { f: child.cost + child.estimate, node: nodes.len() });
                nodes.push(child);
            }
        }
        Err(AgentError::StepLimit(max_expansions))
    }
}

impl ToolChainStar {
    /// The distinct actions the model proposes at `node`, in the order of its samples.
    async fn propose(&self, agent: &Agent, node: &Node, native: bool, tools: &[ToolSpec]) -> Result<Vec<Action>, AgentError> {
        let candidates = self.candidates.max(1);
        let requests = (0..candidates)
            .map(|i| ChatRequest {
                messages: node.messages.clone(),
                tools: if native { tools.to_vec() } else { Vec::new() },
                stop: if native { Vec::new() } else { vec![OBSERVATION_STOP.into()] },
                sampling: if candidates == 1 { sampling(agent) } else { sample(agent, i) },
                ..Default::default()
            })
            .collect();
        let mut actions: Vec<Action> = Vec::new();
        for response in model_all(agent, requests).await? {
            let action = Action::read(response.message, native, node.depth);
            if !actions.iter().any(|a| a.key() == action.key()) {
                actions.push(action);
            }
        }
        Ok(actions)
    }
}

/// The child of `parent` that taking `action` leads to: runs its tool calls and has the step
/// judged.
async fn child(agent: &Agent, parent: &Node, action: Action, native: bool) -> Result<Node, AgentError> {
    let mut messages = parent.messages.clone();
    let mut steps = parent.steps.clone();
    let protocol = if native { "" } else { "Observation: " };
    let (step_cost, estimate, answer) = match action {
        Action::Answer(answer) => {
            steps.push(format!("gave the final answer: {answer}"));
            let (judged, _) = evaluate(agent, &steps, &format!("the final answer {answer}")).await?;
            (judged, 0.0, Some(answer))
        }
        Action::Invalid { reply, problem } => {
            messages.push(reply);
            messages.push(Message::user(format!("{protocol}Invalid reply: {problem}.")));
            steps.push(format!("an invalid reply ({problem})"));
            (MAX_STEP_COST, parent.estimate, None)
        }
        Action::Calls { reply, calls } => {
            messages.push(reply);
            let results: Vec<ToolResult> = agent.call_tools(&calls).await?;
            if native {
                messages.extend(results.iter().map(|r| Message::tool(r.call_id.clone(), r.content.clone())));
            } else {
                let contents: Vec<&str> = results.iter().map(|r| r.content.as_str()).collect();
                messages.push(Message::user(format!("{protocol}{}", contents.join("\n"))));
            }
            let observation = results.iter().map(|r| shorten(&r.content)).collect::<Vec<_>>().join("; ");
            steps.push(format!("{} returned: {observation}", describe(&calls)));
            let (judged, remaining) = evaluate(agent, &steps, &observation).await?;
            let failed = results.iter().any(|r| r.is_error);
            (if failed { MAX_STEP_COST } else { judged }, remaining, None)
        }
    };
    Ok(Node { messages, steps, depth: parent.depth + 1, cost: parent.cost + 1.0 + step_cost, estimate, answer })
}

/// `text` cut to [`MAX_OBSERVATION_CHARS`] characters.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_OBSERVATION_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// Asks the evaluator to judge the latest of `steps`: its step cost, and how many steps remain.
async fn evaluate(agent: &Agent, steps: &[String], latest: &str) -> Result<(f64, f64), AgentError> {
    let listing: String = steps.iter().enumerate().map(|(i, step)| format!("{}. {step}\n", i + 1)).collect();
    let question =
        format!("Task:\n{}\n\nThe agent's steps so far:\n{listing}\nLatest result: {latest}\n\n{EVALUATION_FORMAT}", agent.task());
    let request = ChatRequest {
        messages: vec![Message::system(EVALUATOR_PROMPT), Message::user(question)],
        sampling: sampling(agent),
        ..Default::default()
    };
    let reply = agent.model_as(EVALUATOR_ROLE, request).await?.message.content();
    Ok(read_evaluation(&reply))
}

/// The step cost and the remaining steps in an evaluator's reply, each clamped to its range, with
/// defaults for what it lacks. A reply that is a bare number is the remaining steps.
fn read_evaluation(reply: &str) -> (f64, f64) {
    let step_cost = labeled_number(reply, "step cost").map_or(DEFAULT_STEP_COST, |c| c.clamp(0.0, MAX_STEP_COST));
    let bare = || reply.trim().trim_end_matches('.').parse::<f64>().ok().filter(|n| n.is_finite());
    let remaining = labeled_number(reply, "remaining").or_else(bare).map_or(DEFAULT_REMAINING, |r| r.clamp(0.0, MAX_REMAINING));
    (step_cost, remaining)
}

/// The first number on the line of the last `label` (any case) in `text`, after the label.
fn labeled_number(text: &str, label: &str) -> Option<f64> {
    let lower = text.to_lowercase();
    let after = &lower[lower.rfind(label)? + label.len()..];
    let line = after.lines().next().unwrap_or("");
    let start = line.find(|c: char| c.is_ascii_digit())?;
    let digits = &line[start..];
    let mut end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    if digits[end..].starts_with('.') && digits[end + 1..].starts_with(|c: char| c.is_ascii_digit()) {
        end += 1 + digits[end + 1..].find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len() - end - 1);
    }
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_evaluation_with_defaults() {
        let cases = [
            ("Step cost: 0\nRemaining steps: 2", (0.0, 2.0)),
            ("**Step cost:** 0.25\n**Remaining steps:** 3.5 or so", (0.25, 3.5)),
            ("step COST = 7\nremaining: -4", (1.0, 4.0)),
            ("Remaining steps: none\nStep cost: 0.", (0.0, DEFAULT_REMAINING)),
            ("3", (DEFAULT_STEP_COST, 3.0)),
            ("Remaining steps: 1e9", (DEFAULT_STEP_COST, 1.0)),
            ("Remaining steps: 99999999999999999999999", (DEFAULT_STEP_COST, MAX_REMAINING)),
            ("I cannot tell.", (DEFAULT_STEP_COST, DEFAULT_REMAINING)),
            ("", (DEFAULT_STEP_COST, DEFAULT_REMAINING)),
            ("Ünïcödé step cost: 1\nremaining: 0", (1.0, 0.0)),
        ];
        for (reply, want) in cases {
            assert_eq!(read_evaluation(reply), want, "{reply:?}");
        }
    }

    #[test]
    fn the_open_set_pops_the_least_f_then_the_earliest_node() {
        let mut open = BinaryHeap::new();
        for (f, node) in [(3.0, 0), (2.0, 1), (2.0, 2), (5.0, 3), (2.0, 4)] {
            open.push(Frontier { f, node });
        }
        let order: Vec<usize> = std::iter::from_fn(|| open.pop().map(|e| e.node)).collect();
        assert_eq!(order, [1, 2, 4, 0, 3]);
    }

    #[test]
    fn reads_replies_in_both_protocols() {
        let call = ToolCall { id: "c".into(), name: "go".into(), arguments: serde_json::json!({"to": "A"}) };
        let mut with_call = Message::assistant("");
        with_call.tool_calls.push(call.clone());
        assert!(matches!(Action::read(with_call, true, 0), Action::Calls { calls, .. } if calls == [call]));
        assert!(matches!(Action::read(Message::assistant("Answer: 4"), true, 0), Action::Answer(a) if a == "4"));
        assert!(matches!(Action::read(Message::assistant("  "), true, 0), Action::Invalid { .. }));
        let text = Message::assistant("Thought: go\nAction: go\nAction Input: {\"to\": \"B\"}");
        assert!(
            matches!(Action::read(text, false, 3), Action::Calls { calls, .. } if calls[0].id == "step3" && calls[0].arguments["to"] == "B")
        );
        assert!(matches!(Action::read(Message::assistant("Final Answer: 9"), false, 0), Action::Answer(a) if a == "9"));
        assert!(matches!(Action::read(Message::assistant("hmm"), false, 0), Action::Invalid { .. }));
    }
}
