use thiserror::Error;

/// Why a model call failed. Each message names the input at fault and what to do about it.
#[derive(Debug, Error)]
pub enum LlmError {
    /// The model URI could not be understood.
    #[error("invalid model URI `{uri}`: {reason}. Known forms: openai:<model>, openai-compatible:<base-url>#<model>, anthropic:<model>, local:<name>, local:<path.gguf>, scripted:<file>")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The provider needs an API key that is not set.
    #[error("{provider} needs an API key: set the environment variable {var}")]
    MissingApiKey {
        /// Provider name.
        provider: &'static str,
        /// The variable to set.
        var: &'static str,
    },
    /// The server answered with an error status that retrying will not fix (or retries ran out).
    #[error("{url} answered HTTP {status}: {body}")]
    Http {
        /// Endpoint called (no secrets).
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body the server sent.
        body: String,
    },
    /// The call did not finish within the timeout.
    #[error("model call to {url} timed out after {after_ms} ms; raise the timeout or check the server")]
    Timeout {
        /// Endpoint called.
        url: String,
        /// The timeout that expired.
        after_ms: u64,
    },
    /// The connection failed.
    #[error("could not reach {url}: {reason}")]
    Transport {
        /// Endpoint called.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered something that is not the expected wire format.
    #[error("unexpected response from {url}: {reason}")]
    InvalidResponse {
        /// Endpoint called.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The local model could not be found or loaded, or failed while generating (the reason says
    /// which: a missing file, a prompt longer than the context, ...).
    #[error("{uri}: {reason}")]
    Local {
        /// The model's URI.
        uri: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// A scripted model's file is unusable or has no response for this turn.
    #[error("scripted model {path}: {reason}")]
    Script {
        /// The script file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl LlmError {
    /// True for failures that a later attempt may not repeat (timeouts, connection failures).
    pub fn is_transient(&self) -> bool {
        matches!(self, LlmError::Timeout { .. } | LlmError::Transport { .. })
    }
}
