//! agentos-gym: what measures agents. Environments with exact checkers, a resumable benchmark
//! runner that drives any strategy through the kernel, and the score table that compares them.
//!
//! The [`Environment`] interface follows AgentGym (Xi et al., 2024, "AgentGym: Evolving Large
//! Language Model-based Agents across Diverse Environments"): `reset` a task to get the first
//! [`Observation`] (the task for the agent and the tools it is offered), `step` an action to get
//! [`Feedback`] (an observation, a reward, whether the episode is done, and details). The
//! environments here are over the real task sets in `../shared/data` ([`data_dir`]):
//! [`game24`] (Game of 24), [`crosswords`] (5×5 mini crosswords, scored as in Tree of Thoughts),
//! [`gsm8k`] (grade-school math with the calculator offered), [`gsm8k_chain`] (three GSM8K
//! problems in one episode: long horizons, for working memory) and [`dataqa`] (related questions
//! over the data's own tables, answered with code, for the action library). Their episodes are one
//! answer long, so each is a [`TaskSet`] of [`Task`]s. [`sessions`] builds multi-session memory
//! tasks from the GSM8K file for `agentos bench memory`. [`games`] holds multi-agent games (Who
//! is the spy, an auction), each played as a team run whose members are the players.
//!
//! [`population`] simulates many agents whose decisions come from a few archetypes, one model
//! call per archetype per step (AgentTorch's LLM archetypes), in an epidemic with documented
//! rules ([`population::epidemic`]); a simulation is one kernel run, journaled and resumable.
//!
//! A [`Benchmark`] runs strategies on an environment's tasks with one model: each episode is one
//! kernel run (its journal, usage and scheduling are the kernel's), episodes run concurrently,
//! and everything is recorded so that the same benchmark started again skips the episodes that
//! ended and resumes the runs that did not. A [`Summary`] turns the episodes into the table (a
//! Wilson 95 % interval on each success rate) as Markdown, CSV, JSON and an SVG chart.
//!
//! Must not: call a model, a tool or the database except through the kernel; know how any
//! strategy decides (a game's strategy only runs its rules and asks its players); or draw
//! anything for a terminal (the CLI puts a progress bar on [`Benchmark::on_progress`] and prints
//! a game's outcome table).

#![warn(missing_docs)]

pub mod crosswords;
pub mod dataqa;
pub mod game24;
pub mod games;
pub mod gsm8k;
pub mod gsm8k_chain;
pub mod interact;
pub mod population;
mod rng;
mod runner;
pub mod sessions;
mod summary;

pub use runner::{select_tasks, Benchmark, BenchmarkSpec, Outcome, Progress, Row};
pub use summary::{succeeded, wilson_interval, StrategySummary, Summary};

use agentos_core::ToolSpec;
use agentos_kernel::{KernelError, StorageError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// The environment variable naming the benchmark data folder.
pub const DATA_VAR: &str = "AGENTOS_DATA";

/// The names of the environments [`environment`] loads.
pub const ENVIRONMENTS: &[&str] = &["game24", "crosswords", "gsm8k", "gsm8k-chain", "dataqa"];

/// Why the gym could not do what was asked.
#[derive(Debug, Error)]
pub enum GymError {
    /// The benchmark data folder does not exist.
    #[error("benchmark data folder {} not found; set {DATA_VAR} to the folder that holds game24/, crosswords/ and gsm8k/", path.display())]
    DataMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A data file could not be read.
    #[error("cannot read {}: {source}; check {DATA_VAR} points at the benchmark data folder", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A data file holds a row that does not decode.
    #[error("{}:{line}: {reason}", path.display())]
    Data {
        /// The file.
        path: PathBuf,
        /// The line (1-based; 0 when the whole file is one JSON document).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// No environment has this name.
    #[error("unknown environment `{0}`; the environments are: {list}", list = ENVIRONMENTS.join(", "))]
    UnknownEnvironment(String),
    /// A task index past the environment's tasks.
    #[error("{env} has no task {index}; its tasks are numbered 0 to {}", count.saturating_sub(1))]
    NoSuchTask {
        /// The environment.
        env: String,
        /// The index asked for.
        index: usize,
        /// How many tasks it has.
        count: usize,
    },
    /// `step` without a task: before the first `reset`, or after the episode was done.
    #[error("step on {env} without a task: call reset(task) first (its episodes end after one answer)")]
    NotReset {
        /// The environment.
        env: String,
    },
    /// A benchmark id that is stored with another spec.
    #[error("benchmark `{id}` was started with other settings ({stored}), not these ({given}); resume it with the same settings, or choose a new id")]
    SpecMismatch {
        /// The benchmark id.
        id: String,
        /// The stored spec, as JSON.
        stored: String,
        /// The spec given now, as JSON.
        given: String,
    },
    /// A benchmark without strategies, or with two of one name.
    #[error("{0}")]
    Strategies(String),
    /// A population or a simulation scenario with a count out of its bounds.
    #[error("{0}")]
    Population(String),
    /// Feedback asked of an environment that gives none.
    #[error("{env} gives no feedback before the answer (only game24 does); drop --feedback")]
    NoFeedback {
        /// The environment.
        env: String,
    },
    /// An interactive environment's benchmark without the tools its agents act through.
    #[error(
        "{env} is interactive (its agents act through tools), but the benchmark has none: register EpisodeTools::actions with \
         the kernel and pass the same EpisodeTools to Benchmark::interact"
    )]
    NoActionTools {
        /// The environment.
        env: String,
    },
    /// A code-mode episode's work directory could not be made or filled.
    #[error("cannot prepare the episode's work directory ({}): {source}", path.display())]
    Workspace {
        /// The folder or file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The kernel refused (a tool the environment offers is not registered, the model URI is
    /// unusable, ...).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The chart could not be drawn.
    #[error("cannot draw the chart: {0}")]
    Chart(String),
}

/// What an agent sees when an episode starts: its task, the tools it is offered, and the files
/// it works on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The task, as the agent reads it.
    pub text: String,
    /// The names of the tools the agent may call (kernel tool names, such as `calculator`).
    pub tools: Vec<String>,
    /// Files the task is about: copied, under their file names, into the episode's work
    /// directory, which the file tools and code actions see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
}

/// What the environment answers to an action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// What the agent would see next (for a one-answer task, the verdict in words).
    pub observation: String,
    /// The reward: 1 for a right answer and 0 for a wrong one in the environments here.
    pub reward: f64,
    /// Whether the episode is over.
    pub done: bool,
    /// Details for the record (the expression read, the accuracies, the parsed number, ...).
    pub info: Value,
}

/// A task set an agent acts in, after AgentGym (Xi et al., 2024): reset a task, step actions.
///
/// An environment value holds one episode at a time; [`Environment::fork`] makes another over
/// the same tasks for an episode that runs at the same time.
pub trait Environment: Send + Sync {
    /// The environment's name, as `--env` takes it.
    fn name(&self) -> &str;

    /// The ids of its tasks; a task is reset by its index in this list.
    fn task_ids(&self) -> Vec<String>;

    /// Starts an episode on task `task` (an index into [`Environment::task_ids`]).
    fn reset(&mut self, task: usize) -> Result<Observation, GymError>;

    /// Takes the agent's action (for one-answer tasks, its final answer) in the current episode.
    fn step(&mut self, action: &str) -> Result<Feedback, GymError>;

    /// Whether the agent may test a candidate answer before it submits one ([`Environment::check`]),
    /// as AgentGym's interactive environments let it; none here does unless it says so.
    fn gives_feedback(&self) -> bool {
        false
    }

    /// What the environment says of the candidate answer `action` in the current episode, without
    /// ending it (Game of 24: "wrong: the expression equals 10, not 24"); `None` where the
    /// environment gives no feedback or no episode is under way.
    fn check(&self, action: &str) -> Option<String> {
        let _ = action;
        None
    }

    /// The actions the agent may take in the environment before it answers, offered as tools
    /// (see [`interact`]): none, unless the environment says so.
    fn actions(&self) -> Vec<ToolSpec> {
        Vec::new()
    }

    /// Takes the action `name` with `arguments` in the current episode: what the agent observes,
    /// or why the action is refused (said so that the agent can do better).
    fn act(&mut self, name: &str, arguments: &Value) -> Result<String, String> {
        let _ = arguments;
        Err(format!("`{name}` is no action of {}", self.name()))
    }

    /// A new environment over the same tasks, with no episode under way (cheap: tasks are shared).
    fn fork(&self) -> Box<dyn Environment>;
}

/// One task whose episode is one answer long: an observation out, an answer in, checked exactly.
pub trait Task: Send + Sync + 'static {
    /// The task's id in its data set.
    fn id(&self) -> String;

    /// What the agent is told, and the tools it is offered.
    fn observation(&self) -> Observation;

    /// Checks an answer; the feedback is done.
    fn check(&self, answer: &str) -> Feedback;

    /// Whether an agent may test candidate answers first ([`Environment::check`]).
    const GIVES_FEEDBACK: bool = false;

    /// The actions an agent may take before it answers ([`Environment::actions`]): none, unless
    /// the task says so.
    fn actions() -> Vec<ToolSpec>
    where
        Self: Sized,
    {
        Vec::new()
    }

    /// Takes the action `name` with `arguments` ([`Environment::act`]); stateless, so that an
    /// episode resumed from its journal acts on the same task.
    fn act(&self, name: &str, arguments: &Value) -> Result<String, String> {
        let _ = arguments;
        Err(format!("`{name}` is no action of this task"))
    }
}

/// An [`Environment`] over [`Task`]s: `reset` picks a task, `step` checks the answer and ends the
/// episode.
pub struct TaskSet<T: Task> {
    name: String,
    tasks: Arc<[T]>,
    current: Option<usize>,
}

impl<T: Task> TaskSet<T> {
    /// An environment named `name` over `tasks`.
    pub fn new(name: impl Into<String>, tasks: Vec<T>) -> Self {
        TaskSet { name: name.into(), tasks: tasks.into(), current: None }
    }

    /// Its tasks, in order.
    pub fn tasks(&self) -> &[T] {
        &self.tasks
    }
}

impl<T: Task> Environment for TaskSet<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn task_ids(&self) -> Vec<String> {
        self.tasks.iter().map(Task::id).collect()
    }

    fn reset(&mut self, task: usize) -> Result<Observation, GymError> {
        let found =
            self.tasks.get(task).ok_or_else(|| GymError::NoSuchTask { env: self.name.clone(), index: task, count: self.tasks.len() })?;
        self.current = Some(task);
        Ok(found.observation())
    }

    fn step(&mut self, action: &str) -> Result<Feedback, GymError> {
        let task = self.current.take().ok_or_else(|| GymError::NotReset { env: self.name.clone() })?;
        Ok(self.tasks[task].check(action))
    }

    fn gives_feedback(&self) -> bool {
        T::GIVES_FEEDBACK
    }

    fn check(&self, action: &str) -> Option<String> {
        let task = &self.tasks[self.current?];
        T::GIVES_FEEDBACK.then(|| task.check(action).observation)
    }

    fn actions(&self) -> Vec<ToolSpec> {
        T::actions()
    }

    fn act(&mut self, name: &str, arguments: &Value) -> Result<String, String> {
        let task = self.current.ok_or_else(|| "no task under way: the episode has not started or has ended".to_string())?;
        self.tasks[task].act(name, arguments)
    }

    fn fork(&self) -> Box<dyn Environment> {
        Box::new(TaskSet { name: self.name.clone(), tasks: self.tasks.clone(), current: None })
    }
}

/// Feedback that ends a one-answer episode: reward 1 when `right`, else 0.
fn verdict(right: bool, observation: String, info: Value) -> Feedback {
    Feedback { observation, reward: if right { 1.0 } else { 0.0 }, done: true, info }
}

/// The benchmark data folder: `$AGENTOS_DATA` if set, else `../shared/data` next to the
/// workspace this crate was built in. Fails, naming the path and the variable, if it is missing.
pub fn data_dir() -> Result<PathBuf, GymError> {
    data_dir_from(std::env::var_os(DATA_VAR))
}

/// The data folder given the value of [`DATA_VAR`], if it is set.
fn data_dir_from(var: Option<std::ffi::OsString>) -> Result<PathBuf, GymError> {
    let path = match var {
        Some(path) => PathBuf::from(path),
        None => {
            let workspace =
                Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("the crate lies two folders below its workspace");
            workspace.parent().unwrap_or(workspace).join("shared").join("data")
        }
    };
    if !path.is_dir() {
        return Err(GymError::DataMissing { path });
    }
    Ok(path)
}

/// The environment named `name` (one of [`ENVIRONMENTS`]), loaded from the data folder `data`.
pub fn environment(name: &str, data: &Path) -> Result<Box<dyn Environment>, GymError> {
    Ok(match name {
        "game24" => Box::new(game24::load(data)?),
        "crosswords" => Box::new(crosswords::load(data)?),
        "gsm8k" => Box::new(gsm8k::load(data)?),
        "gsm8k-chain" => Box::new(gsm8k_chain::load(data)?),
        "dataqa" => Box::new(dataqa::load(data)?),
        other => return Err(GymError::UnknownEnvironment(other.to_string())),
    })
}

/// The text of a data file.
fn read_data(path: &Path) -> Result<String, GymError> {
    std::fs::read_to_string(path).map_err(|source| GymError::Read { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Echo(&'static str);

    impl Task for Echo {
        fn id(&self) -> String {
            self.0.to_string()
        }
        fn observation(&self) -> Observation {
            Observation { text: format!("say {}", self.0), tools: vec![], files: vec![] }
        }
        fn check(&self, answer: &str) -> Feedback {
            verdict(answer == self.0, String::new(), json!({}))
        }
    }

    #[test]
    fn a_task_set_runs_one_answer_episodes_and_refuses_a_step_without_a_task() {
        let mut env = TaskSet::new("echo", vec![Echo("a"), Echo("b")]);
        assert_eq!(env.task_ids(), ["a", "b"]);
        assert!(matches!(env.step("a"), Err(GymError::NotReset { .. })));
        assert_eq!(env.reset(1).unwrap().text, "say b");
        let mut other = env.fork();
        assert!(other.step("b").is_err(), "a fork starts with no episode");
        let feedback = env.step("b").unwrap();
        assert_eq!((feedback.reward, feedback.done), (1.0, true));
        let err = env.step("b").unwrap_err().to_string();
        assert!(err.contains("call reset(task) first"), "{err}");
        let err = env.reset(2).unwrap_err().to_string();
        assert_eq!(err, "echo has no task 2; its tasks are numbered 0 to 1");
    }

    #[test]
    fn environments_load_by_name_and_an_unknown_name_lists_the_known_ones() {
        let data = data_dir().unwrap();
        for (name, count) in [("game24", 1262), ("crosswords", 136), ("gsm8k", 1000), ("gsm8k-chain", 333), ("dataqa", 20)] {
            let env = environment(name, &data).unwrap();
            assert_eq!((env.name(), env.task_ids().len()), (name, count));
        }
        let err = environment("chess", &data).err().unwrap().to_string();
        assert_eq!(err, "unknown environment `chess`; the environments are: game24, crosswords, gsm8k, gsm8k-chain, dataqa");
        let err = data_dir_from(Some("/nonexistent".into())).unwrap_err().to_string();
        assert_eq!(
            err,
            "benchmark data folder /nonexistent not found; set AGENTOS_DATA to the folder that holds game24/, crosswords/ and gsm8k/"
        );
        let err = environment("game24", Path::new("/nonexistent")).err().unwrap().to_string();
        assert!(err.contains("/nonexistent/game24/game24.csv") && err.contains(DATA_VAR), "{err}");
    }
}
