//! Settings: `~/.agentos/config.toml` (or `$AGENTOS_HOME/config.toml`), overridden by environment
//! variables, overridden by flags.

use crate::validate::Origin;
use agentos_kernel::Policy;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::PathBuf;

/// The settings file. Every field is optional; a flag or an environment variable wins over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Default model URI.
    pub model: Option<String>,
    /// Default strategy.
    pub strategy: Option<String>,
    /// Tools granted by default.
    pub tools: Option<Vec<String>>,
    /// Default step limit.
    pub max_steps: Option<u32>,
    /// The database file.
    pub db: Option<PathBuf>,
    /// Scheduling policy: fifo, round-robin or priority.
    pub policy: Option<String>,
    /// Most concurrent calls per model.
    pub max_concurrent: Option<usize>,
}

/// agentos's home folder: `$AGENTOS_HOME`, else `~/.agentos` (defined once, in agentos-models).
pub use agentos_models::home;

impl Config {
    /// Reads the settings file if there is one, and checks the values whose meaning does not
    /// depend on the command (counts, the policy); an error names the key.
    pub fn load() -> Result<Config> {
        let path = home().join("config.toml");
        let config: Config = match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("{} is not a valid agentos config; fix or remove it", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        for (key, value) in [("max_steps", config.max_steps.map(|n| n as usize)), ("max_concurrent", config.max_concurrent)] {
            if value == Some(0) {
                return Err(Origin::Config(key).error("must be at least 1"));
            }
        }
        config.policy()?;
        Ok(config)
    }

    /// The scheduling policy (`policy`), the kernel's default if unset.
    pub fn policy(&self) -> Result<Policy> {
        let policy = self.policy.as_deref().map(str::parse::<Policy>).transpose().map_err(|e| Origin::Config("policy").error(e))?;
        Ok(policy.unwrap_or_default())
    }

    /// The database file, `<home>/agentos.db`, when neither `--db`, `AGENTOS_DB` nor `db` names one.
    pub fn default_db() -> PathBuf {
        home().join("agentos.db")
    }
}
