use crate::{ChatRequest, ChatResponse, ModelEvent, RunId, ToolCall, ToolResult, Usage};
use serde::{Deserialize, Serialize};

/// What one step of a run did. A step is one kernel syscall: the kernel journals it with its
/// request and its result before handing the result back to the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// A model call and its answer.
    Model {
        /// What was asked.
        request: ChatRequest,
        /// What the model answered.
        response: ChatResponse,
    },
    /// A tool call and its result (including refusals and validation errors).
    Tool {
        /// The call.
        call: ToolCall,
        /// Its outcome.
        result: ToolResult,
    },
    /// A question put to the person, and their answer.
    AskUser {
        /// The question.
        question: String,
        /// The answer.
        answer: String,
    },
}

impl StepKind {
    /// The short name of this kind of step (`model`, `tool`, `ask_user`).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Model { .. } => "model",
            StepKind::Tool { .. } => "tool",
            StepKind::AskUser { .. } => "ask_user",
        }
    }
}

/// One journaled syscall of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Position in the run's journal, from 0, without gaps.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: StepKind,
    /// How long the syscall took, in milliseconds.
    pub duration_ms: u64,
}

/// A whole run: the task, every step in order, the answer and the usage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// The run.
    pub run: RunId,
    /// The task the agent was given.
    pub task: String,
    /// The strategy that ran it.
    pub strategy: String,
    /// The model it used (its URI).
    pub model: String,
    /// `running`, `suspended`, `finished`, `failed` or `cancelled`.
    pub status: String,
    /// Every step, in journal order.
    pub steps: Vec<Step>,
    /// The final answer, once there is one.
    pub answer: Option<String>,
    /// Total usage of the run.
    pub usage: Usage,
}

/// Something that happened in a run, delivered live to whoever watches it (the CLI, a server).
// A step is large and the other variants small; events are built only when someone listens, and
// passed by reference, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Streaming output of a model call in progress.
    Model {
        /// The run.
        run: RunId,
        /// The journal position the call will take.
        seq: u64,
        /// The incremental output.
        delta: ModelEvent,
    },
    /// A step was journaled.
    Step {
        /// The run.
        run: RunId,
        /// The step.
        step: Step,
        /// True when it was not executed but replayed from the journal (resume).
        replayed: bool,
    },
    /// A tool call was refused by the access manager.
    Denied {
        /// The run.
        run: RunId,
        /// The refused call.
        call: ToolCall,
        /// Why.
        reason: String,
    },
    /// The run ended.
    Finished {
        /// The run.
        run: RunId,
        /// `finished`, `failed`, `suspended` or `cancelled`.
        status: String,
        /// The answer, or the error.
        output: String,
    },
}
