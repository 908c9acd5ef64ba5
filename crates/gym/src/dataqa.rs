//! Data questions: a sequence of related analysis tasks over the same real files, where later
//! tasks can reuse functions written for earlier ones, to measure the action library of DynaSaur
//! (Nguyen et al., 2024, "DynaSaur: Large Language Agents Beyond Predefined Actions"): success
//! and tokens with the library on and off (`agentos bench gym --env dataqa --strategies codeact
//! --concurrency 1`, with and without `--no-library`).
//!
//! The files are the benchmark data's own public tables, copied into each episode's work
//! directory: `game24.csv` (`rank,puzzle,human_solve_rate`, the Tree of Thoughts release, MIT) and
//! `gsm8k_test_dev.jsonl` (GSM8K's test split, MIT). Four question templates, each asked for five
//! parameters and taken in turn (count, mean, minimum, threshold; count, mean, ...), so every
//! template comes back after three others:
//!
//! - how many puzzles contain the number `n`;
//! - the mean human solve rate of the puzzles that contain `n`, to 2 decimals;
//! - the rank of the puzzle with the lowest solve rate among those that contain `n`;
//! - how many GSM8K problems have a final answer greater than `x`.
//!
//! The right answers are computed here from the files, so the checker is exact: counts and ranks
//! must match, a mean may be off by at most 0.01 (its rounding). The agent is offered no tools:
//! it reads the files with code (strategies that act in JSON see the question only).

use crate::game24::{self, Puzzle};
use crate::gsm8k::{self, final_number};
use crate::{verdict, Feedback, GymError, Observation, Task, TaskSet};
use num_traits::ToPrimitive;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The numbers the puzzle questions are asked for, and the thresholds of the GSM8K ones.
const NUMBERS: [u32; 5] = [13, 7, 9, 2, 11];
const THRESHOLDS: [u32; 5] = [100, 50, 1000, 20, 500];

/// How far a mean may be from the exact one (it is asked to 2 decimals).
const TOLERANCE: f64 = 0.01;

/// One question and its right answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    /// Its id: the template and the parameter, as `count-13`.
    pub id: String,
    /// The question, as the agent reads it.
    pub text: String,
    /// The right answer.
    pub answer: f64,
    /// Whether the answer is a whole number that must match exactly (else within 0.01).
    pub exact: bool,
    /// The files it is about.
    pub files: Vec<PathBuf>,
}

impl Task for Question {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn observation(&self) -> Observation {
        Observation { text: self.text.clone(), tools: Vec::new(), files: self.files.clone() }
    }

    fn check(&self, answer: &str) -> Feedback {
        let found = final_number(answer).and_then(|n| n.to_f64());
        let right = found.is_some_and(|n| if self.exact { n == self.answer } else { (n - self.answer).abs() <= TOLERANCE + 1e-9 });
        let observation = match found {
            Some(n) if right => format!("right: {n}"),
            Some(n) => format!("wrong: {n} is not the answer"),
            None => "wrong: no number found in the answer".to_string(),
        };
        verdict(right, observation, json!({ "expected": self.answer, "found": found }))
    }
}

/// Loads the questions over `game24/game24.csv` and `gsm8k/gsm8k_test_dev.jsonl` in the data
/// folder, computing their answers.
pub fn load(data: &Path) -> Result<TaskSet<Question>, GymError> {
    let puzzles_file = data.join("game24").join("game24.csv");
    let problems_file = data.join("gsm8k").join("gsm8k_test_dev.jsonl");
    let puzzles = game24::load(data)?;
    let problems = gsm8k::load(data)?;
    let answers: Vec<f64> = problems.tasks().iter().map(|p| p.answer.to_f64().unwrap_or(f64::NAN)).collect();
    let about_puzzles = "The file game24.csv in your work folder lists Game of 24 puzzles, one per row, with the columns rank, \
                         puzzle (four numbers separated by spaces) and human_solve_rate (a percentage, such as 99.20%).";
    let about_problems = "The file gsm8k_test_dev.jsonl in your work folder holds one math problem per line as JSON, with the \
                          fields id, question, answer (the final answer, a number written as text) and solution.";
    let mut questions = Vec::new();
    for (n, threshold) in NUMBERS.into_iter().zip(THRESHOLDS) {
        let with: Vec<&Puzzle> = puzzles.tasks().iter().filter(|p| p.numbers.contains(&n)).collect();
        let mean = with.iter().map(|p| p.human_solve_rate).sum::<f64>() / with.len() as f64;
        // The first of the lowest, as the question asks: `min_by` keeps the first of equals.
        let hardest = with.iter().min_by(|a, b| a.human_solve_rate.total_cmp(&b.human_solve_rate));
        let about = vec![puzzles_file.clone()];
        questions.push(Question {
            id: format!("count-{n}"),
            text: format!("{about_puzzles} How many puzzles contain the number {n}? Answer with the count."),
            answer: with.len() as f64,
            exact: true,
            files: about.clone(),
        });
        questions.push(Question {
            id: format!("mean-{n}"),
            text: format!(
                "{about_puzzles} What is the mean human solve rate, in percent, of the puzzles that contain the number {n}? \
                 Answer with the number rounded to 2 decimals, without the % sign."
            ),
            answer: (mean * 100.0).round() / 100.0,
            exact: false,
            files: about.clone(),
        });
        questions.push(Question {
            id: format!("hardest-{n}"),
            text: format!(
                "{about_puzzles} Among the puzzles that contain the number {n}, which has the lowest human solve rate? Answer \
                 with its rank (the first such row in the file if several tie)."
            ),
            answer: hardest.map_or(f64::NAN, |r| f64::from(r.rank)),
            exact: true,
            files: about,
        });
        questions.push(Question {
            id: format!("above-{threshold}"),
            text: format!("{about_problems} How many problems have a final answer greater than {threshold}? Answer with the count."),
            answer: answers.iter().filter(|a| **a > f64::from(threshold)).count() as f64,
            exact: true,
            files: vec![problems_file.clone()],
        });
    }
    Ok(TaskSet::new("dataqa", questions))
}
