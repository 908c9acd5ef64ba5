//! `local:<path.gguf>` and `local:<name>`: a GGUF instruct model run in-process on the CPU by
//! agentos-local (llama.cpp). Behind the `local` feature.

use crate::{EventSink, LanguageModel, LlmError, ModelCapabilities};
use agentos_core::{ChatRequest, ChatResponse, FinishReason, Message, ModelEvent, Part, Role, Usage};
use agentos_local::{parse_tool_calls, Engine, EngineOptions, Finish, LocalError, ParsedOutput, ToolCallFilter};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A local model. `local:<path>` names a GGUF file (a spec ending in `.gguf` or holding a `/` is a
/// path); `local:<name>` names a model that `agentos models pull <name>` put in
/// `$AGENTOS_HOME/models/<name>.gguf` (`~/.agentos/models/` when `AGENTOS_HOME` is unset).
///
/// The file is loaded when the model is built (once per process: every `Local` of the same file
/// shares one [`Engine`]). Each chat runs on a blocking thread, never on the async runtime;
/// text streams as [`ModelEvent::TextDelta`] with tool-call blocks left out, tool calls are parsed
/// from the model's `<tool_call>` blocks (ids `call_<n>`, numbered on from the calls already in
/// the conversation), and usage counts the model's tokens (cost 0). Dropping the `chat` future
/// stops the generation at its next token.
#[derive(Debug)]
pub struct Local {
    uri: String,
    name: String,
    engine: Arc<Engine>,
}

impl Local {
    /// Loads the model `spec` names (the part of the URI after `local:`) with default options.
    pub fn new(spec: &str) -> Result<Self, LlmError> {
        Self::with_options(spec, EngineOptions::default())
    }

    /// Loads the model `spec` names with `options` (threads, context length, parallel requests).
    pub fn with_options(spec: &str, options: EngineOptions) -> Result<Self, LlmError> {
        let uri = format!("local:{spec}");
        let path = Self::resolve(spec)?;
        let engine = Engine::load(&path, options).map_err(|e| LlmError::Local { uri: uri.clone(), reason: e.to_string() })?;
        let name = path.file_stem().map_or_else(|| spec.to_string(), |s| s.to_string_lossy().into_owned());
        Ok(Local { uri, name, engine })
    }

    /// True when `spec` names a file (it ends in `.gguf` or holds a path separator), not a
    /// model of the catalogue.
    pub fn is_path(spec: &str) -> bool {
        spec.ends_with(".gguf") || spec.contains('/') || spec.contains(std::path::MAIN_SEPARATOR)
    }

    /// The file `spec` names: itself when it is a path, else `<agentos-models' cache>/<spec>.gguf`, which
    /// must exist (the error says to run `agentos models pull <spec>`).
    pub fn resolve(spec: &str) -> Result<PathBuf, LlmError> {
        if Self::is_path(spec) {
            return Ok(match spec.strip_prefix("~/") {
                Some(rest) => std::env::var_os("HOME").map_or_else(|| PathBuf::from(spec), |home| Path::new(&home).join(rest)),
                None => PathBuf::from(spec),
            });
        }
        let path = agentos_models::cache_dir().join(format!("{spec}.gguf"));
        if !path.is_file() {
            return Err(LlmError::Local {
                uri: format!("local:{spec}"),
                reason: format!("the model `{spec}` is not downloaded (looked for {}): run `agentos models pull {spec}`", path.display()),
            });
        }
        Ok(path)
    }

    /// The engine running the model.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    fn error(&self, e: LocalError) -> LlmError {
        LlmError::Local { uri: self.uri.clone(), reason: e.to_string() }
    }
}

#[async_trait]
impl LanguageModel for Local {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn capabilities(&self) -> ModelCapabilities {
        ModelCapabilities { native_tools: true }
    }

    async fn chat(&self, request: &ChatRequest, on_event: EventSink<'_>) -> Result<ChatResponse, LlmError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let engine = self.engine.clone();
        let owned = request.clone();
        // Rendering, tokenizing and waiting for tokens all block: keep them off the runtime.
        let task = tokio::task::spawn_blocking(move || {
            let mut stream = engine.start(&owned)?;
            while let Some(text) = stream.next_text() {
                if tx.send(text).is_err() {
                    stream.cancel(); // The caller went away.
                }
            }
            stream.finish()
        });
        let calls_expected = !request.tools.is_empty() && request.response_schema.is_none();
        let mut filter = ToolCallFilter::new(calls_expected);
        while let Some(text) = rx.recv().await {
            let shown = filter.push(&text);
            if !shown.is_empty() {
                on_event(ModelEvent::TextDelta { text: shown });
            }
        }
        let generation = task
            .await
            .map_err(|e| LlmError::Local { uri: self.uri.clone(), reason: format!("the generation thread failed: {e}") })?
            .map_err(|e| self.error(e))?;
        let parsed = if calls_expected {
            let earlier_calls = request.messages.iter().map(|m| m.tool_calls.len()).sum();
            parse_tool_calls(&generation.text, &request.tools, earlier_calls)
        } else {
            ParsedOutput { content: generation.text.clone(), tool_calls: Vec::new() }
        };
        let rest = filter.finish(&parsed);
        if !rest.is_empty() {
            on_event(ModelEvent::TextDelta { text: rest });
        }
        for call in &parsed.tool_calls {
            on_event(ModelEvent::ToolCallStart { id: call.id.clone(), name: call.name.clone() });
        }
        let finish_reason = match generation.finish {
            _ if !parsed.tool_calls.is_empty() => FinishReason::ToolCalls,
            Finish::Stop => FinishReason::Stop,
            Finish::Length => FinishReason::Length,
            Finish::Cancelled => FinishReason::Other,
        };
        let parts = if parsed.content.is_empty() { Vec::new() } else { vec![Part::Text { text: parsed.content }] };
        Ok(ChatResponse {
            message: Message { role: Role::Assistant, parts, tool_calls: parsed.tool_calls, tool_call_id: None },
            finish_reason,
            usage: Usage {
                input_tokens: generation.prompt_tokens as u64,
                output_tokens: generation.completion_tokens as u64,
                model_calls: 1,
                cost_usd: 0.0,
            },
            model: self.name.clone(),
        })
    }
}
