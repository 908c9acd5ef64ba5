//! agentos-llm: language models behind one small trait.
//!
//! Owns: the [`LanguageModel`] trait, the model URI scheme ([`from_uri`]) and the providers:
//! `openai:<model>`, `openai-compatible:<base-url>#<model>`, `anthropic:<model>` and
//! `scripted:<file>`.
//!
//! Must not: schedule, journal, or check access. Agents never call a provider directly: the
//! kernel's scheduler does, so that every call is queued, budgeted and recorded. API keys are read
//! from the environment only, and never appear in an error, a request log or the database.

mod anthropic;
mod error;
mod http;
#[cfg(feature = "local")]
mod local;
mod openai;
mod scripted;
#[cfg(feature = "simulated")]
pub mod simulated;
mod uri;

pub use anthropic::{Anthropic, ANTHROPIC_BASE_URL, ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS};
pub use error::LlmError;
pub use http::{RetryPolicy, DEFAULT_TIMEOUT};
#[cfg(feature = "local")]
pub use local::Local;
pub use openai::{OpenAi, OPENAI_BASE_URL};
pub use scripted::Scripted;
pub use uri::{absolute_uri, from_uri, KNOWN_SCHEMES};

use agentos_core::{ChatRequest, ChatResponse, ModelEvent};
use async_trait::async_trait;

/// What a model can do, so that strategies can pick the right protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelCapabilities {
    /// The model takes tool specs and answers with structured tool calls. Without it, ReAct falls
    /// back to its Thought / Action / Observation text protocol.
    pub native_tools: bool,
}

/// Receives a model call's incremental output while it streams.
pub type EventSink<'a> = &'a (dyn Fn(ModelEvent) + Send + Sync);

/// A chat model. One request in; a stream of [`ModelEvent`]s to `on_event` while it runs; the
/// complete response, with usage, out.
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// The URI this model was built from (never includes a secret).
    fn uri(&self) -> &str;

    /// What this model can do.
    fn capabilities(&self) -> ModelCapabilities {
        ModelCapabilities { native_tools: true }
    }

    /// Runs one chat request to completion.
    async fn chat(&self, request: &ChatRequest, on_event: EventSink<'_>) -> Result<ChatResponse, LlmError>;
}
