//! Long-horizon GSM8K, interactive: one episode is [`CHAIN`] consecutive GSM8K problems of the
//! data set, which the agent is shown one at a time: it solves the current one with the
//! calculator and hands in its answer with the environment's `next_problem` action, which shows
//! the next (AgentGym's interactive style, Xi et al., 2024); at the end it gives all the answers
//! together, so it must keep them through the episode; it is solved only when every answer is right. Built from the
//! repository's GSM8K file (no new data), to measure working-memory policies (`--memory`) on
//! episodes with many action–observation pairs: each problem is a natural subgoal, and what the
//! agent has seen of the earlier ones is what a policy keeps or drops. A task's id is its
//! problems' ids joined by `+`.

use crate::gsm8k::{final_number, Problem};
use crate::{verdict, Feedback, GymError, Observation, Task, TaskSet};
use agentos_core::ToolSpec;
use agentos_tools::arithmetic;
use serde_json::{json, Value};
use std::path::Path;

/// How many problems one task chains.
pub const CHAIN: usize = 3;

/// The action that hands in an answer and gives the next problem.
pub const NEXT_PROBLEM: &str = "next_problem";

/// [`CHAIN`] problems asked together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The problems, in the order they are asked.
    pub problems: Vec<Problem>,
}

impl Chain {
    /// Problem `number` (from 1) as the agent is shown it.
    fn shown(&self, number: usize) -> String {
        format!("Problem {number} of {}: {}", self.problems.len(), self.problems[number - 1].question)
    }
}

impl Task for Chain {
    fn id(&self) -> String {
        self.problems.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join("+")
    }

    fn observation(&self) -> Observation {
        let n = self.problems.len();
        let text = format!(
            "You will get {n} math problems, one at a time; below is problem 1 of {n}. Work out its answer (the calculator \
             tool does arithmetic). Then call the tool `{NEXT_PROBLEM}` with {{\"solved\": 1, \"answer\": \"<your answer>\"}}: it \
             replies with problem 2. Do the same for each problem. Only after `{NEXT_PROBLEM}` says the last problem is done, \
             reply with one line of the form `Answers: <answer 1>; <answer 2>; <answer 3>`, the numbers in the problems' order.\n\n{}",
            self.shown(1)
        );
        Observation { text, tools: vec!["calculator".to_string(), NEXT_PROBLEM.to_string()], files: Vec::new() }
    }

    fn actions() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: NEXT_PROBLEM.into(),
            description: "Hands in your answer to the problem you just solved and gives the next problem.".into(),
            parameters: json!({"type": "object", "properties": {
                "solved": {"type": "integer", "minimum": 1, "maximum": CHAIN, "description": "the number of the problem you just solved"},
                "answer": {"type": "string", "description": "your answer to it"}
            }, "required": ["solved", "answer"]}),
        }]
    }

    fn act(&self, name: &str, arguments: &Value) -> Result<String, String> {
        if name != NEXT_PROBLEM {
            return Err(format!("`{name}` is no action here; the action is `{NEXT_PROBLEM}`"));
        }
        let n = self.problems.len();
        let solved = arguments["solved"].as_u64().filter(|k| (1..=n as u64).contains(k)).ok_or_else(|| {
            format!("`solved` must be the number of the problem you just solved, from 1 to {n}, not {}", arguments["solved"])
        })? as usize;
        if solved == n {
            return Ok("That was the last problem. Now end your reply with `Answers: <answer 1>; <answer 2>; <answer 3>`.".to_string());
        }
        Ok(self.shown(solved + 1))
    }

    fn check(&self, answer: &str) -> Feedback {
        let expected: Vec<String> = self.problems.iter().map(|p| arithmetic::format(&p.answer)).collect();
        let line = answer.lines().rev().find_map(|l| {
            let lower = l.to_ascii_lowercase();
            lower.find("answers:").map(|at| l[at + "answers:".len()..].to_string())
        });
        let found: Vec<Option<String>> = match &line {
            Some(line) => line.split(';').map(|part| final_number(part).map(|n| arithmetic::format(&n))).collect(),
            None => Vec::new(),
        };
        let right: Vec<bool> = expected.iter().enumerate().map(|(i, e)| found.get(i).and_then(Option::as_ref) == Some(e)).collect();
        let solved = found.len() == expected.len() && right.iter().all(|r| *r);
        let said = match (&line, solved) {
            (None, _) => "wrong: no `Answers:` line; end with `Answers: <n1>; <n2>; <n3>`".to_string(),
            (Some(_), true) => "right: every answer".to_string(),
            (Some(_), false) => format!("wrong: {} of {} right", right.iter().filter(|r| **r).count(), expected.len()),
        };
        verdict(solved, said, json!({ "expected": expected, "found": found, "right": right }))
    }
}

/// The chained tasks: the GSM8K problems taken [`CHAIN`] at a time, in the data's order.
pub fn load(data: &Path) -> Result<TaskSet<Chain>, GymError> {
    let set = crate::gsm8k::load(data)?;
    let problems = set.tasks();
    let chains = problems.chunks_exact(CHAIN).map(|p| Chain { problems: p.to_vec() }).collect();
    Ok(TaskSet::new("gsm8k-chain", chains))
}
