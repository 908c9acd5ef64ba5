//! Memory blocks: labelled texts kept per long-term scope, pinned in the context of every model
//! call of a run granted the scope and edited by the agent's own tools. They are MemGPT's working
//! context (Packer et al., 2023, "MemGPT: Towards LLMs as Operating Systems", §2.1), which Letta
//! calls core memory: a fixed-size part of the prompt that only the agent's function calls write.
//!
//! The functions here check input, compute an edit's new value, and read or write the
//! `memory_blocks` table on a given [`Connection`], so the kernel can run a write in the
//! transaction that journals its step. An edit rewrites its block whole.

use crate::store::check_text;
use crate::{MemoryError, Scope};
use agentos_core::{MemoryBlock, Trust};
use rusqlite::{params, Connection, OptionalExtension};

/// The schema of the blocks table: one migration, applied by whoever owns the database after the
/// store's [`SCHEMA`](crate::store::SCHEMA). `run` is the run that last wrote a block, empty when
/// the person set it by hand.
pub const SCHEMA: &str = r#"
CREATE TABLE memory_blocks (
    scope      TEXT NOT NULL,
    label      TEXT NOT NULL,
    value      TEXT NOT NULL,
    trust      TEXT NOT NULL CHECK (trust IN ('trusted', 'untrusted')),
    run        TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, label)
);
"#;

/// The most characters a block may hold: Letta's default limit for a core memory block (MemGPT's
/// working context is fixed in size, Packer et al., 2023).
pub const MAX_VALUE: usize = 2000;

/// The longest label.
pub const MAX_LABEL: usize = 32;

/// Checks a block's label: 1 to [`MAX_LABEL`] of `a-z`, `0-9`, `_` and `-`.
pub fn check_label(label: &str) -> Result<(), MemoryError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if label.is_empty() || label.len() > MAX_LABEL || !label.chars().all(allowed) {
        return Err(MemoryError::BadLabel { label: label.to_string(), limit: MAX_LABEL });
    }
    Ok(())
}

/// Checks that block `label` may hold `value`: at most [`MAX_VALUE`] characters.
pub fn check_value(label: &str, value: &str) -> Result<(), MemoryError> {
    let chars = value.chars().count();
    if chars > MAX_VALUE {
        return Err(MemoryError::BlockTooLarge { label: label.to_string(), chars, limit: MAX_VALUE });
    }
    Ok(())
}

/// The stored form of a scope that may hold blocks: `agent:<name>` or `person:<name>` (a run's
/// working memory lasts only as long as its context, so it has none).
pub fn check_scope(scope: &str) -> Result<String, MemoryError> {
    match Scope::parse(scope)? {
        Scope::Run(_) => Err(MemoryError::BlockScope { scope: scope.to_string() }),
        parsed => Ok(parsed.to_string()),
    }
}

/// Block `label` among `blocks`.
pub fn find<'a>(blocks: &'a [MemoryBlock], label: &str) -> Option<&'a MemoryBlock> {
    blocks.iter().find(|b| b.label == label)
}

/// The value of block `label` of `blocks` once `text` is appended on a line of its own (Letta's
/// `core_memory_append`); a label not among them starts a new block.
pub fn append(blocks: &[MemoryBlock], label: &str, text: &str) -> Result<String, MemoryError> {
    check_label(label)?;
    check_text("text", text)?;
    let value = match find(blocks, label) {
        Some(block) if !block.value.is_empty() => format!("{}\n{text}", block.value),
        _ => text.to_string(),
    };
    check_value(label, &value)?;
    Ok(value)
}

/// The value of block `label` of `blocks` once every occurrence of `old` is replaced by `new`
/// (Letta's `core_memory_replace`; an empty `new` deletes `old`).
pub fn replace(blocks: &[MemoryBlock], label: &str, old: &str, new: &str) -> Result<String, MemoryError> {
    check_label(label)?;
    let block = find(blocks, label).ok_or_else(|| MemoryError::NoBlock {
        label: label.to_string(),
        labels: blocks.iter().map(|b| format!("`{}`", b.label)).collect::<Vec<_>>().join(", "),
    })?;
    if old.is_empty() || !block.value.contains(old) {
        return Err(MemoryError::NotInBlock { label: label.to_string(), old: old.to_string() });
    }
    let value = block.value.replace(old, new);
    check_value(label, &value)?;
    Ok(value)
}

/// `block` in `blocks`, in the place of the block with its label or in label order.
pub fn put_in(blocks: &mut Vec<MemoryBlock>, block: MemoryBlock) {
    match blocks.binary_search_by(|b| b.label.as_str().cmp(&block.label)) {
        Ok(at) => blocks[at] = block,
        Err(at) => blocks.insert(at, block),
    }
}

const COLUMNS: &str = "scope, label, value, trust, run, updated_at";

fn block_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MemoryBlock> {
    Ok(MemoryBlock {
        scope: r.get(0)?,
        label: r.get(1)?,
        value: r.get(2)?,
        trust: Trust::from_stored(&r.get::<_, String>(3)?),
        run: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

/// The blocks of `scope`, by label.
pub fn list(conn: &Connection, scope: &str) -> rusqlite::Result<Vec<MemoryBlock>> {
    let sql = format!("SELECT {COLUMNS} FROM memory_blocks WHERE scope = ?1 ORDER BY label");
    let blocks = conn.prepare_cached(&sql)?.query_map([scope], block_row)?.collect();
    blocks
}

/// Block `label` of `scope`.
pub fn get(conn: &Connection, scope: &str, label: &str) -> rusqlite::Result<Option<MemoryBlock>> {
    let sql = format!("SELECT {COLUMNS} FROM memory_blocks WHERE scope = ?1 AND label = ?2");
    conn.prepare_cached(&sql)?.query_row([scope, label], block_row).optional()
}

/// Stores `block`, replacing the block of its scope and label if there is one.
pub fn put(conn: &Connection, block: &MemoryBlock) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT INTO memory_blocks ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (scope, label) DO UPDATE SET \
         value = excluded.value, trust = excluded.trust, run = excluded.run, updated_at = excluded.updated_at"
    );
    conn.prepare_cached(&sql)?.execute(params![
        block.scope,
        block.label,
        block.value,
        block.trust.as_str(),
        block.run,
        block.updated_at
    ])?;
    Ok(())
}
