//! agentos-memory: what the kernel's memory syscalls stand on.
//!
//! Owns: the sentence encoder that turns text into vectors ([`encoder`], all-MiniLM-L6-v2 run
//! in-process on the CPU, with its WordPiece tokenizer), the memory store ([`store`]: items
//! with provenance in SQLite, FTS5 for BM25, embeddings beside them, hybrid recall), and the
//! pinned memory blocks ([`blocks`], MemGPT's working context after Packer et al., 2023).
//!
//! Must not: journal anything or decide who may read what (the kernel's syscalls do both), reach
//! the network, or know of runs beyond the ids it is given.

#![warn(missing_docs)]

pub mod blocks;
pub mod encoder;
mod error;
pub mod store;
mod wordpiece;

pub use encoder::{Embedder, SentenceEncoder};
pub use error::MemoryError;
pub use store::Scope;
