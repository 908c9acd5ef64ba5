//! Memory as the journal records it: what a memory syscall asked ([`MemoryOp`]) and what it got
//! ([`MemoryResult`]), the items ([`MemoryItem`]) with their provenance, and the pinned memory
//! blocks ([`MemoryBlock`]) after MemGPT (Packer et al., 2023).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether a memory item came from input the person vouches for or from content of the world.
/// After AgentPoison (Chen et al., 2024): what an agent read may be planted, so memory keeps
/// where each item came from, and recall can leave untrusted items out or marks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// From the task or the person.
    Trusted,
    /// From a tool result, a file, a web page, a code cell's output, or a model that had read
    /// any of those.
    Untrusted,
}

impl Trust {
    /// `trusted` or `untrusted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Trusted => "trusted",
            Trust::Untrusted => "untrusted",
        }
    }

    /// The trust stored as `text` ([`Trust::as_str`]); anything but `trusted` reads as
    /// untrusted, so that an unreadable value never grants trust.
    pub fn from_stored(text: &str) -> Trust {
        if text == Trust::Trusted.as_str() {
            Trust::Trusted
        } else {
            Trust::Untrusted
        }
    }
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One memory as stored: its text, its scope, and its provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryItem {
    /// Its id: `<run>.<seq>`, the run and journal position of the syscall that wrote it.
    pub id: String,
    /// Whose memory it is: `run:<id>` (a run's working memory), `agent:<name>`, `person:<name>`.
    pub scope: String,
    /// What is remembered.
    pub text: String,
    /// Whether its source is trusted.
    pub trust: Trust,
    /// Where the text came from: `task`, `person`, `model`, `tool:<name>`, `file`, `web`, ...
    pub source: String,
    /// The run that wrote it.
    pub run: String,
    /// The agent (strategy) of that run.
    pub agent: String,
    /// When it was learned (RFC 3339, UTC).
    pub created_at: String,
    /// When a newer item replaced it, if one did; it is kept, no longer recalled by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_at: Option<String>,
    /// The id of the item that replaced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

/// One item a recall found, with the scores that ranked it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recalled {
    /// The item.
    pub item: MemoryItem,
    /// The combined score that ranked it: the mean of `cosine` (floored at 0) and the lexical
    /// score `bm25 / (1 + bm25)`.
    pub score: f32,
    /// Cosine similarity of the query's embedding and the item's.
    pub cosine: f32,
    /// The item's BM25 score for the query's terms (FTS5, higher is better); 0 when it shares
    /// no term with the query.
    pub bm25: f32,
}

/// A pinned memory block: MemGPT's working context, Letta's core memory (Packer et al., 2023,
/// "MemGPT: Towards LLMs as Operating Systems", §2.1: a fixed-size part of the main context that
/// only the agent's own function calls write). A labelled text kept per long-term scope, shown in the system message of every model call of a run granted that scope, and
/// edited by the agent itself with its `memory_append` and `memory_replace` tools (Letta's
/// `core_memory_append` and `core_memory_replace`) or by the person by hand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryBlock {
    /// Whose memory it is: `agent:<name>` or `person:<name>`.
    pub scope: String,
    /// Its label, unique in its scope: `human`, `persona`, or any `[a-z0-9_-]{1,32}`.
    pub label: String,
    /// What it holds (at most 2,000 characters).
    pub value: String,
    /// Untrusted once any edit was made by a run that had taken in outside content, until the
    /// person sets it by hand.
    pub trust: Trust,
    /// The run that last wrote it; empty when the person set it by hand.
    pub run: String,
    /// When it was last written (RFC 3339, UTC).
    pub updated_at: String,
}

/// What a memory syscall asks for, as journaled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MemoryOp {
    /// Keep `text` in `scope`, from `source`.
    Remember {
        /// The scope.
        scope: String,
        /// The text.
        text: String,
        /// Where it came from (decides its trust).
        source: String,
    },
    /// Find the items of `scopes` closest to `query`.
    Recall {
        /// The scopes searched.
        scopes: Vec<String>,
        /// What to look for.
        query: String,
        /// At most this many items.
        k: usize,
        /// Whether untrusted items may be returned (marked as such).
        untrusted: bool,
    },
    /// Replace item `id` with `text`: a new item supersedes it.
    Update {
        /// The item replaced.
        id: String,
        /// Its new text.
        text: String,
        /// Where the new text came from.
        source: String,
    },
    /// Delete item `id` from the store.
    Forget {
        /// The item.
        id: String,
    },
    /// Read the memory blocks of `scope` to pin them in the run's context (MemGPT's core memory,
    /// Packer et al., 2023): journaled once, at the run's first model call or block edit, so a
    /// resumed run pins what it pinned the first time.
    Blocks {
        /// The scope.
        scope: String,
    },
}

impl fmt::Display for MemoryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryOp::Remember { scope, text, .. } => write!(f, "remember in {scope}: {}", first_line(text)),
            MemoryOp::Recall { scopes, query, k, .. } => write!(f, "recall {k} from {} for `{}`", scopes.join(", "), first_line(query)),
            MemoryOp::Update { id, text, .. } => write!(f, "update {id}: {}", first_line(text)),
            MemoryOp::Forget { id } => write!(f, "forget {id}"),
            MemoryOp::Blocks { scope } => write!(f, "pin the memory blocks of {scope}"),
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// What a memory syscall got, as journaled: replay returns it unchanged, whatever the store
/// holds by then.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum MemoryResult {
    /// The item kept (or updated to).
    Item {
        /// The item.
        item: MemoryItem,
    },
    /// The items recalled, best first.
    Recalled {
        /// The items.
        items: Vec<Recalled>,
    },
    /// Whether the forgotten item was there.
    Forgotten {
        /// True when an item was deleted.
        existed: bool,
    },
    /// The memory blocks pinned, by label.
    Blocks {
        /// The blocks.
        blocks: Vec<MemoryBlock>,
    },
}
