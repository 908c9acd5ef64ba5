//! What the team tests share: a kernel over a fresh database with the `go` tool and scripted
//! models whose replies a function picks from the request (a reply may be a native tool call),
//! and readers of a team's stop event and its members' steps.

#![allow(dead_code)]

use agentos_agents::{drive, strategy};
use agentos_core::{ChatRequest, ChatResponse, FinishReason, Message, Role, StepKind, ToolCall, ToolSpec, Usage};
use agentos_kernel::{Agent, Ending, Kernel, RunSpec, Storage, Tool, ToolContext, ToolError};
use agentos_llm::{EventSink, LanguageModel, LlmError, ModelCapabilities};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Who asks: the member's role prompt (the system message), its seed, the last user message,
/// how many user messages came before it (a debater's round), the tools offered, and the last
/// tool result (empty when there is none).
pub struct Asked<'a> {
    pub system: &'a str,
    pub seed: Option<u64>,
    pub user: &'a str,
    pub turn: usize,
    pub tools: Vec<String>,
    pub tool: &'a str,
}

pub type Reply = dyn Fn(&Asked<'_>) -> String + Send + Sync;

/// What a scripted reply starts with to be a native tool call instead of text (see [`call`]).
const CALL: &str = "CALL ";

/// A scripted reply that calls the tool `name` with `arguments` natively.
pub fn call(name: &str, arguments: Value) -> String {
    format!("{CALL}{}", json!({ "name": name, "arguments": arguments }))
}

/// A scripted model whose reply a function picks from the request; counts its calls, and from
/// call `hang_from` on never answers (a process stopped in the middle of a model call).
pub struct Play {
    uri: String,
    reply: Box<Reply>,
    pub calls: AtomicUsize,
    pub hang_from: AtomicUsize,
}

#[async_trait]
impl LanguageModel for Play {
    fn uri(&self) -> &str {
        &self.uri
    }
    fn capabilities(&self) -> ModelCapabilities {
        ModelCapabilities { native_tools: true }
    }
    async fn chat(&self, request: &ChatRequest, _: EventSink<'_>) -> Result<ChatResponse, LlmError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n >= self.hang_from.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let text = |role: Role| request.messages.iter().rev().find(|m| m.role == role).map(|m| m.content()).unwrap_or_default();
        let (system, user, tool) = (text(Role::System), text(Role::User), text(Role::Tool));
        let turn = request.messages.iter().filter(|m| m.role == Role::User).count() - 1;
        let tools = request.tools.iter().map(|t| t.name.clone()).collect();
        let content = (self.reply)(&Asked { system: &system, seed: request.sampling.seed, user: &user, turn, tools, tool: &tool });
        let message = match content.strip_prefix(CALL) {
            Some(call) => {
                let call: Value = serde_json::from_str(call).unwrap();
                let call =
                    ToolCall { id: format!("call-{n}"), name: call["name"].as_str().unwrap().into(), arguments: call["arguments"].clone() };
                Message { tool_calls: vec![call], ..Message::assistant("") }
            }
            None => Message::assistant(content),
        };
        let usage = Usage { input_tokens: 100, output_tokens: 10, model_calls: 1, cost_usd: 0.0 };
        Ok(ChatResponse { message, finish_reason: FinishReason::Stop, usage, model: self.uri.clone() })
    }
}

/// Moves to a place: `{"to": "A"}` answers `arrived at A`. Counts its calls.
pub struct Go(pub Arc<AtomicUsize>);

#[async_trait]
impl Tool for Go {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "go".into(),
            description: "Goes to a place.".into(),
            parameters: json!({"type": "object", "properties": {"to": {"type": "string"}}, "required": ["to"]}),
        }
    }
    async fn call(&self, args: Value, _: &ToolContext) -> Result<String, ToolError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(format!("arrived at {}", args["to"].as_str().unwrap_or("?")))
    }
}

pub struct Setup {
    pub kernel: Kernel,
    pub models: Vec<Arc<Play>>,
    /// How often the `go` tool ran.
    pub moves: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

/// A kernel over a fresh database with the `go` tool and one model per reply function,
/// `scripted:m0`, `scripted:m1`, ...
pub fn setup(replies: Vec<Box<Reply>>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let moves = Arc::new(AtomicUsize::new(0));
    let mut builder = Kernel::builder(Storage::open(dir.path().join("agentos.db")).unwrap()).tool(Arc::new(Go(moves.clone())));
    let mut models = Vec::new();
    for (i, reply) in replies.into_iter().enumerate() {
        let model =
            Arc::new(Play { uri: format!("scripted:m{i}"), reply, calls: AtomicUsize::new(0), hang_from: AtomicUsize::new(usize::MAX) });
        builder = builder.model(model.clone());
        models.push(model);
    }
    Setup { kernel: builder.build().unwrap(), models, moves, _dir: dir }
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

    /// The requests of the team run's own model calls, in order.
    pub fn own_requests(&self, agent: &Agent) -> Vec<ChatRequest> {
        let steps = self.kernel.storage().steps(agent.run()).unwrap();
        steps
            .into_iter()
            .filter_map(|s| match s.kind {
                StepKind::Model { request, .. } => Some(request),
                _ => None,
            })
            .collect()
    }
}
