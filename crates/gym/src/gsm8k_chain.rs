//! Long-horizon GSM8K: one episode asks [`CHAIN`] consecutive GSM8K problems of the data set
//! together, each needing its own calculator calls, and is solved only when every answer is
//! right. Built from the repository's GSM8K file (no new data), to measure working-memory
//! policies such as HiAgent's subgoal chunks on episodes with many action–observation pairs:
//! each problem is a natural subgoal. A task's id is its problems' ids joined by `+`.

use crate::gsm8k::{final_number, Problem};
use crate::{verdict, Feedback, GymError, Observation, Task, TaskSet};
use agentos_tools::arithmetic;
use serde_json::json;
use std::path::Path;

/// How many problems one task chains.
pub const CHAIN: usize = 3;

/// [`CHAIN`] problems asked together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The problems, in the order they are asked.
    pub problems: Vec<Problem>,
}

impl Task for Chain {
    fn id(&self) -> String {
        self.problems.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join("+")
    }

    fn observation(&self) -> Observation {
        let listing: Vec<String> = self.problems.iter().enumerate().map(|(i, p)| format!("Problem {}: {}", i + 1, p.question)).collect();
        let text = format!(
            "Solve these {n} problems one after another, using the calculator for arithmetic.\n\n{}\n\n\
             End your reply with one line of the form `Answers: <number 1>; <number 2>; <number 3>`, the answers in the problems' order.",
            listing.join("\n\n"),
            n = self.problems.len()
        );
        Observation { text, tools: vec!["calculator".to_string()], files: Vec::new() }
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
