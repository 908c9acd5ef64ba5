//! The benchmark runner: strategies on an environment's tasks with one model, each episode one
//! kernel run, recorded so that an interrupted benchmark picks up where it stopped.
//!
//! An episode resets its task, starts a kernel run whose task is the observation's text and
//! whose tool capabilities are the tools the observation offers, drives the strategy on it
//! ([`agentos_agents::drive`]), and steps the environment with the final answer. Its episode row
//! is written when the run starts and completed with the reward, so when the same benchmark is
//! started again an ended episode is skipped, and an episode whose run did not end is resumed
//! from that run's journal (nothing it recorded is asked of the model again) instead of starting
//! over. Episodes run concurrently, at most [`Benchmark::concurrency`] at a time; their model
//! calls queue in the kernel's scheduler like any others.
//!
//! A run that fails (no answer within its steps, its budget spent, a model error after the
//! provider's retries) ends its episode with reward 0 and the error in the info; a suspended or
//! cancelled run leaves its episode unended.

use crate::interact::{EpisodeTools, CHECK_ANSWER};
use crate::{Environment, GymError, Observation, Summary};
use agentos_agents::{drive, Strategy};
use agentos_core::RunId;
use agentos_kernel::{ActionMode, BenchmarkRecord, Budget, Capabilities, Ending, EpisodeRecord, Kernel, RunSpec, Storage, WorkingMemory};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

/// What defines a benchmark. It is stored with the benchmark, and starting a stored benchmark
/// again requires the same spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkSpec {
    /// The environment's name.
    pub env: String,
    /// The strategies' names as [`agentos_agents::strategy`] reads them, counts included (`sc:9`),
    /// in the order the summary lists them. Episodes and their runs are recorded under these
    /// names, so a run resumed on its own (`agentos resume`) rebuilds the same strategy.
    pub strategies: Vec<String>,
    /// The model URI every episode uses.
    pub model: String,
    /// How many tasks (all when `None`).
    pub limit: Option<usize>,
    /// Which tasks: `None` takes them in data order, a seed takes a seeded random sample (see
    /// [`select_tasks`]).
    pub seed: Option<u64>,
    /// Most reasoning steps of each episode's run.
    pub max_steps: u32,
    /// Sampling temperature of the model calls (`None`: the model's default).
    pub temperature: Option<f32>,
    /// What each episode's run may spend.
    pub budget: Budget,
    /// The model URI of each named role of the strategies (such as `inner` for Iteration of
    /// Thought's inner dialogue agent), passed to every episode's run ([`RunSpec::roles`]); a role
    /// not named here uses `model`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, String>,
    /// Whether the agents may test candidate answers with the environment's `check_answer` tool
    /// before they answer (see [`crate::feedback`]); scores with and without it are different
    /// benchmarks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub feedback: bool,
    /// Whether the episodes of strategies that act in code join the action library
    /// ([`RunSpec::library`]): offered the functions earlier episodes kept, and keeping theirs.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub library: bool,
    /// The working-memory policies the strategies run with ([`RunSpec::working_memory`]): each
    /// strategy runs once with each policy it can keep (see [`BenchmarkSpec::rows`]).
    #[serde(default = "window_only", skip_serializing_if = "is_window_only")]
    pub memories: Vec<WorkingMemory>,
}

/// One row of a benchmark: a strategy with one working-memory policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The row's name, under which its episodes are recorded: the strategy's, followed by
    /// `+<policy>` for a policy other than the plain window (`react+hiagent`).
    pub name: String,
    /// The strategy's name, as its runs record it.
    pub strategy: String,
    /// The policy its runs keep their context with.
    pub memory: WorkingMemory,
}

impl BenchmarkSpec {
    /// The rows: each strategy, in order, with each policy of [`BenchmarkSpec::memories`] it can
    /// keep ([`agentos_agents::check_memory`]; a strategy that is not built by name keeps only
    /// the plain window).
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for strategy in &self.strategies {
            let built = agentos_agents::strategy(strategy).ok();
            for &memory in &self.memories {
                let keeps = match &built {
                    Some(built) => agentos_agents::check_memory(built.as_ref(), memory).is_ok(),
                    None => memory.is_window(),
                };
                if keeps {
                    let name = if memory.is_window() { strategy.clone() } else { format!("{strategy}+{memory}") };
                    rows.push(Row { name, strategy: strategy.clone(), memory });
                }
            }
        }
        rows
    }
}

/// The default of [`BenchmarkSpec::memories`]: the plain window alone.
fn window_only() -> Vec<WorkingMemory> {
    vec![WorkingMemory::Window]
}

/// Whether [`BenchmarkSpec::memories`] has its default, so that the specs (and ids) of
/// benchmarks stored before it existed stay the same.
fn is_window_only(memories: &[WorkingMemory]) -> bool {
    memories == [WorkingMemory::Window]
}

/// The default of [`BenchmarkSpec::library`].
fn yes() -> bool {
    true
}

/// Whether [`BenchmarkSpec::library`] has its default, so that the specs (and ids) of benchmarks
/// stored before it existed stay the same.
fn is_true(join: &bool) -> bool {
    *join
}

/// Where a benchmark run stands, for a progress display.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Episodes in the benchmark (strategies × tasks).
    pub total: usize,
    /// Episodes that have ended, those that had before this run included.
    pub ended: usize,
    /// Episodes that had ended before this run and were skipped.
    pub skipped: usize,
    /// The episode that just ended (`None` in the first report, before any has).
    pub last: Option<EpisodeRecord>,
}

/// What a benchmark run did.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The benchmark's id.
    pub id: String,
    /// Its spec.
    pub spec: BenchmarkSpec,
    /// Every ended episode of the benchmark, in the order they were first started.
    pub episodes: Vec<EpisodeRecord>,
    /// Episodes that ended in this run.
    pub ran: usize,
    /// Episodes that had ended before and were skipped.
    pub skipped: usize,
    /// Episodes whose run was suspended or cancelled; starting the benchmark again resumes them.
    pub unfinished: usize,
}

impl Outcome {
    /// The score table of the ended episodes.
    pub fn summary(&self) -> Summary {
        Summary::new(&self.id, &self.spec, &self.episodes)
    }
}

type ProgressHook = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A strategy with the name it is recorded under.
type Named = (String, Arc<dyn Strategy>);

/// A benchmark ready to run: strategies, an environment, a model, and the settings of the
/// episodes. Build it with [`Benchmark::new`] (or [`Benchmark::from_names`]) and the setters,
/// then [`Benchmark::run`] it.
pub struct Benchmark {
    kernel: Kernel,
    env: Box<dyn Environment>,
    strategies: Vec<Named>,
    spec: BenchmarkSpec,
    concurrency: usize,
    progress: Option<ProgressHook>,
    tools: Option<Arc<EpisodeTools>>,
    workspace: PathBuf,
}

impl Benchmark {
    /// A benchmark of `strategies` on every task of `env` with the model `model`, through
    /// `kernel` (which must have the tools the environment offers registered). Each strategy
    /// comes with the name its episodes, runs and summary row are recorded under; for a strategy
    /// [`agentos_agents::strategy`] builds, that must be the name it was built from (`sc:9`, not
    /// `sc`), so that its runs resume as the same strategy. Defaults: all tasks in data order,
    /// 10 steps per episode, the model's temperature, no budget, no roles, no feedback, the action
    /// library joined, 8 episodes at a time, work directories under the system's temporary folder.
    ///
    /// A strategy that cannot act in JSON ([`Strategy::action_modes`]: `codeact`, `pal`, `pal-sc`)
    /// runs its episodes in code mode: each in a sandbox of its own over a work directory of its
    /// own, holding the task's files, removed when the episode has ended.
    pub fn new(kernel: Kernel, env: Box<dyn Environment>, strategies: Vec<(String, Arc<dyn Strategy>)>, model: &str) -> Self {
        let spec = BenchmarkSpec {
            env: env.name().to_string(),
            strategies: strategies.iter().map(|(name, _)| name.clone()).collect(),
            model: model.to_string(),
            limit: None,
            seed: None,
            max_steps: 10,
            temperature: None,
            budget: Budget::default(),
            roles: BTreeMap::new(),
            feedback: false,
            library: true,
            memories: window_only(),
        };
        let workspace = std::env::temp_dir().join("agentos-gym");
        Benchmark { kernel, env, strategies, spec, concurrency: 8, progress: None, tools: None, workspace }
    }

    /// [`Benchmark::new`] with the strategies built by name with [`agentos_agents::strategy`]
    /// (`react`, `cot`, `sc:9`, ...), each recorded under the name it was built from. Fails on
    /// the first name that is not a strategy, listing the strategies.
    pub fn from_names(kernel: Kernel, env: Box<dyn Environment>, names: &[String], model: &str) -> Result<Self, GymError> {
        let strategies = names
            .iter()
            .map(|name| {
                let built = agentos_agents::strategy(name).map_err(|e| GymError::Strategies(e.to_string()))?;
                Ok((name.clone(), Arc::from(built)))
            })
            .collect::<Result<Vec<Named>, GymError>>()?;
        Ok(Self::new(kernel, env, strategies, model))
    }

    /// Runs only the first `limit` of the selected tasks.
    pub fn limit(mut self, limit: usize) -> Self {
        self.spec.limit = Some(limit);
        self
    }

    /// Selects the tasks as a random sample drawn with `seed` instead of in data order.
    pub fn seed(mut self, seed: u64) -> Self {
        self.spec.seed = Some(seed);
        self
    }

    /// Sets the most reasoning steps of each episode.
    pub fn max_steps(mut self, max_steps: u32) -> Self {
        self.spec.max_steps = max_steps;
        self
    }

    /// Sets the sampling temperature of every model call.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.spec.temperature = Some(temperature);
        self
    }

    /// Sets what each episode's run may spend.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.spec.budget = budget;
        self
    }

    /// Sets the model URI of the named role `role` of the strategies (see
    /// [`BenchmarkSpec::roles`]); a role set twice keeps the last URI.
    pub fn role(mut self, role: impl Into<String>, uri: impl Into<String>) -> Self {
        self.spec.roles.insert(role.into(), uri.into());
        self
    }

    /// Lets the agents act in an interactive environment ([`Environment::actions`]) through
    /// `tools`, whose action tools ([`EpisodeTools::actions`]) the kernel must have registered
    /// (see [`crate::interact`]); [`Benchmark::run`] refuses an interactive environment without.
    pub fn interact(mut self, tools: Arc<EpisodeTools>) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Lets the agents test candidate answers with the `check_answer` tool `tools`, which the
    /// kernel must have registered (see [`crate::interact`]). The environment must give feedback
    /// ([`Environment::gives_feedback`]); [`Benchmark::run`] refuses otherwise.
    pub fn feedback(mut self, tools: Arc<EpisodeTools>) -> Self {
        self.spec.feedback = true;
        self.interact(tools)
    }

    /// Sets whether the episodes of code-acting strategies join the action library
    /// ([`BenchmarkSpec::library`]).
    pub fn library(mut self, join: bool) -> Self {
        self.spec.library = join;
        self
    }

    /// Runs every strategy with each of the working-memory policies `policies` it can keep
    /// ([`BenchmarkSpec::memories`]); [`Benchmark::run`] refuses a policy no strategy keeps.
    pub fn memories(mut self, policies: Vec<WorkingMemory>) -> Self {
        self.spec.memories = policies;
        self
    }

    /// Sets the folder under which code-mode episodes get their work directories
    /// (`<folder>/<benchmark id>/<strategy>/<task>`). It is not part of the spec.
    pub fn workspace(mut self, folder: impl Into<PathBuf>) -> Self {
        self.workspace = folder.into();
        self
    }

    /// Sets how many episodes run at the same time (at least 1). It is not part of the spec: a
    /// benchmark may be resumed with another.
    pub fn concurrency(mut self, episodes: usize) -> Self {
        self.concurrency = episodes.max(1);
        self
    }

    /// Calls `hook` once when the run starts and again each time an episode ends.
    pub fn on_progress(mut self, hook: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(hook));
        self
    }

    /// The spec this benchmark is stored with.
    pub fn spec(&self) -> &BenchmarkSpec {
        &self.spec
    }

    /// The tasks it runs, as (index, id) in the environment.
    pub fn tasks(&self) -> Vec<(usize, String)> {
        let ids = self.env.task_ids();
        select_tasks(ids.len(), self.spec.limit, self.spec.seed).into_iter().map(|i| (i, ids[i].clone())).collect()
    }

    /// Runs the benchmark under the id `id`: every episode (each strategy on each task) that has
    /// not ended yet. A new id starts a new benchmark; a stored one must have the same spec, and
    /// its ended episodes are skipped and its unended ones resumed. An error in one episode (the
    /// database failing, a tool the environment offers missing from the kernel) stops the run;
    /// what ended stays recorded, and starting it again carries on.
    pub async fn run(&self, id: &str) -> Result<Outcome, GymError> {
        let mut names = HashSet::new();
        if self.strategies.is_empty() {
            return Err(GymError::Strategies("a benchmark needs at least one strategy".into()));
        }
        if let Some((twice, _)) = self.strategies.iter().find(|(name, _)| !names.insert(name.as_str())) {
            return Err(GymError::Strategies(format!("the strategy `{twice}` is given twice; give each once")));
        }
        let rows = self.spec.rows();
        if let Some(&unkept) = self.spec.memories.iter().find(|m| !rows.iter().any(|r| r.memory == **m)) {
            let (_, first) = &self.strategies[0];
            let refused = agentos_agents::check_memory(first.as_ref(), unkept).err().map_or_else(String::new, |e| e.to_string());
            return Err(GymError::Strategies(format!("no strategy of this benchmark keeps --memory {unkept}: {refused}")));
        }
        if self.spec.feedback && !self.env.gives_feedback() {
            return Err(GymError::NoFeedback { env: self.spec.env.clone() });
        }
        let interactive = !self.env.actions().is_empty();
        if interactive && self.tools.is_none() {
            return Err(GymError::NoActionTools { env: self.spec.env.clone() });
        }
        let storage = self.kernel.storage();
        let given = serde_json::to_value(&self.spec).expect("a benchmark spec serializes");
        let bench = storage.open_benchmark(id, given.clone()).await?;
        let stored: Option<BenchmarkSpec> = serde_json::from_value(bench.spec.clone()).ok();
        if stored.as_ref() != Some(&self.spec) {
            return Err(GymError::SpecMismatch { id: id.to_string(), stored: bench.spec.to_string(), given: given.to_string() });
        }

        let recorded: HashMap<(String, String), EpisodeRecord> =
            storage.episodes(&bench)?.into_iter().map(|e| ((e.strategy.clone(), e.task.clone()), e)).collect();
        let mut work = Vec::new();
        let mut skipped = 0;
        for (index, task) in self.tasks() {
            for row in &rows {
                match recorded.get(&(row.name.clone(), task.clone())) {
                    Some(e) if e.ended() => skipped += 1,
                    earlier => work.push((row.clone(), index, task.clone(), earlier.map(|e| e.run.clone()))),
                }
            }
        }
        let total = work.len() + skipped;
        let shared = Arc::new(Shared {
            kernel: self.kernel.clone(),
            spec: self.spec.clone(),
            bench,
            tools: (self.spec.feedback || interactive).then(|| self.tools.clone()).flatten(),
            workspace: self.workspace.join(id),
        });
        self.report(Progress { total, ended: skipped, skipped, last: None });

        let (mut ran, mut unfinished, mut ended) = (0, 0, skipped);
        let mut queue = work.into_iter();
        let mut running = JoinSet::new();
        loop {
            while running.len() < self.concurrency {
                let Some((row, index, task, earlier)) = queue.next() else { break };
                let strategy =
                    self.strategies.iter().find(|(name, _)| *name == row.strategy).expect("rows are of the strategies").1.clone();
                running.spawn(episode(shared.clone(), row, strategy, self.env.fork(), index, task, earlier));
            }
            let Some(joined) = running.join_next().await else { break };
            let outcome = match joined {
                Ok(result) => result?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => unreachable!("episodes are never aborted while the benchmark awaits them: {e}"),
            };
            match outcome {
                Some(record) => {
                    ran += 1;
                    ended += 1;
                    self.report(Progress { total, ended, skipped, last: Some(record) });
                }
                None => unfinished += 1,
            }
        }

        let wanted: HashSet<(String, String)> =
            self.tasks().into_iter().flat_map(|(_, task)| rows.iter().map(move |r| (r.name.clone(), task.clone()))).collect();
        let episodes = storage
            .episodes(&shared.bench)?
            .into_iter()
            .filter(|e| e.ended() && wanted.contains(&(e.strategy.clone(), e.task.clone())))
            .collect();
        Ok(Outcome { id: id.to_string(), spec: self.spec.clone(), episodes, ran, skipped, unfinished })
    }

    fn report(&self, progress: Progress) {
        if let Some(hook) = &self.progress {
            hook(&progress);
        }
    }
}

/// What every episode of one benchmark run shares.
struct Shared {
    kernel: Kernel,
    spec: BenchmarkSpec,
    bench: BenchmarkRecord,
    /// Where the episodes act and check answers, for a benchmark with feedback or an interactive
    /// environment.
    tools: Option<Arc<EpisodeTools>>,
    /// The folder of this benchmark's work directories.
    workspace: PathBuf,
}

/// Runs one episode to its end: resumes the run `earlier` if it is given and has not ended,
/// else starts a new one. Returns the ended episode, or `None` when its run was suspended or
/// cancelled (the episode stays unended, to be resumed).
async fn episode(
    shared: Arc<Shared>,
    row: Row,
    strategy: Arc<dyn Strategy>,
    mut env: Box<dyn Environment>,
    index: usize,
    task: String,
    earlier: Option<RunId>,
) -> Result<Option<EpisodeRecord>, GymError> {
    let (kernel, storage) = (&shared.kernel, shared.kernel.storage());
    let mut observation = env.reset(index)?;
    if shared.spec.feedback {
        observation.tools.push(CHECK_ANSWER.to_string());
    }
    // A strategy that cannot act in JSON acts in code, in a work directory of its own.
    let code = !strategy.action_modes().contains(&ActionMode::Json);
    let workdir = code.then(|| work_directory(&shared.workspace, &row.name, &task, &observation)).transpose()?;
    let started = Instant::now();
    let earlier = earlier.map(|run| storage.run(run.as_str())).transpose()?;
    let agent = match earlier {
        // The run ended but the process stopped before the episode was recorded.
        Some(record) if record.status == "finished" => Err((record.id, Ending::Finished(record.output.unwrap_or_default()))),
        Some(record) if record.status == "failed" => Err((record.id, Ending::Failed(record.output.unwrap_or_default()))),
        Some(record) => Ok(kernel.restore(kernel.snapshot(record.id.as_str())?).await?),
        None => {
            let mut capabilities = Capabilities { tools: observation.tools.into_iter().collect(), ..Default::default() };
            if let Some(workdir) = &workdir {
                capabilities.paths = vec![workdir.clone()];
                capabilities.code = true;
            }
            let spec = RunSpec {
                task: observation.text,
                strategy: row.strategy.clone(),
                model: shared.spec.model.clone(),
                max_steps: shared.spec.max_steps,
                capabilities,
                budget: shared.spec.budget.clone(),
                priority: 0,
                temperature: shared.spec.temperature,
                roles: shared.spec.roles.clone(),
                actions: if code { ActionMode::Code } else { ActionMode::Json },
                library: shared.spec.library,
                memory_scopes: Vec::new(),
                profile: None,
                working_memory: row.memory,
                seat: None,
                team_file: None,
            };
            let agent = kernel.start(spec).await?;
            let pending = EpisodeRecord {
                strategy: row.name.clone(),
                task: task.clone(),
                run: agent.run().clone(),
                reward: None,
                info: serde_json::Value::Null,
                wall_ms: None,
                usage: Default::default(),
                communication_tokens: 0,
            };
            storage.record_episode(&shared.bench, &pending).await?;
            Ok(agent)
        }
    };
    let (run, ending) = match agent {
        Err(ended) => ended,
        Ok(agent) => {
            let tools = shared.tools.as_ref();
            if let Some(tools) = tools {
                let mut acting = env.fork();
                acting.reset(index)?;
                tools.open(agent.run().clone(), acting);
            }
            let ending = drive(kernel, &agent, strategy.as_ref()).await;
            if let Some(tools) = tools {
                tools.close(agent.run());
            }
            (agent.run().clone(), ending?)
        }
    };
    let (reward, info) = match ending {
        Ending::Finished(answer) => {
            let feedback = env.step(&answer)?;
            (feedback.reward, feedback.info)
        }
        Ending::Failed(error) => (0.0, json!({ "error": error })),
        Ending::Suspended | Ending::Cancelled | Ending::Interrupted(_) => return Ok(None),
    };
    let wall_ms = Some(started.elapsed().as_millis() as u64);
    let info = with_team(storage, &run, info)?;
    let usage = storage.usage(&run)?;
    let communication_tokens = storage.board(run.as_str())?.iter().map(|post| post.tokens).sum();
    let ended = EpisodeRecord { strategy: row.name, task, run, reward: Some(reward), info, wall_ms, usage, communication_tokens };
    storage.record_episode(&shared.bench, &ended).await?;
    if let Some(workdir) = workdir {
        // The episode is recorded; what its code left in its folder goes.
        let _ = std::fs::remove_dir_all(workdir);
    }
    Ok(Some(ended))
}

/// `info` with, for a team run, how its team stopped (the `team_stopped` event's payload: the
/// reason, the round, and the topology's detail, such as DyLAN's importance scores) under `team`.
fn with_team(storage: &Storage, run: &RunId, mut info: Value) -> Result<Value, GymError> {
    let stopped = storage.events(run)?.into_iter().rev().find(|(kind, _)| kind == "team_stopped").map(|(_, payload)| payload);
    if let Some(stopped) = stopped {
        match &mut info {
            Value::Object(fields) => {
                fields.insert("team".into(), stopped);
            }
            other => *other = json!({ "result": other.take(), "team": stopped }),
        }
    }
    Ok(info)
}

/// The work directory of a code-mode episode of strategy `strategy` on task `task`, under
/// `workspace`, holding the task's files: made (or made again, for an episode resumed after it
/// was removed) with the files copied in where they are missing.
fn work_directory(workspace: &Path, strategy: &str, task: &str, observation: &Observation) -> Result<PathBuf, GymError> {
    let safe =
        |name: &str| -> String { name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect() };
    let dir = workspace.join(safe(strategy)).join(safe(task));
    let io = |path: &Path, source| GymError::Workspace { path: path.to_path_buf(), source };
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    for file in &observation.files {
        let Some(name) = file.file_name() else { continue };
        let to = dir.join(name);
        if !to.exists() {
            std::fs::copy(file, &to).map_err(|e| io(file, e))?;
        }
    }
    Ok(dir)
}

/// The indices of the tasks a benchmark runs, out of `count`: in data order when `seed` is
/// `None`, else a random permutation drawn with `seed` (the same on every machine); then the
/// first `limit` of them.
pub fn select_tasks(count: usize, limit: Option<usize>, seed: Option<u64>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    if let Some(seed) = seed {
        // Fisher–Yates, so a seed means the same sample everywhere.
        let mut rng = crate::rng::SplitMix64::new(seed);
        for i in (1..count).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
    }
    order.truncate(limit.unwrap_or(count));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_taken_in_order_or_as_a_seeded_sample() {
        assert_eq!(select_tasks(5, None, None), [0, 1, 2, 3, 4]);
        assert_eq!(select_tasks(5, Some(2), None), [0, 1]);
        assert_eq!(select_tasks(5, Some(9), None), [0, 1, 2, 3, 4]);
        let sample = select_tasks(100, Some(10), Some(7));
        assert_eq!(sample, select_tasks(100, Some(10), Some(7)), "a seed always draws the same sample");
        assert_ne!(sample, select_tasks(100, Some(10), Some(8)));
        assert_ne!(sample, (0..10).collect::<Vec<_>>());
        let mut all = select_tasks(100, None, Some(7));
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>(), "a sample is a permutation");
    }
}
