//! Benchmarks and their episodes, as the gym records them: which episodes of a benchmark have
//! ended, with what reward, and which kernel run each one is.
//!
//! An episode row is written when its run starts (reward `NULL`: not ended yet) and completed when
//! the run ends, so a benchmark started again knows which episodes to skip and which runs to
//! resume. An episode refers to its run by the run's key; its usage is read from the run's model
//! steps, never copied.
//!
//! Every write is one transaction. These tables are written once per episode, not once per
//! syscall, so they do not go through the group committer: each write opens its own connection
//! and takes the write lock at once (`BEGIN IMMEDIATE`), waiting its turn behind the committer
//! under the busy timeout instead of failing.

use crate::storage::{now, Storage, StorageError};
use agentos_core::{RunId, Usage};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// One benchmark as stored: its id and the spec it was started with. Only [`Storage`] makes
/// one, so that an episode is always recorded against a stored benchmark.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchmarkRecord {
    /// The benchmark's id, chosen by whoever started it.
    pub id: String,
    /// The spec it was started with, as JSON.
    pub spec: Value,
    /// When it was first started (RFC 3339).
    pub created_at: String,
    /// The row's key, which episodes refer to.
    #[serde(skip)]
    key: i64,
}

/// One episode of a benchmark as stored: a strategy on a task, run as one kernel run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// The strategy's name.
    pub strategy: String,
    /// The task's id in its environment.
    pub task: String,
    /// The kernel run of the episode.
    pub run: RunId,
    /// The environment's reward; `None` while the episode has not ended.
    pub reward: Option<f64>,
    /// What the environment said about the answer (or why there was none); `Null` while the
    /// episode has not ended.
    pub info: Value,
    /// Wall time of the episode in milliseconds (of the attempt that ended it, if it was
    /// resumed); `None` while it has not ended.
    pub wall_ms: Option<u64>,
    /// The run's usage: model calls and tokens of every model step it journaled (a team run's
    /// members' included).
    pub usage: Usage,
    /// The tokens a team's members spent on the messages they posted to each other (Optima's
    /// communication cost); 0 for a run that is not a team.
    pub communication_tokens: u64,
}

impl EpisodeRecord {
    /// Whether the episode has ended (it has a reward).
    pub fn ended(&self) -> bool {
        self.reward.is_some()
    }
}

impl Storage {
    fn benchmark_connection(&self) -> Result<Connection, StorageError> {
        open_connection(self.path().to_path_buf())
    }

    /// Runs one write transaction on a connection of its own, off the async threads.
    async fn benchmark_write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let path = self.path().to_path_buf();
        let display = path.display().to_string();
        let job = move || {
            let mut conn = open_connection(path)?;
            let sql = |source| StorageError::Sqlite { path: display.clone(), source };
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
            let value = write(&tx).map_err(sql)?;
            tx.commit().map_err(sql)?;
            Ok(value)
        };
        tokio::task::spawn_blocking(job).await.expect("a benchmark write does not panic")
    }

    fn sqlite(&self, source: rusqlite::Error) -> StorageError {
        StorageError::Sqlite { path: self.path().display().to_string(), source }
    }

    fn benchmark_row(&self, row: (i64, String, String, String)) -> Result<BenchmarkRecord, StorageError> {
        let (key, id, spec, created_at) = row;
        let spec = serde_json::from_str(&spec).map_err(|e| StorageError::Corrupt {
            path: self.path().display().to_string(),
            table: "benchmarks",
            reason: format!("benchmark {id}: spec: {e}"),
        })?;
        Ok(BenchmarkRecord { id, spec, created_at, key })
    }

    /// The benchmark `id`: the stored one if there is one (with the spec it was started with,
    /// which may differ from `spec`; the caller decides whether that matters), else a new one
    /// with `spec`.
    pub async fn open_benchmark(&self, id: &str, spec: Value) -> Result<BenchmarkRecord, StorageError> {
        let (id, spec) = (id.to_string(), spec.to_string());
        let row = self
            .benchmark_write(move |tx| {
                tx.execute("INSERT OR IGNORE INTO benchmarks (id, spec, created_at) VALUES (?1, ?2, ?3)", params![id, spec, now()])?;
                tx.query_row(&format!("{BENCHMARK_COLUMNS} WHERE id = ?1"), [&id], benchmark_columns)
            })
            .await?;
        self.benchmark_row(row)
    }

    /// The benchmark `id`, if there is one.
    pub fn benchmark(&self, id: &str) -> Result<Option<BenchmarkRecord>, StorageError> {
        let conn = self.benchmark_connection()?;
        let row = conn.query_row(&format!("{BENCHMARK_COLUMNS} WHERE id = ?1"), [id], benchmark_columns).optional();
        row.map_err(|e| self.sqlite(e))?.map(|r| self.benchmark_row(r)).transpose()
    }

    /// Every benchmark, newest first.
    pub fn benchmarks(&self) -> Result<Vec<BenchmarkRecord>, StorageError> {
        let conn = self.benchmark_connection()?;
        let rows = (|| {
            let mut stmt = conn.prepare(&format!("{BENCHMARK_COLUMNS} ORDER BY created_at DESC, key DESC"))?;
            let rows = stmt.query_map([], benchmark_columns)?.collect::<rusqlite::Result<Vec<_>>>();
            rows
        })()
        .map_err(|e| self.sqlite(e))?;
        rows.into_iter().map(|r| self.benchmark_row(r)).collect()
    }

    /// Records an episode of `benchmark` as it stands, in one transaction: its run, and once it
    /// has ended its reward, info and wall time (an episode without a reward is recorded as not
    /// ended). A row for the same strategy and task is replaced, so an episode restarted under a
    /// new run refers to that run. Its usage is its run's and is not stored.
    pub async fn record_episode(&self, benchmark: &BenchmarkRecord, episode: &EpisodeRecord) -> Result<(), StorageError> {
        let key = benchmark.key;
        let (strategy, task, run) = (episode.strategy.clone(), episode.task.clone(), episode.run.to_string());
        let (reward, wall_ms) = (episode.reward, episode.wall_ms.map(|w| w as i64));
        let info = (!episode.info.is_null()).then(|| episode.info.to_string());
        self.benchmark_write(move |tx| {
            tx.execute(
                "INSERT INTO episodes (benchmark, strategy, task, run, reward, info, wall_ms, updated_at) \
                 VALUES (?1, ?2, ?3, (SELECT key FROM runs WHERE id = ?4), ?5, ?6, ?7, ?8) \
                 ON CONFLICT (benchmark, strategy, task) DO UPDATE SET run = excluded.run, reward = excluded.reward, \
                 info = excluded.info, wall_ms = excluded.wall_ms, updated_at = excluded.updated_at",
                params![key, strategy, task, run, reward, info, wall_ms, now()],
            )
        })
        .await?;
        Ok(())
    }

    /// Every episode of `benchmark`, ended or not, in the order they were first started, each
    /// with its run's usage.
    pub fn episodes(&self, benchmark: &BenchmarkRecord) -> Result<Vec<EpisodeRecord>, StorageError> {
        let conn = self.benchmark_connection()?;
        let rows = (|| {
            let mut stmt = conn.prepare(
                "SELECT e.strategy, e.task, r.id, e.reward, e.info, e.wall_ms, \
                        COALESCE(SUM(s.input_tokens), 0), COALESCE(SUM(s.output_tokens), 0), COUNT(s.run), COALESCE(SUM(s.cost_usd), 0.0), \
                        (SELECT COALESCE(SUM(b.tokens), 0) FROM board b WHERE b.team = e.run) \
                 FROM episodes e JOIN runs r ON r.key = e.run LEFT JOIN steps s ON s.kind = 'model' \
                      AND (s.run = e.run OR s.run IN (SELECT tm.run FROM team_members tm WHERE tm.team = e.run)) \
                 WHERE e.benchmark = ?1 GROUP BY e.key ORDER BY e.key",
            )?;
            let rows = stmt
                .query_map([benchmark.key], |r| {
                    Ok(RawEpisode {
                        strategy: r.get(0)?,
                        task: r.get(1)?,
                        run: r.get(2)?,
                        reward: r.get(3)?,
                        info: r.get(4)?,
                        wall_ms: r.get(5)?,
                        usage: Usage {
                            input_tokens: r.get::<_, i64>(6)? as u64,
                            output_tokens: r.get::<_, i64>(7)? as u64,
                            model_calls: r.get::<_, i64>(8)? as u64,
                            cost_usd: r.get(9)?,
                        },
                        communication_tokens: r.get::<_, i64>(10)? as u64,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>();
            rows
        })()
        .map_err(|e| self.sqlite(e))?;
        rows.into_iter()
            .map(|r| {
                let info = match &r.info {
                    None => Value::Null,
                    Some(text) => serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
                        path: self.path().display().to_string(),
                        table: "episodes",
                        reason: format!("benchmark {} episode {} on {}: info: {e}", benchmark.id, r.strategy, r.task),
                    })?,
                };
                Ok(EpisodeRecord {
                    strategy: r.strategy,
                    task: r.task,
                    run: RunId(r.run),
                    reward: r.reward,
                    info,
                    wall_ms: r.wall_ms.map(|w| w as u64),
                    usage: r.usage,
                    communication_tokens: r.communication_tokens,
                })
            })
            .collect()
    }
}

const BENCHMARK_COLUMNS: &str = "SELECT key, id, spec, created_at FROM benchmarks";

fn benchmark_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

struct RawEpisode {
    strategy: String,
    task: String,
    run: String,
    reward: Option<f64>,
    info: Option<String>,
    wall_ms: Option<i64>,
    usage: Usage,
    communication_tokens: u64,
}

/// A connection of its own to the database at `path`, which [`Storage::open`] has migrated.
fn open_connection(path: PathBuf) -> Result<Connection, StorageError> {
    let sql = |source| StorageError::Sqlite { path: path.display().to_string(), source };
    let conn = Connection::open(&path).map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sql)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunRecord;
    use agentos_core::{ChatRequest, ChatResponse, FinishReason, Message, Step, StepKind};
    use serde_json::json;

    async fn run_with_model_steps(db: &Storage, steps: u64) -> RunId {
        let run = RunId::new();
        db.create_run(RunRecord::starting(run.clone(), "t", "react", "m", json!({}))).await.unwrap();
        for seq in 0..steps {
            let usage = Usage { input_tokens: 10, output_tokens: 2, model_calls: 1, cost_usd: 0.0 };
            let response = ChatResponse { message: Message::assistant("a"), finish_reason: FinishReason::Stop, usage, model: "m".into() };
            let step = Step { seq, kind: StepKind::Model { request: ChatRequest::default(), response }, duration_ms: 1 };
            db.record_step(&run, &step, Some(("m".into(), usage)), None).await.unwrap();
        }
        run
    }

    fn pending(strategy: &str, task: &str, run: &RunId) -> EpisodeRecord {
        EpisodeRecord {
            strategy: strategy.into(),
            task: task.into(),
            run: run.clone(),
            reward: None,
            info: Value::Null,
            wall_ms: None,
            usage: Usage::default(),
            communication_tokens: 0,
        }
    }

    #[tokio::test]
    async fn episodes_start_pending_end_with_a_reward_and_carry_their_runs_usage() {
        let dir = tempfile::tempdir().unwrap();
        let db = Storage::open(dir.path().join("a.db")).unwrap();
        let bench = db.open_benchmark("b1", json!({"env": "game24"})).await.unwrap();
        let again = db.open_benchmark("b1", json!({"env": "other"})).await.unwrap();
        assert_eq!(again, bench, "opening an existing benchmark returns it as stored");

        let first = run_with_model_steps(&db, 1).await;
        db.record_episode(&bench, &pending("react", "1", &first)).await.unwrap();
        let stored = db.episodes(&bench).unwrap();
        assert_eq!((stored.len(), stored[0].ended(), &stored[0].info), (1, false, &Value::Null));

        // Restarted under a new run, the episode refers to it; ending it records the reward.
        let second = run_with_model_steps(&db, 3).await;
        db.record_episode(&bench, &pending("react", "1", &second)).await.unwrap();
        let ended =
            EpisodeRecord { reward: Some(1.0), info: json!({"expression": "4*6"}), wall_ms: Some(12), ..pending("react", "1", &second) };
        db.record_episode(&bench, &ended).await.unwrap();
        let stored = db.episodes(&bench).unwrap();
        let want_usage = Usage { input_tokens: 30, output_tokens: 6, model_calls: 3, cost_usd: 0.0 };
        assert_eq!(stored, [EpisodeRecord { usage: want_usage, ..ended }], "one row, ended, with the second run's usage");

        let none = run_with_model_steps(&db, 0).await;
        let failed = EpisodeRecord { reward: Some(0.0), info: json!({"error": "x"}), wall_ms: Some(5), ..pending("cot", "2", &none) };
        db.record_episode(&bench, &failed).await.unwrap();
        let all = db.episodes(&bench).unwrap();
        assert_eq!(all.iter().map(|e| (e.strategy.as_str(), e.usage.model_calls)).collect::<Vec<_>>(), [("react", 3), ("cot", 0)]);

        assert_eq!(db.benchmark("b1").unwrap(), Some(bench));
        assert_eq!(db.benchmark("nope").unwrap(), None);
        assert_eq!(db.benchmarks().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_episode_of_a_run_that_does_not_exist_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = Storage::open(dir.path().join("a.db")).unwrap();
        let bench = db.open_benchmark("b", json!({})).await.unwrap();
        assert!(db.record_episode(&bench, &pending("react", "1", &RunId::from("missing"))).await.is_err());
        assert!(db.episodes(&bench).unwrap().is_empty(), "the failed write left nothing");
    }
}
