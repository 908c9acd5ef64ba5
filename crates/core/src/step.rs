use crate::{ChatRequest, ChatResponse, MemoryOp, MemoryResult, MessageOp, ModelEvent, Post, RunId, ToolCall, ToolResult, Usage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

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
    /// One cell of Python run in the run's sandbox (a code action, after CodeAct), and what it
    /// did. The tool calls the code made are the `tool` steps that follow it in the journal, one
    /// per call ([`CodeOutput::tool_calls`] of them).
    Code {
        /// The code, as the agent wrote it.
        code: String,
        /// What it printed, returned or raised, and the observation the agent was shown.
        output: CodeOutput,
    },
    /// The functions of the action library (after DynaSaur) offered to a code-mode run: the most
    /// relevant to `query`, defined in the run's sandbox before its first cell.
    Library {
        /// What they were retrieved for (the task).
        query: String,
        /// The functions offered, most relevant first (empty when none is relevant).
        functions: Vec<FunctionDefinition>,
    },
    /// A memory syscall (remember, recall, update, forget) and what it got.
    Memory {
        /// What was asked.
        op: MemoryOp,
        /// What it got.
        result: MemoryResult,
    },
    /// A team member's message syscall: a post on its team's board, or a read of one round of it
    /// and what it held.
    Message {
        /// What was asked.
        op: MessageOp,
        /// What a read saw (empty for a post), in the order of the members' names.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        posts: Vec<Post>,
    },
}

impl StepKind {
    /// The short name of this kind of step (`model`, `tool`, `ask_user`).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Model { .. } => "model",
            StepKind::Tool { .. } => "tool",
            StepKind::AskUser { .. } => "ask_user",
            StepKind::Code { .. } => "code",
            StepKind::Library { .. } => "library",
            StepKind::Memory { .. } => "memory",
            StepKind::Message { .. } => "message",
        }
    }
}

/// A top-level Python function as the agent wrote it in a code cell: what the action library
/// keeps, retrieves and defines again in later runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    /// The function's name.
    pub name: String,
    /// Its name and parameters as Python shows them, e.g. `column_mean(path, column)`.
    pub signature: String,
    /// Its docstring (empty when it has none).
    #[serde(default)]
    pub docstring: String,
    /// Its source: the `def` statement with its decorators and body, preceded by the imports and
    /// helper functions it needs, so that it runs on its own.
    pub source: String,
}

/// What one code cell did, as journaled in a [`StepKind::Code`] step. Its `Display` is
/// [`CodeOutput::observation`], the text the agent is shown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeOutput {
    /// What the code printed to stdout (cut to the sandbox's output limit, with a note).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// What the code printed to stderr (cut likewise).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// `repr()` of the cell's last expression, when it is one and not `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The exception the code raised (syntax errors included), as its traceback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// The value the code passed to `final_answer()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_answer: Option<String>,
    /// Why the code was stopped (a timeout, a killed interpreter), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruption: Option<String>,
    /// Whether the interpreter was replaced by a fresh one during this cell, so that the
    /// variables and definitions of earlier cells are gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarted: bool,
    /// Why the kernel refused to run the code at all (the run may not execute code); nothing ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied: Option<String>,
    /// How many tool calls the code made, each journaled as its own `tool` step right after
    /// this one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tool_calls: u32,
    /// The top-level functions this cell defined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<FunctionDefinition>,
    /// How often the cell called each function offered from the action library.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub library_calls: BTreeMap<String, u32>,
    /// How many of those calls raised an exception, by function.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub library_raised: BTreeMap<String, u32>,
    /// The observation for the agent: every non-empty part above under a heading.
    pub observation: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl CodeOutput {
    /// The output of code the kernel refused to run: the reason is the observation.
    pub fn denied(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        CodeOutput { observation: reason.clone(), denied: Some(reason), ..Default::default() }
    }

    /// Whether the code ran to its end without raising, being stopped or being refused.
    pub fn succeeded(&self) -> bool {
        self.exception.is_none() && self.interruption.is_none() && self.denied.is_none()
    }
}

impl fmt::Display for CodeOutput {
    /// The observation the agent was shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.observation)
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
    /// When it started (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// Every step, in journal order.
    pub steps: Vec<Step>,
    /// The final answer, once there is one.
    pub answer: Option<String>,
    /// Total usage of the run.
    pub usage: Usage,
    /// What was recorded about the run beside its steps (status changes, refusals), in order.
    #[serde(default)]
    pub events: Vec<RunEvent>,
}

/// Something recorded about a run beside its steps: a status change (`status`, payload
/// `{"status", "output"}`: suspended, resumed as `running`, failed, ...), a refused tool call
/// (`denied`), and the like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// What kind of event: `status`, `denied`, ...
    pub kind: String,
    /// Its details, as recorded.
    pub payload: serde_json::Value,
    /// When it was recorded (RFC 3339, UTC).
    pub at: String,
    /// How many of the run's steps were journaled before it: it happened between step
    /// `after_steps - 1` and step `after_steps`.
    pub after_steps: u64,
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
