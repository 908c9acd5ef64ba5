//! Settings: `~/.agentos/config.toml` (or `$AGENTOS_HOME/config.toml`), overridden by environment
//! variables, overridden by flags.

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
    /// Reads the settings file if there is one.
    pub fn load() -> Result<Config> {
        let path = home().join("config.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("{} is not a valid agentos config; fix or remove it", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// The database file: the flag, else the config, else `<home>/agentos.db`.
    pub fn db(&self, flag: Option<PathBuf>) -> PathBuf {
        flag.or_else(|| self.db.clone()).unwrap_or_else(|| home().join("agentos.db"))
    }
}
