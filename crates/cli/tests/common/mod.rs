//! What the CLI tests share: the real `agentos` binary run in a temporary home.

#![allow(dead_code)] // Each test binary uses its own part of this.

use agentos_llm::simulated::{Reply, Script, SimulatedServer};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

/// The `agentos` binary with `args`, its home (and working folder) `home`, and no setting chosen
/// by the environment of the person running the tests.
pub fn agentos(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentos"));
    cmd.args(args).env("AGENTOS_HOME", home).current_dir(home);
    for variable in ["AGENTOS_MODEL", "AGENTOS_DB", "AGENTOS_STRATEGY", "AGENTOS_TOOLS", "AGENTOS_PYTHON"] {
        cmd.env_remove(variable);
    }
    cmd
}

/// Runs `cmd` to its end on a blocking thread.
pub async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

/// Standard output and standard error together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A simulated model that makes `calls` calculator calls (k+1 at turn k), then answers `done`.
pub fn counting(calls: usize) -> Script {
    Arc::new(move |turn| {
        if turn < calls {
            Reply::ToolCall { name: "calculator".into(), arguments: json!({ "expression": format!("{turn}+1") }) }
        } else {
            Reply::Text("done".into())
        }
    })
}

/// The model URI of a simulated model server.
pub fn uri(server: &SimulatedServer) -> String {
    format!("openai-compatible:{}#sim", server.base_url())
}
