use std::path::PathBuf;
use thiserror::Error;

/// Why a local model could not be loaded or could not answer. Each message names the model file
/// and says what to do.
#[derive(Debug, Error)]
pub enum LocalError {
    /// The model file does not exist.
    #[error("model file {} does not exist", path.display())]
    Missing {
        /// The path as given.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read model file {}: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// The file is not a GGUF model.
    #[error("{} is not a GGUF model file (it does not start with the bytes `GGUF`); llama.cpp needs a .gguf file", path.display())]
    NotGguf {
        /// The file.
        path: PathBuf,
    },
    /// llama.cpp could not load the model or create its context.
    #[error("llama.cpp could not load {}: {reason}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The GGUF has no chat template, so a conversation cannot be turned into a prompt.
    #[error("{} has no chat template (no `tokenizer.chat_template` metadata); use an instruct model's GGUF", path.display())]
    NoChatTemplate {
        /// The file.
        path: PathBuf,
    },
    /// The model's chat template does not compile or failed on this conversation.
    #[error("the chat template of {} failed: {reason}", path.display())]
    Template {
        /// The file.
        path: PathBuf,
        /// What the template engine said.
        reason: String,
    },
    /// The prompt and the tokens asked for do not fit in the context.
    #[error(
        "the prompt is {prompt_tokens} tokens and up to {max_tokens} more are asked for, but the context of {} holds {context_len} tokens: shorten the conversation, lower max_tokens, or load the model with a larger context_len",
        path.display()
    )]
    ContextOverflow {
        /// The file.
        path: PathBuf,
        /// Tokens in the rendered prompt.
        prompt_tokens: usize,
        /// Completion tokens asked for (what is left of the context when the request sets none).
        max_tokens: usize,
        /// Tokens the context holds per request.
        context_len: usize,
    },
    /// The JSON Schema could not be turned into a grammar.
    #[error("cannot constrain output to the JSON Schema: {reason}")]
    Schema {
        /// What is wrong.
        reason: String,
    },
    /// The request asks for something impossible (e.g. `max_tokens` 0, a negative temperature).
    #[error("invalid request to {}: {reason}", path.display())]
    InvalidRequest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// llama.cpp failed while decoding.
    #[error("llama.cpp failed while generating with {}: {reason}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The engine's worker thread is gone (it panicked); load the model again.
    #[error("the engine running {} has stopped; load the model again", path.display())]
    Stopped {
        /// The file.
        path: PathBuf,
    },
}
