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
    /// A memory block's label that is not 1 to 32 of `a-z`, `0-9`, `_` and `-`.
    #[error("bad memory block label `{label}`: a label is 1 to {limit} characters of a-z, 0-9, `_` and `-`, like `human` or `persona`")]
    BadLabel {
        /// The label as given.
        label: String,
        /// The longest label.
        limit: usize,
    },
    /// A memory block's value over the size limit.
    #[error("memory block `{label}` would hold {chars} characters, over its limit of {limit}; keep in a block only what must always be in view, and shorten the rest")]
    BlockTooLarge {
        /// The block's label.
        label: String,
        /// The characters it would hold.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// A replacement in a block that is not there.
    #[error("there is no memory block `{label}` (the blocks are: {labels}); memory_append creates one")]
    NoBlock {
        /// The label asked for.
        label: String,
        /// The labels there are, quoted.
        labels: String,
    },
    /// A replacement whose old text is not in its block.
    #[error("`{old}` is not in memory block `{label}`; give `old` exactly as the block shows it")]
    NotInBlock {
        /// The block's label.
        label: String,
        /// The text that was to be replaced.
        old: String,
    },
    /// Memory blocks asked of a scope that cannot hold them.
    #[error("memory blocks are kept in agent:<name> or person:<name> scopes, not in `{scope}`")]
    BlockScope {
        /// The scope as given.
        scope: String,
    },
    /// A block edit in a run granted no long-term scope.
    #[error(
        "memory blocks are kept in a long-term scope, and this run has none; start it with --memory-scope person:<name> (or agent:<name>)"
    )]
    NoBlockScope,
}
