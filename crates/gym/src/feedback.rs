//! Feedback from the environment before the answer: the `check_answer` tool, through which an
//! agent tests a candidate answer against its episode's task without ending the episode, as
//! AgentGym's interactive environments (Xi et al., 2024) and AgentRefine (Fu et al., 2025) give
//! the agent the environment's verdict to act on. Only environments that give feedback
//! ([`Environment::gives_feedback`]: Game of 24) offer it, and only in a benchmark that asks for
//! it ([`crate::Benchmark::feedback`]), so that scores with and without feedback are never mixed.
//!
//! The tool is a kernel tool like any other (checked against the run's capabilities, its calls
//! journaled, so a resumed run is answered from the journal); it finds the episode of the run
//! that calls it among those the benchmark opened, and answers at most [`CHECKS_PER_EPISODE`]
//! checks per episode, so that code cannot search by asking.

use crate::Environment;
use agentos_core::{RunId, ToolSpec};
use agentos_kernel::{Tool, ToolContext, ToolError};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// The tool's name, as the agent calls it.
pub const CHECK_ANSWER: &str = "check_answer";

/// The most checks one episode's agent may ask for.
pub const CHECKS_PER_EPISODE: u32 = 10;

/// The `check_answer` tool and the episodes it answers for. Register it with the kernel, and hand
/// the same value to [`crate::Benchmark::feedback`].
#[derive(Default)]
pub struct AnswerChecks {
    episodes: Mutex<HashMap<RunId, Episode>>,
}

/// An episode under way: an environment reset to its task, and the checks it answered.
struct Episode {
    env: Box<dyn Environment>,
    checks: u32,
}

impl AnswerChecks {
    /// Lets the run `run` check answers against `env`, which is reset to the run's task.
    pub(crate) fn open(&self, run: RunId, env: Box<dyn Environment>) {
        self.episodes.lock().expect("never poisoned").insert(run, Episode { env, checks: 0 });
    }

    /// Ends the checks of the run `run`.
    pub(crate) fn close(&self, run: &RunId) {
        self.episodes.lock().expect("never poisoned").remove(run);
    }
}

#[async_trait]
impl Tool for AnswerChecks {
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
        let mut episodes = self.episodes.lock().expect("never poisoned");
        let episode = episodes.get_mut(&context.run).ok_or_else(|| {
            ToolError::Invalid("this run is no benchmark episode with feedback; there is nothing to check against".into())
        })?;
        if episode.checks >= CHECKS_PER_EPISODE {
            return Err(ToolError::Invalid(format!("no checks left: this task allows {CHECKS_PER_EPISODE}; submit your best answer")));
        }
        episode.checks += 1;
        let verdict = episode.env.check(answer).ok_or_else(|| ToolError::Invalid("this environment gives no feedback".into()))?;
        let left = CHECKS_PER_EPISODE - episode.checks;
        Ok(format!("{verdict} ({left} checks left)"))
    }
}
