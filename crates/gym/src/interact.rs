//! Interacting with the environment during an episode, through kernel tools, as in AgentGym's
//! interactive environments (Xi et al., 2024):
//!
//! - the environment's actions ([`Environment::actions`], such as `gsm8k-chain`'s `next_problem`):
//!   what the agent does in the world before it answers, each answered by
//!   [`Environment::act`];
//! - feedback before the answer: the `check_answer` tool, through which an agent tests a
//!   candidate answer against its episode's task without ending the episode, as AgentRefine
//!   (Fu et al., 2025) gives the agent the environment's verdict to act on. Only environments
//!   that give feedback ([`Environment::gives_feedback`]: Game of 24) offer it, and only in a
//!   benchmark that asks for it ([`crate::Benchmark::feedback`]), so that scores with and without
//!   feedback are never mixed. It answers at most [`CHECKS_PER_EPISODE`] checks per episode, so
//!   that code cannot search by asking.
//!
//! Each tool is a kernel tool like any other (checked against the run's capabilities, its calls
//! journaled, so a resumed run is answered from the journal); it finds the episode of the run
//! that calls it among those the benchmark opened in the shared [`EpisodeTools`].

use crate::Environment;
use agentos_core::{RunId, ToolSpec};
use agentos_kernel::{Tool, ToolContext, ToolError};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The feedback tool's name, as the agent calls it.
pub const CHECK_ANSWER: &str = "check_answer";

/// The most checks one episode's agent may ask for.
pub const CHECKS_PER_EPISODE: u32 = 10;

/// The episodes under way whose agents interact with their environment, and the `check_answer`
/// tool. Register it with the kernel, with the environment's action tools
/// ([`EpisodeTools::actions`]), and hand the same value to the benchmark
/// ([`crate::Benchmark::interact`], [`crate::Benchmark::feedback`]).
#[derive(Default)]
pub struct EpisodeTools {
    episodes: Mutex<HashMap<RunId, Episode>>,
}

/// An episode under way: an environment reset to its task, and the checks it answered.
struct Episode {
    env: Box<dyn Environment>,
    checks: u32,
}

impl EpisodeTools {
    /// The kernel tools of `env`'s actions, answered in the episodes opened here.
    pub fn actions(self: &Arc<Self>, env: &dyn Environment) -> Vec<Arc<dyn Tool>> {
        env.actions().into_iter().map(|spec| Arc::new(Action { spec, episodes: self.clone() }) as Arc<dyn Tool>).collect()
    }

    /// Lets the run `run` interact with `env`, which is reset to the run's task.
    pub(crate) fn open(&self, run: RunId, env: Box<dyn Environment>) {
        self.episodes.lock().expect("never poisoned").insert(run, Episode { env, checks: 0 });
    }

    /// Ends the interaction of the run `run`.
    pub(crate) fn close(&self, run: &RunId) {
        self.episodes.lock().expect("never poisoned").remove(run);
    }

    /// `f` on the episode of the run `run`; refused when the run is no open episode.
    fn with<R>(&self, run: &RunId, f: impl FnOnce(&mut Episode) -> Result<R, ToolError>) -> Result<R, ToolError> {
        let mut episodes = self.episodes.lock().expect("never poisoned");
        let episode = episodes.get_mut(run).ok_or_else(|| {
            ToolError::Invalid("this run is no benchmark episode of an interactive environment; there is nothing to act on".into())
        })?;
        f(episode)
    }
}

#[async_trait]
impl Tool for EpisodeTools {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: CHECK_ANSWER.into(),
            description: format!(
                "Checks a candidate answer to the task without submitting it: says whether it is right and, if not, what is \
                 wrong with it. At most {CHECKS_PER_EPISODE} checks per task."
            ),
            parameters: json!({
                "type": "object",
                "properties": {"answer": {"type": "string", "description": "The candidate answer, as you would submit it."}},
                "required": ["answer"]
            }),
        }
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<String, ToolError> {
        let answer = arguments["answer"].as_str().unwrap_or_default();
        self.with(&context.run, |episode| {
            if episode.checks >= CHECKS_PER_EPISODE {
                return Err(ToolError::Invalid(format!("no checks left: this task allows {CHECKS_PER_EPISODE}; submit your best answer")));
            }
            episode.checks += 1;
            let verdict = episode.env.check(answer).ok_or_else(|| ToolError::Invalid("this environment gives no feedback".into()))?;
            let left = CHECKS_PER_EPISODE - episode.checks;
            Ok(format!("{verdict} ({left} checks left)"))
        })
    }
}

/// One action of an environment, as a kernel tool.
struct Action {
    spec: ToolSpec,
    episodes: Arc<EpisodeTools>,
}

#[async_trait]
impl Tool for Action {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<String, ToolError> {
        self.episodes.with(&context.run, |episode| episode.env.act(&self.spec.name, &arguments).map_err(ToolError::Invalid))
    }
}
