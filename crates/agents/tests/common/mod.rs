//! What the team tests share: a kernel over a fresh SQLite database with scripted models whose
//! replies a function picks from the request, and readers of a team run's stop reason and its
//! members' journals.

#![allow(dead_code)] // Each test binary uses its own part of this.

use agentos_agents::{drive, strategy};
use agentos_core::{ChatRequest, ChatResponse, FinishReason, Message, Role, StepKind, ToolCall, Usage};
use agentos_kernel::{Agent, Ending, Kernel, KernelBuilder, RunSpec, Storage};
use agentos_llm::{EventSink, LanguageModel, LlmError, ModelCapabilities};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Who asks: the member's role prompt (the system message), its seed, the last user message,
/// how many user messages came before it (a debater's round), and the last tool result.
pub struct Asked<'a> {
    pub system: &'a str,
    pub seed: Option<u64>,
    pub user: &'a str,
    pub turn: usize,
    pub tool: &'a str,
}

pub type Reply = dyn Fn(&Asked<'_>) -> String + Send + Sync;

/// A scripted model whose reply a function picks from the request; counts its calls, and from
/// call `hang_from` on never answers (a process stopped in the middle of a model call). Once
/// `native` is set it calls tools natively: a reply `call <tool> <JSON arguments>` is that call.
pub struct Play {
    pub uri: String,
    pub reply: Box<Reply>,
    pub calls: AtomicUsize,
    pub hang_from: AtomicUsize,
    pub native: AtomicBool,
}

#[async_trait]
impl LanguageModel for Play {
    fn uri(&self) -> &str {
        &self.uri
    }
    fn capabilities(&self) -> ModelCapabilities {
        ModelCapabilities { native_tools: self.native.load(Ordering::SeqCst) }
    }
    async fn chat(&self, request: &ChatRequest, _: EventSink<'_>) -> Result<ChatResponse, LlmError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.hang_from.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let text = |role: Role| request.messages.iter().rev().find(|m| m.role == role).map(|m| m.content()).unwrap_or_default();
        let (system, user, tool) = (text(Role::System), text(Role::User), text(Role::Tool));
        let turn = request.messages.iter().filter(|m| m.role == Role::User).count() - 1;
        let content = (self.reply)(&Asked { system: &system, seed: request.sampling.seed, user: &user, turn, tool: &tool });
        let usage = Usage { input_tokens: 100, output_tokens: 10, model_calls: 1, cost_usd: 0.0 };
        let message = match content.strip_prefix("call ").and_then(|call| call.split_once(' ')) {
            Some((name, arguments)) if self.native.load(Ordering::SeqCst) => {
                let call = ToolCall { id: format!("call-{turn}"), name: name.into(), arguments: serde_json::from_str(arguments).unwrap() };
                Message { tool_calls: vec![call], ..Message::assistant("") }
            }
            _ => Message::assistant(content),
        };
        Ok(ChatResponse { message, finish_reason: FinishReason::Stop, usage, model: self.uri.clone() })
    }
}

pub struct Setup {
    pub kernel: Kernel,
    pub models: Vec<Arc<Play>>,
    _dir: tempfile::TempDir,
}

/// A kernel over a fresh database with one model per reply function, `scripted:m0`, `scripted:m1`, ...
pub fn setup(replies: Vec<Box<Reply>>) -> Setup {
    setup_with(replies, |builder| builder)
}

/// [`setup`], the kernel's builder changed by `more` (tools added) before it is built.
pub fn setup_with(replies: Vec<Box<Reply>>, more: impl FnOnce(KernelBuilder) -> KernelBuilder) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap());
    let mut models = Vec::new();
    for (i, reply) in replies.into_iter().enumerate() {
        let model = Arc::new(Play {
            uri: format!("scripted:m{i}"),
            reply,
            calls: AtomicUsize::new(0),
            hang_from: AtomicUsize::new(usize::MAX),
            native: AtomicBool::new(false),
        });
        builder = builder.model(model.clone());
        models.push(model);
    }
    Setup { kernel: more(builder).build().unwrap(), models, _dir: dir }
}

impl Setup {
    pub fn spec(&self, strategy: &str) -> RunSpec {
        RunSpec::new("What is 3 + 4?", strategy, "scripted:m0")
    }

    pub async fn run(&self, spec: RunSpec) -> (Agent, Ending) {
        let strategy = strategy(&spec.strategy).unwrap();
        let agent = self.kernel.start(spec).await.unwrap();
        let ending = drive(&self.kernel, &agent, strategy.as_ref()).await.unwrap();
        (agent, ending)
    }

    pub fn calls(&self, model: usize) -> usize {
        self.models[model].calls.load(Ordering::SeqCst)
    }

    /// The `team_stopped` event's payload, and the members dropped (member, reason).
    pub fn stopped(&self, agent: &Agent) -> (Value, Vec<(String, String)>) {
        let events = self.kernel.storage().events(agent.run()).unwrap();
        let stopped: Vec<&Value> = events.iter().filter(|(kind, _)| kind == "team_stopped").map(|(_, p)| p).collect();
        assert_eq!(stopped.len(), 1, "one stop reason: {events:?}");
        let dropped = events
            .iter()
            .filter(|(kind, _)| kind == "member_dropped")
            .map(|(_, p)| (p["member"].as_str().unwrap().to_string(), p["reason"].as_str().unwrap().to_string()))
            .collect();
        (stopped[0].clone(), dropped)
    }

    /// How many model steps each member's journal holds, by member name.
    pub fn member_calls(&self, agent: &Agent) -> Vec<(String, usize)> {
        let members = self.kernel.storage().team_members(agent.run().as_str()).unwrap();
        members
            .into_iter()
            .map(|(name, run)| {
                let steps = self.kernel.storage().steps(&run).unwrap();
                (name, steps.iter().filter(|s| matches!(s.kind, StepKind::Model { .. })).count())
            })
            .collect()
    }
}
