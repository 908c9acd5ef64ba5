//! The memory store: items in SQLite with their provenance, an FTS5 index for BM25, and each
//! item's embedding in the same row; recall ranks by both (hybrid retrieval).
//!
//! The functions here take a [`Connection`] (or a transaction) and do one thing each, so the
//! kernel can run a write in the same transaction as the journal step that asked for it. Ids are
//! given by the caller (`<run>.<seq>`): writing the same item twice (a resumed run that repeats
//! a step whose journal entry was lost with it) changes nothing.
//!
//! Scoring after Mem0 (Chhikara et al., 2025), semantic plus squashed BM25: `score = (max(cosine,
//! 0) + bm25 / (1 + bm25)) / 2`, where `bm25` is FTS5's score negated (higher is better) and 0
//! for an item that shares no term with the query. Every item of the searched scopes is scored
//! by cosine (exact search: memory holds thousands of items, not millions), so an item found
//! only by meaning is found as well as one found by words.

use crate::MemoryError;
use agentos_core::{MemoryItem, Recalled, Trust};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// The schema of the memory tables: one migration, applied by whoever owns the database.
pub const SCHEMA: &str = r#"
CREATE TABLE memories (
    key           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    scope         TEXT NOT NULL,
    text          TEXT NOT NULL,
    trust         TEXT NOT NULL CHECK (trust IN ('trusted', 'untrusted')),
    source        TEXT NOT NULL,
    run           TEXT NOT NULL,
    agent         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    superseded_at TEXT,
    superseded_by TEXT,
    encoder       TEXT NOT NULL,
    embedding     BLOB NOT NULL
);
CREATE INDEX memories_by_scope ON memories(scope, superseded_at);
CREATE VIRTUAL TABLE memories_fts USING fts5(text, content = 'memories', content_rowid = 'key', tokenize = 'porter unicode61');
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, text) VALUES (new.key, new.text);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.key, old.text);
END;
"#;

/// Words that carry no topic, left out of lexical queries (here and in the action library's
/// BM25).
pub const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "in", "is", "it", "its", "me", "of", "on", "or",
    "the", "this", "that", "to", "what", "which", "with",
];

/// The longest text one item may hold, in bytes.
pub const MAX_TEXT: usize = 8 * 1024;

/// The most items one recall may ask for.
pub const MAX_K: usize = 50;

/// Whose memory an item is in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A run's working memory: gone from recall when another run asks (it names its own run).
    Run(String),
    /// An agent's long-term memory, across its runs.
    Agent(String),
    /// A person's long-term memory, across every run made for them.
    Person(String),
    /// A team's shared memory, named by its team run: its members' and its own.
    Team(String),
}

impl Scope {
    /// Reads `run:<id>`, `agent:<name>`, `person:<name>` or `team:<team run id>`; anything else
    /// is refused naming the forms.
    pub fn parse(text: &str) -> Result<Scope, MemoryError> {
        let unknown = |why: &str| MemoryError::UnknownScope { scope: text.to_string(), why: why.to_string() };
        let (kind, name) = text.split_once(':').ok_or_else(|| unknown("it has no `:`"))?;
        let name = name.trim();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(unknown("its name must be 1 to 200 printable characters"));
        }
        match kind {
            "run" => Ok(Scope::Run(name.to_string())),
            "agent" => Ok(Scope::Agent(name.to_string())),
            "person" => Ok(Scope::Person(name.to_string())),
            "team" => Ok(Scope::Team(name.to_string())),
            _ => Err(unknown("the kind must be run, agent, person or team")),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Run(id) => write!(f, "run:{id}"),
            Scope::Agent(name) => write!(f, "agent:{name}"),
            Scope::Person(name) => write!(f, "person:{name}"),
            Scope::Team(id) => write!(f, "team:{id}"),
        }
    }
}

/// Checks a text before it is embedded or stored: not blank, at most [`MAX_TEXT`] bytes.
pub fn check_text(what: &'static str, text: &str) -> Result<(), MemoryError> {
    if text.trim().is_empty() {
        return Err(MemoryError::Empty { what });
    }
    if text.len() > MAX_TEXT {
        return Err(MemoryError::TooLarge { what, bytes: text.len(), limit: MAX_TEXT });
    }
    Ok(())
}

/// Checks how many items a recall asks for: 1 to [`MAX_K`].
pub fn check_k(k: usize) -> Result<(), MemoryError> {
    if k == 0 || k > MAX_K {
        return Err(MemoryError::BadK { k, limit: MAX_K });
    }
    Ok(())
}

/// An item to write, with the embedding of its text.
pub struct NewItem<'a> {
    /// The item (its `superseded_*` fields are ignored).
    pub item: &'a MemoryItem,
    /// The encoder's name.
    pub encoder: &'a str,
    /// The embedding of `item.text`, L2-normalised.
    pub embedding: &'a [f32],
}

/// Stores `new`, unless an item with its id is there already (then nothing changes). Returns
/// whether it was written.
pub fn insert(conn: &Connection, new: &NewItem<'_>) -> rusqlite::Result<bool> {
    let item = new.item;
    let sql = "INSERT INTO memories (id, scope, text, trust, source, run, agent, created_at, encoder, embedding) \
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING";
    let written = conn.prepare_cached(sql)?.execute(params![
        item.id,
        item.scope,
        item.text,
        item.trust.as_str(),
        item.source,
        item.run,
        item.agent,
        item.created_at,
        new.encoder,
        to_bytes(new.embedding),
    ])?;
    Ok(written == 1)
}

/// Marks item `old` superseded by `new` at `new`'s time and stores `new` (in the old item's
/// scope, whatever `new.item.scope` says). Returns the old item as it was, or `None` when there
/// is no current item `old` (then nothing is written).
pub fn supersede(conn: &Connection, old: &str, new: &NewItem<'_>) -> rusqlite::Result<Option<MemoryItem>> {
    let Some(previous) = get(conn, old)? else { return Ok(None) };
    if previous.superseded_at.is_some() && previous.superseded_by.as_deref() != Some(new.item.id.as_str()) {
        return Ok(None);
    }
    let item = MemoryItem { scope: previous.scope.clone(), ..new.item.clone() };
    insert(conn, &NewItem { item: &item, ..*new })?;
    conn.prepare_cached("UPDATE memories SET superseded_at = ?2, superseded_by = ?3 WHERE id = ?1")?.execute(params![
        old,
        item.created_at,
        item.id
    ])?;
    Ok(Some(previous))
}

/// Deletes item `id` and the older versions it superseded. Returns whether it was there.
pub fn delete(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    if get(conn, id)?.is_none() {
        return Ok(false);
    }
    let mut ids = vec![id.to_string()];
    let mut older = conn.prepare_cached("SELECT id FROM memories WHERE superseded_by = ?1")?;
    let mut index = 0;
    while index < ids.len() {
        let found: Vec<String> = older.query_map([&ids[index]], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        ids.extend(found);
        index += 1;
    }
    for id in &ids {
        conn.prepare_cached("DELETE FROM memories WHERE id = ?1")?.execute([id])?;
    }
    Ok(true)
}

const COLUMNS: &str = "id, scope, text, trust, source, run, agent, created_at, superseded_at, superseded_by";

fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MemoryItem> {
    Ok(MemoryItem {
        id: r.get(0)?,
        scope: r.get(1)?,
        text: r.get(2)?,
        trust: Trust::from_stored(&r.get::<_, String>(3)?),
        source: r.get(4)?,
        run: r.get(5)?,
        agent: r.get(6)?,
        created_at: r.get(7)?,
        superseded_at: r.get(8)?,
        superseded_by: r.get(9)?,
    })
}

/// Item `id`, current or superseded.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<MemoryItem>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM memories WHERE id = ?1"))?.query_row([id], item_row).optional()
}

/// The items of `scope` (every scope when `None`), oldest first; superseded ones only when
/// `history`.
pub fn list(conn: &Connection, scope: Option<&str>, history: bool) -> rusqlite::Result<Vec<MemoryItem>> {
    let sql = format!("SELECT {COLUMNS} FROM memories WHERE (?1 IS NULL OR scope = ?1) AND (?2 OR superseded_at IS NULL) ORDER BY key");
    let items = conn.prepare_cached(&sql)?.query_map(params![scope, history], item_row)?.collect();
    items
}

/// What to recall.
pub struct Query<'a> {
    /// The scopes to search (as [`Scope`] prints them).
    pub scopes: &'a [String],
    /// The query's text.
    pub text: &'a str,
    /// The query's embedding, L2-normalised.
    pub embedding: &'a [f32],
    /// At most this many items.
    pub k: usize,
    /// Whether untrusted items may be returned.
    pub untrusted: bool,
}

/// The current items of the query's scopes, best first by the hybrid score, at most `k`; an
/// item that neither shares a term with the query nor has a positive cosine is not returned.
/// Ties go to the newer item.
pub fn search(conn: &Connection, query: &Query<'_>) -> rusqlite::Result<Vec<Recalled>> {
    let bm25 = lexical(conn, query)?;
    let mut found = Vec::new();
    for scope in query.scopes {
        let sql = format!("SELECT {COLUMNS}, key, embedding FROM memories WHERE scope = ?1 AND superseded_at IS NULL");
        let mut statement = conn.prepare_cached(&sql)?;
        let mut rows = statement.query([scope])?;
        while let Some(row) = rows.next()? {
            let item = item_row(row)?;
            if item.trust == Trust::Untrusted && !query.untrusted {
                continue;
            }
            let key: i64 = row.get(10)?;
            let embedding = from_bytes(&row.get::<_, Vec<u8>>(11)?);
            let cosine = dot(&embedding, query.embedding);
            let lexical = bm25.get(&key).copied().unwrap_or(0.0);
            if cosine <= 0.0 && lexical <= 0.0 {
                continue;
            }
            let score = (cosine.max(0.0) + lexical / (1.0 + lexical)) / 2.0;
            found.push((key, Recalled { item, score, cosine, bm25: lexical }));
        }
    }
    found.sort_by(|(ka, a), (kb, b)| b.score.total_cmp(&a.score).then(kb.cmp(ka)));
    Ok(found.into_iter().take(query.k).map(|(_, r)| r).collect())
}

/// FTS5's BM25 of every item sharing a term with the query, negated (higher is better), by key.
fn lexical(conn: &Connection, query: &Query<'_>) -> rusqlite::Result<HashMap<i64, f32>> {
    let terms: Vec<String> = query
        .text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|t| !t.is_empty() && !STOP_WORDS.contains(&t.as_str()))
        .map(|t| format!("\"{t}\""))
        .collect();
    if terms.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = "SELECT rowid, -bm25(memories_fts) FROM memories_fts WHERE memories_fts MATCH ?1";
    let scores =
        conn.prepare_cached(sql)?.query_map([terms.join(" OR ")], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)? as f32)))?.collect();
    scores
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}
