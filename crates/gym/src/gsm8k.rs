//! GSM8K (Cobbe et al., 2021): grade-school math word problems, scored by exact match of the
//! final number, with the `calculator` tool offered.
//!
//! The final number of an answer is read the way people and models write it (see
//! [`final_number`]): `70,000`, `$18.`, `18.00`, `-10` and `3/4` are numbers, compared as exact
//! rationals, so `18.00` is 18 and `0.75` is `3/4`. The data is `gsm8k/gsm8k_test_dev.jsonl`
//! (`{id, question, answer, solution}`); a task's id is its `id`.

use crate::{read_data, verdict, Feedback, GymError, Observation, Task, TaskSet};
use agentos_tools::arithmetic;
use num_rational::BigRational;
use serde::Deserialize;
use serde_json::json;
use std::path::Path;

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Its id in the data, which is its task id.
    pub id: String,
    /// The word problem.
    pub question: String,
    /// The right final answer.
    pub answer: BigRational,
    /// The worked solution from the data set (never shown to the agent).
    pub solution: String,
}

#[derive(Deserialize)]
struct Row {
    id: String,
    question: String,
    answer: String,
    solution: String,
}

impl Task for Problem {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn observation(&self) -> Observation {
        let text = format!(
            "{}\n\nSolve the problem step by step, using the calculator for arithmetic. End your reply with one line of the form \
             `Answer: <number>`.",
            self.question
        );
        Observation { text, tools: vec!["calculator".to_string()], files: Vec::new() }
    }

    fn check(&self, answer: &str) -> Feedback {
        let expected = arithmetic::format(&self.answer);
        match final_number(answer) {
            None => {
                let error = "no number found in the answer; end it with a line `Answer: <number>`";
                verdict(false, format!("wrong: {error}"), json!({ "expected": expected, "found": null, "error": error }))
            }
            Some(found) => {
                let right = found == self.answer;
                let shown = arithmetic::format(&found);
                let said = if right { format!("right: {shown}") } else { format!("wrong: {shown}, expected {expected}") };
                verdict(right, said, json!({ "expected": expected, "found": shown }))
            }
        }
    }
}

/// Loads `gsm8k/gsm8k_test_dev.jsonl` from the data folder.
pub fn load(data: &Path) -> Result<TaskSet<Problem>, GymError> {
    let path = data.join("gsm8k").join("gsm8k_test_dev.jsonl");
    let text = read_data(&path)?;
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |reason: String| GymError::Data { path: path.clone(), line: i + 1, reason };
        let row: Row = serde_json::from_str(line).map_err(|e| bad(format!("expected {{id, question, answer, solution}}: {e}")))?;
        let answer = final_number(&row.answer).ok_or_else(|| bad(format!("answer `{}` is not a number", row.answer)))?;
        problems.push(Problem { id: row.id, question: row.question, answer, solution: row.solution });
    }
    Ok(TaskSet::new("gsm8k", problems))
}

/// The final number of an answer, exactly.
///
/// Where the answer marks it, the number is read from the first non-empty line after the last
/// marker, tried in this order: `####` (GSM8K's own), `\boxed{`, `answer:`, `answer is` (any
/// case); on that line it is the first number after the last `=`, or the first number if there
/// is no `=`. Without a marker it is the last number of the whole answer. A number may carry a
/// sign, thousands separators (`70,000`), a decimal part (`18.00`) or be a fraction (`3/4`);
/// `$`, `%` and a full stop after it are not part of it.
///
/// ```
/// use agentos_gym::gsm8k::final_number;
/// use num_rational::BigRational;
/// assert_eq!(final_number("So she makes 9 * 2 = $18.00 a day.\nAnswer: $18."), Some(BigRational::from_integer(18.into())));
/// assert_eq!(final_number("The total is 70,000"), Some(BigRational::from_integer(70_000.into())));
/// ```
pub fn final_number(answer: &str) -> Option<BigRational> {
    // ASCII lowercasing keeps byte offsets, so a position in `lower` is one in `answer`.
    let lower = answer.to_ascii_lowercase();
    for marker in ["####", "\\boxed{", "answer:", "answer is"] {
        let Some(at) = lower.rfind(marker) else { continue };
        let Some(line) = answer[at + marker.len()..].lines().find(|l| !l.trim().is_empty()) else { continue };
        let result = line.rfind('=').map_or(line, |eq| &line[eq + 1..]);
        if let Some(first) = numbers(result).into_iter().next() {
            return Some(first);
        }
    }
    numbers(answer).pop()
}

/// Every number in `text`, in order (see [`final_number`] for what a number is).
fn numbers(text: &str) -> Vec<BigRational> {
    let chars: Vec<char> = text.chars().collect();
    let digit = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = digit(i) || (chars[i] == '.' && digit(i + 1) && !(i > 0 && digit(i - 1)));
        if !starts {
            i += 1;
            continue;
        }
        // A `-` right before the number is its sign unless it follows something it subtracts from.
        let negative = i > 0 && chars[i - 1] == '-' && !(i > 1 && (chars[i - 2].is_alphanumeric() || chars[i - 2] == ')'));
        let mut written = String::from(if negative { "-" } else { "" });
        while digit(i) {
            written.push(chars[i]);
            i += 1;
            // A comma followed by exactly three digits separates thousands.
            if chars.get(i) == Some(&',') && digit(i + 1) && digit(i + 2) && digit(i + 3) && !digit(i + 4) {
                i += 1;
            }
        }
        if chars.get(i) == Some(&'.') && digit(i + 1) {
            written.push('.');
            i += 1;
            while digit(i) {
                written.push(chars[i]);
                i += 1;
            }
        } else if chars.get(i) == Some(&'/') && digit(i + 1) {
            written.push('/');
            i += 1;
            while digit(i) {
                written.push(chars[i]);
                i += 1;
            }
        }
        // Only `x/0` fails to evaluate; it is no number.
        if let Ok(value) = arithmetic::evaluate(&written) {
            found.push(value);
        }
    }
    found
}
