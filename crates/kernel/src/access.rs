//! Access manager: what each agent may do. Deny by default: an agent holds exactly the
//! capabilities its run spec grants (which tools, which paths, network or not, whether it may run
//! code, whether risky tools need the person's approval), and the kernel checks them on every tool
//! and code syscall.

use agentos_core::ToolCall;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// When the person at the terminal is asked before a tool runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Never ask: granted tools run.
    #[default]
    Never,
    /// Ask before every risky tool (one that writes, deletes or reaches the network).
    Risky,
}

/// What one agent may do. `Capabilities::default()` grants nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Names of the tools the agent may call.
    pub tools: BTreeSet<String>,
    /// Folders the file tools may read and write (each with everything below it).
    pub paths: Vec<PathBuf>,
    /// Whether tools that reach the network may run.
    pub network: bool,
    /// When to ask the person first.
    pub approval: Approval,
    /// Whether the agent may run Python in a sandbox confined to its first folder
    /// ([`Agent::execute_code`](crate::Agent::execute_code)); the code reaches tools only through
    /// the checks above.
    #[serde(default)]
    pub code: bool,
}

/// Why the access manager refused a call. The text is shown to the model and recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied(pub String);

impl Capabilities {
    /// Whether the tool may be called at all, given whether it needs the network.
    pub fn check_tool(&self, tool: &str, needs_network: bool) -> Result<(), Denied> {
        if !self.tools.contains(tool) {
            return Err(Denied(format!("permission denied: this agent was not granted the tool `{tool}` (grant it with --tools {tool})")));
        }
        if needs_network && !self.network {
            return Err(Denied(format!("permission denied: `{tool}` needs the network and this agent has no network capability")));
        }
        Ok(())
    }

    /// Whether the agent may run code at all.
    pub fn check_code(&self) -> Result<(), Denied> {
        if self.code {
            return Ok(());
        }
        Err(Denied(
            "permission denied: this agent may not run code (grant code execution with --actions code, or Capabilities::code)".into(),
        ))
    }

    /// Resolves `path` (relative paths against the first granted folder) and checks that it lies
    /// inside a granted folder, after `..` and symbolic links are resolved.
    pub fn check_path(&self, path: &str) -> Result<PathBuf, Denied> {
        let root = self.paths.first().ok_or_else(|| Denied(format!("permission denied: this agent may not touch files (`{path}`)")))?;
        let joined = root.join(path);
        let resolved = resolve(&joined);
        let inside = self.paths.iter().any(|granted| resolved.starts_with(resolve(granted)));
        if inside {
            Ok(resolved)
        } else {
            Err(Denied(format!(
                "permission denied: `{path}` is outside the folders this agent may use ({})",
                self.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )))
        }
    }
}

/// Canonicalizes the longest existing prefix of `path` (resolving symbolic links) and appends the
/// rest lexically, so a path that does not exist yet is checked as it will be created.
fn resolve(path: &Path) -> PathBuf {
    let parts: Vec<Component> = path.components().collect();
    for split in (1..=parts.len()).rev() {
        let prefix: PathBuf = parts[..split].iter().collect();
        if let Ok(mut out) = prefix.canonicalize() {
            for part in &parts[split..] {
                match part {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::Normal(p) => out.push(p),
                    _ => {}
                }
            }
            return out;
        }
    }
    path.to_path_buf()
}

/// The person behind a run: answers `ask_user` questions and approves risky tools.
#[async_trait]
pub trait Operator: Send + Sync {
    /// Asks a question; `None` when nobody can answer.
    async fn ask(&self, question: &str) -> Option<String>;
    /// Asks whether a risky call may run: `Some(true)` allowed, `Some(false)` refused, `None`
    /// when nobody is attached to answer.
    async fn approve(&self, call: &ToolCall) -> Option<bool>;
}

/// No person attached (non-interactive runs, tests): questions and approvals get no answer.
pub struct Nobody;

#[async_trait]
impl Operator for Nobody {
    async fn ask(&self, _question: &str) -> Option<String> {
        None
    }
    async fn approve(&self, _call: &ToolCall) -> Option<bool> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(dir: &Path) -> Capabilities {
        Capabilities { tools: ["read_file".to_string()].into(), paths: vec![dir.to_path_buf()], ..Default::default() }
    }

    #[test]
    fn denies_by_default() {
        let none = Capabilities::default();
        assert!(none.check_tool("read_file", false).is_err());
        assert!(none.check_path("a.txt").is_err());
        assert!(none.check_code().unwrap_err().0.contains("--actions code"));
        assert!(Capabilities { code: true, ..none }.check_code().is_ok());
    }

    #[test]
    fn grants_only_what_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let c = caps(dir.path());
        assert!(c.check_tool("read_file", false).is_ok());
        assert!(c.check_tool("write_file", false).unwrap_err().0.contains("--tools write_file"));
        assert!(c.check_tool("read_file", true).unwrap_err().0.contains("network"));
    }

    #[test]
    fn keeps_paths_inside_the_granted_folder() {
        let dir = tempfile::tempdir().unwrap();
        let c = caps(dir.path());
        assert!(c.check_path("notes/a.txt").is_ok());
        assert!(c.check_path("../escape.txt").is_err());
        assert!(c.check_path("new/../../escape.txt").is_err());
        assert!(c.check_path("/etc/passwd").is_err());
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        assert!(c.check_path("link/passwd").is_err(), "a symlink out of the folder must not pass");
    }
}
