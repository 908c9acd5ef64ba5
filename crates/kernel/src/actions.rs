//! The action library, after DynaSaur (Nguyen et al., 2024, "DynaSaur: Large Language Agents
//! Beyond Predefined Actions"): the functions agents write in their code cells are kept and reused
//! by later runs, so the set of actions grows with use instead of being fixed in advance.
//!
//! - Kept: when a run that executed code finishes with an answer, every top-level function its
//!   cells defined (name, signature, docstring, source, as the sandbox reported them) is kept,
//!   one per name; a newer definition replaces the older (and, if its source differs, starts
//!   its statistics over). A run that fails adds nothing. The source is self-contained: the
//!   sandbox puts the imports of the run's cells that the function uses and the run's functions
//!   it calls before its `def`. Before keeping, the run's functions are defined in a fresh
//!   sandbox of the run as a later run would get them; one whose source fails there, or that
//!   reads a global name neither a builtin nor bound by its source (a variable of the run, say),
//!   is not kept, and a `library_rejected` event of the run says why.
//! - Retrieved: [`Agent::retrieve_actions`] ranks the library by BM25 over each function's name,
//!   signature, docstring and source against the task, and offers the best (at most
//!   [`KernelConfig::offered_actions`], only those sharing a term with the task); the offer is a
//!   `library` step of the journal, so a resumed run gets the same functions, and the sandbox
//!   defines them before the first cell.
//! - Scored: when a run that was offered functions ends (finished or failed), each offered
//!   function records whether the run called it and whether it succeeded there, that is, the
//!   run finished and no call of the function raised (even one the run's code caught): `uses`
//!   counts the runs that called it, `successes` those where it succeeded.
//!
//! These tables are written once per run, through the storage's group committer
//! ([`Storage::write_with`]).
//!
//! [`KernelConfig::offered_actions`]: crate::KernelConfig::offered_actions

use crate::agent::{Agent, Asked};
use crate::error::KernelError;
use crate::storage::{now, Storage, StorageError};
use crate::{retrieval, Kernel};
use agentos_core::{FunctionDefinition, RunId, Step, StepKind};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Names a kept function may not have: the sandbox's own functions.
const RESERVED: &[&str] = &["final_answer", "ToolError"];

/// One function of the action library as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The function's name, unique in the library.
    pub name: String,
    /// Its name and parameters, e.g. `column_mean(path, column)`.
    pub signature: String,
    /// Its docstring (empty when it has none).
    pub docstring: String,
    /// Its source, the whole `def` statement.
    pub source: String,
    /// The run whose code wrote this definition.
    pub created_run: RunId,
    /// When the name entered the library (RFC 3339).
    pub created_at: String,
    /// When its definition was last written (RFC 3339).
    pub updated_at: String,
    /// Runs that were offered it and called it.
    pub uses: u64,
    /// Runs that were offered it, called it, finished, and none of whose calls of it raised.
    pub successes: u64,
    /// Runs it was offered to, whether they called it or not.
    pub offers: u64,
}

/// How a run that was offered a library function used it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActionUse {
    /// Whether the run called it.
    pub called: bool,
    /// Whether a call of it raised an exception.
    pub raised: bool,
}

impl ActionRecord {
    /// The function as the sandbox defines it and the prompt shows it.
    pub fn definition(&self) -> FunctionDefinition {
        FunctionDefinition {
            name: self.name.clone(),
            signature: self.signature.clone(),
            docstring: self.docstring.clone(),
            source: self.source.clone(),
        }
    }

    /// The first line of its docstring (empty when it has none).
    pub fn summary(&self) -> &str {
        self.docstring.lines().next().unwrap_or("").trim()
    }
}

const ACTION_COLUMNS: &str = "SELECT name, signature, docstring, source, created_run, created_at, updated_at, uses, successes, \
                              (SELECT COUNT(*) FROM action_uses WHERE action_uses.action = actions.key) FROM actions";

fn action_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ActionRecord> {
    Ok(ActionRecord {
        name: r.get(0)?,
        signature: r.get(1)?,
        docstring: r.get(2)?,
        source: r.get(3)?,
        created_run: RunId(r.get(4)?),
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        uses: r.get::<_, i64>(7)? as u64,
        successes: r.get::<_, i64>(8)? as u64,
        offers: r.get::<_, i64>(9)? as u64,
    })
}

impl Storage {
    /// Every function of the action library, by name.
    pub fn actions(&self) -> Result<Vec<ActionRecord>, StorageError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("{ACTION_COLUMNS} ORDER BY name"))?;
            let rows = stmt.query_map([], action_row)?.collect();
            rows
        })
    }

    /// The library function `name`, if there is one.
    pub fn action(&self, name: &str) -> Result<Option<ActionRecord>, StorageError> {
        self.read(|c| c.query_row(&format!("{ACTION_COLUMNS} WHERE name = ?1"), [name], action_row).optional())
    }

    /// Removes the library function `name` and its record of uses; false if there was none.
    pub async fn remove_action(&self, name: &str) -> Result<bool, StorageError> {
        let removed = Arc::new(AtomicBool::new(false));
        let (flag, name) = (removed.clone(), name.to_string());
        self.write_with(move |c| {
            let rows = c.execute("DELETE FROM actions WHERE name = ?1", [&name])?;
            flag.store(rows > 0, Ordering::SeqCst);
            Ok(())
        })
        .await?;
        Ok(removed.load(Ordering::SeqCst))
    }

    /// The library functions most relevant to `query` by BM25 over their name, signature,
    /// docstring and source, best first, with their scores: at most `limit`, and only those
    /// sharing a term with the query.
    pub fn retrieve_actions(&self, query: &str, limit: usize) -> Result<Vec<(ActionRecord, f64)>, StorageError> {
        let actions = self.actions()?;
        let documents: Vec<String> =
            actions.iter().map(|a| format!("{}\n{}\n{}\n{}", a.name, a.signature, a.docstring, a.source)).collect();
        let ranked = retrieval::rank(query, &documents);
        Ok(ranked.into_iter().take(limit).map(|(index, score)| (actions[index].clone(), score)).collect())
    }

    /// Keeps `functions`, written by `run`, in the library, in one transaction: a new name is
    /// added; an existing one takes the new definition, and if its source changed, `run` as its
    /// author and no uses yet.
    pub async fn keep_actions(&self, run: &RunId, functions: Vec<FunctionDefinition>) -> Result<(), StorageError> {
        let run = run.to_string();
        self.write_with(move |c| {
            let at = now();
            for f in &functions {
                c.execute(
                    "DELETE FROM action_uses WHERE action = (SELECT key FROM actions WHERE name = ?1 AND source <> ?2)",
                    params![f.name, f.source],
                )?;
                c.execute(
                    "INSERT INTO actions (name, signature, docstring, source, created_run, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
                     ON CONFLICT (name) DO UPDATE SET signature = excluded.signature, docstring = excluded.docstring, \
                     source = excluded.source, updated_at = excluded.updated_at, \
                     created_run = CASE WHEN source = excluded.source THEN created_run ELSE excluded.created_run END, \
                     uses = CASE WHEN source = excluded.source THEN uses ELSE 0 END, \
                     successes = CASE WHEN source = excluded.source THEN successes ELSE 0 END",
                    params![f.name, f.signature, f.docstring, f.source, run, at],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Records, for each function offered to `run` (with how the run used it), that the run
    /// ended, `finished` or not, and updates the functions' `uses` and `successes`, in one
    /// transaction: a use succeeded when the run finished and no call raised. Recording a run
    /// again replaces its earlier record (a failed run resumed to its end counts once). A
    /// function whose definition changed since it was offered is left alone: the run did not
    /// use the definition now in the library.
    pub async fn record_action_uses(
        &self,
        run: &RunId,
        offered: Vec<(FunctionDefinition, ActionUse)>,
        finished: bool,
    ) -> Result<(), StorageError> {
        let run = run.to_string();
        self.write_with(move |c| {
            for (f, used) in &offered {
                let (called, succeeded) = (used.called, finished && !used.raised);
                c.execute(
                    "INSERT INTO action_uses (action, run, called, succeeded) \
                     SELECT key, (SELECT key FROM runs WHERE id = ?3), ?4, ?5 FROM actions WHERE name = ?1 AND source = ?2 \
                     ON CONFLICT (action, run) DO UPDATE SET called = excluded.called, succeeded = excluded.succeeded",
                    params![f.name, f.source, run, called, succeeded],
                )?;
                c.execute(
                    "UPDATE actions SET \
                     uses = (SELECT COUNT(*) FROM action_uses WHERE action = actions.key AND called), \
                     successes = (SELECT COUNT(*) FROM action_uses WHERE action = actions.key AND called AND succeeded) \
                     WHERE name = ?1",
                    [&f.name],
                )?;
            }
            Ok(())
        })
        .await
    }
}

impl Agent {
    /// Syscall: the functions of the action library most relevant to the run's task (DynaSaur),
    /// journaled as a `library` step before they are returned, and defined in the run's sandbox
    /// when it starts. Call it before the first [`Agent::execute_code`]. A run without
    /// [`Capabilities::code`](crate::Capabilities::code) is offered none; functions named like a
    /// tool are never offered. On resume the recorded offer is returned again.
    pub async fn retrieve_actions(&self) -> Result<Vec<FunctionDefinition>, KernelError> {
        let seq = self.begin()?;
        let query = self.spec.task.as_str();
        let mut state = self.code.lock().await;
        state.used = true;
        if let Some(StepKind::Library { functions, .. }) = self.replay(seq, Asked::Library(query))? {
            state.offered = functions.clone();
            return Ok(functions);
        }
        if state.started() {
            return Err(KernelError::Config(format!(
                "run {}: the action library was asked for after the run's sandbox started; retrieve it before the first code cell",
                self.run
            )));
        }
        let started = Instant::now();
        let functions: Vec<FunctionDefinition> = match self.tool_context.capabilities.check_code() {
            Err(_) => Vec::new(),
            Ok(()) if !self.spec.library => Vec::new(),
            Ok(()) => self
                .kernel
                .storage
                .retrieve_actions(query, self.kernel.config.offered_actions)?
                .into_iter()
                .map(|(action, _)| action.definition())
                .filter(|f| !self.kernel.tools.contains(&f.name))
                .collect(),
        };
        let step = Step {
            seq,
            kind: StepKind::Library { query: query.to_string(), functions },
            duration_ms: started.elapsed().as_millis() as u64,
        };
        self.record(&step, None).await?;
        let StepKind::Library { functions, .. } = step.kind else { unreachable!("built as a library step above") };
        state.offered = functions.clone();
        Ok(functions)
    }
}

impl Kernel {
    /// Updates the action library from the journal of a run that ended, if the run joined the
    /// library (it asked for its functions and [`RunSpec::library`](crate::RunSpec::library) is
    /// set): keeps the functions its cells defined if it `succeeded` and they pass the check in a
    /// fresh sandbox, then records how the functions it was offered served it.
    pub(crate) async fn update_library(&self, agent: &Agent, succeeded: bool) -> Result<(), KernelError> {
        let storage = &self.inner.storage;
        let mut offered = Vec::new();
        let mut called = BTreeSet::new();
        let mut raised = BTreeSet::new();
        let mut defined: Vec<FunctionDefinition> = Vec::new();
        let mut joined = false;
        for step in storage.steps(agent.run())? {
            match step.kind {
                StepKind::Library { functions, .. } => {
                    joined = true;
                    offered = functions;
                }
                StepKind::Code { output, .. } => {
                    called.extend(output.library_calls.into_iter().filter(|(_, n)| *n > 0).map(|(name, _)| name));
                    raised.extend(output.library_raised.into_iter().filter(|(_, n)| *n > 0).map(|(name, _)| name));
                    for function in output.functions {
                        defined.retain(|f| f.name != function.name);
                        defined.push(function);
                    }
                }
                _ => {}
            }
        }
        // A run whose strategy never asked the library (a program-aided one) or that was told
        // to stay out of it keeps nothing.
        if !joined || !agent.spec().library {
            return Ok(());
        }
        defined.retain(|f| !RESERVED.contains(&f.name.as_str()) && !self.inner.tools.contains(&f.name));
        if succeeded && !defined.is_empty() {
            let rejected = match agent.check_library(&defined).await {
                Ok(failures) => failures,
                Err(error) => {
                    let why = format!("the check in a fresh sandbox could not run: {error}");
                    defined.iter().map(|f| (f.name.clone(), why.clone())).collect()
                }
            };
            if !rejected.is_empty() {
                storage.record_event(agent.run(), "library_rejected", json!({ "functions": rejected })).await?;
                defined.retain(|f| !rejected.contains_key(&f.name));
            }
            if !defined.is_empty() {
                storage.keep_actions(agent.run(), defined).await?;
            }
        }
        if !offered.is_empty() {
            let offered = offered
                .into_iter()
                .map(|f| {
                    let used = ActionUse { called: called.contains(&f.name), raised: raised.contains(&f.name) };
                    (f, used)
                })
                .collect();
            storage.record_action_uses(agent.run(), offered, succeeded).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunRecord;

    fn function(name: &str, doc: &str, body: &str) -> FunctionDefinition {
        FunctionDefinition {
            name: name.into(),
            signature: format!("{name}(path)"),
            docstring: doc.into(),
            source: format!("def {name}(path):\n    \"\"\"{doc}\"\"\"\n    {body}\n"),
        }
    }

    fn called() -> ActionUse {
        ActionUse { called: true, raised: false }
    }

    async fn storage_with_runs(runs: &[&str]) -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let db = Storage::open(dir.path().join("a.db")).unwrap();
        for run in runs {
            db.create_run(RunRecord::starting(RunId::from(*run), "t", "react", "m", serde_json::json!({}))).await.unwrap();
        }
        (dir, db)
    }

    #[tokio::test]
    async fn kept_functions_are_replaced_by_name_retrieved_by_relevance_and_scored_per_run() {
        let (_dir, db) = storage_with_runs(&["r1", "r2", "r3", "r4"]).await;
        let mean = function("column_mean", "Mean of a CSV column.", "return 0");
        let words = function("count_words", "Number of words in a text file.", "return 0");
        db.keep_actions(&RunId::from("r1"), vec![mean.clone(), words.clone()]).await.unwrap();
        let found = db.retrieve_actions("average of the price column of prices.csv", 5).unwrap();
        assert_eq!(found.iter().map(|(a, _)| a.name.as_str()).collect::<Vec<_>>(), ["column_mean"]);
        assert_eq!(found[0].0.definition(), mean);
        assert!(db.retrieve_actions("column", 0).unwrap().is_empty(), "the limit holds");

        // Offered to two runs: r2 calls it and finishes, r3 does not call it; r2 recorded twice counts once.
        db.record_action_uses(&RunId::from("r2"), vec![(mean.clone(), called())], false).await.unwrap();
        db.record_action_uses(&RunId::from("r2"), vec![(mean.clone(), called())], true).await.unwrap();
        db.record_action_uses(&RunId::from("r3"), vec![(mean.clone(), ActionUse::default())], true).await.unwrap();
        let stored = db.action("column_mean").unwrap().unwrap();
        assert_eq!((stored.uses, stored.successes, stored.offers, stored.summary()), (1, 1, 2, "Mean of a CSV column."));
        // r4 finishes, but a call of it raised: a use, not a success.
        db.record_action_uses(&RunId::from("r4"), vec![(mean.clone(), ActionUse { called: true, raised: true })], true).await.unwrap();
        let stored = db.action("column_mean").unwrap().unwrap();
        assert_eq!((stored.uses, stored.successes, stored.offers), (2, 1, 3));

        // The same source again keeps the statistics; a new source replaces the definition and starts over.
        db.keep_actions(&RunId::from("r2"), vec![mean.clone()]).await.unwrap();
        let same = db.action("column_mean").unwrap().unwrap();
        assert_eq!((same.uses, same.created_run.as_str()), (2, "r1"));
        let newer = function("column_mean", "Mean of a CSV column, ignoring blanks.", "return 1");
        db.keep_actions(&RunId::from("r3"), vec![newer.clone()]).await.unwrap();
        let replaced = db.action("column_mean").unwrap().unwrap();
        assert_eq!(
            (replaced.source.as_str(), replaced.uses, replaced.offers, replaced.created_run.as_str()),
            (newer.source.as_str(), 0, 0, "r3")
        );
        db.record_action_uses(&RunId::from("r2"), vec![(mean, called())], true).await.unwrap();
        assert_eq!(db.action("column_mean").unwrap().unwrap().uses, 0, "a use of the old definition does not count for the new");

        assert_eq!(db.actions().unwrap().iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["column_mean", "count_words"]);
        assert!(db.remove_action("count_words").await.unwrap());
        assert!(!db.remove_action("count_words").await.unwrap(), "already gone");
        assert_eq!(db.actions().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_use_by_an_unknown_run_writes_nothing() {
        let (_dir, db) = storage_with_runs(&["r1"]).await;
        let mean = function("column_mean", "Mean.", "return 0");
        db.keep_actions(&RunId::from("r1"), vec![mean.clone()]).await.unwrap();
        assert!(db.record_action_uses(&RunId::from("nope"), vec![(mean, called())], true).await.is_err());
        let stored = db.action("column_mean").unwrap().unwrap();
        assert_eq!((stored.uses, stored.offers), (0, 0));
    }
}
