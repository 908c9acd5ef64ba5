//! 5×5 mini crosswords, scored as in Tree of Thoughts (Yao et al., 2023): given five clues across
//! (h1 to h5, the rows) and five down (v1 to v5, the columns), fill the grid.
//!
//! Three accuracies, as the paper reports them: letters right out of 25, words right out of 10
//! (the five rows, then the five columns), and the game, solved when all 25 letters are. The
//! reward is 1 when the game is solved and 0 otherwise; the letter and word accuracies are in the
//! feedback's info. The agent is offered no tools. The data is `crosswords/mini5x5.json`, a list
//! of `[clues, answer]` pairs (10 clues, 25 letters row by row); a task's id is its position.

use crate::{read_data, verdict, Feedback, GymError, Observation, Task, TaskSet};
use serde_json::json;
use std::path::Path;

/// Letters in a grid.
pub const LETTERS: usize = 25;
/// Words in a grid: five across, five down.
pub const WORDS: usize = 10;

/// One crossword.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossword {
    /// Its position in the data, which is its task id.
    pub index: usize,
    /// The clues: h1 to h5, then v1 to v5.
    pub clues: Vec<String>,
    /// The solution: 25 upper-case letters, row by row.
    pub solution: String,
}

/// How much of a grid is right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Score {
    /// Letters in the right place, out of [`LETTERS`].
    pub letters: usize,
    /// Words (rows and columns) entirely right, out of [`WORDS`].
    pub words: usize,
}

impl Score {
    /// Letters right as a fraction of the grid.
    pub fn letter_accuracy(&self) -> f64 {
        self.letters as f64 / LETTERS as f64
    }

    /// Words right as a fraction of the ten.
    pub fn word_accuracy(&self) -> f64 {
        self.words as f64 / WORDS as f64
    }

    /// Whether the whole grid is right.
    pub fn solved(&self) -> bool {
        self.letters == LETTERS
    }
}

/// Scores a grid (25 letters, row by row) against the solution; case does not matter.
pub fn score(solution: &str, grid: &str) -> Score {
    let want: Vec<char> = solution.chars().map(|c| c.to_ascii_uppercase()).collect();
    let got: Vec<char> = grid.chars().map(|c| c.to_ascii_uppercase()).collect();
    let right = |i: usize| want.get(i).is_some_and(|w| got.get(i) == Some(w));
    let letters = (0..LETTERS).filter(|&i| right(i)).count();
    let rows = (0..5).filter(|r| (0..5).all(|c| right(r * 5 + c))).count();
    let columns = (0..5).filter(|c| (0..5).all(|r| right(r * 5 + c))).count();
    Score { letters, words: rows + columns }
}

/// The grid in a free-text answer, as 25 upper-case letters: the last five consecutive lines
/// (not counting blank lines and rules such as `|---|---|`) that each hold five letters (after the last `:` of the line, ignoring spaces and `| , . - * _`
/// and backticks, any case), or else the last line that holds 25 letters that way.
pub fn grid(answer: &str) -> Option<String> {
    // Blank lines and rules (such as a Markdown table's `|---|---|`) do not break a grid.
    let lines: Vec<&str> = answer.lines().filter(|l| !l.chars().all(|c| c.is_whitespace() || "|-+:=".contains(c))).collect();
    let rows: Vec<Option<String>> = lines.iter().map(|l| letters_of(l).filter(|w| w.len() == 5)).collect();
    if let Some(start) = (0..rows.len().saturating_sub(4)).rev().find(|&s| rows[s..s + 5].iter().all(Option::is_some)) {
        return Some(rows[start..start + 5].iter().flatten().map(String::as_str).collect());
    }
    lines.iter().rev().find_map(|l| letters_of(l).filter(|w| w.len() == LETTERS))
}

/// The letters a line holds, upper-cased, if it holds nothing else but separators.
fn letters_of(line: &str) -> Option<String> {
    let after_label = line.rsplit(':').next().unwrap_or(line);
    let kept: String = after_label.chars().filter(|c| !" \t|,.-*_`".contains(*c)).collect();
    (!kept.is_empty() && kept.chars().all(|c| c.is_ascii_alphabetic())).then(|| kept.to_ascii_uppercase())
}

impl Task for Crossword {
    fn id(&self) -> String {
        self.index.to_string()
    }

    fn observation(&self) -> Observation {
        let mut text = String::from(
            "Solve this 5x5 mini crossword. Each of h1 to h5 is a five-letter word across (rows 1 to 5, top to bottom); each of \
             v1 to v5 is a five-letter word down (columns 1 to 5, left to right).\n\n",
        );
        for (i, clue) in self.clues.iter().enumerate() {
            let (direction, n) = if i < 5 { ('h', i + 1) } else { ('v', i - 4) };
            text.push_str(&format!("{direction}{n}. {clue}\n"));
        }
        text.push_str("\nEnd your reply with the filled grid: five lines of five letters each, row 1 first, and nothing after it.");
        Observation { text, tools: Vec::new(), files: Vec::new() }
    }

    fn check(&self, answer: &str) -> Feedback {
        let Some(filled) = grid(answer) else {
            let error = "no grid found in the answer; end it with five lines of five letters each";
            return verdict(false, format!("wrong: {error}"), json!({ "grid": null, "letters": 0.0, "words": 0.0, "error": error }));
        };
        let s = score(&self.solution, &filled);
        let said = if s.solved() {
            "solved".to_string()
        } else {
            format!("not solved: {} of {LETTERS} letters and {} of {WORDS} words are right", s.letters, s.words)
        };
        verdict(s.solved(), said, json!({ "grid": filled, "letters": s.letter_accuracy(), "words": s.word_accuracy() }))
    }
}

/// Loads `crosswords/mini5x5.json` from the data folder.
pub fn load(data: &Path) -> Result<TaskSet<Crossword>, GymError> {
    let path = data.join("crosswords").join("mini5x5.json");
    let bad = |reason: String| GymError::Data { path: path.clone(), line: 0, reason };
    let items: Vec<(Vec<String>, Vec<String>)> =
        serde_json::from_str(&read_data(&path)?).map_err(|e| bad(format!("expected a JSON list of [clues, answer] pairs: {e}")))?;
    let mut crosswords = Vec::with_capacity(items.len());
    for (index, (clues, letters)) in items.into_iter().enumerate() {
        if clues.len() != WORDS {
            return Err(bad(format!("crossword {index} has {} clues; a 5x5 crossword has {WORDS}", clues.len())));
        }
        let solution: String = letters.concat().to_ascii_uppercase();
        if letters.len() != LETTERS || solution.len() != LETTERS || !solution.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(bad(format!("crossword {index}'s answer is not {LETTERS} single letters: {letters:?}")));
        }
        crosswords.push(Crossword { index, clues, solution });
    }
    Ok(TaskSet::new("crosswords", crosswords))
}
