use crate::{Anthropic, LanguageModel, LlmError, OpenAi, Scripted};
use std::sync::Arc;

/// The URI schemes [`from_uri`] understands, with what each means.
pub const KNOWN_SCHEMES: &[(&str, &str)] = &[
    ("openai:<model>", "OpenAI Chat Completions; key from OPENAI_API_KEY (base URL from OPENAI_BASE_URL if set)"),
    (
        "openai-compatible:<base-url>#<model>",
        "any Chat Completions server (vLLM, llama.cpp server, Ollama, OpenRouter); key from OPENAI_API_KEY if set",
    ),
    ("anthropic:<model>", "Anthropic Messages API; key from ANTHROPIC_API_KEY (base URL from ANTHROPIC_BASE_URL if set)"),
    ("scripted:<file>", "replays canned responses from a JSON file, for deterministic tests"),
    ("local:<path.gguf>", "a GGUF model file run in-process on the CPU through llama.cpp (needs the `local` feature)"),
    ("local:<name>", "a model `agentos models pull <name>` fetched into $AGENTOS_HOME/models, run in-process like local:<path.gguf>"),
];

/// Builds the model a URI names. See [`KNOWN_SCHEMES`].
pub fn from_uri(uri: &str) -> Result<Arc<dyn LanguageModel>, LlmError> {
    let invalid = |reason: &str| LlmError::InvalidUri { uri: uri.to_string(), reason: reason.to_string() };
    let (scheme, rest) = uri.split_once(':').ok_or_else(|| invalid("it has no scheme"))?;
    if rest.is_empty() {
        return Err(invalid("nothing follows the scheme"));
    }
    match scheme {
        "openai" => Ok(Arc::new(OpenAi::new(rest)?)),
        "openai-compatible" => {
            let (base, model) = rest.rsplit_once('#').filter(|(_, model)| !model.is_empty()).ok_or_else(|| {
                invalid("the model is missing: write openai-compatible:<base-url>#<model>, e.g. openai-compatible:http://127.0.0.1:8080/v1#llama-3.1-8b")
            })?;
            Ok(Arc::new(OpenAi::compatible(base, model)?))
        }
        "anthropic" => Ok(Arc::new(Anthropic::new(rest)?)),
        "scripted" => Ok(Arc::new(Scripted::from_file(rest)?)),
        #[cfg(feature = "local")]
        "local" => Ok(Arc::new(crate::Local::new(rest)?)),
        #[cfg(not(feature = "local"))]
        "local" => Err(invalid("this agentos was built without local models: build agentos-llm with the `local` feature")),
        _ => Err(invalid(&format!("unknown scheme `{scheme}`"))),
    }
}

/// `uri` with a relative file path in it (`scripted:<file>`, `local:<path.gguf>`) made absolute
/// against the current folder, so that a run that stores its model URI finds the same file when
/// it is resumed from another folder. Other URIs come back as they are.
///
/// ```
/// let here = std::env::current_dir().unwrap();
/// assert_eq!(agentos_llm::absolute_uri("scripted:s.json"), format!("scripted:{}", here.join("s.json").display()));
/// assert_eq!(agentos_llm::absolute_uri("scripted:/tmp/s.json"), "scripted:/tmp/s.json");
/// assert_eq!(agentos_llm::absolute_uri("local:qwen2.5-coder-0.5b"), "local:qwen2.5-coder-0.5b");
/// assert_eq!(agentos_llm::absolute_uri("openai:gpt-4o-mini"), "openai:gpt-4o-mini");
/// ```
pub fn absolute_uri(uri: &str) -> String {
    let Some((scheme, file)) = uri.split_once(':') else { return uri.to_string() };
    let names_a_file = match scheme {
        "scripted" => true,
        #[cfg(feature = "local")]
        "local" => crate::Local::is_path(file),
        _ => false,
    };
    match std::path::absolute(file) {
        Ok(path) if names_a_file && !file.is_empty() && !file.starts_with('~') => format!("{scheme}:{}", path.display()),
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(uri: &str) -> String {
        from_uri(uri).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn every_known_scheme_is_understood() {
        for (form, _) in KNOWN_SCHEMES {
            let scheme = form.split(':').next().unwrap();
            let err = error(&format!("{scheme}:x"));
            assert!(!err.contains("unknown scheme"), "{form}: {err}");
        }
        assert!(error("nope:x").contains("unknown scheme `nope`"));
    }

    #[test]
    fn openai_compatible_needs_a_model_and_a_url() {
        for uri in ["openai-compatible:http://127.0.0.1:8080/v1", "openai-compatible:http://127.0.0.1:8080/v1#"] {
            let err = error(uri);
            assert!(err.contains(uri) && err.contains("the model is missing") && err.contains("#<model>"), "{err}");
        }
        let err = error("openai-compatible:localhost:8080#m");
        assert!(err.contains("not an http:// or https:// URL"), "{err}");
        let model = from_uri("openai-compatible:http://127.0.0.1:8080/v1#llama").unwrap();
        assert_eq!(model.uri(), "openai-compatible:http://127.0.0.1:8080/v1#llama");
        assert!(model.capabilities().native_tools);
    }
}
