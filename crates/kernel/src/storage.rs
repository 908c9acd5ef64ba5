//! Storage: one SQLite file holding runs, steps, events and usage, with versioned migrations.
//!
//! Every write is a transaction. Writes are committed in groups (group commit, see [`Committer`]):
//! each caller is answered only after the transaction holding its write has committed, so a caller
//! that was answered never loses its write, and a thousand agents writing at once cost a handful
//! of commits instead of a thousand. The database runs in WAL mode, so a process killed with
//! SIGKILL keeps every committed transaction; checkpoints run on a thread of their own.
//!
//! A live run is leased to the storage handle that drives it (see [`crate::lease`]): taken when
//! the run is created or resumed, renewed while it runs, given back when it ends, and required for
//! every step written.

use crate::lease::{self, Holder, Lease};
use agentos_core::{ChatRequest, Message, RunEvent, RunId, Sampling, Step, StepKind, ToolSpec, Usage};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use thiserror::Error;
use tokio::sync::oneshot;

/// The migrations, in order; `PRAGMA user_version` records how many have run.
///
/// Steps and events refer to their run by its integer key, not its text id: with a thousand runs
/// writing at once, every commit inserts into the `(run, seq)` index at many places, and small
/// keys keep the pages it rewrites few. A model step's usage is stored on the step itself;
/// `usage` is a view over them.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    key        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    task       TEXT NOT NULL,
    strategy   TEXT NOT NULL,
    model      TEXT NOT NULL,
    spec       TEXT NOT NULL,
    status     TEXT NOT NULL,
    output     TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX runs_by_time ON runs(created_at);
CREATE TABLE steps (
    run           INTEGER NOT NULL REFERENCES runs(key),
    seq           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    request       TEXT NOT NULL,
    result        TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    model         TEXT,
    input_tokens  INTEGER,
    output_tokens INTEGER,
    cost_usd      REAL,
    UNIQUE (run, seq)
);
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    run        INTEGER NOT NULL REFERENCES runs(key),
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX events_by_run ON events(run);
CREATE VIEW usage AS
    SELECT runs.id AS run_id, steps.seq, steps.model, steps.input_tokens, steps.output_tokens, steps.cost_usd, steps.created_at
    FROM steps JOIN runs ON runs.key = steps.run
    WHERE steps.kind = 'model';
"#,
    r#"
-- The gym's benchmarks (crate::benchmarks). An episode's reward is NULL until its run has ended;
-- its usage is its run's, read through `run`, never copied.
CREATE TABLE benchmarks (
    key        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    spec       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE episodes (
    key        INTEGER PRIMARY KEY,
    benchmark  INTEGER NOT NULL REFERENCES benchmarks(key),
    strategy   TEXT NOT NULL,
    task       TEXT NOT NULL,
    run        INTEGER NOT NULL REFERENCES runs(key),
    reward     REAL,
    info       TEXT,
    wall_ms    INTEGER,
    updated_at TEXT NOT NULL,
    UNIQUE (benchmark, strategy, task)
);
"#,
    r#"
-- The action library (crate::actions): top-level functions agents wrote in the code cells of
-- runs that finished, one per name (a newer definition replaces the older). `uses` counts the runs
-- that were offered the function and called it, `successes` those of them that finished;
-- `action_uses` holds one row per run the function was offered to.
CREATE TABLE actions (
    key         INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    signature   TEXT NOT NULL,
    docstring   TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_run TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    uses        INTEGER NOT NULL DEFAULT 0,
    successes   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE action_uses (
    action    INTEGER NOT NULL REFERENCES actions(key) ON DELETE CASCADE,
    run       INTEGER NOT NULL REFERENCES runs(key),
    called    INTEGER NOT NULL,
    succeeded INTEGER NOT NULL,
    PRIMARY KEY (action, run)
);
"#,
    r#"
-- Leases on live runs (crate::lease): who drives the run (`host/pid/token`), since when, and when
-- the lease expires unless renewed (Unix ms). NULL when no process drives it.
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_since TEXT;
ALTER TABLE runs ADD COLUMN lease_expires INTEGER;
CREATE INDEX runs_by_lease_owner ON runs(lease_owner) WHERE lease_owner IS NOT NULL;
"#,
    r#"
-- `agentos runs list` tells gym episodes from runs started on their own by their run.
CREATE INDEX episodes_by_run ON episodes(run);
"#,
    // The memory store's tables (agentos-memory owns their shape).
    agentos_memory::store::SCHEMA,
    // The pinned memory blocks (agentos-memory owns their shape).
    agentos_memory::blocks::SCHEMA,
    // Teams: their members and their board (crate::team).
    crate::team::SCHEMA,
];

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
    /// Another live process drives the run.
    #[error(
        "run {run} is being driven by process {pid} on {host} since {since}; wait for it to end, or stop it there (Ctrl-C) and resume it then",
        pid = .holder.pid, host = .holder.host
    )]
    Held {
        /// The run.
        run: String,
        /// Who holds its lease.
        holder: Holder,
        /// Since when (RFC 3339).
        since: String,
    },
    /// This handle no longer holds the run's lease: another process took it over after it
    /// expired, so this one must stop driving the run.
    #[error("run {0} was taken over by another process (this one lost its lease); it stops here, the other carries it on")]
    LeaseLost(String),
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
    /// `running`, `suspended`, `interrupted`, `finished`, `failed` or `cancelled`. A run stored
    /// as `running` whose lease is not live (its process died) reads as `interrupted`.
    pub status: String,
    /// The answer or the error, once the run ended.
    pub output: Option<String>,
    /// When it started (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Who drives it now, if a process does (see [`crate::lease`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

enum Write {
    CreateRun(RunRecord),
    /// A member run of a team, recorded with its seat in the team (`team_members`).
    CreateMember {
        record: RunRecord,
        team: RunId,
        member: String,
    },
    /// A step, already encoded (by the caller's thread, not the writer's).
    Step {
        run: RunId,
        seq: u64,
        kind: &'static str,
        request: String,
        result: String,
        duration_ms: u64,
        model: Option<(String, Usage)>,
    },
    Event {
        run: RunId,
        kind: String,
        payload: Value,
    },
    /// How the run ended; gives its lease back.
    Status {
        run: RunId,
        status: String,
        output: Option<String>,
    },
    /// Takes the run's lease if its holder is still `expected`, sets it `running` and records
    /// `event` as a status event; with `spec`, also replaces its spec.
    Acquire {
        run: String,
        expected: Option<String>,
        spec: Option<String>,
        event: Value,
    },
    /// Statements of another part of the crate (see [`Storage::write_with`]), applied in a
    /// savepoint so that they land together or not at all.
    With(Box<Statements>),
    /// A step (a [`Write::Step`]) and the statements that did what it records, in one savepoint.
    StepWith(Box<Write>, Box<Statements>),
}

impl Write {
    /// The id of the run a write is about, where it is about one.
    fn run(&self) -> Option<&str> {
        match self {
            Write::CreateRun(r) | Write::CreateMember { record: r, .. } => Some(r.id.as_str()),
            Write::Step { run, .. } | Write::Event { run, .. } | Write::Status { run, .. } => Some(run.as_str()),
            Write::Acquire { run, .. } => Some(run),
            Write::StepWith(step, _) => step.run(),
            Write::With(_) => None,
        }
    }
}

/// Writes that another module of the crate applies to a connection, as one unit.
type Statements = dyn Fn(&Connection) -> rusqlite::Result<()> + Send;

struct Job {
    write: Write,
    done: oneshot::Sender<Result<(), StorageError>>,
}

/// Handle to the database. Cheap to clone; all clones share one write connection.
#[derive(Clone)]
pub struct Storage {
    path: Arc<PathBuf>,
    committer: Arc<Committer>,
    reader: Arc<Mutex<Connection>>,
    /// This handle's identity as the holder of run leases.
    holder: Arc<Holder>,
    /// Stops the lease renewal thread when the last clone goes; started with the first lease.
    renewal: Arc<OnceLock<mpsc::Sender<()>>>,
}

/// The write that journals `step`.
fn step_write(run: &RunId, step: &Step, model: Option<(String, Usage)>, base: Option<(u64, &ChatRequest)>) -> Write {
    let (request, result) = encode_step(&step.kind, base);
    Write::Step { run: run.clone(), seq: step.seq, kind: step.kind.name(), request, result, duration_ms: step.duration_ms, model }
}

/// The time now, as every table stores it (RFC 3339, UTC, microseconds).
pub(crate) fn now() -> String {
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
        // Checkpoints copy the WAL back into the database file and fsync it: slow, so they run on
        // their own thread and connection, never between a writer and its answer.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(sql)?;
        let checkpointer = Connection::open(&path).map_err(sql)?;
        let (committed, commits) = mpsc::channel();
        let holder = Holder::this_process();
        let committer =
            Committer { queue: Mutex::new(Vec::new()), conn: Mutex::new(conn), committed, path: display.clone(), owner: holder.key() };
        std::thread::Builder::new()
            .name("agentos-db-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, commits))
            .expect("spawn the database checkpoint thread");
        Ok(Storage {
            path: Arc::new(path),
            committer: Arc::new(committer),
            reader: Arc::new(Mutex::new(reader)),
            holder: Arc::new(holder),
            renewal: Arc::new(OnceLock::new()),
        })
    }

    /// Who this handle is, as the holder of the leases of the runs it drives.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Starts renewing this handle's leases, once.
    fn renew_leases(&self) -> Result<(), StorageError> {
        if self.renewal.get().is_some() {
            return Ok(());
        }
        let conn = Connection::open(self.path.as_ref())
            .map_err(|source| StorageError::Sqlite { path: self.path.display().to_string(), source })?;
        let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
        let (stop, stopped) = mpsc::channel();
        if self.renewal.set(stop).is_ok() {
            let owner = self.holder.key();
            std::thread::Builder::new()
                .name("agentos-lease-renewal".into())
                .spawn(move || lease::renew_loop(conn, owner, stopped))
                .expect("spawn the lease renewal thread");
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write(&self, write: Write) -> Result<(), StorageError> {
        let (done, wait) = oneshot::channel();
        self.committer.submit(Job { write, done });
        wait.await.expect("every queued write is answered")
    }

    /// Records a new run, leased to this handle.
    pub async fn create_run(&self, record: RunRecord) -> Result<(), StorageError> {
        self.renew_leases()?;
        self.write(Write::CreateRun(record)).await
    }

    /// Records a new member run of team run `team`, leased to this handle, together with its
    /// seat (`member`, its name in the team): both land or neither does.
    pub async fn create_member(&self, record: RunRecord, team: &RunId, member: &str) -> Result<(), StorageError> {
        self.renew_leases()?;
        self.write(Write::CreateMember { record, team: team.clone(), member: member.to_string() }).await
    }

    /// Takes the lease of a run that is not live (suspended, interrupted, failed, or whose
    /// process died) for this handle, marks it `running` and records that it resumed; with
    /// `spec`, the run's spec is replaced in the same transaction and `changes` says what
    /// changed. Fails with [`StorageError::Held`] while another live process drives it.
    pub async fn acquire(&self, run: &str, spec: Option<Value>, changes: Value) -> Result<RunRecord, StorageError> {
        let record = self.run(run)?;
        let expected = match &record.lease {
            Some(lease) if lease.holder != *self.holder && lease.live() => {
                return Err(StorageError::Held { run: run.to_string(), holder: lease.holder.clone(), since: lease.since.clone() })
            }
            lease => lease.as_ref().map(|l| l.holder.key()),
        };
        self.renew_leases()?;
        let event = serde_json::json!({ "status": "running", "resumed": true, "changes": changes });
        let spec = spec.map(|s| s.to_string());
        match self.write(Write::Acquire { run: record.id.to_string(), expected, spec, event }).await {
            // Another process took it between the read and the write.
            Err(StorageError::LeaseLost(_)) => match self.run(run)?.lease {
                Some(lease) => Err(StorageError::Held { run: run.to_string(), holder: lease.holder, since: lease.since }),
                None => Err(StorageError::LeaseLost(run.to_string())),
            },
            written => written.and_then(|()| self.run(run)),
        }
    }

    /// Journals one step (and, for a model step, its usage) in one transaction. Fails if the run
    /// already has a step at that position: a step is never recorded twice.
    ///
    /// A model request is stored as its difference from `base`, an earlier model step of the same
    /// run with a smaller position, when one is given: the messages it shares with that request
    /// are not stored again, so a run's journal grows with its conversation, not with its square.
    pub async fn record_step(
        &self,
        run: &RunId,
        step: &Step,
        model_usage: Option<(String, Usage)>,
        base: Option<(u64, &ChatRequest)>,
    ) -> Result<(), StorageError> {
        self.write(step_write(run, step, model_usage, base)).await
    }

    /// Journals one step (not a model step) together with `statements`, the writes it records
    /// (a memory item, say): both land or neither does.
    pub(crate) async fn record_step_with(
        &self,
        run: &RunId,
        step: &Step,
        statements: impl Fn(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> Result<(), StorageError> {
        self.write(Write::StepWith(Box::new(step_write(run, step, None, None)), Box::new(statements))).await
    }

    /// Runs `statements` in the next group transaction, as one unit: if one fails, none of them
    /// lands (the rest of the group is unaffected). For tables of other modules of this crate.
    pub(crate) async fn write_with(
        &self,
        statements: impl Fn(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> Result<(), StorageError> {
        self.write(Write::With(Box::new(statements))).await
    }

    /// Records an event of a run.
    pub async fn record_event(&self, run: &RunId, kind: &str, payload: Value) -> Result<(), StorageError> {
        self.write(Write::Event { run: run.clone(), kind: kind.to_string(), payload }).await
    }

    /// Sets a run's status and, when it ended, its output, records the change as a `status`
    /// event and gives the run's lease back, in one transaction. Fails with
    /// [`StorageError::LeaseLost`] when this handle does not hold the run's lease.
    pub async fn set_status(&self, run: &RunId, status: &str, output: Option<String>) -> Result<(), StorageError> {
        self.write(Write::Status { run: run.clone(), status: status.to_string(), output }).await
    }

    /// Runs `f` on the read connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StorageError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn).map_err(|source| StorageError::Sqlite { path: self.path.display().to_string(), source })
    }

    /// One run, or [`StorageError::UnknownRun`].
    pub fn run(&self, id: &str) -> Result<RunRecord, StorageError> {
        let found = self.read(|c| c.query_row(&format!("SELECT {RUN_FIELDS} FROM runs WHERE id = ?1"), [id], run_row).optional())?;
        let row = found.ok_or_else(|| StorageError::UnknownRun(id.to_string()))?;
        self.decode_run(row)
    }

    /// The newest `limit` runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StorageError> {
        Ok(self.runs_of(limit, RunOrigin::Any)?.into_iter().map(|(run, _)| run).collect())
    }

    /// The newest `limit` runs of `origin`, newest first, each with the id of the gym benchmark
    /// it is an episode of (`None` for a run started on its own).
    pub fn runs_of(&self, limit: usize, origin: RunOrigin) -> Result<Vec<(RunRecord, Option<String>)>, StorageError> {
        let filter = match origin {
            RunOrigin::Any => "",
            RunOrigin::Own => {
                "WHERE NOT EXISTS (SELECT 1 FROM episodes WHERE episodes.run = runs.key) \
                 AND NOT EXISTS (SELECT 1 FROM team_members WHERE team_members.run = runs.key)"
            }
            RunOrigin::Gym => "WHERE EXISTS (SELECT 1 FROM episodes WHERE episodes.run = runs.key)",
        };
        let rows = self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {RUN_FIELDS}, (SELECT b.id FROM episodes e JOIN benchmarks b ON b.key = e.benchmark WHERE e.run = runs.key LIMIT 1) \
                 FROM runs {filter} ORDER BY created_at DESC, id DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit as i64], |r| Ok((run_row(r)?, r.get::<_, Option<String>>(12)?)))?.collect::<rusqlite::Result<Vec<_>>>();
            rows
        })?;
        rows.into_iter().map(|(r, benchmark)| Ok((self.decode_run(r)?, benchmark))).collect()
    }

    /// Every step of a run, in journal order.
    pub fn steps(&self, run: &RunId) -> Result<Vec<Step>, StorageError> {
        let rows = self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT seq, kind, request, result, duration_ms FROM steps WHERE run = (SELECT key FROM runs WHERE id = ?1) ORDER BY seq",
            )?;
            let rows = stmt
                .query_map([run.as_str()], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>();
            rows
        })?;
        let mut requests = HashMap::new();
        let mut steps = Vec::with_capacity(rows.len());
        for (seq, kind, request, result, duration_ms) in rows {
            let kind = decode_step(&kind, &request, &result, &requests)
                .map_err(|reason| self.corrupt("steps", format!("run {run} step {seq}: {reason}")))?;
            if let StepKind::Model { request, .. } = &kind {
                requests.insert(seq as u64, request.clone());
            }
            steps.push(Step { seq: seq as u64, kind, duration_ms: duration_ms as u64 });
        }
        Ok(steps)
    }

    /// Total usage of a run: of its model steps, and for a team run its members' too.
    pub fn usage(&self, run: &RunId) -> Result<Usage, StorageError> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), COUNT(*), COALESCE(SUM(cost_usd),0.0) FROM usage \
                 WHERE run_id = ?1 OR run_id IN (SELECT m.id FROM team_members tm JOIN runs m ON m.key = tm.run \
                                                 WHERE tm.team = (SELECT key FROM runs WHERE id = ?1))",
                [run.as_str()],
                |r| {
                    Ok(Usage {
                        input_tokens: r.get::<_, i64>(0)? as u64,
                        output_tokens: r.get::<_, i64>(1)? as u64,
                        model_calls: r.get::<_, i64>(2)? as u64,
                        cost_usd: r.get(3)?,
                    })
                },
            )
        })
    }

    /// The events of a run, oldest first, as (kind, payload).
    pub fn events(&self, run: &RunId) -> Result<Vec<(String, Value)>, StorageError> {
        Ok(self.run_events(run)?.into_iter().map(|e| (e.kind, e.payload)).collect())
    }

    /// The events of a run, oldest first, each with its time and how many steps were journaled
    /// before it (a step's row is written when the step ends).
    pub fn run_events(&self, run: &RunId) -> Result<Vec<RunEvent>, StorageError> {
        let rows = self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT e.kind, e.payload, e.created_at, \
                 (SELECT COUNT(*) FROM steps s WHERE s.run = e.run AND s.created_at <= e.created_at) \
                 FROM events e WHERE e.run = (SELECT key FROM runs WHERE id = ?1) ORDER BY e.id",
            )?;
            let rows = stmt
                .query_map([run.as_str()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>();
            rows
        })?;
        rows.into_iter()
            .map(|(kind, payload, at, after)| {
                let payload = serde_json::from_str(&payload).map_err(|e| self.corrupt("events", e.to_string()))?;
                Ok(RunEvent { kind, payload, at, after_steps: after as u64 })
            })
            .collect()
    }

    /// The error for a row of `table` that does not decode.
    pub(crate) fn corrupt(&self, table: &'static str, reason: String) -> StorageError {
        StorageError::Corrupt { path: self.path.display().to_string(), table, reason }
    }

    fn decode_run(&self, r: RawRun) -> Result<RunRecord, StorageError> {
        let spec = serde_json::from_str(&r.spec).map_err(|e| self.corrupt("runs", format!("run {}: spec: {e}", r.id)))?;
        let lease = match (r.lease_owner, r.lease_since, r.lease_expires) {
            (Some(owner), Some(since), Some(expires_ms)) => {
                let holder = Holder::parse(&owner).ok_or_else(|| self.corrupt("runs", format!("run {}: lease holder `{owner}`", r.id)))?;
                Some(Lease { holder, since, expires_ms })
            }
            _ => None,
        };
        let status = match r.status.as_str() {
            "running" if !lease.as_ref().is_some_and(Lease::live) => "interrupted".to_string(),
            _ => r.status,
        };
        Ok(RunRecord {
            id: RunId(r.id),
            task: r.task,
            strategy: r.strategy,
            model: r.model,
            spec,
            status,
            output: r.output,
            created_at: r.created_at,
            updated_at: r.updated_at,
            lease,
        })
    }
}

const RUN_FIELDS: &str = "id, task, strategy, model, spec, status, output, created_at, updated_at, lease_owner, lease_since, lease_expires";

/// Which runs a listing holds, by where they came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOrigin {
    /// Runs started on their own (`agentos run`), not as gym episodes nor as members of a
    /// team (`agentos runs show TEAM` lists those).
    Own,
    /// The episodes of gym benchmarks.
    Gym,
    /// Both.
    Any,
}

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
    lease_owner: Option<String>,
    lease_since: Option<String>,
    lease_expires: Option<i64>,
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
        lease_owner: r.get(9)?,
        lease_since: r.get(10)?,
        lease_expires: r.get(11)?,
    })
}

/// A model request stored as the difference from an earlier model request of its run: the first
/// `keep` messages of request `base`, then `messages`; the tools of `base` when `same_tools`.
#[derive(Serialize)]
struct DeltaOut<'a> {
    base: u64,
    keep: usize,
    same_tools: bool,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "<[ToolSpec]>::is_empty")]
    tools: &'a [ToolSpec],
    sampling: &'a Sampling,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_schema: &'a Option<Value>,
}

#[derive(Deserialize)]
struct DeltaIn {
    base: u64,
    keep: usize,
    same_tools: bool,
    messages: Vec<Message>,
    #[serde(default)]
    tools: Vec<ToolSpec>,
    #[serde(default)]
    sampling: Sampling,
    #[serde(default)]
    stop: Vec<String>,
    #[serde(default)]
    response_schema: Option<Value>,
}

fn encode_request(request: &ChatRequest, base: Option<(u64, &ChatRequest)>) -> serde_json::Result<String> {
    let Some((base, earlier)) = base else { return serde_json::to_string(request) };
    let keep = earlier.messages.iter().zip(&request.messages).take_while(|(a, b)| a == b).count();
    let same_tools = earlier.tools == request.tools;
    if keep == 0 && !same_tools {
        return serde_json::to_string(request);
    }
    serde_json::to_string(&DeltaOut {
        base,
        keep,
        same_tools,
        messages: &request.messages[keep..],
        tools: if same_tools { &[] } else { &request.tools },
        sampling: &request.sampling,
        stop: &request.stop,
        response_schema: &request.response_schema,
    })
}

/// Reads a stored model request back whole; `earlier` holds the run's model requests decoded so
/// far, by position.
fn decode_request(text: &str, earlier: &HashMap<u64, ChatRequest>) -> Result<ChatRequest, String> {
    if !text.starts_with(r#"{"base":"#) {
        return serde_json::from_str(text).map_err(|e| e.to_string());
    }
    let delta: DeltaIn = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let base = earlier.get(&delta.base).ok_or_else(|| format!("its request refers to model step {}, which is missing", delta.base))?;
    let mut messages = base.messages.get(..delta.keep).ok_or("its request keeps more messages than its base has")?.to_vec();
    messages.extend(delta.messages);
    let tools = if delta.same_tools { base.tools.clone() } else { delta.tools };
    Ok(ChatRequest { messages, tools, sampling: delta.sampling, stop: delta.stop, response_schema: delta.response_schema })
}

/// Inserts a new run's row, leased to `owner`.
fn insert_run(conn: &Connection, r: &RunRecord, owner: &str) -> rusqlite::Result<()> {
    let insert = "INSERT INTO runs (id, task, strategy, model, spec, status, output, created_at, updated_at, lease_owner, lease_since, lease_expires) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?8, ?10)";
    let spec = r.spec.to_string();
    conn.prepare_cached(insert)?.execute(params![
        r.id.as_str(),
        r.task,
        r.strategy,
        r.model,
        spec,
        r.status,
        r.output,
        r.created_at,
        owner,
        lease::expiry()
    ])?;
    Ok(())
}

/// Splits a step into the (request, result) JSON pair the `steps` table stores.
fn encode_step(kind: &StepKind, base: Option<(u64, &ChatRequest)>) -> (String, String) {
    let pair = match kind {
        StepKind::Model { request, response } => (encode_request(request, base), serde_json::to_string(response)),
        StepKind::Tool { call, result } => (serde_json::to_string(call), serde_json::to_string(result)),
        StepKind::AskUser { question, answer } => (serde_json::to_string(question), serde_json::to_string(answer)),
        StepKind::Code { code, output } => (serde_json::to_string(code), serde_json::to_string(output)),
        StepKind::Library { query, functions } => (serde_json::to_string(query), serde_json::to_string(functions)),
        StepKind::Memory { op, result } => (serde_json::to_string(op), serde_json::to_string(result)),
        StepKind::Message { op, posts } => (serde_json::to_string(op), serde_json::to_string(posts)),
    };
    (pair.0.expect("step request serializes"), pair.1.expect("step result serializes"))
}

fn decode_step(kind: &str, request: &str, result: &str, earlier: &HashMap<u64, ChatRequest>) -> Result<StepKind, String> {
    fn de<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
    match kind {
        "model" => Ok(StepKind::Model { request: decode_request(request, earlier)?, response: de(result)? }),
        "tool" => Ok(StepKind::Tool { call: de(request)?, result: de(result)? }),
        "ask_user" => Ok(StepKind::AskUser { question: de(request)?, answer: de(result)? }),
        "code" => Ok(StepKind::Code { code: de(request)?, output: de(result)? }),
        "library" => Ok(StepKind::Library { query: de(request)?, functions: de(result)? }),
        "memory" => Ok(StepKind::Memory { op: de(request)?, result: de(result)? }),
        "message" => Ok(StepKind::Message { op: de(request)?, posts: de(result)? }),
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

/// Applies one write; `owner` is the writing handle's lease holder key. A fenced write (a step,
/// an ending, taking a lease) that changes nothing fails with `QueryReturnedNoRows` when the run
/// does not exist, and with `StatementChangedRows(0)` when its lease is elsewhere.
fn apply(conn: &Connection, write: &Write, owner: &str) -> rusqlite::Result<()> {
    const RUN_KEY: &str = "(SELECT key FROM runs WHERE id = ?1)";
    let changed = |n: usize, run: &str| match n {
        0 if conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?.exists([run])? => Err(rusqlite::Error::StatementChangedRows(0)),
        0 => Err(rusqlite::Error::QueryReturnedNoRows),
        _ => Ok(()),
    };
    match write {
        Write::CreateRun(r) => insert_run(conn, r, owner)?,
        Write::CreateMember { record, team, member } => {
            insert_run(conn, record, owner)?;
            conn.prepare_cached(
                "INSERT INTO team_members (team, member, run) SELECT t.key, ?2, m.key FROM runs t, runs m WHERE t.id = ?1 AND m.id = ?3",
            )?
            .execute(params![team.as_str(), member, record.id.as_str()])?;
        }
        Write::Step { run, seq, kind, request, result, duration_ms, model } => {
            // Fenced: only the lease holder adds to the journal.
            let insert = "INSERT INTO steps (run, seq, kind, request, result, duration_ms, created_at, model, input_tokens, output_tokens, cost_usd) \
                          SELECT key, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM runs WHERE id = ?1 AND lease_owner = ?12";
            let (name, usage) = match model {
                Some((name, u)) => (Some(name), Some(u)),
                None => (None, None),
            };
            changed(
                conn.prepare_cached(insert)?.execute(params![
                    run.as_str(),
                    *seq as i64,
                    kind,
                    request,
                    result,
                    *duration_ms as i64,
                    now(),
                    name,
                    usage.map(|u| u.input_tokens as i64),
                    usage.map(|u| u.output_tokens as i64),
                    usage.map(|u| u.cost_usd),
                    owner
                ])?,
                run.as_str(),
            )?;
        }
        Write::Event { run, kind, payload } => {
            let insert = format!("INSERT INTO events (run, kind, payload, created_at) VALUES ({RUN_KEY}, ?2, ?3, ?4)");
            conn.prepare_cached(&insert)?.execute(params![run.as_str(), kind, payload.to_string(), now()])?;
        }
        Write::Status { run, status, output } => {
            let update = "UPDATE runs SET status = ?2, output = COALESCE(?3, output), updated_at = ?4, \
                          lease_owner = NULL, lease_since = NULL, lease_expires = NULL WHERE id = ?1 AND lease_owner = ?5";
            changed(conn.prepare_cached(update)?.execute(params![run.as_str(), status, output, now(), owner])?, run.as_str())?;
            let event = serde_json::json!({ "status": status, "output": output });
            apply(conn, &Write::Event { run: run.clone(), kind: "status".into(), payload: event }, owner)?;
        }
        Write::Acquire { run, expected, spec, event } => {
            let update = "UPDATE runs SET status = 'running', spec = COALESCE(?3, spec), updated_at = ?4, \
                          lease_owner = ?5, lease_since = ?4, lease_expires = ?6 WHERE id = ?1 AND lease_owner IS ?2";
            changed(conn.prepare_cached(update)?.execute(params![run, expected, spec, now(), owner, lease::expiry()])?, run)?;
            apply(conn, &Write::Event { run: RunId(run.clone()), kind: "status".into(), payload: event.clone() }, owner)?;
        }
        Write::With(statements) => savepoint(conn, || statements(conn))?,
        Write::StepWith(step, statements) => savepoint(conn, || {
            statements(conn)?;
            apply(conn, step, owner)
        })?,
    }
    Ok(())
}

/// Runs `statements` in a savepoint: they land together or not at all.
fn savepoint(conn: &Connection, statements: impl FnOnce() -> rusqlite::Result<()>) -> rusqlite::Result<()> {
    conn.execute_batch("SAVEPOINT write_with")?;
    match statements() {
        Ok(()) => conn.execute_batch("RELEASE write_with"),
        Err(e) => {
            conn.execute_batch("ROLLBACK TO write_with; RELEASE write_with")?;
            Err(e)
        }
    }
}

/// Group commit without a writer thread. Writes queue up; a writer that finds no commit under way
/// becomes the leader: it takes every queued write, applies them in one transaction (a write that
/// fails is undone alone), commits, answers each writer, and repeats while writes are queued.
/// Writers that arrive meanwhile just wait for their answer. So a lone writer commits at once,
/// without handing its write to another thread, and a crowd of writers shares a few commits.
struct Committer {
    queue: Mutex<Vec<Job>>,
    conn: Mutex<Connection>,
    committed: mpsc::Sender<()>,
    path: String,
    /// The lease holder key of the storage handle that owns this committer.
    owner: String,
}

impl Committer {
    fn submit(&self, job: Job) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(job);
        loop {
            // Someone else is committing: they will take this write too.
            let Ok(mut conn) = self.conn.try_lock() else { return };
            let group = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if queue.is_empty() {
                    // Release the connection while still holding the queue, so a write queued
                    // after this check finds the connection free and commits itself.
                    drop(conn);
                    return;
                }
                std::mem::take(&mut *queue)
            };
            self.commit(&mut conn, group);
        }
    }

    fn commit(&self, conn: &mut Connection, group: Vec<Job>) {
        let outcome = (|| -> rusqlite::Result<Vec<rusqlite::Result<()>>> {
            let tx = conn.transaction()?;
            // A failing statement is undone alone (SQLite's statement journal); the rest stands.
            let results = group.iter().map(|job| apply(&tx, &job.write, &self.owner)).collect();
            tx.commit()?;
            Ok(results)
        })();
        match outcome {
            Ok(results) => {
                let _ = self.committed.send(());
                for (job, r) in group.into_iter().zip(results) {
                    let r = r.map_err(|e| match (e, job.write.run()) {
                        (rusqlite::Error::QueryReturnedNoRows, Some(run)) => StorageError::UnknownRun(run.to_string()),
                        (rusqlite::Error::StatementChangedRows(0), Some(run)) => StorageError::LeaseLost(run.to_string()),
                        (source, _) => StorageError::Sqlite { path: self.path.clone(), source },
                    });
                    let _ = job.done.send(r);
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for job in group {
                    let _ = job.done.send(Err(StorageError::Transaction { path: self.path.clone(), reason: reason.clone() }));
                }
            }
        }
    }
}

/// The checkpoint thread: after commits, at most every 100 ms, copies what it can of the WAL into
/// the database file without blocking writers (a passive checkpoint). Ends with the storage.
fn checkpoint_loop(conn: Connection, commits: mpsc::Receiver<()>) {
    while commits.recv().is_ok() {
        std::thread::sleep(std::time::Duration::from_millis(100));
        while commits.try_recv().is_ok() {}
        // A failed checkpoint loses nothing: the WAL keeps every commit, and the next one retries.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
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
            lease: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentos_core::{ToolCall, ToolResult};

    /// A new database in a temporary folder, holding one run.
    async fn with_run() -> (tempfile::TempDir, Storage, RunId) {
        let dir = tempfile::tempdir().unwrap();
        let db = Storage::open(dir.path().join("a.db")).unwrap();
        let run = RunId::new();
        db.create_run(RunRecord::starting(run.clone(), "t", "react", "m", serde_json::json!({}))).await.unwrap();
        (dir, db, run)
    }

    fn tool_step(seq: u64) -> Step {
        let call = ToolCall { id: format!("c{seq}"), name: "calculator".into(), arguments: serde_json::json!({"expression": "1+1"}) };
        Step { seq, kind: StepKind::Tool { result: ToolResult::ok(&call, "2"), call }, duration_ms: 1 }
    }

    #[tokio::test]
    async fn journals_steps_and_refuses_a_duplicate() {
        let (_dir, db, run) = with_run().await;
        db.record_step(&run, &tool_step(0), None, None).await.unwrap();
        db.record_step(&run, &tool_step(1), None, None).await.unwrap();
        assert!(db.record_step(&run, &tool_step(1), None, None).await.is_err(), "a second step 1 must be refused");
        let steps = db.steps(&run).unwrap();
        assert_eq!(steps, vec![tool_step(0), tool_step(1)]);
        db.set_status(&run, "finished", Some("2".into())).await.unwrap();
        assert_eq!(db.run(run.as_str()).unwrap().status, "finished");
        assert!(matches!(db.set_status(&RunId::from("nope"), "x", None).await, Err(StorageError::UnknownRun(_))));
    }

    #[tokio::test]
    async fn many_concurrent_writers_all_land() {
        let (dir, db, run) = with_run().await;
        let writes = (0..500).map(|i| {
            let db = db.clone();
            let run = run.clone();
            tokio::spawn(async move { db.record_step(&run, &tool_step(i), None, None).await })
        });
        for w in futures::future::join_all(writes).await {
            w.unwrap().unwrap();
        }
        assert_eq!(Storage::open(dir.path().join("a.db")).unwrap().steps(&run).unwrap().len(), 500);
    }

    fn model_step(seq: u64, messages: &[&str], tools: &[&str]) -> Step {
        use agentos_core::{ChatResponse, FinishReason};
        let request = ChatRequest {
            messages: messages.iter().map(|m| Message::user(*m)).collect(),
            tools: tools
                .iter()
                .map(|t| ToolSpec { name: t.to_string(), description: "d".into(), parameters: serde_json::json!({"type": "object"}) })
                .collect(),
            stop: vec!["\nObservation:".into()],
            ..Default::default()
        };
        let response = ChatResponse {
            message: Message::assistant("ok"),
            finish_reason: FinishReason::Stop,
            usage: Usage { input_tokens: 3, output_tokens: 1, model_calls: 1, cost_usd: 0.0 },
            model: "m".into(),
        };
        Step { seq, kind: StepKind::Model { request, response }, duration_ms: 1 }
    }

    #[tokio::test]
    async fn model_requests_are_stored_as_differences_and_read_back_whole() {
        let (_dir, db, run) = with_run().await;
        let steps = [
            model_step(0, &["a", "b"], &["calc"]),
            model_step(1, &["a", "b", "c"], &["calc"]),
            model_step(2, &["a", "x"], &["calc", "read"]),
            model_step(3, &["z"], &["calc"]),
        ];
        let usage = Some(("m".to_string(), Usage { input_tokens: 3, output_tokens: 1, model_calls: 1, cost_usd: 0.0 }));
        let mut base: Option<(u64, ChatRequest)> = None;
        for step in &steps {
            db.record_step(&run, step, usage.clone(), base.as_ref().map(|(s, r)| (*s, r))).await.unwrap();
            let StepKind::Model { request, .. } = &step.kind else { unreachable!() };
            base = Some((step.seq, request.clone()));
        }
        assert_eq!(db.steps(&run).unwrap(), steps, "every request reads back whole");
        let stored: Vec<String> =
            db.read(|c| c.prepare("SELECT request FROM steps ORDER BY seq")?.query_map([], |r| r.get(0))?.collect()).unwrap();
        assert!(
            stored[1]
                .starts_with(r#"{"base":0,"keep":2,"same_tools":true,"messages":[{"role":"user","parts":[{"type":"text","text":"c"}]}]"#),
            "{}",
            stored[1]
        );
        assert!(!stored[1].contains(r#""text":"a""#), "shared messages are not stored again");
        assert!(stored[2].contains(r#""keep":1,"same_tools":false"#), "{}", stored[2]);
        assert!(stored[3].starts_with(r#"{"messages""#), "nothing shared, so stored whole: {}", stored[3]);
        assert_eq!(db.usage(&run).unwrap(), Usage { input_tokens: 12, output_tokens: 4, model_calls: 4, cost_usd: 0.0 });
    }

    #[tokio::test]
    async fn a_difference_whose_base_is_missing_is_reported_as_corrupt() {
        let (_dir, db, run) = with_run().await;
        let first = model_step(0, &["a"], &[]);
        let StepKind::Model { request, .. } = &first.kind else { unreachable!() };
        db.record_step(&run, &model_step(5, &["a", "b"], &[]), None, Some((0, request))).await.unwrap();
        let err = db.steps(&run).unwrap_err().to_string();
        assert!(err.contains("step 5") && err.contains("refers to model step 0, which is missing"), "{err}");
    }

    #[tokio::test]
    async fn one_handle_at_a_time_holds_a_run_and_only_the_holder_writes_its_journal() {
        let (dir, first, run) = with_run().await;
        let second = Storage::open(dir.path().join("a.db")).unwrap();
        let err = second.acquire(run.as_str(), None, Value::Null).await.unwrap_err().to_string();
        assert!(err.contains(&format!("is being driven by process {}", std::process::id())), "{err}");
        assert_eq!(first.run(run.as_str()).unwrap().status, "running");

        // The first holder is on another host and stopped renewing: its lease expires.
        let stale = Holder { host: "elsewhere".into(), ..first.holder().clone() }.key();
        first.read(|c| c.execute("UPDATE runs SET lease_owner = ?1, lease_expires = ?2", params![stale, lease::now_ms() - 1])).unwrap();
        assert_eq!(second.run(run.as_str()).unwrap().status, "interrupted", "an expired lease shows as interrupted");
        let taken = second
            .acquire(run.as_str(), Some(serde_json::json!({"max_steps": 3})), serde_json::json!({"max_steps": [1, 3]}))
            .await
            .unwrap();
        assert_eq!((taken.status.as_str(), taken.spec["max_steps"].as_i64()), ("running", Some(3)));
        assert_eq!(taken.lease.unwrap().holder, *second.holder());

        // The old holder comes back: its writes are fenced off.
        assert!(matches!(first.record_step(&run, &tool_step(0), None, None).await, Err(StorageError::LeaseLost(_))));
        assert!(matches!(first.set_status(&run, "finished", None).await, Err(StorageError::LeaseLost(_))));
        second.record_step(&run, &tool_step(0), None, None).await.unwrap();
        second.set_status(&run, "suspended", None).await.unwrap();
        let ended = second.run(run.as_str()).unwrap();
        assert_eq!((ended.status.as_str(), ended.lease), ("suspended", None), "ending gives the lease back");
        let events = second.events(&run).unwrap();
        assert!(
            events
                .iter()
                .any(|(kind, e)| kind == "status" && e["resumed"] == true && e["changes"]["max_steps"] == serde_json::json!([1, 3])),
            "{events:?}"
        );
        // Given back, anyone may take it, the first handle too.
        first.acquire(run.as_str(), None, Value::Null).await.unwrap();
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
