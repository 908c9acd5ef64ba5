//! Iteration of Thought (Radha et al., 2024, "Iteration of Thought: Leveraging Inner Dialogue for
//! Autonomous Large Language Model Reasoning"): an Inner Dialogue Agent (IDA) writes the next
//! thought-provoking prompt given the query and the current response, and the LLM Agent (LLMA)
//! answers it, refining its response; the loop between the two is the iteration. In the
//! autonomous variant ([`AIoT`]) the LLMA decides when to stop; in the guided one ([`GIoT`]) the
//! loop always runs a fixed number of iterations.
//!
//! Both agents keep a conversation of their own: the IDA's holds the query and each response it
//! was shown, answered by the prompts it wrote; the LLMA's holds the query and each prompt,
//! answered by its responses. The IDA's calls go to the model of the [`INNER_ROLE`] role
//! ([`agentos_kernel::RunSpec::roles`]), so a small model can guide a large one or the reverse;
//! the LLMA's go to the run's model. Each iteration is one IDA call and one LLMA call.
//!
//! The LLMA ends each response with `Answer: <answer>`; under AIoT it adds a line `Iteration stop:
//! yes` when its answer needs no more refinement, or `Iteration stop: no`. That line is read in any
//! case, with or without markdown or an underscore (`ITERATION_STOP: true`); the last one counts,
//! and a bare `Iteration stop` counts as yes. The answer is that of the last response that has
//! one. An empty prompt from the IDA becomes a generic one, so a silent IDA never ends the loop.

use crate::answer::ANSWER_FORMAT;
use crate::{extract_answer, sampling, AgentError, Strategy};
use agentos_core::{ChatRequest, Message};
use agentos_kernel::Agent;
use async_trait::async_trait;

/// The role whose model is the Inner Dialogue Agent: `roles["inner"]` of the run's spec, or the
/// run's model if it names none.
pub const INNER_ROLE: &str = "inner";

/// Autonomous Iteration of Thought: the LLMA decides when to stop, within the run's `max_steps`
/// iterations. See the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AIoT;

/// Guided Iteration of Thought: always exactly `iterations` iterations. See the module
/// documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GIoT {
    /// How many iterations (IDA prompt, LLMA response) to run; at least one runs.
    pub iterations: u32,
}

impl GIoT {
    /// The number of iterations when none is given.
    pub const DEFAULT_ITERATIONS: u32 = 3;
}

impl Default for GIoT {
    fn default() -> Self {
        GIoT { iterations: Self::DEFAULT_ITERATIONS }
    }
}

#[async_trait]
impl Strategy for AIoT {
    fn name(&self) -> &'static str {
        "aiot"
    }

    fn roles(&self) -> &'static [&'static str] {
        &[INNER_ROLE]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        iterate(agent, Stopping::Autonomous { most: agent.spec().max_steps }).await
    }
}

#[async_trait]
impl Strategy for GIoT {
    fn name(&self) -> &'static str {
        "giot"
    }

    fn roles(&self) -> &'static [&'static str] {
        &[INNER_ROLE]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        iterate(agent, Stopping::Guided { iterations: self.iterations }).await
    }
}

/// Who ends the loop.
#[derive(Clone, Copy)]
enum Stopping {
    /// The LLMA, or the cap of `most` iterations.
    Autonomous { most: u32 },
    /// Nobody: exactly this many iterations run.
    Guided { iterations: u32 },
}

const IDA_PROMPT: &str = "You are the inner dialogue of a problem solver. You never answer the query yourself. \
Given the query and the solver's current response, write one instructive, context-specific prompt that will lead the solver to a better answer: \
point out a step to check, an error, a missing case or a better approach. Reply with that prompt alone.";

const LLMA_PROMPT: &str = "You answer the user's query. Each of your turns comes with guidance from your inner dialogue: \
follow it to reason step by step and refine your previous response.";

const STOP_FORMAT: &str =
    "After that line, add one more line: `Iteration stop: yes` if your answer is final and needs no further refinement, \
or `Iteration stop: no` if it should be refined further.";

/// What the LLMA is told when the IDA wrote nothing.
const FALLBACK_GUIDANCE: &str = "Check your reasoning step by step, correct any mistake, and give your best answer.";

async fn iterate(agent: &Agent, stopping: Stopping) -> Result<String, AgentError> {
    let (iterations, autonomous) = match stopping {
        Stopping::Autonomous { most } => (most.max(1), true),
        Stopping::Guided { iterations } => (iterations.max(1), false),
    };
    let llma_prompt = match autonomous {
        true => format!("{LLMA_PROMPT} {ANSWER_FORMAT} {STOP_FORMAT}"),
        false => format!("{LLMA_PROMPT} {ANSWER_FORMAT}"),
    };
    let query = agent.task();
    let mut inner = vec![Message::system(IDA_PROMPT), Message::user(format!("Query:\n{query}\n\nCurrent response:\n(none yet)"))];
    let mut outer = vec![Message::system(llma_prompt)];
    let mut answer = String::new();
    for iteration in 0..iterations {
        let request = ChatRequest { messages: inner.clone(), sampling: sampling(agent), ..Default::default() };
        let guidance = agent.model_as(INNER_ROLE, request).await?.message.content();
        let guidance = Some(guidance.trim()).filter(|g| !g.is_empty()).unwrap_or(FALLBACK_GUIDANCE).to_string();
        inner.push(Message::assistant(guidance.clone()));
        outer.push(Message::user(match iteration {
            0 => format!("Query:\n{query}\n\nGuidance:\n{guidance}"),
            _ => format!("Guidance:\n{guidance}"),
        }));

        let request = ChatRequest { messages: outer.clone(), sampling: sampling(agent), ..Default::default() };
        let response = agent.model(request).await?.message.content();
        outer.push(Message::assistant(response.clone()));
        let (response, stop) = split_stop(&response);
        let extracted = extract_answer(&response);
        if !extracted.is_empty() {
            answer = extracted;
        }
        if autonomous && stop {
            break;
        }
        inner.push(Message::user(format!("Current response:\n{}", response.trim())));
    }
    Ok(answer)
}

/// A response without its `Iteration stop` lines, and whether the last of them says stop.
fn split_stop(response: &str) -> (String, bool) {
    let mut stop = false;
    let mut kept = Vec::new();
    for line in response.lines() {
        match stop_marker(line) {
            Some(says) => stop = says,
            None => kept.push(line),
        }
    }
    (kept.join("\n"), stop)
}

/// `Some(true)` for a line that says `Iteration stop: yes` (or `true`, or nothing),
/// `Some(false)` for any other value, `None` for a line that is no stop marker.
fn stop_marker(line: &str) -> Option<bool> {
    let line = line.to_lowercase().replace(['_', '*', '`'], " ");
    let words = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let rest = words.trim_start_matches(|c: char| !c.is_alphanumeric()).strip_prefix("iteration stop")?;
    if rest.starts_with(char::is_alphanumeric) {
        return None;
    }
    let value = rest.trim_start_matches(|c: char| c == ':' || c == '=' || c.is_whitespace());
    Some(value.is_empty() || value.starts_with("yes") || value.starts_with("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stop_marker() {
        let cases = [
            ("Iteration stop: yes", Some(true)),
            ("**Iteration stop:** Yes.", Some(true)),
            ("ITERATION_STOP: true", Some(true)),
            ("- iteration stop = TRUE", Some(true)),
            ("Iteration stop", Some(true)),
            ("Iteration stop: no", Some(false)),
            ("iteration_stop: false", Some(false)),
            ("Iteration stop: maybe", Some(false)),
            ("Answer: 5", None),
            ("The iteration stops here.", None),
            ("Iteration stopped early: no", None),
            ("", None),
        ];
        for (line, want) in cases {
            assert_eq!(stop_marker(line), want, "{line:?}");
        }
    }

    #[test]
    fn the_last_stop_line_counts_and_is_removed() {
        let (text, stop) = split_stop("Reasoning.\nIteration stop: yes\nAnswer: 4\nIteration stop: no");
        assert_eq!((text.as_str(), stop), ("Reasoning.\nAnswer: 4", false));
        let (text, stop) = split_stop("It is 4.\nIteration stop: yes");
        assert_eq!((extract_answer(&text).as_str(), stop), ("It is 4.", true));
    }
}
