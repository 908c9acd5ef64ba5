//! Game of 24, as in Tree of Thoughts (Yao et al., 2023): given four numbers, write an arithmetic
//! expression that uses each of them exactly once, with `+ - * /` and parentheses, and equals 24.
//!
//! The checker is exact: the numbers the expression uses must be the puzzle's numbers as a
//! multiset (no reuse, none skipped, no others), only those operators and parentheses may appear,
//! and the value is computed in exact rational arithmetic ([`agentos_tools::arithmetic`]), so
//! `8 / (3 - 8 / 3)` is 24 and a division by zero is an error, not infinity. The agent is offered
//! no tools. The data is `game24/game24.csv` (`rank,puzzle,human_solve_rate`); a task's id is its
//! rank.

use crate::{read_data, verdict, Feedback, GymError, Observation, Task, TaskSet};
use agentos_tools::arithmetic::{self, CalcError};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Zero;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

/// The value every puzzle asks for.
pub const TARGET: i64 = 24;

/// One puzzle.
#[derive(Clone, Debug, PartialEq)]
pub struct Puzzle {
    /// Its rank in the data (by human solve time), which is its task id.
    pub rank: u32,
    /// The four numbers.
    pub numbers: Vec<u32>,
    /// The share of people who solved it, in percent (`99.20%` in the data is 99.2).
    pub human_solve_rate: f64,
}

/// Why an answer is not a solution.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Rejection {
    /// No expression could be read from the answer.
    #[error("no expression found in the answer; end it with a line `Answer: <expression> = 24`")]
    NoExpression,
    /// A character other than digits, `+ - * /`, parentheses and spaces.
    #[error("`{found}` is not allowed in the expression `{expression}`; use only the puzzle's numbers, + - * / and parentheses")]
    Character {
        /// The character.
        found: char,
        /// The expression.
        expression: String,
    },
    /// A number that is not one of the puzzle's.
    #[error("{number} is not one of the numbers {numbers}; use only those")]
    OtherNumber {
        /// The number as written.
        number: String,
        /// The puzzle's numbers.
        numbers: String,
    },
    /// A number used more often than the puzzle has it.
    #[error("{number} is used {used} times but the puzzle has it {given} time(s); use each of {numbers} exactly once")]
    Reused {
        /// The number.
        number: u32,
        /// How often the expression uses it.
        used: usize,
        /// How often the puzzle has it.
        given: usize,
        /// The puzzle's numbers.
        numbers: String,
    },
    /// A number of the puzzle that the expression skips.
    #[error("{number} is not used (or used too few times); use each of {numbers} exactly once")]
    Unused {
        /// The number.
        number: u32,
        /// The puzzle's numbers.
        numbers: String,
    },
    /// The expression does not evaluate (it does not parse, or divides by zero).
    #[error("{0}")]
    Invalid(CalcError),
    /// The expression is valid but its value is not 24.
    #[error("the expression equals {value}, not 24")]
    NotTwentyFour {
        /// Its value.
        value: String,
    },
}

fn listing(numbers: &[u32]) -> String {
    numbers.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

impl Task for Puzzle {
    /// A candidate expression can be tested: the verdict says what is wrong with it.
    const GIVES_FEEDBACK: bool = true;

    fn id(&self) -> String {
        self.rank.to_string()
    }

    fn observation(&self) -> Observation {
        let text = format!(
            "Use the numbers {} and the operations + - * / (with parentheses) to make 24. Use each number exactly once, and no \
             other numbers. End your reply with one line of the form `Answer: <expression> = 24`; for example, for the numbers \
             4 5 6 7: `Answer: (6 - 4) * (5 + 7) = 24`.",
            listing(&self.numbers)
        );
        Observation { text, tools: Vec::new(), files: Vec::new() }
    }

    fn check(&self, answer: &str) -> Feedback {
        let read = expression(answer);
        match check_answer(&self.numbers, answer) {
            Ok(found) => verdict(true, format!("right: {found} = 24"), json!({ "expression": found })),
            Err(rejection) => verdict(false, format!("wrong: {rejection}"), json!({ "expression": read, "error": rejection.to_string() })),
        }
    }
}

/// Loads `game24/game24.csv` from the data folder.
pub fn load(data: &Path) -> Result<TaskSet<Puzzle>, GymError> {
    let path = data.join("game24").join("game24.csv");
    let text = read_data(&path)?;
    let bad = |line: usize, reason: String| GymError::Data { path: path.clone(), line, reason };
    let mut puzzles = Vec::new();
    for (i, row) in text.lines().enumerate().skip(1).filter(|(_, row)| !row.trim().is_empty()) {
        let mut fields = row.split(',');
        let (Some(rank), Some(numbers), Some(rate)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad(i + 1, format!("expected `rank,puzzle,human_solve_rate`, found `{row}`")));
        };
        let rank = rank.trim().parse().map_err(|e| bad(i + 1, format!("rank `{rank}` is not a number: {e}")))?;
        let numbers: Vec<u32> = numbers
            .split_whitespace()
            .map(|n| n.parse().map_err(|e| bad(i + 1, format!("puzzle number `{n}` is not a whole number: {e}"))))
            .collect::<Result<_, _>>()?;
        if numbers.len() != 4 {
            return Err(bad(i + 1, format!("a puzzle has four numbers, this one has {}", numbers.len())));
        }
        let human_solve_rate =
            rate.trim().trim_end_matches('%').parse().map_err(|e| bad(i + 1, format!("solve rate `{rate}` is not a percentage: {e}")))?;
        puzzles.push(Puzzle { rank, numbers, human_solve_rate });
    }
    Ok(TaskSet::new("game24", puzzles))
}

/// The expression in a free-text answer: after the last `Answer:` if there is one (its first
/// non-empty line), else the last non-empty line; without Markdown emphasis, code marks and `$`;
/// with `×`, `÷`, `−` (and LaTeX `\times`, `\div`, `\cdot`) read as `*`, `/`, `-`; and with a
/// trailing `= 24` (or a leading `24 =`) and trailing full stops dropped. For a chain such as
/// `(10 - 4) * 4 = 6 * 4 = 24` it is the first part, the one over the puzzle's numbers.
pub fn expression(answer: &str) -> Option<String> {
    let mut text = answer.replace("**", "");
    for (from, to) in [("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("×", "*"), ("·", "*"), ("÷", "/"), ("−", "-"), ("–", "-")]
    {
        text = text.replace(from, to);
    }
    text.retain(|c| c != '`' && c != '$');
    // ASCII lowercasing keeps byte offsets, so a position in `lower` is one in `text`.
    let lower = text.to_ascii_lowercase();
    let line = match lower.rfind("answer:") {
        Some(at) => text[at + "answer:".len()..].lines().find(|l| !l.trim().is_empty())?,
        None => text.lines().rev().find(|l| !l.trim().is_empty())?,
    };
    let parts: Vec<&str> = line.split('=').map(|p| p.trim().trim_end_matches('.').trim()).filter(|p| !p.is_empty()).collect();
    let chosen = parts.iter().find(|p| **p != TARGET.to_string()).or(parts.first())?;
    Some(chosen.to_string())
}

/// Checks a free-text answer against the puzzle `numbers`: reads its [`expression`] and checks
/// it with [`check_expression`]. Returns the expression when it is a solution.
pub fn check_answer(numbers: &[u32], answer: &str) -> Result<String, Rejection> {
    let found = expression(answer).ok_or(Rejection::NoExpression)?;
    check_expression(numbers, &found)?;
    Ok(found)
}

/// Checks that `expression` uses exactly the puzzle `numbers` (as a multiset), only `+ - * /`
/// and parentheses, and equals 24 exactly.
pub fn check_expression(numbers: &[u32], expression: &str) -> Result<(), Rejection> {
    if let Some(found) = expression.chars().find(|c| !(c.is_ascii_digit() || "+-*/() \t".contains(*c))) {
        return Err(Rejection::Character { found, expression: expression.to_string() });
    }
    let mut given: BTreeMap<u32, usize> = BTreeMap::new();
    for n in numbers {
        *given.entry(*n).or_default() += 1;
    }
    let mut used: BTreeMap<u32, usize> = BTreeMap::new();
    for written in expression.split(|c: char| !c.is_ascii_digit()).filter(|w| !w.is_empty()) {
        let number = written.parse::<u32>().ok().filter(|n| given.contains_key(n));
        let Some(number) = number else {
            return Err(Rejection::OtherNumber { number: written.to_string(), numbers: listing(numbers) });
        };
        *used.entry(number).or_default() += 1;
    }
    for (&number, &times) in &given {
        let once = used.get(&number).copied().unwrap_or(0);
        if once > times {
            return Err(Rejection::Reused { number, used: once, given: times, numbers: listing(numbers) });
        }
        if once < times {
            return Err(Rejection::Unused { number, numbers: listing(numbers) });
        }
    }
    let value = arithmetic::evaluate(expression).map_err(Rejection::Invalid)?;
    if value != BigRational::from_integer(TARGET.into()) {
        return Err(Rejection::NotTwentyFour { value: arithmetic::format(&value) });
    }
    Ok(())
}

/// A solution of the puzzle `numbers`, if there is one: an expression over each of them once,
/// with `+ - * /` and parentheses, equal to 24 in exact arithmetic. Searches every way of
/// combining two of the remaining values with one operator until one value is left.
///
/// ```
/// let solution = agentos_gym::game24::solve(&[4, 9, 10, 13]).unwrap();
/// assert!(agentos_gym::game24::check_expression(&[4, 9, 10, 13], &solution).is_ok());
/// assert_eq!(agentos_gym::game24::solve(&[1, 1, 1, 1]), None);
/// ```
pub fn solve(numbers: &[u32]) -> Option<String> {
    let values: Vec<(BigRational, String)> = numbers.iter().map(|n| (BigRational::from_integer(BigInt::from(*n)), n.to_string())).collect();
    let target = BigRational::from_integer(TARGET.into());
    let found = search(values, &target)?;
    // Every combination is parenthesized; the outermost pair is not needed.
    Some(match found.strip_prefix('(').and_then(|f| f.strip_suffix(')')) {
        Some(inner) => inner.to_string(),
        None => found,
    })
}

fn search(values: Vec<(BigRational, String)>, target: &BigRational) -> Option<String> {
    if values.len() == 1 {
        return (values[0].0 == *target).then(|| values[0].1.clone());
    }
    for i in 0..values.len() {
        for j in i + 1..values.len() {
            let (a, ea) = &values[i];
            let (b, eb) = &values[j];
            let mut combined = vec![
                (a + b, format!("({ea} + {eb})")),
                (a * b, format!("({ea} * {eb})")),
                (a - b, format!("({ea} - {eb})")),
                (b - a, format!("({eb} - {ea})")),
            ];
            if !b.is_zero() {
                combined.push((a / b, format!("({ea} / {eb})")));
            }
            if !a.is_zero() {
                combined.push((b / a, format!("({eb} / {ea})")));
            }
            for value in combined {
                let mut next: Vec<(BigRational, String)> =
                    values.iter().enumerate().filter(|(k, _)| *k != i && *k != j).map(|(_, v)| v.clone()).collect();
                next.push(value);
                if let Some(found) = search(next, target) {
                    return Some(found);
                }
            }
        }
    }
    None
}
