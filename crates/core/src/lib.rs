//! agentos-core: the plain data every agentos crate speaks.
//!
//! Owns: conversation messages, tool specs, tool calls and results, model requests and responses,
//! streaming events, usage accounting, steps (model and tool calls, questions, code cells and their
//! outputs, action-library offers, memory operations, team messages), trajectories and ids.
//!
//! Must not: do I/O, hold state, or know about any provider, the kernel or the database. Every type
//! here is serializable with serde so that the kernel can journal it verbatim.

mod ids;
mod memory;
mod message;
mod model;
mod step;
mod team;
mod tool;
mod usage;

pub use ids::RunId;
pub use memory::{MemoryBlock, MemoryItem, MemoryOp, MemoryResult, Recalled, Trust};
pub use message::{Message, Part, Role};
pub use model::{ChatRequest, ChatResponse, FinishReason, ModelEvent, Sampling};
pub use step::{CodeOutput, Event, FunctionDefinition, RunEvent, Step, StepKind, Trajectory};
pub use team::{MessageOp, Post};
pub use tool::{arguments_text, ToolCall, ToolResult, ToolSpec};
pub use usage::Usage;
