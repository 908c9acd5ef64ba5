//! The test model: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF): `AGENTOS_TEST_MODEL`, else the
//! cached copy, pulled once when missing.

use agentos_local::{Engine, EngineOptions};
use std::sync::{Arc, Mutex, MutexGuard};

/// The test model's path: `AGENTOS_TEST_MODEL`, else the cached 0.5B model, pulled once when
/// missing. Panics with the reason when it cannot be had: a test that needs the model must fail
/// without it, never pass silently.
pub fn model_path() -> String {
    match agentos_models::test_model() {
        Ok(path) => path.display().to_string(),
        Err(e) => panic!("this test runs a real model, {}, and it cannot be had: {e}", agentos_models::TEST_MODEL),
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
