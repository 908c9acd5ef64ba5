//! The memory crate's errors.

use std::path::PathBuf;
use thiserror::Error;

/// What can go wrong in memory: loading the encoder, or reading and writing the store.
#[derive(Debug, Error)]
pub enum MemoryError {
    /// The encoder's files could not be read or are not what they should be.
    #[error("cannot load the sentence encoder from {path}: {detail}; pull it again with `agentos models pull all-minilm-l6-v2`")]
    Encoder {
        /// The model file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A scope that is not `run:<id>`, `agent:<name>` or `person:<name>`.
    #[error("unknown memory scope `{scope}`: {why}; a scope is run:<id>, agent:<name> or person:<name>")]
    UnknownScope {
        /// The scope as given.
        scope: String,
        /// What is wrong with it.
        why: String,
    },
    /// A blank text or query.
    #[error("the {what} is empty; give the text to remember or the words to look for")]
    Empty {
        /// `text` or `query`.
        what: &'static str,
    },
    /// A text or query over the size limit.
    #[error("the {what} is {bytes} bytes, over the limit of {limit}; keep one fact per memory, or summarize it first")]
    TooLarge {
        /// `text` or `query`.
        what: &'static str,
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A recall that asks for no items or too many.
    #[error("a recall may return 1 to {limit} items, not {k}")]
    BadK {
        /// What was asked.
        k: usize,
        /// The most allowed.
        limit: usize,
    },
}
