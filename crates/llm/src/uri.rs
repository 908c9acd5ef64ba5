use crate::{LanguageModel, LlmError, Scripted};
use std::sync::Arc;

/// The URI schemes [`from_uri`] understands, with what each means.
pub const KNOWN_SCHEMES: &[(&str, &str)] = &[
    ("openai:<model>", "OpenAI Chat Completions; key from OPENAI_API_KEY (base URL from OPENAI_BASE_URL if set)"),
    ("openai-compatible:<base-url>#<model>", "any Chat Completions server (vLLM, llama.cpp server, Ollama, OpenRouter); key from OPENAI_API_KEY if set"),
    ("anthropic:<model>", "Anthropic Messages API; key from ANTHROPIC_API_KEY"),
    ("scripted:<file>", "replays canned responses from a JSON file, for deterministic tests"),
];

/// Builds the model a URI names. See [`KNOWN_SCHEMES`].
pub fn from_uri(uri: &str) -> Result<Arc<dyn LanguageModel>, LlmError> {
    let invalid = |reason: &str| LlmError::InvalidUri { uri: uri.to_string(), reason: reason.to_string() };
    let (scheme, rest) = uri.split_once(':').ok_or_else(|| invalid("it has no scheme"))?;
    if rest.is_empty() {
        return Err(invalid("nothing follows the scheme"));
    }
    match scheme {
        "scripted" => Ok(Arc::new(Scripted::from_file(rest)?)),
        _ => Err(invalid(&format!("unknown scheme `{scheme}`"))),
    }
}
