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
    /// The code sandbox's disk quota in MiB: what a run's code may write in all (default 256).
    pub sandbox_disk_mib: Option<u64>,
    /// The code sandbox's quota of files (and folders, links) a run's code may create (default 10000).
    pub sandbox_files: Option<u64>,
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
        config.sandbox_limits()?;
        Ok(config)
    }

    /// The code sandbox's limits: the defaults, with the disk quota of `sandbox_disk_mib` and
    /// `sandbox_files` when set.
    pub fn sandbox_limits(&self) -> Result<agentos_sandbox::Limits> {
        let mut limits = agentos_sandbox::Limits::default();
        if let Some(mib) = self.sandbox_disk_mib {
            limits.disk_bytes = mib.checked_mul(1 << 20).filter(|&bytes| bytes > 0).ok_or_else(|| {
                Origin::Config("sandbox_disk_mib")
                    .error(format!("{mib} is not a disk quota; give a number of MiB from 1 to {}", u64::MAX >> 20))
            })?;
        }
        if let Some(files) = self.sandbox_files {
            if files == 0 {
                return Err(Origin::Config("sandbox_files").error("0 leaves the code no file to write; give at least 1"));
            }
            limits.disk_files = files;
        }
        Ok(limits)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_disk_quota_comes_from_the_config_and_nonsense_is_refused_by_key() {
        let config: Config = toml::from_str("sandbox_disk_mib = 8\nsandbox_files = 50").unwrap();
        let limits = config.sandbox_limits().unwrap();
        assert_eq!((limits.disk_bytes, limits.disk_files), (8 << 20, 50));
        let defaults = Config::default().sandbox_limits().unwrap();
        assert_eq!(defaults, agentos_sandbox::Limits::default());
        for (text, key) in [
            ("sandbox_disk_mib = 0", "key `sandbox_disk_mib`: 0 is not"),
            ("sandbox_disk_mib = 9223372036854775807", "key `sandbox_disk_mib`"),
            ("sandbox_files = 0", "key `sandbox_files`: 0 leaves"),
        ] {
            let err = toml::from_str::<Config>(text).unwrap().sandbox_limits().unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("config.toml") && err.contains("give"), "{err}");
        }
    }
}
