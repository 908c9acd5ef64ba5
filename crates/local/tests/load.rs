//! Loading errors name the file; these need no model.

use agentos_local::{Engine, EngineOptions, LocalError};

#[test]
fn a_missing_file_is_named() {
    let err = Engine::load("/nonexistent/dir/model.gguf", EngineOptions::default()).unwrap_err();
    assert!(matches!(err, LocalError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/dir/model.gguf") && err.to_string().contains("does not exist"), "{err}");
}

/// Loads a file named `name` holding `bytes` (in a folder of its own) and returns the error.
fn load_file(name: &str, bytes: &[u8]) -> LocalError {
    let dir = std::env::temp_dir().join(format!("agentos-local-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let err = Engine::load(&path, EngineOptions::default()).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    err
}

#[test]
fn a_file_that_is_not_gguf_is_refused_before_llama_cpp_sees_it() {
    let err = load_file("notes.gguf", b"this is not a model");
    assert!(matches!(err, LocalError::NotGguf { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.gguf") && err.to_string().contains("not a GGUF"), "{err}");
}

#[test]
fn a_truncated_gguf_is_a_load_error_naming_the_file() {
    let err = load_file("broken.gguf", b"GGUF\x03\x00\x00\x00garbage");
    assert!(matches!(err, LocalError::Load { .. }), "{err:?}");
    assert!(err.to_string().contains("broken.gguf") && err.to_string().contains("could not load"), "{err}");
}

#[test]
fn json_schemas_become_grammars() {
    let grammar = agentos_local::schema_to_grammar(&serde_json::json!({
        "type": "object",
        "properties": {"unit": {"enum": ["c", "f"]}, "value": {"type": "number"}},
        "required": ["unit", "value"]
    }))
    .unwrap();
    assert!(grammar.contains("root ::="), "{grammar}");
    let err =
        agentos_local::schema_to_grammar(&serde_json::json!({"type": "object", "properties": {"x": {"$ref": "#/nowhere"}}})).unwrap_err();
    assert!(err.to_string().contains("cannot constrain output to the JSON Schema"), "{err}");
}
