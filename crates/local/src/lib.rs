//! agentos-local: instruct models run in-process on the CPU through llama.cpp.
//!
//! Owns: loading GGUF files (once per process, shared through [`Engine::load`]); rendering
//! conversations with the model's own chat template ([`ChatTemplate`], minijinja set up as
//! Hugging Face transformers sets up jinja2); generation with temperature, top-p, seed, token
//! limits, stop sequences and end-of-turn tokens, streaming text as it comes ([`Engine::start`],
//! [`Engine::generate`]); continuous batching of concurrent requests in one llama.cpp context;
//! JSON-Schema-constrained decoding through llama.cpp grammars ([`schema_to_grammar`]); and
//! parsing text-form tool calls out of the output ([`parse_tool_calls`], [`ToolCallFilter`]).
//!
//! Must not: know about providers, URIs, the kernel or the network. It does not depend on
//! agentos-llm; agentos-llm's `local` feature wraps an [`Engine`] as a `LanguageModel`. It never
//! downloads a model: it is handed a path (agentos-models owns the catalogue and the cache).
//!
//! Threads: every request is rendered and tokenized on the caller's thread; one worker thread per
//! engine owns the llama.cpp context and decodes. [`Engine::generate`] blocks; async callers run it
//! on a blocking thread.

mod engine;
mod error;
mod template;
mod toolcall;

pub use engine::{
    Engine, EngineOptions, Finish, Generation, Stream, DEFAULT_BATCH_SIZE, DEFAULT_CONTEXT_LEN, DEFAULT_PARALLEL, DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P, LOG_ENV,
};
pub use error::LocalError;
pub use llama_cpp_2::token::LlamaToken;
pub use template::{template_input, to_python_json, ChatTemplate, TemplateError, SCHEMA_KEYS_FIRST};
pub use toolcall::{parse_tool_calls, ParsedOutput, ToolCallFilter};

/// Turns a JSON Schema into a llama.cpp GBNF grammar (rule `root`) using llama.cpp's own
/// converter (`json-schema-to-grammar`, the one llama-server uses), so that constrained output
/// always parses as JSON of the schema's shape.
///
/// Enforced: `type`, `properties`/`required`/`additionalProperties`, `items`/`prefixItems`/
/// `minItems`/`maxItems`, `enum`/`const`, `anyOf`/`oneOf`/`allOf`, local `$ref`s (`$defs`,
/// `definitions`), string `minLength`/`maxLength`/`format` (date, time, uuid, ...), regex
/// `pattern`s that are anchored and simple, and integer `minimum`/`maximum` (exclusive too).
/// Not enforced (the output may break them, so validate when they matter): `multipleOf`,
/// `uniqueItems`, `not`, bounds on non-integer numbers, `minProperties`/`maxProperties`,
/// `patternProperties`, and patterns llama.cpp cannot translate (accepted as any string).
/// A schema it cannot convert at all (an unresolvable `$ref`, an invalid pattern) is an error.
pub fn schema_to_grammar(schema: &serde_json::Value) -> Result<String, LocalError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|e| LocalError::Schema { reason: e.to_string() })
}
