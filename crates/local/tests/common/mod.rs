//! The test model: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF), found through `AGENTOS_TEST_MODEL`.

use agentos_local::{Engine, EngineOptions};
use std::sync::{Arc, Mutex, MutexGuard};

/// The variable that names the test model's GGUF file.
pub const MODEL_ENV: &str = "AGENTOS_TEST_MODEL";

/// The test model's path. Panics, saying how to get the model, when the variable is unset: a
/// test that needs the model must fail without it, never pass silently.
pub fn model_path() -> String {
    match std::env::var(MODEL_ENV) {
        Ok(path) if !path.is_empty() => path,
        _ => panic!(
            "{MODEL_ENV} is not set: this test runs a real model. Get Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, about 490 MB) with \
             `agentos models pull qwen2.5-coder-0.5b` (it lands in $AGENTOS_HOME/models/, by default ~/.agentos/models/), then \
             `export {MODEL_ENV}=$HOME/.agentos/models/qwen2.5-coder-0.5b.gguf` and run the tests again"
        ),
    }
}

/// The test model loaded with default options (shared by every test of the binary).
pub fn engine() -> Arc<Engine> {
    engine_with(EngineOptions::default())
}

/// The test model loaded with `options`.
pub fn engine_with(options: EngineOptions) -> Arc<Engine> {
    let path = model_path();
    Engine::load(&path, options).unwrap_or_else(|e| panic!("cannot load the test model {path}: {e}"))
}

/// Held by each model test for its whole run: llama.cpp's threads use every core, so two tests
/// decoding at once on separate engines would only slow each other down.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
