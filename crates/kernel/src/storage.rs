//! Storage: one SQLite file holding runs, steps, events and usage, with versioned migrations.
//!
//! Every write is a transaction. Writes go to one writer thread that commits them in groups (group
//! commit): each caller is answered only after the transaction holding its write has committed,
//! so a caller that was answered never loses its write, and a thousand agents writing at once cost
//! a handful of commits instead of a thousand. The database runs in WAL mode, so a process killed
//! with SIGKILL keeps every committed transaction.

use agentos_core::{RunId, Step, StepKind, Usage};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio::sync::oneshot;

/// The migrations, in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE runs (
    id         TEXT PRIMARY KEY,
    task       TEXT NOT NULL,
    strategy   TEXT NOT NULL,
    model      TEXT NOT NULL,
    spec       TEXT NOT NULL,
    status     TEXT NOT NULL,
    output     TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE steps (
    run_id      TEXT NOT NULL REFERENCES runs(id),
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    request     TEXT NOT NULL,
    result      TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs(id),
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE usage (
    run_id        TEXT NOT NULL REFERENCES runs(id),
    seq           INTEGER NOT NULL,
    model         TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd      REAL NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX runs_by_time ON runs(created_at);
"#];

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// SQLite refused the operation.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database's folder could not be created.
    #[error("cannot create the folder for database {path}: {source}")]
    Io {
        /// The database file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A group transaction failed to commit; none of its writes landed.
    #[error("database {path}: transaction failed, nothing was written: {reason}")]
    Transaction {
        /// The database file.
        path: String,
        /// SQLite's error.
        reason: String,
    },
    /// The database was written by a newer agentos.
    #[error("database {path} has schema version {found}, newer than this agentos knows ({known}); upgrade agentos")]
    TooNew {
        /// The database file.
        path: String,
        /// Its schema version.
        found: usize,
        /// The newest this build knows.
        known: usize,
    },
    /// A stored row does not decode.
    #[error("database {path}: corrupt row in {table}: {reason}")]
    Corrupt {
        /// The database file.
        path: String,
        /// Which table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No run has this id.
    #[error("no run `{0}` in the database; `agentos runs list` shows the runs there are")]
    UnknownRun(String),
    /// The writer thread is gone (the process is shutting down).
    #[error("the database writer has stopped")]
    WriterGone,
}

/// One run as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// The task.
    pub task: String,
    /// The strategy's name.
    pub strategy: String,
    /// The model URI.
    pub model: String,
    /// The full run spec as JSON, enough to resume it.
    pub spec: Value,
    /// `running`, `suspended`, `finished`, `failed` or `cancelled`.
    pub status: String,
    /// The answer or the error, once the run ended.
    pub output: Option<String>,
    /// When it started (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

enum Write {
    CreateRun(RunRecord),
    Step { run: RunId, step: Step, model: Option<(String, Usage)> },
    Event { run: RunId, kind: String, payload: Value },
    Status { run: RunId, status: String, output: Option<String> },
}

struct Job {
    write: Write,
    done: oneshot::Sender<Result<(), StorageError>>,
}

/// Handle to the database. Cheap to clone; all clones share one writer thread.
#[derive(Clone)]
pub struct Storage {
    path: Arc<PathBuf>,
    writer: mpsc::Sender<Job>,
    reader: Arc<Mutex<Connection>>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Storage {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        let display = path.display().to_string();
        let sql = |source| StorageError::Sqlite { path: display.clone(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StorageError::Io { path: display.clone(), source })?;
        }
        let mut conn = Connection::open(&path).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql)?;
        migrate(&mut conn, &display)?;
        let reader = Connection::open(&path).map_err(sql)?;
        reader.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql)?;
        let (writer, jobs) = mpsc::channel();
        let thread_path = display.clone();
        std::thread::Builder::new()
            .name("agentos-db-writer".into())
            .spawn(move || write_loop(conn, jobs, thread_path))
            .expect("spawn the database writer thread");
        Ok(Storage { path: Arc::new(path), writer, reader: Arc::new(Mutex::new(reader)) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write(&self, write: Write) -> Result<(), StorageError> {
        let (done, wait) = oneshot::channel();
        self.writer.send(Job { write, done }).map_err(|_| StorageError::WriterGone)?;
        wait.await.map_err(|_| StorageError::WriterGone)?
    }

    /// Records a new run.
    pub async fn create_run(&self, record: RunRecord) -> Result<(), StorageError> {
        self.write(Write::CreateRun(record)).await
    }

    /// Journals one step (and, for a model step, its usage) in one transaction. Fails if the run
    /// already has a step at that position: a step is never recorded twice.
    pub async fn record_step(&self, run: &RunId, step: Step, model_usage: Option<(String, Usage)>) -> Result<(), StorageError> {
        self.write(Write::Step { run: run.clone(), step, model: model_usage }).await
    }

    /// Records an event of a run.
    pub async fn record_event(&self, run: &RunId, kind: &str, payload: Value) -> Result<(), StorageError> {
        self.write(Write::Event { run: run.clone(), kind: kind.to_string(), payload }).await
    }

    /// Sets a run's status and, when it ended, its output.
    pub async fn set_status(&self, run: &RunId, status: &str, output: Option<String>) -> Result<(), StorageError> {
        self.write(Write::Status { run: run.clone(), status: status.to_string(), output }).await
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StorageError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn).map_err(|source| StorageError::Sqlite { path: self.path.display().to_string(), source })
    }

    /// One run, or [`StorageError::UnknownRun`].
    pub fn run(&self, id: &str) -> Result<RunRecord, StorageError> {
        let found = self.read(|c| c.query_row(&format!("{RUN_COLUMNS} WHERE id = ?1"), [id], run_row).optional())?;
        let row = found.ok_or_else(|| StorageError::UnknownRun(id.to_string()))?;
        self.decode_run(row)
    }

    /// The newest `limit` runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StorageError> {
        let rows = self.read(|c| {
            let mut stmt = c.prepare(&format!("{RUN_COLUMNS} ORDER BY created_at DESC, id DESC LIMIT ?1"))?;
            let rows = stmt.query_map([limit as i64], run_row)?.collect::<rusqlite::Result<Vec<_>>>();
            rows
        })?;
        rows.into_iter().map(|r| self.decode_run(r)).collect()
    }

    /// Every step of a run, in journal order.
    pub fn steps(&self, run: &RunId) -> Result<Vec<Step>, StorageError> {
        let rows = self.read(|c| {
            let mut stmt = c.prepare("SELECT seq, kind, request, result, duration_ms FROM steps WHERE run_id = ?1 ORDER BY seq")?;
            let rows = stmt
                .query_map([run.as_str()], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>();
            rows
        })?;
        rows.into_iter()
            .map(|(seq, kind, request, result, duration_ms)| {
                let kind = decode_step(&kind, &request, &result)
                    .map_err(|reason| self.corrupt("steps", format!("run {run} step {seq}: {reason}")))?;
                Ok(Step { seq: seq as u64, kind, duration_ms: duration_ms as u64 })
            })
            .collect()
    }

    /// Total usage of a run.
    pub fn usage(&self, run: &RunId) -> Result<Usage, StorageError> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), COUNT(*), COALESCE(SUM(cost_usd),0.0) FROM usage WHERE run_id = ?1",
                [run.as_str()],
                |r| Ok(Usage { input_tokens: r.get::<_, i64>(0)? as u64, output_tokens: r.get::<_, i64>(1)? as u64, model_calls: r.get::<_, i64>(2)? as u64, cost_usd: r.get(3)? }),
            )
        })
    }

    /// The events of a run, oldest first, as (kind, payload).
    pub fn events(&self, run: &RunId) -> Result<Vec<(String, Value)>, StorageError> {
        let rows = self.read(|c| {
            let mut stmt = c.prepare("SELECT kind, payload FROM events WHERE run_id = ?1 ORDER BY id")?;
            let rows = stmt
                .query_map([run.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>();
            rows
        })?;
        rows.into_iter().map(|(k, p)| serde_json::from_str(&p).map(|v| (k, v)).map_err(|e| self.corrupt("events", e.to_string()))).collect()
    }

    fn corrupt(&self, table: &'static str, reason: String) -> StorageError {
        StorageError::Corrupt { path: self.path.display().to_string(), table, reason }
    }

    fn decode_run(&self, r: RawRun) -> Result<RunRecord, StorageError> {
        let spec = serde_json::from_str(&r.spec).map_err(|e| self.corrupt("runs", format!("run {}: spec: {e}", r.id)))?;
        Ok(RunRecord {
            id: RunId(r.id),
            task: r.task,
            strategy: r.strategy,
            model: r.model,
            spec,
            status: r.status,
            output: r.output,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const RUN_COLUMNS: &str = "SELECT id, task, strategy, model, spec, status, output, created_at, updated_at FROM runs";

struct RawRun {
    id: String,
    task: String,
    strategy: String,
    model: String,
    spec: String,
    status: String,
    output: Option<String>,
    created_at: String,
    updated_at: String,
}

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: r.get(0)?,
        task: r.get(1)?,
        strategy: r.get(2)?,
        model: r.get(3)?,
        spec: r.get(4)?,
        status: r.get(5)?,
        output: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

/// Splits a step into the (request, result) JSON pair the `steps` table stores.
fn encode_step(kind: &StepKind) -> (String, String) {
    let pair = match kind {
        StepKind::Model { request, response } => (serde_json::to_string(request), serde_json::to_string(response)),
        StepKind::Tool { call, result } => (serde_json::to_string(call), serde_json::to_string(result)),
        StepKind::AskUser { question, answer } => (serde_json::to_string(question), serde_json::to_string(answer)),
    };
    (pair.0.expect("step request serializes"), pair.1.expect("step result serializes"))
}

fn decode_step(kind: &str, request: &str, result: &str) -> Result<StepKind, String> {
    fn de<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
    match kind {
        "model" => Ok(StepKind::Model { request: de(request)?, response: de(result)? }),
        "tool" => Ok(StepKind::Tool { call: de(request)?, result: de(result)? }),
        "ask_user" => Ok(StepKind::AskUser { question: de(request)?, answer: de(result)? }),
        other => Err(format!("unknown step kind `{other}`")),
    }
}

fn migrate(conn: &mut Connection, path: &str) -> Result<(), StorageError> {
    let sql = |source| StorageError::Sqlite { path: path.to_string(), source };
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)).map_err(sql)? as usize;
    if version > MIGRATIONS.len() {
        return Err(StorageError::TooNew { path: path.to_string(), found: version, known: MIGRATIONS.len() });
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().map_err(sql)?;
        tx.execute_batch(migration).map_err(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(sql)?;
        tx.commit().map_err(sql)?;
    }
    Ok(())
}

fn apply(conn: &Connection, write: &Write) -> rusqlite::Result<()> {
    match write {
        Write::CreateRun(r) => {
            conn.prepare_cached("INSERT INTO runs (id, task, strategy, model, spec, status, output, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)")?
                .execute(params![r.id.as_str(), r.task, r.strategy, r.model, r.spec.to_string(), r.status, r.output, r.created_at])?;
        }
        Write::Step { run, step, model } => {
            let (request, result) = encode_step(&step.kind);
            conn.prepare_cached(
                "INSERT INTO steps (run_id, seq, kind, request, result, duration_ms, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                run.as_str(),
                step.seq as i64,
                step.kind.name(),
                request,
                result,
                step.duration_ms as i64,
                now()
            ])?;
            if let Some((model, u)) = model {
                conn.prepare_cached(
                    "INSERT INTO usage (run_id, seq, model, input_tokens, output_tokens, cost_usd) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    run.as_str(),
                    step.seq as i64,
                    model,
                    u.input_tokens as i64,
                    u.output_tokens as i64,
                    u.cost_usd
                ])?;
            }
        }
        Write::Event { run, kind, payload } => {
            conn.prepare_cached("INSERT INTO events (run_id, kind, payload, created_at) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
                run.as_str(),
                kind,
                payload.to_string(),
                now()
            ])?;
        }
        Write::Status { run, status, output } => {
            let changed = conn
                .prepare_cached("UPDATE runs SET status = ?2, output = COALESCE(?3, output), updated_at = ?4 WHERE id = ?1")?
                .execute(params![run.as_str(), status, output, now()])?;
            if changed == 0 {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
        }
    }
    Ok(())
}

/// The writer thread: takes every job that is waiting, applies each under its own savepoint inside
/// one transaction (so one bad write fails alone), commits, then answers each caller.
fn write_loop(mut conn: Connection, jobs: mpsc::Receiver<Job>, path: String) {
    const GROUP: usize = 4096;
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let sql = |source| StorageError::Sqlite { path: path.clone(), source };
        let outcome = (|| -> rusqlite::Result<Vec<rusqlite::Result<()>>> {
            let tx = conn.transaction()?;
            let mut results = Vec::with_capacity(group.len());
            for job in &group {
                tx.execute_batch("SAVEPOINT w")?;
                let r = apply(&tx, &job.write);
                tx.execute_batch(if r.is_ok() { "RELEASE w" } else { "ROLLBACK TO w; RELEASE w" })?;
                results.push(r);
            }
            tx.commit()?;
            Ok(results)
        })();
        match outcome {
            Ok(results) => {
                for (job, r) in group.into_iter().zip(results) {
                    let r = r.map_err(|e| match (&job.write, e) {
                        (Write::Status { run, .. }, rusqlite::Error::QueryReturnedNoRows) => StorageError::UnknownRun(run.to_string()),
                        (_, e) => sql(e),
                    });
                    let _ = job.done.send(r);
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for job in group {
                    let _ = job.done.send(Err(StorageError::Transaction { path: path.clone(), reason: reason.clone() }));
                }
            }
        }
    }
}

impl RunRecord {
    /// A new record for a run that starts now, with status `running`.
    pub fn starting(id: RunId, task: &str, strategy: &str, model: &str, spec: Value) -> Self {
        let t = now();
        RunRecord {
            id,
            task: task.into(),
            strategy: strategy.into(),
            model: model.into(),
            spec,
            status: "running".into(),
            output: None,
            created_at: t.clone(),
            updated_at: t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentos_core::{ToolCall, ToolResult};

    fn tool_step(seq: u64) -> Step {
        let call = ToolCall { id: format!("c{seq}"), name: "calculator".into(), arguments: serde_json::json!({"expression": "1+1"}) };
        Step { seq, kind: StepKind::Tool { result: ToolResult::ok(&call, "2"), call }, duration_ms: 1 }
    }

    #[tokio::test]
    async fn journals_steps_and_refuses_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let db = Storage::open(dir.path().join("a.db")).unwrap();
        let run = RunId::new();
        db.create_run(RunRecord::starting(run.clone(), "t", "react", "scripted:x", serde_json::json!({}))).await.unwrap();
        db.record_step(&run, tool_step(0), None).await.unwrap();
        db.record_step(&run, tool_step(1), None).await.unwrap();
        assert!(db.record_step(&run, tool_step(1), None).await.is_err(), "a second step 1 must be refused");
        let steps = db.steps(&run).unwrap();
        assert_eq!(steps, vec![tool_step(0), tool_step(1)]);
        db.set_status(&run, "finished", Some("2".into())).await.unwrap();
        assert_eq!(db.run(run.as_str()).unwrap().status, "finished");
        assert!(matches!(db.set_status(&RunId::from("nope"), "x", None).await, Err(StorageError::UnknownRun(_))));
    }

    #[tokio::test]
    async fn many_concurrent_writers_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let db = Storage::open(dir.path().join("a.db")).unwrap();
        let run = RunId::new();
        db.create_run(RunRecord::starting(run.clone(), "t", "react", "m", serde_json::json!({}))).await.unwrap();
        let writes = (0..500).map(|i| {
            let db = db.clone();
            let run = run.clone();
            tokio::spawn(async move { db.record_step(&run, tool_step(i), None).await })
        });
        for w in futures::future::join_all(writes).await {
            w.unwrap().unwrap();
        }
        assert_eq!(Storage::open(dir.path().join("a.db")).unwrap().steps(&run).unwrap().len(), 500);
    }

    #[test]
    fn refuses_a_database_from_the_future() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = Storage::open(&path).err().unwrap().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }
}
